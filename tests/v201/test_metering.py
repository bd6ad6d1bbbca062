"""Meter values inside 2.0.1 TransactionEvents: the one store, the session page's figures."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from ocpp.v16 import call

from billing import services as billing
from sessions_app.models import ChargingSession, MeterValue
from tests.billing.conftest import INR_ELEMENT
from tests.factories import ChargePointFactory, IdTokenFactory
from tests.ocpp.client import boot, charger
from tests.v201.station import boot_payload, energy, station, transaction_event

pytestmark = pytest.mark.django_db(transaction=True)


def _iso(at) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _live(user, session: ChargingSession) -> dict:
    client = Client()
    client.force_login(user)
    answer = client.get(reverse("charging:session_live", args=[session.pk]))
    assert answer.status_code == 200
    return answer.json()


def test_meter_values_in_every_event_tick_the_session_page_as_a_1_6_chargers_do(
    asgi_server, station_a, operator
):
    tariff = billing.tariff_create(
        actor=None,
        network=station_a.network,
        data={"name": "Energy", "currency": "INR", "vat_percent": 0},
        elements=[dict(INR_ELEMENT)],
    )
    billing.tariff_assignment_add(actor=None, tariff=tariff)
    IdTokenFactory(token="METER-16", network=station_a.network)
    IdTokenFactory(token="METER-201", network=station_a.network)
    old = ChargePointFactory(station=station_a, ocpp_id="CP-MTR-16")
    new = ChargePointFactory(station=station_a, ocpp_id="CP-MTR-201")
    start = timezone.now() - timedelta(minutes=30)
    mid, late = start + timedelta(minutes=10), start + timedelta(minutes=20)

    async def ocpp16() -> None:
        async with charger(asgi_server, old.ocpp_id) as client:
            await client.call(boot())
            started = await client.call(
                call.StartTransaction(
                    connector_id=1,
                    id_tag="METER-16",
                    meter_start=1_000,
                    timestamp=_iso(start),
                )
            )
            for at, wh in ((mid, 6_000), (late, 9_000)):
                await client.call(
                    call.MeterValues(
                        connector_id=1,
                        transaction_id=started.transaction_id,
                        meter_value=[
                            {
                                "timestamp": _iso(at),
                                "sampledValue": [
                                    {
                                        "value": str(wh),
                                        "measurand": "Energy.Active.Import.Register",
                                        "unit": "Wh",
                                    },
                                    {
                                        "value": "50000",
                                        "measurand": "Power.Active.Import",
                                        "unit": "W",
                                    },
                                ],
                            }
                        ],
                    )
                )

    async def ocpp201() -> None:
        async with station(asgi_server, new.ocpp_id) as client:
            await client.call("BootNotification", boot_payload())
            # E02: the Started event carries the register at the start.
            await client.call(
                "TransactionEvent",
                transaction_event(
                    "Started",
                    0,
                    transaction_id="TX-MTR",
                    at=_iso(start),
                    trigger="Authorized",
                    idToken={"idToken": "METER-201", "type": "ISO14443"},
                    chargingState="Charging",
                    meterValue=[energy(1_000, _iso(start), "Transaction.Begin")],
                ),
            )
            # Event 1 stays in the station's offline queue; 2 arrives first.
            await client.call(
                "TransactionEvent",
                transaction_event(
                    "Updated",
                    2,
                    transaction_id="TX-MTR",
                    at=_iso(late),
                    evse=None,
                    meterValue=[energy(9_000, _iso(late))],
                ),
            )
            replayed = transaction_event(
                "Updated",
                1,
                transaction_id="TX-MTR",
                at=_iso(mid),
                evse=None,
                offline=True,
                meterValue=[energy(6_000, _iso(mid))],
            )
            await client.call("TransactionEvent", replayed)
            # The answer was lost: the station sends the event again.
            await client.call("TransactionEvent", replayed)

    asyncio.run(ocpp16())
    asyncio.run(ocpp201())

    sixteen = ChargingSession.objects.get(charge_point=old)
    two_o_one = ChargingSession.objects.get(charge_point=new)
    # The late offline reading is kept, once, but does not move the figures back.
    registers = MeterValue.objects.filter(
        session=two_o_one, measurand="Energy.Active.Import.Register"
    ).order_by("timestamp")
    assert [v.value for v in registers] == [1_000, 6_000, 9_000]
    assert two_o_one.last_meter_at == late
    for session in (sixteen, two_o_one):
        assert (session.energy_wh, session.power_w) == (8_000, 50_000)
    shown = [_live(operator, s) for s in (sixteen, two_o_one)]
    for figures in shown:
        figures.pop("duration")
    assert shown[0] == shown[1]
    assert shown[1]["energy"] == "8.00 kWh"
    assert shown[1]["power"] == "50.00 kW"
    # 8 kWh x 18 INR, the estimate of the same rating path for both.
    assert "144" in shown[1]["cost"]
