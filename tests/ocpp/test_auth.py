"""Charger passwords: checked against the slow hash once, then remembered."""

from __future__ import annotations

import pytest
from django.contrib.auth.hashers import make_password
from django.core.cache import cache

from stations.ocpp import auth


@pytest.fixture
def counted_hash_checks(monkeypatch):
    calls: list[str] = []
    real = auth.check_password

    def counting(password: str, encoded: str) -> bool:
        calls.append(password)
        return real(password, encoded)

    monkeypatch.setattr(auth, "check_password", counting)
    cache.clear()
    return calls


def test_a_reconnect_with_the_right_password_skips_the_slow_hash(counted_hash_checks):
    stored = make_password("s3cret-charger")
    check = {"ocpp_id": "CP-1", "password": "s3cret-charger", "password_hash": stored}

    assert auth.charger_password_matches(**check)
    assert auth.charger_password_matches(**check)
    assert counted_hash_checks == ["s3cret-charger"]


def test_a_wrong_password_is_checked_every_time_and_never_remembered(
    counted_hash_checks,
):
    stored = make_password("s3cret-charger")
    check = {"ocpp_id": "CP-1", "password": "guess", "password_hash": stored}

    assert not auth.charger_password_matches(**check)
    assert not auth.charger_password_matches(**check)
    assert len(counted_hash_checks) == 2


def test_a_new_password_invalidates_what_was_remembered(counted_hash_checks):
    old = make_password("old-password")
    assert auth.charger_password_matches(
        ocpp_id="CP-1", password="old-password", password_hash=old
    )

    new = make_password("new-password")

    assert not auth.charger_password_matches(
        ocpp_id="CP-1", password="old-password", password_hash=new
    )
    assert auth.charger_password_matches(
        ocpp_id="CP-1", password="new-password", password_hash=new
    )


def test_the_same_password_of_another_charger_is_not_taken_from_the_cache(
    counted_hash_checks,
):
    stored = make_password("shared")
    auth.charger_password_matches(
        ocpp_id="CP-1", password="shared", password_hash=stored
    )
    auth.charger_password_matches(
        ocpp_id="CP-2", password="shared", password_hash=stored
    )

    assert len(counted_hash_checks) == 2
