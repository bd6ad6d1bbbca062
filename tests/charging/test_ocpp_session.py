"""A whole charging session from a real OCPP 1.6J client through the live server."""

from __future__ import annotations

import asyncio

import pytest
from ocpp.v16 import call

from sessions_app.models import ChargingSession, MeterValue, UnmatchedStop
from tests.factories import ChargePointFactory, IdTokenFactory
from tests.ocpp.client import charger

pytestmark = pytest.mark.django_db(transaction=True)


def test_session_start_resent_start_meter_values_stop_and_unknown_stop(
    asgi_server, network_a, station_a
):
    charge_point = ChargePointFactory(station=station_a, ocpp_id="E2E-CP")
    IdTokenFactory(token="E2E-CARD", network=network_a)
    start = call.StartTransaction(
        connector_id=1,
        id_tag="E2E-CARD",
        meter_start=10000,
        timestamp="2026-03-01T10:00:00Z",
    )

    async def scenario():
        async with charger(asgi_server, charge_point.ocpp_id) as client:
            authorized = await client.call(call.Authorize(id_tag="e2e-card"))
            started = await client.call(start)
            resent = await client.call(start)
            await client.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=started.transaction_id,
                    meter_value=[
                        {
                            "timestamp": "2026-03-01T10:15:00Z",
                            "sampledValue": [
                                {"value": "12.5", "unit": "kWh"},
                                {
                                    "value": "11",
                                    "unit": "kW",
                                    "measurand": "Power.Active.Import",
                                },
                            ],
                        }
                    ],
                )
            )
            stopped = await client.call(
                call.StopTransaction(
                    meter_stop=15000,
                    timestamp="2026-03-01T10:30:00Z",
                    transaction_id=started.transaction_id,
                    id_tag="E2E-CARD",
                    reason="EVDisconnected",
                )
            )
            unknown = await client.call(
                call.StopTransaction(
                    meter_stop=1,
                    timestamp="2026-03-01T11:00:00Z",
                    transaction_id=987654,
                )
            )
            return authorized, started, resent, stopped, unknown

    authorized, started, resent, stopped, unknown = asyncio.run(scenario())

    assert authorized.id_tag_info["status"] == "Accepted"
    assert started.id_tag_info["status"] == "Accepted"
    assert resent.transaction_id == started.transaction_id
    assert stopped.id_tag_info["status"] == "Accepted"
    assert unknown.id_tag_info is None
    session = ChargingSession.objects.get()
    assert session.pk == started.transaction_id
    assert (session.status, session.energy_wh, session.stop_reason) == (
        "completed",
        5000,
        "EVDisconnected",
    )
    assert MeterValue.objects.filter(session=session).count() == 2
    assert UnmatchedStop.objects.get().transaction_id == 987654
