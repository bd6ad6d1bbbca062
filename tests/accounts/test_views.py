from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.authtoken.models import Token

from accounts.models import AuditLog, Role, User
from stations.models import Network, NetworkUserObjectPermission
from stations.selectors import network_list_for_user
from tests.factories import user_with_role

NEW_PASSWORD = "Kq8-tranquil-harbour"


def _state(target: User) -> tuple[Any, ...]:
    target.refresh_from_db()
    return (
        User.objects.count(),
        sorted(target.groups.values_list("name", flat=True)),
        sorted(
            NetworkUserObjectPermission.objects.filter(user=target).values_list(
                "content_object_id", flat=True
            )
        ),
        target.password,
        target.is_active,
        target.email,
        sorted(Token.objects.values_list("key", flat=True)),
        AuditLog.objects.count(),
    )


Action = tuple[str, str, Callable[..., str], Callable[..., dict[str, Any]] | None]

ACTIONS: list[Action] = [
    ("list", "get", lambda t, a, b: reverse("accounts:user_list"), None),
    ("create_form", "get", lambda t, a, b: reverse("accounts:user_create"), None),
    (
        "create",
        "post",
        lambda t, a, b: reverse("accounts:user_create"),
        lambda t, a, b: {
            "username": "newbie",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "roles": [Role.OPERATIONS],
            "networks": [a.pk],
        },
    ),
    (
        "detail",
        "get",
        lambda t, a, b: reverse("accounts:user_detail", args=[t.pk]),
        None,
    ),
    (
        "edit_form",
        "get",
        lambda t, a, b: reverse("accounts:user_edit", args=[t.pk]),
        None,
    ),
    (
        "edit",
        "post",
        lambda t, a, b: reverse("accounts:user_edit", args=[t.pk]),
        lambda t, a, b: {"email": "x@example.org", "roles": [Role.ADMINISTRATOR]},
    ),
    (
        "grant",
        "post",
        lambda t, a, b: reverse("accounts:user_network_grant", args=[t.pk]),
        lambda t, a, b: {"network": b.pk},
    ),
    (
        "revoke",
        "post",
        lambda t, a, b: reverse("accounts:user_network_revoke", args=[t.pk, a.pk]),
        lambda t, a, b: {},
    ),
    (
        "password_form",
        "get",
        lambda t, a, b: reverse("accounts:user_password_reset", args=[t.pk]),
        None,
    ),
    (
        "password",
        "post",
        lambda t, a, b: reverse("accounts:user_password_reset", args=[t.pk]),
        lambda t, a, b: {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    ),
    (
        "token_create",
        "post",
        lambda t, a, b: reverse("accounts:user_token_create", args=[t.pk]),
        lambda t, a, b: {},
    ),
    (
        "token_revoke",
        "post",
        lambda t, a, b: reverse("accounts:user_token_revoke", args=[t.pk]),
        lambda t, a, b: {},
    ),
]
ACTION_IDS = [action[0] for action in ACTIONS]


def _request(
    client: Client, action: Action, target: User, network_a: Network, network_b: Network
) -> Any:
    _name, method, url, data = action
    payload = data(target, network_a, network_b) if data else None
    if method == "get":
        return client.get(url(target, network_a, network_b))
    return client.post(url(target, network_a, network_b), payload)


@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
@pytest.mark.parametrize(
    "role", ["operator", "support", "finance", "outsider", "no_role_user"]
)
def test_user_administration_is_refused_to_every_non_administrator(
    client: Client,
    request: pytest.FixtureRequest,
    role: str,
    action: Action,
    target: User,
    network_a: Network,
    network_b: Network,
) -> None:
    client.force_login(request.getfixturevalue(role))
    before = _state(target)

    response = _request(client, action, target, network_a, network_b)

    assert response.status_code == 403
    assert _state(target) == before


@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
def test_user_administration_sends_anonymous_visitors_to_login(
    client: Client, action: Action, target: User, network_a: Network, network_b: Network
) -> None:
    before = _state(target)

    response = _request(client, action, target, network_a, network_b)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))
    assert _state(target) == before


@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
def test_driver_accounts_cannot_use_user_administration(
    client: Client, action: Action, target: User, network_a: Network, network_b: Network
) -> None:
    driver = User.objects.create_user("dana", password="x", is_driver=True)
    client.force_login(driver)
    before = _state(target)

    response = _request(client, action, target, network_a, network_b)

    assert response.status_code == 403
    assert _state(target) == before


@pytest.mark.parametrize("action", ACTIONS, ids=ACTION_IDS)
def test_administrator_may_use_every_user_administration_action(
    client: Client,
    administrator: User,
    action: Action,
    target: User,
    network_a: Network,
    network_b: Network,
) -> None:
    client.force_login(administrator)
    before = _state(target)

    response = _request(client, action, target, network_a, network_b)

    assert response.status_code in (200, 302)
    if action[1] == "post":
        assert _state(target) != before
        assert AuditLog.objects.count() > before[-1]


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_user_list_shows_roles_and_granted_networks(
    client: Client,
    administrator: User,
    target: User,
    operator: User,
    outsider: User,
) -> None:
    client.force_login(administrator)
    response = client.get(reverse("accounts:user_list"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "target" in body
    assert "Support" in body
    assert "Network A" in body
    assert "Network B" in body  # the outsider's grant


def test_user_list_query_count_does_not_grow_with_users(
    client: Client, administrator: User, network_a: Network, network_b: Network
) -> None:
    client.force_login(administrator)
    url = reverse("accounts:user_list")
    user_with_role(Role.OPERATIONS, network_a, username="op-first")
    few = _queries(client, url)
    for number in range(30):
        user_with_role(Role.OPERATIONS, network_a, network_b, username=f"op{number}")

    many = _queries(client, url)

    assert many == few
    assert client.get(url).content.decode().count("Operations") >= 31


def test_navigation_shows_users_link_to_administrators_only(
    client: Client, administrator: User, operator: User
) -> None:
    users_url = reverse("accounts:user_list")
    client.force_login(operator)
    assert (
        f'href="{users_url}"'
        not in client.get(reverse("accounts:audit_log")).content.decode()
    )
    client.force_login(administrator)
    assert (
        f'href="{users_url}"'
        in client.get(reverse("accounts:audit_log")).content.decode()
    )


def test_administrator_creates_user_who_can_log_in_and_sees_granted_network_only(
    client: Client, administrator: User, network_a: Network, network_b: Network
) -> None:
    client.force_login(administrator)
    response = client.post(
        reverse("accounts:user_create"),
        {
            "username": "nina",
            "email": "nina@example.org",
            "first_name": "Nina",
            "last_name": "Neu",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
            "roles": [Role.OPERATIONS],
            "networks": [network_a.pk],
        },
    )

    nina = User.objects.get(username="nina")
    assert response.status_code == 302
    assert response["Location"] == reverse("accounts:user_detail", args=[nina.pk])
    assert nina.role_names == ["Operations"]
    assert list(network_list_for_user(user=nina)) == [network_a]
    assert Client().login(username="nina", password=NEW_PASSWORD)
    entry = AuditLog.objects.get(action="user.create")
    assert entry.actor == administrator
    assert entry.after["roles"] == ["Operations"]
    assert entry.after["networks"] == ["Network A"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"username": "bad name!"}, "username"),
        ({"username": "target"}, "username"),
        ({"password2": "something-else-9"}, "password2"),
        ({"password1": "123", "password2": "123"}, "password1"),
        ({"roles": ["Wizard"]}, "roles"),
        ({"email": "not-an-email"}, "email"),
        ({"is_driver": "on"}, "roles"),
    ],
)
def test_user_create_rejects_bad_input_naming_the_field(
    client: Client,
    administrator: User,
    target: User,
    network_a: Network,
    change: dict[str, Any],
    field: str,
) -> None:
    client.force_login(administrator)
    data = {
        "username": "nina",
        "password1": NEW_PASSWORD,
        "password2": NEW_PASSWORD,
        "roles": [Role.OPERATIONS],
        **change,
    }
    users_before = User.objects.count()

    response = client.post(reverse("accounts:user_create"), data)

    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert f'id="id_{field}_errors"' in response.content.decode()
    assert User.objects.count() == users_before


def test_administrator_edits_roles_and_deactivates_a_user(
    client: Client, administrator: User, target: User
) -> None:
    client.force_login(administrator)
    response = client.post(
        reverse("accounts:user_edit", args=[target.pk]),
        {"email": "t@example.org", "roles": [Role.FINANCE], "first_name": "Tia"},
    )

    target.refresh_from_db()
    assert response.status_code == 302
    assert target.role_names == ["Finance"]
    assert target.is_active is False
    assert target.email == "t@example.org"
    entry = AuditLog.objects.get(action="user.update")
    assert entry.before["roles"] == ["Support"]
    assert entry.after["roles"] == ["Finance"]
    assert entry.before["is_active"] is True
    assert entry.after["is_active"] is False
    assert not Client().login(username="target", password="pw-test-1234")


def test_administrator_cannot_remove_own_administrator_role(
    client: Client, administrator: User
) -> None:
    client.force_login(administrator)
    audit_before = AuditLog.objects.count()

    response = client.post(
        reverse("accounts:user_edit", args=[administrator.pk]),
        {"is_active": "on", "roles": [Role.OPERATIONS]},
    )

    administrator.refresh_from_db()
    assert response.status_code == 400
    assert "cannot remove your own Administrator role" in str(
        response.context["form"].errors["roles"]
    )
    assert administrator.role_names == ["Administrator"]
    assert AuditLog.objects.count() == audit_before


def test_administrator_cannot_deactivate_themselves(
    client: Client, administrator: User
) -> None:
    client.force_login(administrator)

    response = client.post(
        reverse("accounts:user_edit", args=[administrator.pk]),
        {"roles": [Role.ADMINISTRATOR], "email": "changed@example.org"},
    )

    administrator.refresh_from_db()
    assert response.status_code == 400
    assert "cannot deactivate your own account" in str(
        response.context["form"].errors["is_active"]
    )
    assert administrator.is_active
    assert administrator.email != "changed@example.org"  # nothing of the edit is kept
    assert client.get(reverse("accounts:user_list")).status_code == 200


def test_granting_a_network_changes_what_the_user_sees(
    client: Client,
    administrator: User,
    target: User,
    network_a: Network,
    network_b: Network,
) -> None:
    assert list(network_list_for_user(user=target)) == [network_a]
    client.force_login(administrator)

    response = client.post(
        reverse("accounts:user_network_grant", args=[target.pk]),
        {"network": network_b.pk},
    )

    fresh = User.objects.get(pk=target.pk)
    assert response.status_code == 302
    assert set(network_list_for_user(user=fresh)) == {network_a, network_b}
    entry = AuditLog.objects.get(action="user.network_grant")
    assert entry.network == network_b
    assert entry.before["networks"] == ["Network A"]
    assert entry.after["networks"] == ["Network A", "Network B"]


def test_revoking_a_network_hides_it_from_the_user(
    client: Client, administrator: User, target: User, network_a: Network
) -> None:
    client.force_login(administrator)

    response = client.post(
        reverse("accounts:user_network_revoke", args=[target.pk, network_a.pk])
    )

    fresh = User.objects.get(pk=target.pk)
    assert response.status_code == 302
    assert list(network_list_for_user(user=fresh)) == []
    target_client = Client()
    target_client.force_login(fresh)
    assert (
        "Network A"
        not in target_client.get(reverse("stations:overview")).content.decode()
    )
    entry = AuditLog.objects.get(action="user.network_revoke")
    assert entry.after["networks"] == []


def test_grant_of_an_unknown_network_is_a_form_error(
    client: Client, administrator: User, target: User
) -> None:
    client.force_login(administrator)
    before = _state(target)

    response = client.post(
        reverse("accounts:user_network_grant", args=[target.pk]), {"network": 999999}
    )

    assert response.status_code == 400
    assert response.context["grant_form"].errors["network"]
    assert _state(target) == before


def test_administrator_sets_a_password_the_user_can_log_in_with(
    client: Client, administrator: User, target: User
) -> None:
    client.force_login(administrator)

    response = client.post(
        reverse("accounts:user_password_reset", args=[target.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 302
    assert Client().login(username="target", password=NEW_PASSWORD)
    entry = AuditLog.objects.get(action="user.password_reset")
    assert NEW_PASSWORD not in str(entry.before) + str(entry.after) + entry.detail


def test_password_reset_rejects_a_weak_password_naming_the_field(
    client: Client, administrator: User, target: User
) -> None:
    client.force_login(administrator)
    before = _state(target)

    response = client.post(
        reverse("accounts:user_password_reset", args=[target.pk]),
        {"password1": "target", "password2": "target"},
    )

    assert response.status_code == 400
    assert response.context["form"].errors["password1"]
    assert _state(target) == before


def test_token_is_shown_once_and_authenticates_the_api(
    client: Client, administrator: User, target: User
) -> None:
    old_key = Token.objects.get(user=target).key
    client.force_login(administrator)

    response = client.post(reverse("accounts:user_token_create", args=[target.pk]))

    new_key = Token.objects.get(user=target).key
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    assert new_key != old_key
    assert new_key in response.content.decode()
    detail = client.get(reverse("accounts:user_detail", args=[target.pk]))
    assert new_key not in detail.content.decode()
    api = Client()
    me = api.get(reverse("accounts:api_me"), HTTP_AUTHORIZATION=f"Token {new_key}")
    assert me.status_code == 200
    assert me.json()["username"] == "target"
    assert me.json()["networks"][0]["name"] == "Network A"
    stale = api.get(reverse("accounts:api_me"), HTTP_AUTHORIZATION=f"Token {old_key}")
    assert stale.status_code == 401
    entry = AuditLog.objects.get(action="user.api_token_create")
    assert new_key not in str(entry.after)


def test_revoked_token_no_longer_authenticates(
    client: Client, administrator: User, target: User
) -> None:
    key = Token.objects.get(user=target).key
    client.force_login(administrator)

    response = client.post(reverse("accounts:user_token_revoke", args=[target.pk]))

    assert response.status_code == 302
    assert not Token.objects.filter(user=target).exists()
    me = Client().get(reverse("accounts:api_me"), HTTP_AUTHORIZATION=f"Token {key}")
    assert me.status_code == 401
    assert AuditLog.objects.filter(action="user.api_token_revoke").count() == 1


def test_unknown_user_is_404_for_administrators(
    client: Client, administrator: User
) -> None:
    client.force_login(administrator)
    assert client.get(reverse("accounts:user_detail", args=[999999])).status_code == 404


def test_post_only_actions_refuse_get(
    client: Client, administrator: User, target: User
) -> None:
    client.force_login(administrator)
    before = _state(target)
    response = client.get(reverse("accounts:user_token_create", args=[target.pk]))
    assert response.status_code == 405
    assert _state(target) == before


def test_deactivating_or_resetting_password_ends_the_users_open_session(
    client: Client, administrator: User, target: User, operator: User
) -> None:
    target_browser, operator_browser = Client(), Client()
    target_browser.force_login(target)
    operator_browser.force_login(operator)
    overview = reverse("stations:overview")
    assert target_browser.get(overview).status_code == 200
    client.force_login(administrator)

    client.post(
        reverse("accounts:user_edit", args=[target.pk]), {"roles": [Role.SUPPORT]}
    )
    client.post(
        reverse("accounts:user_password_reset", args=[operator.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert target_browser.get(overview).status_code == 302
    assert operator_browser.get(overview).status_code == 302


def test_administrator_resetting_own_password_stays_logged_in(
    client: Client, administrator: User
) -> None:
    client.force_login(administrator)

    client.post(
        reverse("accounts:user_password_reset", args=[administrator.pk]),
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert client.get(reverse("accounts:user_list")).status_code == 200
