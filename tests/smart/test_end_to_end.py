"""Simulated chargers on a real server share a 22 kW site limit, live."""

from __future__ import annotations

import asyncio
import json
import random
import time
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from rest_framework.authtoken.models import Token

from sessions_app.models import ChargingSession, SessionStatus
from stations.simulator.charger import SimulatedCharger
from stations.simulator.hardware import spec_from_connectors
from stations.smart.models import SmartProfileState, SmartProfileStatus
from tests.factories import ChargePointFactory, ConnectorFactory, IdTokenFactory
from tests.live_server import LiveServer
from tests.simulator.support import fast_options

pytestmark = pytest.mark.django_db(transaction=True)

SITE_W = 22_000
# Meter readings and the limit are compared with 1 % slack for rounding.
SLACK = 1.01


async def poll(query: Callable[[], Any], *, deadline_s: float = 45.0, what: str) -> Any:
    """Run a database query in a thread until it returns something truthy."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        result = await asyncio.to_thread(query)
        if result:
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _tx_states(sessions: list[ChargingSession]) -> dict[int, SmartProfileState] | None:
    """The accepted TxProfile of each session, or None while any is missing."""
    states = {
        state.transaction_id: state
        for state in SmartProfileState.objects.filter(
            purpose="TxProfile", transaction_id__in=[s.pk for s in sessions]
        )
    }
    if len(states) != len(sessions):
        return None
    if any(state.status != SmartProfileStatus.ACTIVE for state in states.values()):
        return None
    return states


def _measured_after(sessions: list[ChargingSession], states: dict) -> float | None:
    """Sum of the measured power once every session was metered under its limit."""
    total = 0.0
    for session in sessions:
        fresh = ChargingSession.objects.get(pk=session.pk)
        state = states[session.pk]
        if fresh.last_meter_at is None or fresh.last_meter_at <= state.sent_at:
            return None
        total += fresh.power_w or 0.0
    return total


def _post_signal(server: LiveServer, station_id: int, token: str, limit_kw: str) -> int:
    request = urllib.request.Request(
        f"{server.http_url}/api/v1/smart-charging/stations/{station_id}/signals/",
        data=json.dumps({"limit_kw": limit_kw, "duration_s": 600}).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def test_four_sessions_share_the_site_limit_live(server_factory, station_a, operator):
    # A server of its own: the shared one outlives the flush after each
    # transactional test, which recreates content types under new ids, and the
    # API's scope check (guardian) then met a stale content type (500).
    asgi_server = server_factory()
    station_a.power_limit_kw = Decimal("22")
    station_a.save()
    token = Token.objects.create(user=operator).key
    chargers = []
    charge_points = []
    for index in range(2):
        charge_point = ChargePointFactory(
            station=station_a, ocpp_id=f"SMART-E2E-{index}", password="smart-pass-1"
        )
        charge_points.append(charge_point)
        for number in (1, 2):
            ConnectorFactory(
                charge_point=charge_point,
                connector_id=number,
                connector_type="Type2",
                max_power_kw=Decimal("22"),
            )
        chargers.append(
            SimulatedCharger(
                charge_point.ocpp_id,
                spec_from_connectors([("Type2", 22.0), ("Type2", 22.0)]),
                fast_options(
                    f"{asgi_server.ws_url}/ocpp/",
                    password="smart-pass-1",
                    speedup=10.0,
                    meter_interval_s=1,
                ),
                rng=random.Random(11 + index),
            )
        )
    tags = [f"SMART-TAG-{n}" for n in range(4)]
    for tag in tags:
        IdTokenFactory(token=tag, network=station_a.network)

    async def scenario() -> None:
        tasks = [asyncio.ensure_future(charger.run()) for charger in chargers]
        try:
            await poll(lambda: all(c.is_online for c in chargers), what="boot")
            for charger_index, charger in enumerate(chargers):
                for number in (1, 2):
                    assert charger.arrive(number, tags[charger_index * 2 + number - 1])

            # four sessions: each gets a profile and they stay under 22 kW
            sessions = await poll(
                lambda: (
                    (
                        list(
                            ChargingSession.objects.filter(
                                status=SessionStatus.ACTIVE,
                                charge_point__station=station_a,
                            ).order_by("pk")
                        )
                        or [None]
                    )
                    if ChargingSession.objects.filter(
                        status=SessionStatus.ACTIVE
                    ).count()
                    == 4
                    else None
                ),
                what="four sessions",
            )
            states = await poll(lambda: _tx_states(sessions), what="four profiles")
            assert sum(state.limit_w for state in states.values()) <= SITE_W
            measured = await poll(
                lambda: _measured_after(sessions, states), what="metered power"
            )
            assert 0 < measured <= SITE_W * SLACK

            # one driver leaves: the other three are raised
            before = {pk: state.limit_w for pk, state in states.items()}
            assert chargers[0].leave(1)
            # The sessions' ids follow the order the starts arrived in, not the
            # chargers' order: the one leaving is found by charger and connector.
            remaining = [
                session
                for session in sessions
                if (session.charge_point_id, session.connector_number)
                != (charge_points[0].pk, 1)
            ]
            assert len(remaining) == 3

            def raised() -> dict | None:
                current = _tx_states(remaining)
                if current is None:
                    return None
                limits = {pk: current[pk].limit_w for pk in current}
                if sum(limits.values()) <= sum(before[pk] for pk in limits):
                    return None
                return current

            states = await poll(raised, what="the others raised")
            # an EV measured drawing less keeps a cap; the others take its share
            assert any(states[pk].limit_w > before[pk] for pk in states)
            assert sum(state.limit_w for state in states.values()) <= SITE_W
            raised_w = {pk: state.limit_w for pk, state in states.items()}

            # the grid operator drops the limit: everyone is lowered within seconds
            status = await asyncio.to_thread(
                _post_signal, asgi_server, station_a.pk, token, "13"
            )
            assert status == 201

            def lowered() -> dict | None:
                current = _tx_states(remaining)
                if current is None or sum(s.limit_w for s in current.values()) > 13_000:
                    return None
                return current

            states = await poll(lowered, deadline_s=10, what="the limit dropped")
            assert all(states[pk].limit_w <= raised_w[pk] for pk in states)
            assert sum(s.limit_w for s in states.values()) < sum(raised_w.values())
            measured = await poll(
                lambda: _measured_after(remaining, states),
                deadline_s=10,
                what="metered power under the new limit",
            )
            assert measured <= 13_000 * SLACK
        finally:
            for charger in chargers:
                await charger.stop()
            await asyncio.wait_for(asyncio.gather(*tasks), 15)

    asyncio.run(scenario())
