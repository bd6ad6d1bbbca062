"""Session work of different chargers runs at once; what they share stays right.

A charger's session messages run on the database worker its id picks
(``stations.ocpp.runtime.charger_service``), so many chargers starting at
once write on several connections concurrently. These tests drive real
OCPP 1.6J clients against a real server on PostgreSQL, with busy processes
taking the CPU, and check the state chargers share: a site's smart-charging
plan, an id token's concurrent-session limit, the network's gap-free CDR
numbers.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action

from billing import services as billing
from billing.models import Cdr
from sessions_app.models import ChargingSession, SessionStatus
from stations.models import Station
from stations.ocpp import runtime
from stations.smart.models import AllocationPlan
from tests.factories import ChargePointFactory, ConnectorFactory, IdTokenFactory
from tests.ocpp.client import ClientChargePoint, raw_socket, wait_for

CHARGERS = 8
SITE_KW = Decimal("22")
CPU_HOGS = 2

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite has one writer: every write stays on the ORM thread",
)


@pytest.fixture
def cpu_load() -> Iterator[Callable[[], None]]:
    """Call it to put busy processes on every core until the test ends."""
    hogs: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        hogs.extend(
            subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(CPU_HOGS)
        )

    try:
        yield start
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait(timeout=10)


def _chargers(station: Station, prefix: str) -> list[str]:
    ids = []
    for index in range(CHARGERS):
        charge_point = ChargePointFactory(station=station, ocpp_id=f"{prefix}-{index}")
        ConnectorFactory(
            charge_point=charge_point,
            connector_id=1,
            connector_type="Type2",
            max_power_kw=Decimal("22"),
        )
        ids.append(charge_point.ocpp_id)
    return ids


class SmartClient(ClientChargePoint):
    """Accepts the smart-charging profiles the site's re-plans send."""

    @on(Action.set_charging_profile)
    async def on_set_charging_profile(self, **_: Any) -> call_result.SetChargingProfile:
        return call_result.SetChargingProfile(status="Accepted")


@asynccontextmanager
async def _connected(server, ocpp_ids: list[str]) -> AsyncIterator[list[SmartClient]]:
    """Every charger connected, each answering the CMS's calls."""
    async with AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(raw_socket(server, ocpp_id))
            for ocpp_id in ocpp_ids
        ]
        clients = [
            SmartClient(ocpp_id, socket, response_timeout=60)
            for ocpp_id, socket in zip(ocpp_ids, sockets, strict=True)
        ]
        tasks = [asyncio.create_task(client.start()) for client in clients]
        try:
            yield clients
        finally:
            for task in tasks:
                task.cancel()


async def _all_at_once(clients: list[SmartClient], messages: list) -> list:
    """Each charger sends its message at the same instant."""
    return list(
        await asyncio.gather(
            *(
                client.call(message)
                for client, message in zip(clients, messages, strict=True)
            )
        )
    )


def _start(tag: str) -> call.StartTransaction:
    return call.StartTransaction(
        connector_id=1, id_tag=tag, meter_start=1000, timestamp="2026-03-01T10:00:00Z"
    )


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_chargers_work_at_once_and_one_charger_stays_on_one_thread(settings):
    settings.OCPP_DB_WORKERS = 4
    first_waits = threading.Event()
    second_ran = threading.Event()

    def first() -> bool:
        first_waits.set()
        # Only a second connection running at the same time can set this.
        return second_ran.wait(timeout=10)

    def second() -> str:
        assert first_waits.wait(timeout=10)
        second_ran.set()
        return threading.current_thread().name

    def thread_name() -> str:
        return threading.current_thread().name

    async def scenario() -> tuple[bool, str, set[str]]:
        (overlapped, _), (second_thread, _) = await asyncio.gather(
            runtime.charger_service(1, first, {}),
            runtime.charger_service(2, second, {}),
        )
        same = await asyncio.gather(
            *(runtime.charger_service(5, thread_name, {}) for _ in range(20))
        )
        return overlapped, second_thread, {name for name, _ in same}

    overlapped, second_thread, threads_of_one_charger = asyncio.run(scenario())

    assert overlapped, "the second charger's work waited for the first's"
    assert second_thread.startswith("cms-charger-db-")
    assert len(threads_of_one_charger) == 1


@pytest.mark.django_db(transaction=True)
def test_with_one_worker_every_charger_uses_the_orm_thread(settings):
    settings.OCPP_DB_WORKERS = 1

    async def scenario() -> set[str]:
        results = await asyncio.gather(
            *(
                runtime.charger_service(
                    number, lambda: threading.current_thread().name, {}
                )
                for number in range(6)
            )
        )
        return {name for name, _ in results}

    assert not any(
        name.startswith("cms-charger-db-") for name in asyncio.run(scenario())
    )


@postgresql_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(300)  # eight chargers, their re-plans and CDRs on a loaded machine
def test_many_starts_on_one_site_at_once_keep_the_plan_and_cdr_numbers(
    asgi_server, network_a, station_a, cpu_load
):
    station_a.power_limit_kw = SITE_KW
    station_a.save()
    billing.tariff_assignment_add(
        actor=None,
        tariff=billing.tariff_create(
            actor=None,
            network=network_a,
            data={"name": "Energy", "currency": "EUR", "vat_percent": Decimal("0")},
            elements=[{"energy_price_per_kwh": Decimal("0.40")}],
        ),
    )
    ocpp_ids = _chargers(station_a, "RACE-SITE")
    tags = [f"RACE-TAG-{index}" for index in range(CHARGERS)]
    for tag in tags:
        IdTokenFactory(token=tag, network=network_a)

    async def scenario() -> tuple[list, list]:
        async with _connected(asgi_server, ocpp_ids) as clients:
            cpu_load()
            return await _start_then_stop(clients)

    async def _start_then_stop(clients: list[SmartClient]) -> tuple[list, list]:
        started = await _all_at_once(clients, [_start(t) for t in tags])
        # Every re-plan the starts triggered has run (eagerly, after each commit).
        await asyncio.to_thread(
            wait_for,
            lambda: (
                AllocationPlan.objects.filter(station=station_a).count() >= CHARGERS
            ),
            60,
        )
        stopped = await _all_at_once(
            clients,
            [
                call.StopTransaction(
                    meter_stop=5000 + index,
                    timestamp="2026-03-01T11:00:00Z",
                    transaction_id=answer.transaction_id,
                    reason="EVDisconnected",
                )
                for index, answer in enumerate(started)
            ],
        )
        return started, stopped

    started, stopped = asyncio.run(scenario())

    assert [a.id_tag_info["status"] for a in started] == ["Accepted"] * CHARGERS
    session_ids = {answer.transaction_id for answer in started}
    assert len(session_ids) == CHARGERS
    # The plan made last (the site's row lock orders the planners) saw every
    # session, and no plan handed out more than the site's limit.
    plans = list(AllocationPlan.objects.filter(station=station_a).order_by("pk"))
    last_start_plans = [
        plan
        for plan in plans
        if set(plan.entries.values_list("session_id", flat=True)) == session_ids
    ]
    assert last_start_plans, "no plan covered all the sessions that started together"
    assert all(plan.allocated_w <= int(SITE_KW * 1000) for plan in plans)
    assert all(plan.limit_w == int(SITE_KW * 1000) for plan in plans)
    assert len(stopped) == CHARGERS
    assert set(
        ChargingSession.objects.filter(pk__in=session_ids).values_list(
            "status", flat=True
        )
    ) == {SessionStatus.COMPLETED}
    # The CDRs rated at once on several connections: numbers 1..n, no gap, no repeat.
    wait_for(
        lambda: Cdr.objects.filter(session_id__in=session_ids).count() == CHARGERS,
        60,
    )
    sequences = sorted(
        Cdr.objects.filter(network=network_a).values_list("sequence", flat=True)
    )
    assert sequences == list(range(1, CHARGERS + 1))


@postgresql_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("token_limit", "network_limit", "accepted"),
    [(None, None, 1), (3, None, 3), (None, 2, 2), (0, None, CHARGERS)],
    ids=["default-one", "token-three", "network-two", "token-unlimited"],
)
def test_one_token_starting_everywhere_at_once_gets_its_limit(
    asgi_server, network_a, station_a, cpu_load, token_limit, network_limit, accepted
):
    network_a.max_concurrent_sessions_per_token = network_limit
    network_a.save()
    ocpp_ids = _chargers(station_a, "RACE-TOKEN")
    IdTokenFactory(
        token="FLEET-CARD", network=network_a, max_concurrent_sessions=token_limit
    )

    async def scenario() -> list:
        async with _connected(asgi_server, ocpp_ids) as clients:
            cpu_load()
            return await _all_at_once(clients, [_start("FLEET-CARD")] * CHARGERS)

    answers = asyncio.run(scenario())

    statuses = sorted(answer.id_tag_info["status"] for answer in answers)
    assert statuses == sorted(
        ["Accepted"] * accepted + ["ConcurrentTx"] * (CHARGERS - accepted)
    )
    assert (
        ChargingSession.objects.filter(
            id_tag="FLEET-CARD", status=SessionStatus.ACTIVE
        ).count()
        == accepted
    )
