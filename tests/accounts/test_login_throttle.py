"""Portal log-in throttling: lockout per account and per address, audited, unlockable."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client

from accounts.models import AuditLog
from tests.factories import UserFactory

PASSWORD = "pw-test-1234"  # tests.factories.UserFactory
LOGIN = "/accounts/login/"


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


def attempt(username: str, password: str, address: str = "198.51.100.7"):
    return Client(REMOTE_ADDR=address).post(
        LOGIN, {"username": username, "password": password}
    )


@pytest.mark.django_db
def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(settings):
    user = UserFactory(username="dana")
    for _ in range(settings.LOGIN_FAILURES_PER_USER - 1):
        assert attempt("dana", "wrong").status_code == 200

    locked = attempt("dana", "wrong")
    assert locked.status_code == 429
    assert "locked" in locked.content.decode()
    assert int(locked.headers["Retry-After"]) == settings.LOGIN_LOCKOUT_SECONDS

    right_password = attempt("dana", PASSWORD, address="203.0.113.9")
    assert right_password.status_code == 429  # the account, from anywhere
    assert "_auth_user_id" not in right_password.client.session

    actions = list(AuditLog.objects.values_list("action", flat=True))
    assert actions.count("login.failed") == settings.LOGIN_FAILURES_PER_USER - 1
    assert actions.count("login.locked") == 1
    assert AuditLog.objects.filter(ip_address="198.51.100.7").exists()

    call_command("login_unlock", username="dana")
    unlocked = attempt("dana", PASSWORD)
    assert unlocked.status_code == 302
    assert AuditLog.objects.filter(action="login.unlocked").exists()
    assert user.pk


@pytest.mark.django_db
def test_many_usernames_from_one_address_lock_that_address_only(settings):
    UserFactory(username="erin")
    for index in range(settings.LOGIN_FAILURES_PER_ADDRESS):
        attempt(f"guess-{index}", "wrong", address="192.0.2.66")

    assert attempt("erin", PASSWORD, address="192.0.2.66").status_code == 429
    assert attempt("erin", PASSWORD, address="192.0.2.67").status_code == 302


@pytest.mark.django_db
def test_a_successful_log_in_resets_the_account_count(settings):
    UserFactory(username="finn")
    for _ in range(settings.LOGIN_FAILURES_PER_USER - 1):
        attempt("finn", "wrong")
    assert attempt("finn", PASSWORD).status_code == 302
    for _ in range(settings.LOGIN_FAILURES_PER_USER - 1):
        assert attempt("finn", "wrong").status_code == 200
