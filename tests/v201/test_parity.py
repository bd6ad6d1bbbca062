"""A 1.6 charger and a 2.0.1 station at one site: the same session, price, board and report."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from ocpp.v16 import call
from rest_framework.test import APIClient

from billing import services as billing
from billing.models import Cdr
from sessions_app.models import ChargingSession
from stations.live.selectors import connector_rows
from stations.models import Connector
from tests.billing.conftest import INR_ELEMENT
from tests.factories import ChargePointFactory, IdTokenFactory
from tests.ocpp.client import boot, charger, wait_for
from tests.v201.station import boot_payload, energy, station, transaction_event

pytestmark = pytest.mark.django_db(transaction=True)


def _iso(at) -> str:
    return at.isoformat().replace("+00:00", "Z")


def test_one_session_each_priced_with_the_idle_fee_shown_and_reported_alike(
    asgi_server, station_a, operator
):
    tariff = billing.tariff_create(
        actor=None,
        network=station_a.network,
        data={"name": "Idle", "currency": "INR", "vat_percent": 0},
        elements=[dict(INR_ELEMENT)],
    )
    billing.tariff_assignment_add(actor=None, tariff=tariff)
    IdTokenFactory(token="DRIVER-16", network=station_a.network)
    IdTokenFactory(token="DRIVER-201", network=station_a.network)
    old = ChargePointFactory(station=station_a, ocpp_id="CP-PAR-16")
    new = ChargePointFactory(station=station_a, ocpp_id="CP-PAR-201")
    start = timezone.now() - timedelta(hours=2)
    suspended, stopped, unplugged = (
        start + timedelta(minutes=60),
        start + timedelta(minutes=65),
        start + timedelta(minutes=80),
    )

    def status16(value: str, at) -> call.StatusNotification:
        return call.StatusNotification(
            connector_id=1, error_code="NoError", status=value, timestamp=_iso(at)
        )

    async def ocpp16() -> None:
        async with charger(asgi_server, old.ocpp_id) as client:
            await client.call(boot())
            await client.call(status16("Charging", start))
            started = await client.call(
                call.StartTransaction(
                    connector_id=1,
                    id_tag="DRIVER-16",
                    meter_start=0,
                    timestamp=_iso(start),
                )
            )
            await client.call(status16("SuspendedEV", suspended))
            await client.call(
                call.StopTransaction(
                    meter_stop=22_000,
                    timestamp=_iso(stopped),
                    transaction_id=started.transaction_id,
                    reason="Local",
                )
            )
            await client.call(status16("Available", unplugged))

    async def ocpp201() -> None:
        async with station(asgi_server, new.ocpp_id) as client:
            await client.call("BootNotification", boot_payload())
            token = {"idToken": "DRIVER-201", "type": "ISO14443"}
            await client.call(
                "TransactionEvent",
                transaction_event(
                    "Started",
                    0,
                    transaction_id="TX-PAR",
                    at=_iso(start),
                    trigger="Authorized",
                    idToken=token,
                    chargingState="Charging",
                    meterValue=[energy(0, _iso(start), "Transaction.Begin")],
                ),
            )
            await client.call(
                "TransactionEvent",
                transaction_event(
                    "Updated",
                    1,
                    transaction_id="TX-PAR",
                    at=_iso(suspended),
                    trigger="ChargingStateChanged",
                    chargingState="SuspendedEV",
                    meterValue=[energy(22_000, _iso(suspended))],
                ),
            )
            await client.call(
                "TransactionEvent",
                transaction_event(
                    "Ended",
                    2,
                    transaction_id="TX-PAR",
                    at=_iso(stopped),
                    trigger="StopAuthorized",
                    stoppedReason="Local",
                    meterValue=[energy(22_000, _iso(stopped), "Transaction.End")],
                ),
            )
            await client.call(
                "StatusNotification",
                {
                    "timestamp": _iso(unplugged),
                    "connectorStatus": "Available",
                    "evseId": 1,
                    "connectorId": 1,
                },
            )

    asyncio.run(ocpp16())
    asyncio.run(ocpp201())

    sessions = {
        s.charge_point.ocpp_id: s
        for s in ChargingSession.objects.select_related("charge_point")
    }
    cdrs = {
        ocpp_id: wait_for(lambda s=session: Cdr.objects.filter(session=s).first())
        for ocpp_id, session in sessions.items()
    }
    # 22 kWh x 18 + 20 idle minutes (suspended until unplugged) x 3, both alike.
    for cdr in cdrs.values():
        assert cdr.energy_wh == 22_000
        assert cdr.idle_seconds == 20 * 60
        assert cdr.total_amount == Decimal(396 + 60)
    old_session, new_session = sessions["CP-PAR-16"], sessions["CP-PAR-201"]
    for field in ("energy_wh", "meter_start_wh", "meter_stop_wh", "status"):
        assert getattr(old_session, field) == getattr(new_session, field), field
    rows = connector_rows(
        Connector.objects.filter(charge_point__in=[old, new]).select_related(
            "charge_point__station"
        )
    )
    # The board has a row for each, on the same stored status.
    assert len(rows) == 2
    assert set(
        Connector.objects.filter(charge_point__in=[old, new]).values_list(
            "status", flat=True
        )
    ) == {"Available"}

    api = APIClient()
    api.force_authenticate(operator)
    day = timezone.localdate(start).isoformat()
    report = api.get(
        reverse("reports_api:report", args=["sessions"]),
        {
            "date_from": day,
            "date_to": (timezone.localdate(start) + timedelta(days=1)).isoformat(),
        },
    )
    assert report.status_code == 200
    totals = [r for r in report.json()["rows"] if r.get("bucket") == "all"]
    assert totals, report.json()["rows"]
    assert {str(r["sessions"]) for r in totals} == {"2"}
