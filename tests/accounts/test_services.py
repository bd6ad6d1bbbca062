from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from rest_framework.authtoken.models import Token

from accounts.models import AuditLog, Role, User
from accounts.services import (
    api_token_create,
    api_token_revoke,
    network_grant,
    network_revoke,
    user_create,
    user_set_roles,
    user_update,
)
from stations.models import Network
from stations.selectors import network_list_for_user


def test_user_create_sets_roles_grants_and_audits(
    administrator: User, network_a: Network
) -> None:
    user = user_create(
        actor=administrator,
        username="ola",
        password="Kq8-tranquil-harbour",
        roles=[Role.SUPPORT, Role.FINANCE],
        networks=[network_a],
    )

    assert user.role_names == ["Finance", "Support"]
    assert list(network_list_for_user(user=user)) == [network_a]
    entry = AuditLog.objects.get(action="user.create", object_id=str(user.pk))
    assert entry.before is None
    assert entry.after["roles"] == ["Finance", "Support"]
    assert entry.after["is_active"] is True


def test_user_create_refuses_duplicate_username_case_insensitively(
    administrator: User, target: User
) -> None:
    with pytest.raises(ValidationError) as raised:
        user_create(actor=administrator, username="TARGET", password="x-Long-pass-77")
    assert "username" in raised.value.message_dict
    assert User.objects.filter(username__iexact="target").count() == 1


def test_driver_accounts_cannot_hold_roles(administrator: User) -> None:
    with pytest.raises(ValidationError) as raised:
        user_create(
            actor=administrator,
            username="dana",
            password="x-Long-pass-77",
            is_driver=True,
            roles=[Role.OPERATIONS],
        )
    assert "roles" in raised.value.message_dict
    assert not User.objects.filter(username="dana").exists()


def test_set_roles_twice_audits_once(administrator: User, target: User) -> None:
    user_set_roles(actor=administrator, user=target, roles=[Role.OPERATIONS])
    user_set_roles(actor=administrator, user=target, roles=[Role.OPERATIONS])

    entries = AuditLog.objects.filter(action="user.set_roles")
    assert entries.count() == 1
    assert entries.get().before["roles"] == ["Support"]
    assert entries.get().after["roles"] == ["Operations"]


def test_administrator_cannot_drop_own_administrator_role(administrator: User) -> None:
    with pytest.raises(ValidationError) as raised:
        user_set_roles(actor=administrator, user=administrator, roles=[Role.SUPPORT])

    assert "roles" in raised.value.message_dict
    assert administrator.role_names == ["Administrator"]


def test_another_administrator_may_remove_the_role(administrator: User) -> None:
    other = User.objects.create_user("root2", password="x")
    other.groups.add(*administrator.groups.all())

    user_set_roles(actor=other, user=administrator, roles=[Role.OPERATIONS])

    assert User.objects.get(pk=administrator.pk).role_names == ["Operations"]


def test_update_with_self_deactivation_changes_nothing(administrator: User) -> None:
    with pytest.raises(ValidationError) as raised:
        user_update(
            actor=administrator,
            user=administrator,
            email="new@example.org",
            first_name="",
            last_name="",
            is_active=False,
        )

    administrator.refresh_from_db()
    assert "is_active" in raised.value.message_dict
    assert administrator.is_active
    assert administrator.email != "new@example.org"


def test_update_without_changes_writes_no_audit_entry(
    administrator: User, target: User
) -> None:
    user_update(
        actor=administrator,
        user=target,
        email=target.email,
        first_name=target.first_name,
        last_name=target.last_name,
        is_active=True,
        roles=[Role.SUPPORT],
    )
    assert not AuditLog.objects.filter(action="user.update").exists()


def test_grant_and_revoke_are_idempotent_and_audited_once(
    administrator: User, target: User, network_b: Network
) -> None:
    assert network_grant(actor=administrator, user=target, network=network_b) is True
    assert network_grant(actor=administrator, user=target, network=network_b) is False
    assert network_b in network_list_for_user(user=User.objects.get(pk=target.pk))

    assert network_revoke(actor=administrator, user=target, network=network_b) is True
    assert network_revoke(actor=administrator, user=target, network=network_b) is False
    assert network_b not in network_list_for_user(user=User.objects.get(pk=target.pk))

    assert AuditLog.objects.filter(action="user.network_grant").count() == 1
    assert AuditLog.objects.filter(action="user.network_revoke").count() == 1


def test_api_token_create_replaces_the_old_token(
    administrator: User, target: User
) -> None:
    old = Token.objects.get(user=target).key

    token = api_token_create(actor=administrator, user=target)

    assert token.key != old
    assert list(Token.objects.filter(user=target).values_list("key", flat=True)) == [
        token.key
    ]


def test_api_token_refused_for_inactive_user(administrator: User, target: User) -> None:
    target.is_active = False
    target.save()
    old = Token.objects.get(user=target).key

    with pytest.raises(ValidationError):
        api_token_create(actor=administrator, user=target)

    assert Token.objects.get(user=target).key == old


def test_api_token_revoke_without_token_is_a_no_op(
    administrator: User, operator: User
) -> None:
    assert api_token_revoke(actor=administrator, user=operator) is False
    assert not AuditLog.objects.filter(action="user.api_token_revoke").exists()
