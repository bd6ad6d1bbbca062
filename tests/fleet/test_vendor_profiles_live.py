"""Vendor profiles applied by the gateway to a real 1.6 charger's frames."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from django.utils import timezone

from sessions_app.models import ChargingSession, MeterValue, SessionStatus
from stations.fleet.models import VendorProfile
from stations.models import ChargePoint, StatusChange
from tests.factories import ChargePointFactory, IdTokenFactory
from tests.ocpp.client import exchange, raw_socket

pytestmark = pytest.mark.django_db(transaction=True)


def profile(vendor: str, **quirks: Any) -> VendorProfile:
    return VendorProfile.objects.create(
        vendor=vendor, model="Box", updated_at=timezone.now(), **quirks
    )


def boot_frame(vendor: str, unique_id: str = "boot-1") -> list[Any]:
    return [
        2, unique_id, "BootNotification",
        {"chargePointVendor": vendor, "chargePointModel": "Box", "firmwareVersion": "3.1.4"},
    ]  # fmt: skip


def start_frame(timestamp: str = "2030-03-01T08:00:00Z") -> list[Any]:
    return [
        2, "start", "StartTransaction",
        {"connectorId": 1, "idTag": "CARD-VP", "meterStart": 1000, "timestamp": timestamp},
    ]  # fmt: skip


def meter_frame(transaction_id: Any, value: str, at: str, unique_id: str) -> list[Any]:
    return [
        2, unique_id, "MeterValues",
        {
            "connectorId": 1, "transactionId": transaction_id,
            "meterValue": [{"timestamp": at, "sampledValue": [
                {"value": value, "unit": "Wh", "measurand": "Energy.Active.Import.Register"},
            ]}],
        },
    ]  # fmt: skip


def run(server, ocpp_id: str, vendor: str, *frames: list[Any]) -> list[list[Any]]:
    """Boot as ``vendor``, then each frame (``"TX"`` = the started transaction)."""

    async def scenario() -> list[list[Any]]:
        async with raw_socket(server, ocpp_id) as socket:
            answers = [await exchange(socket, boot_frame(vendor))]
            transaction_id: Any = None
            for frame in frames:
                payload = dict(frame[3])
                if payload.get("transactionId") == "TX":
                    payload["transactionId"] = transaction_id
                answer = await exchange(socket, [*frame[:3], payload])
                if frame[2] == "StartTransaction":
                    transaction_id = answer[2]["transactionId"]
                answers.append(answer)
            return answers

    return asyncio.run(scenario())


def test_energy_in_kwh_labelled_wh_is_read_as_kwh_and_noted(asgi_server):
    profile("VP-Scale", energy_kwh_labelled_wh=True)
    ChargePointFactory(ocpp_id="CP-VP-SCALE")
    IdTokenFactory(token="CARD-VP")

    answers = run(
        asgi_server, "CP-VP-SCALE", "VP-Scale", start_frame(),
        meter_frame("TX", "3.5", "2030-03-01T08:30:00Z", "mv-1"),
    )  # fmt: skip

    assert answers[-1] == [3, "mv-1", {}]
    session = ChargingSession.objects.get(pk=answers[1][2]["transactionId"])
    sample = MeterValue.objects.get(session=session)
    assert (sample.raw_value, sample.unit, sample.value) == ("3.5", "Wh", 3500.0)
    assert "kWh labelled Wh" in sample.quirk
    assert "VP-Scale Box *" in sample.quirk
    session.refresh_from_db()
    assert session.meter_last_wh == 3500


def test_a_charger_without_the_quirk_keeps_wh_as_wh(asgi_server):
    profile("VP-Scale-Other", energy_kwh_labelled_wh=True)
    ChargePointFactory(ocpp_id="CP-VP-PLAIN")
    IdTokenFactory(token="CARD-VP")

    answers = run(
        asgi_server, "CP-VP-PLAIN", "VP-Plain", start_frame(),
        meter_frame("TX", "3500", "2030-03-01T08:30:00Z", "mv-1"),
    )  # fmt: skip

    sample = MeterValue.objects.get(session_id=answers[1][2]["transactionId"])
    assert (sample.value, sample.quirk) == (3500.0, "")


def test_timestamps_without_zone_are_read_in_the_profiles_zone(asgi_server):
    profile("VP-Zone", naive_time_zone="Europe/Berlin")
    ChargePointFactory(ocpp_id="CP-VP-ZONE")
    IdTokenFactory(token="CARD-VP")

    answers = run(
        asgi_server, "CP-VP-ZONE", "VP-Zone", start_frame("2030-03-01T09:00:00"),
        meter_frame("TX", "2000", "2030-03-01T09:30:00", "mv-1"),
        meter_frame("TX", "2500", "2030-03-01T08:45:00Z", "mv-2"),
    )  # fmt: skip

    session = ChargingSession.objects.get(pk=answers[1][2]["transactionId"])
    # Berlin is UTC+1 in March (before the switch to summer time).
    assert session.started_at == datetime(2030, 3, 1, 8, 0, tzinfo=UTC)
    assert "time without zone read in Europe/Berlin" in session.quirk
    samples = {row.raw_value: row for row in MeterValue.objects.filter(session=session)}
    assert samples["2000"].timestamp == datetime(2030, 3, 1, 8, 30, tzinfo=UTC)
    assert "Europe/Berlin" in samples["2000"].quirk
    # A timestamp that names its zone is read as it says, without a note.
    assert samples["2500"].timestamp == datetime(2030, 3, 1, 8, 45, tzinfo=UTC)
    assert samples["2500"].quirk == ""


def test_a_connector_zero_habit_is_kept_in_the_history_not_applied(asgi_server):
    profile("VP-Zero", connector_zero_ignored="Charging,Preparing")
    ChargePointFactory(ocpp_id="CP-VP-ZERO")
    status = [
        2, "st-0", "StatusNotification",
        {"connectorId": 0, "status": "Charging", "errorCode": "NoError", "timestamp": "2030-03-01T08:00:00Z"},
    ]  # fmt: skip
    unavailable = [
        2, "st-1", "StatusNotification",
        {"connectorId": 0, "status": "Unavailable", "errorCode": "NoError", "timestamp": "2030-03-01T08:01:00Z"},
    ]  # fmt: skip

    answers = run(asgi_server, "CP-VP-ZERO", "VP-Zero", status, unavailable)

    assert answers[1] == [3, "st-0", {}]
    charging = StatusChange.objects.get(
        charge_point__ocpp_id="CP-VP-ZERO", status="Charging"
    )
    assert not charging.is_applied
    assert "Charging on connector 0 is this model's habit, ignored" in charging.quirk
    # A status the profile does not name is applied as usual.
    charge_point = ChargePoint.objects.get(ocpp_id="CP-VP-ZERO")
    assert charge_point.status == "Unavailable"
    assert (
        StatusChange.objects.get(charge_point=charge_point, status="Unavailable").quirk
        == ""
    )


def test_a_session_left_open_by_a_power_loss_is_closed_at_the_next_boot(asgi_server):
    profile("VP-Power", close_sessions_at_boot=True)
    ChargePointFactory(ocpp_id="CP-VP-POWER")
    IdTokenFactory(token="CARD-VP")
    answers = run(
        asgi_server, "CP-VP-POWER", "VP-Power", start_frame(),
        meter_frame("TX", "4200", "2030-03-01T08:40:00Z", "mv-1"),
    )  # fmt: skip
    session = ChargingSession.objects.get(pk=answers[1][2]["transactionId"])
    assert session.status == SessionStatus.ACTIVE  # the first boot closed nothing

    # Power comes back: the charger boots again and never sends its stop.
    run(asgi_server, "CP-VP-POWER", "VP-Power")

    session.refresh_from_db()
    assert session.status == SessionStatus.COMPLETED
    assert session.stop_reason == "ClosedAtBoot"
    assert session.meter_stop_wh == 4200
    assert session.energy_wh == 3200
    assert session.stopped_at == datetime(2030, 3, 1, 8, 40, tzinfo=UTC)
    assert "no StopTransaction, closed at the next boot" in session.quirk
