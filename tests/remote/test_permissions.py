"""Who may send which command: role and network scope, checked before anything is stored."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditLog
from stations.models import ChargePointCommand, CommandStatus
from stations.remote.models import Reservation

HTMX = {"HTTP_HX_REQUEST": "true"}
SUPPORT_ACTIONS = {
    "Reset": {"Reset-type": "Soft"},
    "UnlockConnector": {"UnlockConnector-connector_id": "1"},
    "RemoteStartTransaction": {"RemoteStartTransaction-id_tag": "TAG-1"},
    "RemoteStopTransaction": {"RemoteStopTransaction-transaction_id": "7"},
    "TriggerMessage": {"TriggerMessage-requested_message": "Heartbeat"},
    "ClearCache": {},
}
OPERATIONS_ONLY = {
    "ChangeConfiguration": {
        "ChangeConfiguration-key": "HeartbeatInterval",
        "ChangeConfiguration-value": "60",
    },
    "GetConfiguration": {"GetConfiguration-keys": ""},
    "ChangeAvailability": {
        "ChangeAvailability-connector_id": "0",
        "ChangeAvailability-type": "Inoperative",
    },
    "ReserveNow": {
        "ReserveNow-connector_id": "1",
        "ReserveNow-id_tag": "TAG-1",
        "ReserveNow-expires_at": "2099-01-01T10:00",
    },
    "DataTransfer": {"DataTransfer-vendor_id": "com.acme"},
    "GetLocalListVersion": {},
    "advanced": {"advanced-command": "ClearCache", "advanced-payload_json": "{}"},
}
ALL_ACTIONS = {**SUPPORT_ACTIONS, **OPERATIONS_ONLY}


def post(client, user, charge_point, action, data):
    client.force_login(user)
    url = reverse("commands:send", args=[charge_point.pk, action])
    return client.post(url, data, **HTMX)


def nothing_recorded() -> bool:
    return (
        not ChargePointCommand.objects.exists()
        and not AuditLog.objects.filter(action__startswith="command.").exists()
        and not Reservation.objects.exists()
    )


@pytest.mark.parametrize(("action", "data"), list(ALL_ACTIONS.items()))
def test_operations_may_send_every_command(
    client, operator, charge_point_a, action, data
):
    response = post(client, operator, charge_point_a, action, data)

    assert response.status_code == 200
    command = ChargePointCommand.objects.get()
    assert command.status == CommandStatus.OFFLINE  # the charger is not connected
    assert f'id="command-{command.pk}"' in response.content.decode()


@pytest.mark.parametrize(("action", "data"), list(SUPPORT_ACTIONS.items()))
def test_support_may_send_its_commands(client, support, charge_point_a, action, data):
    response = post(client, support, charge_point_a, action, data)

    assert response.status_code == 200
    assert ChargePointCommand.objects.get().requested_by == support


@pytest.mark.parametrize(("action", "data"), list(OPERATIONS_ONLY.items()))
def test_support_is_refused_operations_commands(
    client, support, charge_point_a, action, data
):
    response = post(client, support, charge_point_a, action, data)

    assert response.status_code == 403
    assert nothing_recorded()


def test_support_cannot_smuggle_a_command_through_the_advanced_form(
    client, support, charge_point_a
):
    response = post(
        client,
        support,
        charge_point_a,
        "advanced",
        {"advanced-command": "Reset", "advanced-payload_json": '{"type": "Hard"}'},
    )

    assert response.status_code == 403
    assert nothing_recorded()


@pytest.mark.parametrize(("action", "data"), list(ALL_ACTIONS.items()))
def test_finance_may_send_no_command(client, finance, charge_point_a, action, data):
    response = post(client, finance, charge_point_a, action, data)

    assert response.status_code == 403
    assert nothing_recorded()


@pytest.mark.parametrize(("action", "data"), list(ALL_ACTIONS.items()))
def test_other_network_charger_is_not_found(
    client, outsider, charge_point_a, action, data
):
    response = post(client, outsider, charge_point_a, action, data)

    assert response.status_code == 404
    assert nothing_recorded()


def test_anonymous_is_sent_to_login(client, charge_point_a):
    url = reverse("commands:send", args=[charge_point_a.pk, "Reset"])

    response = client.post(url, {"Reset-type": "Soft"})

    assert response.status_code == 302
    assert nothing_recorded()


def test_console_shows_only_the_actions_the_role_allows(
    client, support, charge_point_a
):
    client.force_login(support)

    html = client.get(
        reverse("commands:console", args=[charge_point_a.pk])
    ).content.decode()

    assert 'data-testid="command-form-Reset"' in html
    assert 'data-testid="command-form-RemoteStartTransaction"' in html
    assert 'data-testid="command-form-ChangeConfiguration"' not in html
    assert 'data-testid="command-form-advanced"' not in html


@pytest.mark.parametrize(
    "page", ["configuration", "reservations", "local_list", "firmware", "profiles"]
)
def test_operations_pages_are_refused_to_support(client, support, charge_point_a, page):
    client.force_login(support)

    response = client.get(reverse(f"commands:{page}", args=[charge_point_a.pk]))

    assert response.status_code == 403


@pytest.mark.parametrize(
    "page",
    ["configuration", "reservations", "local_list", "firmware", "profiles", "history"],
)
def test_operations_pages_render(client, operator, charge_point_a, page):
    client.force_login(operator)

    response = client.get(reverse(f"commands:{page}", args=[charge_point_a.pk]))

    assert response.status_code == 200


def test_bad_input_names_the_field_and_stores_nothing(client, operator, charge_point_a):
    response = post(
        client,
        operator,
        charge_point_a,
        "UnlockConnector",
        {"UnlockConnector-connector_id": "x"},
    )

    assert response.status_code == 422
    assert "id_UnlockConnector-connector_id_errors" in response.content.decode()
    assert nothing_recorded()


def test_invalid_raw_payload_names_the_ocpp_field(client, operator, charge_point_a):
    response = post(
        client,
        operator,
        charge_point_a,
        "advanced",
        {"advanced-command": "Reset", "advanced-payload_json": '{"type": "Later"}'},
    )

    assert response.status_code == 422
    assert "type" in response.content.decode()
    assert nothing_recorded()


def test_bulk_is_refused_to_finance(client, finance, charge_point_a):
    client.force_login(finance)

    response = client.post(
        reverse("commands:bulk"),
        {
            "command": "Reset",
            "payload_json": '{"type": "Soft"}',
            "charge_points": [charge_point_a.pk],
        },
    )

    assert response.status_code == 403
    assert nothing_recorded()


def test_bulk_cannot_target_chargers_outside_the_scope(
    client, outsider, charge_point_a
):
    client.force_login(outsider)

    response = client.post(
        reverse("commands:bulk"),
        {
            "command": "Reset",
            "payload_json": '{"type": "Soft"}',
            "charge_points": [charge_point_a.pk],
        },
    )

    assert response.status_code == 400
    assert nothing_recorded()
