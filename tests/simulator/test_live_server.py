"""A simulated charger against the real CMS server (uvicorn on the test database)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from sessions_app.models import ChargingSession
from stations.simulator.charger import SimulatedCharger
from stations.simulator.hardware import spec_from_connectors
from tests.factories import ChargePointFactory, ConnectorFactory, IdTokenFactory
from tests.live_server import LiveServer
from tests.simulator.support import fast_options


def _has_ocpp_route() -> bool:
    try:
        from cms.routing import websocket_urlpatterns
    except ImportError:
        return False
    return any("ocpp" in str(route.pattern) for route in websocket_urlpatterns)


pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not _has_ocpp_route(), reason="the CMS /ocpp/ route does not exist yet"
    ),
]


async def poll(query: Callable[[], Any], *, deadline_s: float = 20.0, what: str) -> Any:
    """Run a database query in a thread until it returns something truthy."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        result = await asyncio.to_thread(query)
        if result:
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_simulated_charger_session_appears_in_the_cms(
    asgi_server: LiveServer, station_a
):
    charge_point = ChargePointFactory(
        station=station_a, ocpp_id="SIM-LIVE-01", password="sim-pass-123"
    )
    ConnectorFactory(
        charge_point=charge_point,
        connector_id=1,
        connector_type="Type2",
        max_power_kw=Decimal("22"),
    )
    IdTokenFactory(token="SIM-LIVE-TAG", network=station_a.network)
    options = fast_options(
        f"{asgi_server.ws_url}/ocpp/", password="sim-pass-123", speedup=120.0
    )
    charger = SimulatedCharger(
        charge_point.ocpp_id,
        spec_from_connectors([("Type2", 22.0)]),
        options,
        rng=random.Random(5),
    )

    async def scenario() -> tuple[ChargingSession, ChargingSession]:
        task = asyncio.ensure_future(charger.run())
        try:
            await poll(lambda: charger.is_online, what="boot accepted")
            assert charger.arrive(1, "SIM-LIVE-TAG")
            session = await poll(
                lambda: (
                    ChargingSession.objects.filter(
                        charge_point=charge_point, meter_last_wh__isnull=False
                    )
                    .order_by("pk")
                    .first()
                ),
                what="a session with meter values",
            )
            assert charger.leave(1)
            finished = await poll(
                lambda: ChargingSession.objects.filter(
                    pk=session.pk, stopped_at__isnull=False
                ).first(),
                what="the session stopped",
            )
            return session, finished
        finally:
            await charger.stop()
            await asyncio.wait_for(task, 15)

    session, finished = asyncio.run(scenario())

    assert session.id_tag == "SIM-LIVE-TAG"
    assert session.connector_number == 1
    assert finished.meter_stop_wh >= finished.meter_start_wh
    assert finished.stop_reason == "Local"
    assert finished.energy_wh > 0
