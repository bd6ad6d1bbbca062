"""Support's session page: actions by role (with their denied paths), live figures,
and finding a session by the driver's name, the card's label or the owner's e-mail."""

from __future__ import annotations

import pytest
from django.urls import reverse

from stations.models import ChargePointCommand
from tests.factories import ChargingSessionFactory, IdTokenFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def driver(db):
    return UserFactory(
        username="driver1",
        first_name="Jana",
        last_name="Novak",
        email="jana.novak@example.org",
        is_driver=True,
    )


@pytest.fixture
def active(connector_a, network_a, driver):
    token = IdTokenFactory(
        token="CARD0042", network=network_a, label="Fleet van 7", owner=driver
    )
    return ChargingSessionFactory(
        charge_point=connector_a.charge_point,
        connector=connector_a,
        connector_number=1,
        id_token=token,
        id_tag=token.token,
        energy_wh=12_345,
        power_w=11_000.0,
    )


def _post(client, user, session, action: str):
    client.force_login(user)
    return client.post(reverse("charging:session_action", args=[session.pk, action]))


@pytest.mark.parametrize(
    ("action", "command", "payload"),
    [
        ("stop", "RemoteStopTransaction", "transactionId"),
        ("unlock", "UnlockConnector", "connectorId"),
        ("reset", "Reset", "type"),
    ],
)
def test_support_acts_on_the_session_and_the_command_is_recorded(
    client, support, active, action, command, payload
):
    response = _post(client, support, active, action)

    assert response.status_code == 302
    assert response["Location"] == reverse("charging:session_detail", args=[active.pk])
    sent = ChargePointCommand.objects.get(charge_point=active.charge_point)
    assert sent.action == command
    assert sent.requested_by == support
    assert payload in sent.payload
    if action == "stop":
        assert sent.payload["transactionId"] == active.pk
    if action == "reset":
        assert sent.payload["type"] == "Soft"


def test_the_session_page_offers_only_the_roles_actions(
    client, support, finance, active
):
    client.force_login(support)
    as_support = client.get(reverse("charging:session_detail", args=[active.pk]))
    client.force_login(finance)
    as_finance = client.get(reverse("charging:session_detail", args=[active.pk]))

    assert 'data-testid="action-stop"' in as_support.content.decode()
    assert 'data-testid="action-reset"' in as_support.content.decode()
    assert 'data-testid="action-' not in as_finance.content.decode()


@pytest.mark.parametrize(("role", "status"), [("finance", 403), ("outsider", 404)])
def test_actions_are_refused_outside_the_role_or_scope(
    client, request, active, role, status
):
    for action in ("stop", "unlock", "reset"):
        response = _post(client, request.getfixturevalue(role), active, action)
        assert response.status_code == status, action
    assert not ChargePointCommand.objects.exists()


def test_a_stopped_session_is_not_stopped_again(client, support, active):
    active.stopped_at = active.started_at
    active.status = "completed"
    active.save()

    response = _post(client, support, active, "stop")

    assert response.status_code == 302
    assert not ChargePointCommand.objects.exists()


def test_unknown_action_is_not_found(client, support, active):
    assert _post(client, support, active, "explode").status_code == 404


def test_live_figures_follow_the_session(client, support, active):
    client.force_login(support)
    url = reverse("charging:session_live", args=[active.pk])

    first = client.get(url).json()
    active.energy_wh = 20_000
    active.save()
    second = client.get(url).json()

    assert first["energy"] == "12.35 kWh"
    assert first["power"] == "11.00 kW"
    assert first["is_open"] is True
    assert second["energy"] == "20.00 kWh"


def test_live_figures_are_refused_outside_the_scope(client, outsider, active):
    client.force_login(outsider)

    assert (
        client.get(reverse("charging:session_live", args=[active.pk])).status_code
        == 404
    )


@pytest.mark.parametrize(
    "query", ["Jana Novak", "novak", "jana.novak@example.org", "fleet van", "CARD0042"]
)
def test_search_finds_the_session_by_driver_label_or_email(
    client, support, active, query
):
    client.force_login(support)

    response = client.get(reverse("stations:search"), {"q": query})

    content = response.content.decode()
    assert f"Session #{active.pk}" in content


def test_search_by_driver_stays_in_the_users_networks(client, outsider, active):
    client.force_login(outsider)

    response = client.get(reverse("stations:search"), {"q": "Jana Novak"})

    assert f"Session #{active.pk}" not in response.content.decode()
