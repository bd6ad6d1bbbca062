"""A real charger's fault reaches the operations team's alert inbox on its own."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from ocpp.v16 import call

from alerts.models import Alert, Rule
from tests.factories import ChargePointFactory
from tests.ocpp.client import boot, charger, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _status(value: str, **extra: str) -> call.StatusNotification:
    return call.StatusNotification(
        connector_id=1,
        error_code=extra.pop("error_code", "NoError"),
        status=value,
        timestamp=datetime.now(UTC).isoformat(),
        **extra,
    )


def test_faulted_frame_opens_an_alert_and_recovery_resolves_it(asgi_server, station_a):
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-FAULT-1")

    async def fault_then_recover() -> None:
        async with charger(asgi_server, charge_point.ocpp_id) as client:
            await client.call(boot())
            await client.call(
                _status("Faulted", error_code="GroundFailure", vendor_error_code="E-17")
            )
            await asyncio.to_thread(
                wait_for,
                lambda: Alert.objects.filter(
                    rule=Rule.CONNECTOR_FAULTED, charge_point=charge_point
                ).exists(),
            )
            await client.call(_status("Available"))

    asyncio.run(fault_then_recover())

    alert = Alert.objects.get(rule=Rule.CONNECTOR_FAULTED, charge_point=charge_point)
    assert "GroundFailure" in f"{alert.title} {alert.detail}"
    wait_for(lambda: Alert.objects.get(pk=alert.pk).resolved_at is not None)
