"""A session the charger moved on from is closed by the sweep, flagged and shown."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import ChargingSession, SessionStatus
from sessions_app.services import STOP_REASON_ZOMBIE, zombie_sessions_sweep
from tests.factories import ChargePointFactory, ConnectorFactory, IdTokenFactory
from tests.ocpp.client import exchange, raw_socket

pytestmark = pytest.mark.django_db(transaction=True)


def status(connector_id: int, value: str, unique_id: str) -> list:
    return [
        2, unique_id, "StatusNotification",
        {"connectorId": connector_id, "errorCode": "NoError", "status": value},
    ]  # fmt: skip


def start(connector_id: int, unique_id: str) -> list:
    return [
        2, unique_id, "StartTransaction",
        {"connectorId": connector_id, "idTag": "CARD-Z", "meterStart": 1000,
         "timestamp": (timezone.now() - timedelta(minutes=30)).isoformat()},
    ]  # fmt: skip


def test_the_sweep_closes_flags_and_shows_a_session_whose_connector_went_available(
    asgi_server, client, operator, station_a
):
    charge_point = ChargePointFactory(ocpp_id="CP-ZOMBIE-1", station=station_a)
    for number in (1, 2):
        ConnectorFactory(charge_point=charge_point, connector_id=number)
    IdTokenFactory(token="CARD-Z")

    async def scenario() -> tuple[int, int]:
        async with raw_socket(asgi_server, "CP-ZOMBIE-1") as socket:
            # The answer came after the charger's timeout: it never ran it on 1...
            zombie = await exchange(socket, start(1, "late"))
            await exchange(socket, status(1, "Available", "st-1"))
            # ...while on connector 2 a session really charges.
            charging = await exchange(socket, start(2, "real"))
            await exchange(socket, status(2, "Charging", "st-2"))
            return zombie[2]["transactionId"], charging[2]["transactionId"]

    zombie_id, charging_id = asyncio.run(scenario())

    assert zombie_sessions_sweep(now=timezone.now()) == 0  # not yet: grace period
    assert zombie_sessions_sweep(now=timezone.now() + timedelta(minutes=16)) == 1

    zombie = ChargingSession.objects.get(pk=zombie_id)
    assert zombie.status == SessionStatus.COMPLETED
    assert zombie.stop_reason == STOP_REASON_ZOMBIE
    assert zombie.meter_stop_wh == 1000
    assert zombie.stopped_at == zombie.connector.status_at
    assert ChargingSession.objects.get(pk=charging_id).stopped_at is None

    client.force_login(operator)
    page = client.get(reverse("charging:session_detail", args=[zombie_id]))
    assert 'data-testid="zombie-closed"' in page.content.decode()
    listing = client.get(reverse("charging:session_list"))
    assert "Closed as zombie" in listing.content.decode()


def test_a_late_stop_transaction_still_completes_a_session_closed_as_zombie(
    asgi_server,
):
    charge_point = ChargePointFactory(ocpp_id="CP-ZOMBIE-2")
    ConnectorFactory(charge_point=charge_point, connector_id=1)
    IdTokenFactory(token="CARD-Z")

    async def open_and_go_available() -> int:
        async with raw_socket(asgi_server, "CP-ZOMBIE-2") as socket:
            started = await exchange(socket, start(1, "late"))
            await exchange(socket, status(1, "Available", "st-1"))
            return started[2]["transactionId"]

    session_id = asyncio.run(open_and_go_available())
    assert zombie_sessions_sweep(now=timezone.now() + timedelta(minutes=16)) == 1

    async def stop_late() -> list:
        async with raw_socket(asgi_server, "CP-ZOMBIE-2") as socket:
            return await exchange(
                socket,
                [2, "stop", "StopTransaction", {
                    "transactionId": session_id, "meterStop": 4200,
                    "timestamp": timezone.now().isoformat(), "reason": "Local",
                }],
            )  # fmt: skip

    assert asyncio.run(stop_late())[0] == 3
    session = ChargingSession.objects.get(pk=session_id)
    assert session.meter_stop_wh == 4200
    assert session.stop_reason == "Local"
