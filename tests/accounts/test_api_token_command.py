from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from accounts.models import AuditLog, User


def _create_token(username: str) -> str:
    out, err = StringIO(), StringIO()
    call_command("create_api_token", username, stdout=out, stderr=err)
    return out.getvalue().strip()


def test_create_api_token_prints_a_working_token(target: User) -> None:
    key = _create_token("target")

    response = Client().get(
        reverse("accounts:api_me"), HTTP_AUTHORIZATION=f"Token {key}"
    )

    assert response.status_code == 200
    assert response.json()["username"] == "target"
    assert response.json()["roles"] == ["Support"]
    entry = AuditLog.objects.get(action="user.api_token_create")
    assert entry.actor_label == "system"
    assert key not in str(entry.after)


def test_create_api_token_revokes_the_old_token(target: User) -> None:
    old = Token.objects.get(user=target).key

    new = _create_token("target")

    assert new != old
    stale = Client().get(reverse("accounts:api_me"), HTTP_AUTHORIZATION=f"Token {old}")
    assert stale.status_code == 401


def test_create_api_token_for_unknown_user_fails_clearly(db: None) -> None:
    with pytest.raises(CommandError, match="No user named 'ghost'"):
        _create_token("ghost")
    assert not Token.objects.exists()


def test_create_api_token_refuses_inactive_users(target: User) -> None:
    target.is_active = False
    target.save()
    old = Token.objects.get(user=target).key

    with pytest.raises(CommandError, match="inactive"):
        _create_token("target")

    assert Token.objects.get(user=target).key == old
