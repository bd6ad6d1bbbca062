"""A driver starts and stops charging over HTTP on the real server; a simulated charger obeys."""

from __future__ import annotations

import asyncio
import json
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from sessions_app.models import ChargingSession, SessionStatus
from stations.simulator.charger import SimulatedCharger
from stations.simulator.hardware import spec_from_connectors
from tests.factories import (
    ChargePointFactory,
    ConnectorFactory,
    IdTokenFactory,
    UserFactory,
)
from tests.live_server import LiveServer
from tests.simulator.support import fast_options

pytestmark = pytest.mark.django_db(transaction=True)


def _http(
    server: LiveServer, key: str, method: str, path: str, body: Any = None
) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{server.http_url}{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Token {key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


async def _poll(
    check: Callable[[], Any], *, what: str, deadline_s: float = 30.0
) -> Any:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        result = await asyncio.to_thread(check)
        if result:
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_remote_start_handle_resolves_to_the_transaction_of_a_simulated_charger(
    asgi_server: LiveServer, station_a
):
    charge_point = ChargePointFactory(
        station=station_a, ocpp_id="API-SIM-01", password="sim-pass-123"
    )
    connector = ConnectorFactory(charge_point=charge_point, connector_id=1,
                                 connector_type="Type2", max_power_kw=Decimal("22"))  # fmt: skip
    driver = UserFactory(username="app-driver", is_driver=True)
    token = IdTokenFactory(
        token="APP-DRIVER-1", owner=driver, network=station_a.network
    )
    key = Token.objects.create(user=driver).key
    charger = SimulatedCharger(
        charge_point.ocpp_id,
        spec_from_connectors([("Type2", 22.0)]),
        fast_options(
            f"{asgi_server.ws_url}/ocpp/", password="sim-pass-123", id_tags=()
        ),
        rng=random.Random(3),
    )

    async def scenario() -> tuple[dict[str, Any], dict[str, Any]]:
        task = asyncio.ensure_future(charger.run())
        try:
            await _poll(lambda: charger.is_online, what="boot accepted")
            status, start = await asyncio.to_thread(
                _http, asgi_server, key, "POST", "/api/v1/driver/starts/",
                {"connector": connector.pk, "id_token": token.pk},
            )  # fmt: skip
            assert status == 202, start
            assert start["status"] == "pending"

            def resolved() -> dict[str, Any] | None:
                _code, handle = _http(asgi_server, key, "GET", start["url"])
                return handle if handle["status"] != "pending" else None

            handle = await _poll(resolved, what="the start handle resolved")
            status, stop = await asyncio.to_thread(
                _http, asgi_server, key, "POST",
                f"/api/v1/driver/sessions/{handle['transaction_id']}/stop/",
            )  # fmt: skip
            assert status == 202, stop
            await _poll(
                lambda: ChargingSession.objects.filter(
                    pk=handle["transaction_id"], status=SessionStatus.COMPLETED
                ).exists(),
                what="the session stopped",
            )
            return handle, stop
        finally:
            await charger.stop()
            await asyncio.wait_for(task, 15)

    handle, _stop = asyncio.run(scenario())

    assert handle["status"] == "started", handle
    session = ChargingSession.objects.get(pk=handle["transaction_id"])
    assert session.id_tag == "APP-DRIVER-1"
    assert session.connector_number == 1
    assert session.stop_reason == "Remote"
