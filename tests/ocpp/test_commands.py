"""CMS -> charger commands: audit row, delivery to the socket, recorded outcome."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditLog
from stations.models import ChargePointCommand, CommandStatus, OcppMessage
from stations.remote.dispatch import CommandPayloadError, command_wait
from stations.remote.services import command_request
from tests.factories import ChargePointFactory
from tests.ocpp.client import charger, wait_for

live = pytest.mark.django_db(transaction=True)


def connected(ocpp_id: str):
    return wait_for(
        lambda: ChargePointFactory._meta.model.objects.filter(
            ocpp_id=ocpp_id, is_connected=True
        ).first()
    )


def send_while_connected(server, ocpp_id: str, action: str, payload: dict, user, **kw):
    async def scenario():
        async with charger(server, ocpp_id, **kw):
            charge_point = await asyncio.to_thread(connected, ocpp_id)
            command = await asyncio.to_thread(
                lambda: command_request(
                    charge_point=charge_point,
                    action=action,
                    payload=payload,
                    requested_by=user,
                )
            )
            return await asyncio.to_thread(command_wait, command.pk, 15)

    return asyncio.run(scenario())


@live
def test_command_to_connected_charger_records_accepted_answer(asgi_server, operator):
    charge_point = ChargePointFactory(ocpp_id="CP-CMD-1")

    command = send_while_connected(
        asgi_server, "CP-CMD-1", "Reset", {"type": "Soft"}, operator
    )

    assert command.status == CommandStatus.ACCEPTED
    assert command.response_payload == {"status": "Accepted"}
    assert command.requested_by == operator
    assert command.finished_at is not None
    assert command.duration_ms is not None
    assert AuditLog.objects.filter(
        action="command.Reset", object_id=str(charge_point.pk), actor=operator
    ).exists()
    sent = wait_for(
        lambda: OcppMessage.objects.filter(
            charge_point=charge_point, direction="out", action="Reset", message_type=2
        ).first()
    )
    assert sent.unique_id == command.unique_id
    answer = wait_for(
        lambda: OcppMessage.objects.filter(
            charge_point=charge_point, direction="in", message_type=3
        ).first()
    )
    assert answer.action == "Reset"


@live
def test_snake_case_action_and_payload_are_accepted(asgi_server, operator):
    ChargePointFactory(ocpp_id="CP-CMD-2")

    command = send_while_connected(
        asgi_server, "CP-CMD-2", "unlock_connector", {"connector_id": 1}, operator
    )

    assert command.action == "UnlockConnector"
    assert command.payload == {"connectorId": 1}
    assert command.connector_number == 1
    assert command.status == CommandStatus.REJECTED
    assert command.charger_status == "UnlockFailed"


@live
def test_command_the_charger_does_not_implement_records_its_call_error(
    asgi_server, operator
):
    ChargePointFactory(ocpp_id="CP-CMD-3")

    command = send_while_connected(asgi_server, "CP-CMD-3", "ClearCache", {}, operator)

    assert command.status == CommandStatus.ERROR
    assert command.error_code == "NotImplemented"


@pytest.mark.django_db
def test_command_to_unconnected_charger_is_offline_at_once(operator):
    charge_point = ChargePointFactory(ocpp_id="CP-CMD-4")

    command = command_request(
        charge_point=charge_point,
        action="Reset",
        payload={"type": "Hard"},
        requested_by=operator,
    )

    assert command.status == CommandStatus.OFFLINE
    assert command.finished_at is not None
    assert AuditLog.objects.filter(action="command.Reset").exists()


@live
def test_command_nobody_answers_times_out(server_factory, operator):
    server = server_factory(OCPP_COMMAND_TIMEOUT="1")
    ChargePointFactory(ocpp_id="CP-CMD-5")

    command = send_while_connected(
        server, "CP-CMD-5", "Reset", {"type": "Soft"}, operator, answer_reset=False
    )

    assert command.status == CommandStatus.TIMEOUT


@live
def test_connection_closing_mid_call_records_offline(server_factory, operator):
    server = server_factory(OCPP_COMMAND_TIMEOUT="30")
    ChargePointFactory(ocpp_id="CP-CMD-6")

    async def scenario():
        async with charger(server, "CP-CMD-6", answer_reset=False):
            charge_point = await asyncio.to_thread(connected, "CP-CMD-6")
            command = await asyncio.to_thread(
                lambda: command_request(
                    charge_point=charge_point,
                    action="Reset",
                    payload={"type": "Soft"},
                    requested_by=operator,
                )
            )
            await asyncio.to_thread(
                wait_for,
                lambda: ChargePointCommand.objects.filter(
                    pk=command.pk, sent_at__isnull=False
                ).exists(),
            )
        return await asyncio.to_thread(command_wait, command.pk, 15)

    command = asyncio.run(scenario())

    assert command.status == CommandStatus.OFFLINE


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("action", "payload", "field"),
    [
        pytest.param("Reboot", {}, "action", id="unknown-action"),
        pytest.param("Heartbeat", {}, "action", id="charger-only-action"),
        pytest.param("Reset", {"type": "Sideways"}, "type", id="bad-enum"),
        pytest.param("UnlockConnector", {}, "connectorId", id="missing-field"),
        pytest.param(
            "ChangeConfiguration", {"key": "k" * 51, "value": "1"}, "key", id="too-long"
        ),
        pytest.param("Reset", ["Soft"], "payload", id="not-an-object"),
    ],
)
def test_invalid_command_is_refused_naming_the_field_and_nothing_is_stored(
    operator, action, payload, field
):
    charge_point = ChargePointFactory(ocpp_id="CP-CMD-7")

    with pytest.raises(CommandPayloadError) as refused:
        command_request(
            charge_point=charge_point,
            action=action,
            payload=payload,
            requested_by=operator,
        )

    assert refused.value.field == field
    assert not ChargePointCommand.objects.exists()
    assert not AuditLog.objects.filter(action__startswith="command.").exists()


@live
def test_send_command_management_command_prints_accepted_outcome(asgi_server):
    ChargePointFactory(ocpp_id="CP-CLI-1")
    out = io.StringIO()

    async def scenario():
        async with charger(asgi_server, "CP-CLI-1"):
            await asyncio.to_thread(connected, "CP-CLI-1")
            await asyncio.to_thread(
                call_command,
                "send_command",
                "CP-CLI-1",
                "Reset",
                '{"type": "Soft"}',
                "--timeout",
                "15",
                stdout=out,
            )

    asyncio.run(scenario())

    assert json.loads(out.getvalue())["status"] == "accepted"
    assert AuditLog.objects.filter(
        action="command.Reset", actor_label="system"
    ).exists()


@pytest.mark.django_db
def test_send_command_to_offline_charger_exits_non_zero():
    ChargePointFactory(ocpp_id="CP-CLI-2")

    with pytest.raises(CommandError, match="offline"):
        call_command(
            "send_command",
            "CP-CLI-2",
            "Reset",
            '{"type": "Soft"}',
            stdout=io.StringIO(),
        )

    assert ChargePointCommand.objects.get().status == CommandStatus.OFFLINE


@pytest.mark.django_db
def test_send_command_with_bad_payload_names_the_field_and_stores_nothing():
    ChargePointFactory(ocpp_id="CP-CLI-3")

    with pytest.raises(CommandError, match="type"):
        call_command("send_command", "CP-CLI-3", "Reset", '{"type": "Later"}')

    assert not ChargePointCommand.objects.exists()
