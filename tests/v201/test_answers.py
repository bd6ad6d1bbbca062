"""A 2.0.1 station's answers and notifications land on the same rows as a 1.6 charger's."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from stations.models import ChargePoint, CommandStatus
from stations.remote.dispatch import command_wait
from stations.remote.models import (
    ChargingProfile,
    DiagnosticsRequest,
    FirmwareUpdate,
    LocalAuthList,
    ProfileStatus,
    Reservation,
    ReservationStatus,
)
from stations.remote.services import (
    charging_profile_send,
    command_request,
    command_result_apply,
    diagnostics_request,
    firmware_progress_sweep,
    firmware_update_request,
)
from tests.factories import ChargePointFactory, IdTokenFactory
from tests.ocpp.client import wait_for
from tests.v201.station import boot_payload, booted, station

pytestmark = pytest.mark.django_db(transaction=True)


def _run(charge_point: ChargePoint, action: str, payload: dict, user: Any):
    command = command_request(
        charge_point=charge_point, action=action, payload=payload, requested_by=user
    )
    return _finished(command.pk)


def _finished(command_id: int):
    command = command_wait(command_id, 25)
    command_result_apply(command_id=command.pk)
    return command


def test_reservations_local_list_profiles_firmware_and_logs_follow_the_answers(
    asgi_server, operator, station_a
):
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-201-ANS")
    IdTokenFactory(token="TAG-201", network=station_a.network)
    expiry = (timezone.now() + timedelta(hours=1)).isoformat()
    rows: dict[str, Any] = {}

    async def scenario() -> list[tuple[str, dict]]:
        async with station(asgi_server, charge_point.ocpp_id) as client:
            client.answers["GetLocalListVersion"] = lambda _p: {"versionNumber": 1}
            client.answers["GetLog"] = lambda _p: {
                "status": "Accepted",
                "filename": "diagnostics-201.tar.gz",
            }
            await client.call("BootNotification", boot_payload())
            cp = await asyncio.to_thread(wait_for, lambda: booted(charge_point.ocpp_id))

            def reserve_and_cancel() -> None:
                _run(cp, "ReserveNow", {"connectorId": 1, "idTag": "TAG-201", "expiryDate": expiry}, operator)  # fmt: skip
                first = Reservation.objects.get(charge_point=cp)
                rows["reserved"] = first.status
                _run(cp, "CancelReservation", {"reservationId": first.pk}, operator)
                first.refresh_from_db()
                rows["cancelled"] = first.status
                _run(cp, "ReserveNow", {"connectorId": 1, "idTag": "TAG-201", "expiryDate": expiry}, operator)  # fmt: skip
                rows["second"] = Reservation.objects.filter(charge_point=cp).latest(
                    "pk"
                )

            await asyncio.to_thread(reserve_and_cancel)
            # H01: the station ends the reservation itself (its EVSE went out).
            await client.call(
                "ReservationStatusUpdate",
                {
                    "reservationId": rows["second"].pk,
                    "reservationUpdateStatus": "Removed",
                },
            )

            def local_list_and_profiles() -> None:
                _run(
                    cp,
                    "SendLocalList",
                    {
                        "listVersion": 1,
                        "updateType": "Full",
                        "localAuthorizationList": [
                            {"idTag": "TAG-201", "idTagInfo": {"status": "Accepted"}}
                        ],
                    },
                    operator,
                )
                _run(cp, "GetLocalListVersion", {}, operator)
                profile = ChargingProfile.objects.create(
                    charge_point=cp,
                    connector_number=1,
                    purpose="TxDefaultProfile",
                    stack_level=1,
                    kind="Relative",
                    rate_unit="A",
                    periods=[{"start_s": 0, "limit": 16.0}],
                    created_at=timezone.now(),
                )
                sent = charging_profile_send(profile=profile, requested_by=operator)
                _finished(sent.pk)
                profile.refresh_from_db()
                rows["profile_set"] = profile.status
                _run(cp, "ClearChargingProfile", {"id": profile.pk}, operator)
                profile.refresh_from_db()
                rows["profile_cleared"] = profile.status
                update = firmware_update_request(
                    charge_point=cp,
                    location="https://firmware.example.com/dc150-2.1.bin",
                    retrieve_at=timezone.now(),
                    requested_by=operator,
                )
                _finished(update.command_id)
                logs = diagnostics_request(
                    charge_point=cp,
                    location="https://upload.example.com/logs/",
                    requested_by=operator,
                )
                _finished(logs.command_id)

            await asyncio.to_thread(local_list_and_profiles)
            firmware_id = next(
                p["requestId"] for a, p in client.received if a == "UpdateFirmware"
            )
            log_id = next(p["requestId"] for a, p in client.received if a == "GetLog")
            # L01: a signed firmware whose signature does not verify.
            for status in ("Downloading", "Downloaded", "InvalidSignature"):
                await client.call(
                    "FirmwareStatusNotification",
                    {"status": status, "requestId": firmware_id},
                )
            for status in ("Uploading", "Uploaded"):
                await client.call(
                    "LogStatusNotification", {"status": status, "requestId": log_id}
                )
            await client.call("Heartbeat", {})
            return list(client.received)

    received = asyncio.run(scenario())
    firmware_progress_sweep()

    actions = [action for action, _ in received]
    assert actions == [
        "ReserveNow",
        "CancelReservation",
        "ReserveNow",
        "SendLocalList",
        "GetLocalListVersion",
        "SetChargingProfile",
        "ClearChargingProfile",
        "UpdateFirmware",
        "GetLog",
    ]
    reserve = received[0][1]
    assert reserve["evseId"] == 1
    assert reserve["idToken"]["idToken"] == "TAG-201"
    assert rows["reserved"] == ReservationStatus.ACTIVE
    assert rows["cancelled"] == ReservationStatus.CANCELLED
    second = Reservation.objects.get(pk=rows["second"].pk)
    assert (second.status, second.charger_status) == (
        ReservationStatus.CANCELLED,
        "Removed",
    )
    local_list = LocalAuthList.objects.get(charge_point=charge_point)
    assert (local_list.version, local_list.charger_version) == (1, 1)
    assert local_list.last_status == "Accepted"
    assert list(local_list.entries.values_list("id_tag", "status")) == [
        ("TAG-201", "Accepted")
    ]
    assert rows["profile_set"] == ProfileStatus.ACTIVE
    assert rows["profile_cleared"] == ProfileStatus.CLEARED
    firmware = FirmwareUpdate.objects.get(charge_point=charge_point)
    assert firmware.status == "InvalidSignature"
    assert firmware.is_finished
    assert [h["status"] for h in firmware.history][-3:] == [
        "Downloading",
        "Downloaded",
        "InvalidSignature",
    ]
    logs = DiagnosticsRequest.objects.get(charge_point=charge_point)
    assert logs.file_name == "diagnostics-201.tar.gz"
    assert (logs.status, logs.is_finished) == ("Uploaded", True)
    assert all(
        c.status == CommandStatus.ACCEPTED
        for c in charge_point.commands.exclude(action="GetLocalListVersion")
    )

    # The portal's pages read those rows, as for a 1.6 charger.
    browser = Client()
    browser.force_login(operator)
    pages = {
        name: browser.get(reverse(f"commands:{name}", args=[charge_point.pk]))
        for name in ("reservations", "local_list", "firmware", "profiles")
    }
    assert all(page.status_code == 200 for page in pages.values())
    assert "Removed" in pages["reservations"].content.decode()
    assert "InvalidSignature" in pages["firmware"].content.decode()
    assert "diagnostics-201.tar.gz" in pages["firmware"].content.decode()
    assert "TAG-201" in pages["local_list"].content.decode()


def test_a_reservation_update_for_another_stations_reservation_changes_nothing(
    asgi_server, station_a
):
    mine = ChargePointFactory(station=station_a, ocpp_id="CP-201-RSV")
    other = ChargePointFactory(station=station_a, ocpp_id="CP-201-OTHER")
    reservation = Reservation.objects.create(
        charge_point=other,
        connector_number=1,
        id_tag="TAG-X",
        expires_at=timezone.now() + timedelta(hours=1),
        status=ReservationStatus.ACTIVE,
        created_at=timezone.now(),
    )

    async def scenario() -> dict:
        async with station(asgi_server, mine.ocpp_id) as client:
            await client.call("BootNotification", boot_payload())
            return await client.call(
                "ReservationStatusUpdate",
                {"reservationId": reservation.pk, "reservationUpdateStatus": "Expired"},
            )

    assert asyncio.run(scenario()) == {}
    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.ACTIVE
