"""The cost a 2.0.1 station shows its driver: totalCost in answers, CostUpdated (I02/I03)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from ocpp.v16 import call

from accounts.models import AuditLog
from billing import services as billing
from sessions_app.costs import session_cost_updates_sweep
from stations.models import ChargePointCommand, CommandStatus
from stations.remote.dispatch import command_wait
from tests.factories import ChargePointFactory, IdTokenFactory
from tests.ocpp.client import boot, charger, wait_for
from tests.v201.station import boot_payload, booted, energy, station, transaction_event

pytestmark = pytest.mark.django_db(transaction=True)


def _iso(at) -> str:
    return at.isoformat().replace("+00:00", "Z")


def test_answers_carry_the_running_and_final_cost_and_cost_updated_follows_it(
    asgi_server, station_a, station_b
):
    tariff = billing.tariff_create(
        actor=None,
        network=station_a.network,
        data={"name": "Energy", "currency": "INR", "vat_percent": 0},
        elements=[{"energy_price_per_kwh": Decimal("18")}],
    )
    billing.tariff_assignment_add(actor=None, tariff=tariff)
    IdTokenFactory(token="COST-201", network=station_a.network)
    IdTokenFactory(token="COST-16", network=station_a.network)
    IdTokenFactory(token="FREE-201", network=station_b.network)
    priced = ChargePointFactory(station=station_a, ocpp_id="CP-COST-201")
    unpriced = ChargePointFactory(station=station_b, ocpp_id="CP-FREE-201")
    old = ChargePointFactory(station=station_a, ocpp_id="CP-COST-16")
    start = timezone.now() - timedelta(minutes=30)
    mid = start + timedelta(minutes=10)

    def started(tx: str, token: str) -> dict:
        return transaction_event(
            "Started",
            0,
            transaction_id=tx,
            at=_iso(start),
            trigger="Authorized",
            idToken={"idToken": token, "type": "ISO14443"},
            chargingState="Charging",
            meterValue=[energy(0, _iso(start), "Transaction.Begin")],
        )

    def updated(tx: str, wh: int) -> dict:
        return transaction_event(
            "Updated", 1, transaction_id=tx, at=_iso(mid), evse=None,
            meterValue=[energy(wh, _iso(mid))],
        )  # fmt: skip

    async def scenario() -> dict:
        seen: dict = {}
        async with (
            station(asgi_server, priced.ocpp_id) as client,
            station(asgi_server, unpriced.ocpp_id) as free,
            charger(asgi_server, old.ocpp_id) as sixteen,
        ):
            client.answers["CostUpdated"] = lambda _payload: {}
            free.answers["CostUpdated"] = lambda _payload: {}
            await client.call("BootNotification", boot_payload())
            await free.call("BootNotification", boot_payload())
            await sixteen.call(boot())
            await sixteen.call(
                call.StartTransaction(
                    connector_id=1,
                    id_tag="COST-16",
                    meter_start=0,
                    timestamp=_iso(start),
                )
            )
            seen["started"] = await client.call(
                "TransactionEvent", started("TX-COST", "COST-201")
            )
            seen["updated"] = await client.call(
                "TransactionEvent", updated("TX-COST", 5_000)
            )
            seen["free"] = await free.call(
                "TransactionEvent", started("TX-FREE", "FREE-201")
            )
            for ocpp_id in (priced.ocpp_id, unpriced.ocpp_id, old.ocpp_id):
                await asyncio.to_thread(wait_for, lambda i=ocpp_id: booted(i))
            seen["sent"] = await asyncio.to_thread(session_cost_updates_sweep)
            command = await asyncio.to_thread(
                lambda: ChargePointCommand.objects.get(action="CostUpdated")
            )
            seen["command"] = await asyncio.to_thread(command_wait, command.pk, 25)
            # Nothing moved since: the next sweep tells no one again.
            seen["again"] = await asyncio.to_thread(session_cost_updates_sweep)
            stop = _iso(timezone.now())
            seen["ended"] = await client.call(
                "TransactionEvent",
                transaction_event(
                    "Ended",
                    2,
                    transaction_id="TX-COST",
                    at=stop,
                    evse=None,
                    trigger="StopAuthorized",
                    stoppedReason="Local",
                    meterValue=[energy(10_000, stop, "Transaction.End")],
                ),
            )
            seen["received"] = list(client.received)
            seen["free_received"] = list(free.received)
        return seen

    seen = asyncio.run(scenario())

    # I02: the running cost in each answer; I03: the final one at the end.
    assert seen["started"]["totalCost"] == 0
    assert seen["updated"]["totalCost"] == 90.0  # 5 kWh x 18 INR
    assert seen["ended"]["totalCost"] == 180.0
    # No tariff known: the answer says nothing of cost (I02: omitted).
    assert "totalCost" not in seen["free"]
    assert seen["sent"] == 1
    assert seen["again"] == 0
    assert seen["command"].status == CommandStatus.ACCEPTED
    assert seen["received"] == [
        ("CostUpdated", {"totalCost": 90.0, "transactionId": "TX-COST"})
    ]
    assert seen["free_received"] == []
    # The 1.6 charger has no such message: nothing sent, nothing recorded.
    assert not ChargePointCommand.objects.filter(charge_point=old).exists()
    assert AuditLog.objects.filter(
        action="command.CostUpdated", actor__isnull=True
    ).exists()
