"""Every command against a real (simulated) charger through a real ASGI server."""

from __future__ import annotations

import asyncio
import io

import pytest
from django.core.management import CommandError, call_command

from stations.models import ChargePoint, CommandStatus
from stations.remote.dispatch import command_wait
from stations.remote.models import (
    ChargingProfile,
    ConfigurationKey,
    LocalAuthList,
    RemoteStartRequest,
    Reservation,
)
from stations.remote.services import (
    charging_profile_send,
    command_request,
    command_result_apply,
    configuration_boot_sweep,
    remote_starts_sweep,
)
from tests.factories import ChargePointFactory, IdTokenFactory
from tests.ocpp.client import charger, wait_for
from tests.simulator.support import running

live = pytest.mark.django_db(transaction=True)


def is_booted(ocpp_id: str) -> ChargePoint | None:
    return ChargePoint.objects.filter(
        ocpp_id=ocpp_id, is_connected=True, last_boot_at__isnull=False
    ).first()


def send(charge_point: ChargePoint, action: str, payload: dict, user):
    command = command_request(
        charge_point=charge_point, action=action, payload=payload, requested_by=user
    )
    command = command_wait(command.pk, 25)
    command_result_apply(command_id=command.pk)
    return command


@live
def test_every_command_round_trip_with_a_simulated_charger(
    asgi_server, operator, station_a
):
    ChargePointFactory(station=station_a, ocpp_id="SIM-RT-1")
    IdTokenFactory(token="TAG-1", network=station_a.network)
    outcomes: dict[str, tuple[str, str]] = {}

    def scenario_sync() -> None:
        charge_point = wait_for(lambda: is_booted("SIM-RT-1"), 30)

        def run(action: str, payload: dict) -> None:
            command = send(charge_point, action, payload, operator)
            outcomes[action] = (command.status, command.charger_status)

        # Configuration is read after boot without anyone asking.
        configuration_boot_sweep()
        fetch = charge_point.commands.get(action="GetConfiguration")
        command_wait(fetch.pk, 25)
        command_result_apply(command_id=fetch.pk)
        assert ConfigurationKey.objects.filter(
            charge_point=charge_point, key="HeartbeatInterval"
        ).exists()
        run("ChangeConfiguration", {"key": "MeterValueSampleInterval", "value": "30"})
        run("GetConfiguration", {"key": ["MeterValueSampleInterval"]})
        run("TriggerMessage", {"requestedMessage": "Heartbeat"})
        run("ClearCache", {})
        run("DataTransfer", {"vendorId": "com.example"})
        run("ChangeAvailability", {"connectorId": 2, "type": "Inoperative"})
        run("ChangeAvailability", {"connectorId": 2, "type": "Operative"})
        run("UnlockConnector", {"connectorId": 2})
        run(
            "ReserveNow",
            {
                "connectorId": 2,
                "idTag": "TAG-1",
                "expiryDate": "2099-01-01T00:00:00Z",
            },
        )
        reservation = Reservation.objects.get(charge_point=charge_point)
        run("CancelReservation", {"reservationId": reservation.pk})
        run(
            "SendLocalList",
            {
                "listVersion": 1,
                "updateType": "Full",
                "localAuthorizationList": [
                    {"idTag": "TAG-1", "idTagInfo": {"status": "Accepted"}}
                ],
            },
        )
        run("GetLocalListVersion", {})
        profile = ChargingProfile.objects.create(
            charge_point=charge_point,
            connector_number=0,
            purpose="TxDefaultProfile",
            stack_level=1,
            kind="Relative",
            rate_unit="A",
            periods=[{"start_s": 0, "limit": 16.0}],
            created_at=charge_point.created_at,
        )
        command = charging_profile_send(profile=profile, requested_by=operator)
        command_wait(command.pk, 25)
        command_result_apply(command_id=command.pk)
        run("GetCompositeSchedule", {"connectorId": 1, "duration": 3600})
        run("ClearChargingProfile", {"id": profile.pk})
        run("GetDiagnostics", {"location": "ftp://diag.example.com/upload/"})
        run("RemoteStartTransaction", {"idTag": "TAG-1", "connectorId": 1})
        handle = RemoteStartRequest.objects.get(charge_point=charge_point)
        wait_for(
            lambda: (
                remote_starts_sweep(now=handle.requested_at)
                or (
                    RemoteStartRequest.objects.filter(
                        pk=handle.pk, status="started"
                    ).exists()
                )
            ),
            30,
        )
        handle.refresh_from_db()
        run("RemoteStopTransaction", {"transactionId": handle.transaction_id})
        boot_before = ChargePoint.objects.get(pk=charge_point.pk).last_boot_at
        run("Reset", {"type": "Soft"})
        # The charger reboots and boots again.
        wait_for(
            lambda: (
                ChargePoint.objects.get(pk=charge_point.pk).last_boot_at != boot_before
            ),
            45,
        )
        profile.refresh_from_db()
        outcomes["profile"] = (profile.status, "")
        outcomes["reservation"] = (Reservation.objects.get().status, "")
        outcomes["handle"] = (handle.status, str(handle.transaction_id))

    async def scenario() -> None:
        async with running(f"{asgi_server.ws_url}/ocpp", ocpp_id="SIM-RT-1"):
            await asyncio.to_thread(scenario_sync)

    asyncio.run(scenario())

    accepted = CommandStatus.ACCEPTED
    for action in (
        "ChangeConfiguration",
        "GetConfiguration",
        "TriggerMessage",
        "ClearCache",
        "ChangeAvailability",
        "UnlockConnector",
        "ReserveNow",
        "CancelReservation",
        "SendLocalList",
        "GetLocalListVersion",
        "GetCompositeSchedule",
        "ClearChargingProfile",
        "GetDiagnostics",
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "Reset",
    ):
        assert outcomes[action][0] == accepted, (action, outcomes[action])
    assert outcomes["DataTransfer"][0] in {
        accepted,
        CommandStatus.REJECTED,
        CommandStatus.OTHER,
    }
    assert outcomes["profile"][0] == "cleared"
    assert outcomes["reservation"][0] == "cancelled"
    assert outcomes["handle"][0] == "started"
    assert outcomes["handle"][1].isdigit()
    assert LocalAuthList.objects.get().version == 1
    assert ConfigurationKey.objects.get(key="MeterValueSampleInterval").value == "30"


@live
def test_silent_charger_times_out(server_factory, operator, station_a):
    server = server_factory(OCPP_COMMAND_TIMEOUT="2")
    ChargePointFactory(station=station_a, ocpp_id="CP-SILENT")

    async def scenario():
        async with charger(server, "CP-SILENT", answer_reset=False):
            charge_point = await asyncio.to_thread(
                wait_for,
                lambda: ChargePoint.objects.filter(
                    ocpp_id="CP-SILENT", is_connected=True
                ).first(),
            )
            return await asyncio.to_thread(
                send, charge_point, "Reset", {"type": "Hard"}, operator
            )

    command = asyncio.run(scenario())

    assert command.status == CommandStatus.TIMEOUT


@live
def test_send_command_exit_codes(asgi_server, station_a):
    ChargePointFactory(station=station_a, ocpp_id="CP-EXIT")

    with pytest.raises(CommandError) as offline:
        call_command(
            "send_command", "CP-EXIT", "Reset", '{"type": "Soft"}', stdout=io.StringIO()
        )
    with pytest.raises(CommandError) as unknown:
        call_command("send_command", "NOPE", "Reset", "{}", stdout=io.StringIO())

    async def scenario():
        async with charger(asgi_server, "CP-EXIT"):
            await asyncio.to_thread(
                wait_for,
                lambda: ChargePoint.objects.filter(
                    ocpp_id="CP-EXIT", is_connected=True
                ).first(),
            )
            out = io.StringIO()
            await asyncio.to_thread(
                call_command,
                "send_command",
                "CP-EXIT",
                "Reset",
                '{"type": "Soft"}',
                "--timeout",
                "15",
                stdout=out,
            )
            try:
                await asyncio.to_thread(
                    call_command,
                    "send_command",
                    "CP-EXIT",
                    "UnlockConnector",
                    "{}",
                    "--connector",
                    "1",
                    "--timeout",
                    "15",
                    stdout=io.StringIO(),
                )
            except CommandError as error:
                return out.getvalue(), error
            return out.getvalue(), None

    accepted_output, rejected = asyncio.run(scenario())

    assert offline.value.returncode == 4
    assert unknown.value.returncode == 2
    assert '"status": "accepted"' in accepted_output
    assert rejected is not None
    assert rejected.returncode == 1


@live
def test_command_from_this_process_reaches_a_server_process_through_redis(
    server_factory, operator, station_a, settings
):
    if not settings.TEST_REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL) for a cross-process channel layer")
    # tests/remote/conftest.py gives this process the Redis layer.
    server = server_factory()
    ChargePointFactory(station=station_a, ocpp_id="CP-REDIS-1")

    async def scenario():
        async with charger(server, "CP-REDIS-1"):
            charge_point = await asyncio.to_thread(
                wait_for,
                lambda: ChargePoint.objects.filter(
                    ocpp_id="CP-REDIS-1", is_connected=True
                ).first(),
            )
            return await asyncio.to_thread(
                send, charge_point, "Reset", {"type": "Soft"}, operator
            )

    command = asyncio.run(scenario())

    assert command.status == CommandStatus.ACCEPTED
    assert command.response_payload == {"status": "Accepted"}
