"""Charging sessions through the gateway: start, meter values, stop, resends."""

from __future__ import annotations

import asyncio

import pytest
from ocpp.v16 import call

from sessions_app.models import ChargingSession
from tests.factories import ChargePointFactory, IdTokenFactory
from tests.ocpp.client import charger

pytestmark = pytest.mark.django_db(transaction=True)

START = "2030-03-01T08:00:00Z"


def meter(value: str, timestamp: str) -> list[dict]:
    return [
        {
            "timestamp": timestamp,
            "sampledValue": [
                {
                    "value": value,
                    "measurand": "Energy.Active.Import.Register",
                    "unit": "kWh",
                    "context": "Sample.Periodic",
                }
            ],
        }
    ]


def test_full_session_with_resent_start_and_stop(asgi_server):
    ChargePointFactory(ocpp_id="CP-TX-1")
    IdTokenFactory(token="CARD-1")
    start = call.StartTransaction(
        connector_id=1, id_tag="CARD-1", meter_start=1000, timestamp=START
    )

    async def scenario():
        async with charger(asgi_server, "CP-TX-1") as client:
            authorized = await client.call(call.Authorize(id_tag="CARD-1"))
            started = await client.call(start)
            resent = await client.call(start)
            await client.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=started.transaction_id,
                    meter_value=meter("3.5", "2030-03-01T08:30:00Z"),
                )
            )
            stop = call.StopTransaction(
                meter_stop=6000,
                timestamp="2030-03-01T09:00:00Z",
                transaction_id=started.transaction_id,
                reason="EVDisconnected",
                id_tag="CARD-1",
            )
            stopped = await client.call(stop)
            stopped_again = await client.call(stop)
            return authorized, started, resent, stopped, stopped_again

    authorized, started, resent, stopped, stopped_again = asyncio.run(scenario())

    assert authorized.id_tag_info["status"] == "Accepted"
    assert started.id_tag_info["status"] == "Accepted"
    assert resent.transaction_id == started.transaction_id
    assert stopped.id_tag_info["status"] == "Accepted"
    assert stopped_again.id_tag_info["status"] == "Accepted"
    session = ChargingSession.objects.get(pk=started.transaction_id)
    assert ChargingSession.objects.filter(charge_point__ocpp_id="CP-TX-1").count() == 1
    assert session.meter_start_wh == 1000
    assert session.meter_stop_wh == 6000
    assert session.energy_wh == 5000
    assert session.stop_reason == "EVDisconnected"


def test_unknown_token_is_answered_invalid(asgi_server):
    ChargePointFactory(ocpp_id="CP-TX-2")

    async def scenario():
        async with charger(asgi_server, "CP-TX-2") as client:
            return await client.call(call.Authorize(id_tag="NO-SUCH-CARD"))

    assert asyncio.run(scenario()).id_tag_info["status"] == "Invalid"


def test_unknown_stop_is_accepted_not_a_call_error(asgi_server):
    ChargePointFactory(ocpp_id="CP-TX-3")

    async def scenario():
        async with charger(asgi_server, "CP-TX-3") as client:
            return await client.call(
                call.StopTransaction(
                    meter_stop=500, timestamp=START, transaction_id=987654
                ),
                suppress=False,
            )

    answer = asyncio.run(scenario())

    assert answer is not None
    assert not ChargingSession.objects.filter(pk=987654).exists()
