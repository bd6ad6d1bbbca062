"""The message log under faults: every frame a charger got an answer for is logged.

Real processes: a uvicorn server on the test database, chargers on real
WebSockets sending the mix a fleet sends (heartbeats, statuses, authorizations,
meter values, session starts and stops, vendor data, a frame the schema
refuses), then the server is killed with SIGKILL, or PostgreSQL is restarted,
in the middle of it. Afterwards each frame a charger was answered for (a
CALLRESULT or a CALLERROR) must be in the OCPP message log.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import websockets
from django.db import connection

from bench.chaos import postgresql_restart
from stations.models import ChargePoint, OcppMessage
from stations.ocpp.messagelog import LogEntry, MessageLogWriter
from tests.factories import ChargePointFactory, ConnectorFactory, IdTokenFactory
from tests.ocpp.client import auth_header

pytestmark = pytest.mark.django_db(transaction=True)

CHARGERS = 6
PASSWORD = "log-fault-pass"
TAG = "LOG-FAULT-TAG"
ANSWER_TIMEOUT_S = 30.0


class _Charger:
    """A charger sending its mix until told to stop; reconnects when dropped."""

    def __init__(self, url: str, ocpp_id: str) -> None:
        self.url, self.ocpp_id = url, ocpp_id
        self.answered: set[str] = set()
        self.answered_at: list[float] = []
        self._numbers = iter(range(1, 10_000_000))
        self._transaction_id: int | None = None
        self._meter = 0

    async def _call(self, ws: Any, action: str, payload: dict[str, Any]) -> Any:
        unique_id = f"{self.ocpp_id}-{next(self._numbers)}"
        await ws.send(json.dumps([2, unique_id, action, payload]))
        async with asyncio.timeout(ANSWER_TIMEOUT_S):
            while True:
                frame = json.loads(await ws.recv())
                if frame[0] in (3, 4) and frame[1] == unique_id:
                    self.answered.add(unique_id)
                    self.answered_at.append(time.monotonic())
                    return frame[2] if frame[0] == 3 else None

    async def _cycle(self, ws: Any, round_number: int) -> None:
        now = datetime.now(UTC).isoformat()
        await self._call(ws, "Heartbeat", {})
        await self._call(
            ws,
            "StatusNotification",
            {
                "connectorId": 1,
                "status": "Charging" if self._transaction_id else "Available",
                "errorCode": "NoError",
                "timestamp": now,
            },
        )
        await self._call(ws, "Authorize", {"idTag": TAG})
        if self._transaction_id is None:
            started = await self._call(
                ws,
                "StartTransaction",
                {
                    "connectorId": 1,
                    "idTag": TAG,
                    "meterStart": self._meter,
                    "timestamp": now,
                },
            )
            if started is not None:
                self._transaction_id = started["transactionId"]
        self._meter += 10
        meter_values: dict[str, Any] = {
            "connectorId": 1,
            "meterValue": [
                {
                    "timestamp": now,
                    "sampledValue": [
                        {
                            "value": str(self._meter),
                            "measurand": "Energy.Active.Import.Register",
                            "unit": "Wh",
                        }
                    ],
                }
            ],
        }
        if self._transaction_id is not None:
            meter_values["transactionId"] = self._transaction_id
        await self._call(ws, "MeterValues", meter_values)
        await self._call(
            ws, "DataTransfer", {"vendorId": "ACME", "data": str(round_number)}
        )
        # The schema refuses it: answered with a CALLERROR, logged all the same.
        await self._call(ws, "Heartbeat", {"unexpected": True})
        if round_number % 5 == 4 and self._transaction_id is not None:
            stopped = await self._call(
                ws,
                "StopTransaction",
                {
                    "transactionId": self._transaction_id,
                    "meterStop": self._meter,
                    "timestamp": now,
                    "reason": "Local",
                },
            )
            if stopped is not None:
                self._transaction_id = None

    async def run(self, stop: asyncio.Event) -> None:
        round_number = 0
        while not stop.is_set():
            try:
                async with websockets.connect(
                    f"{self.url}/ocpp/{self.ocpp_id}",
                    subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                    additional_headers=auth_header(self.ocpp_id, PASSWORD),
                    open_timeout=5,
                ) as ws:
                    await self._call(
                        ws,
                        "BootNotification",
                        {"chargePointVendor": "ACME", "chargePointModel": "Log 1"},
                    )
                    while not stop.is_set():
                        await self._cycle(ws, round_number)
                        round_number += 1
            except (OSError, TimeoutError, websockets.WebSocketException):
                await asyncio.sleep(0.2)


def _fleet(url: str) -> list[_Charger]:
    return [_Charger(url, f"LOG-FAULT-{number:02d}") for number in range(CHARGERS)]


def _seed() -> None:
    for number in range(CHARGERS):
        charge_point = ChargePointFactory(
            ocpp_id=f"LOG-FAULT-{number:02d}", password=PASSWORD
        )
        ConnectorFactory(charge_point=charge_point, connector_id=1)
    IdTokenFactory(token=TAG)


async def _load_around(
    url: str, fault: Callable[[], None], *, before_s: float, after_s: float
) -> tuple[list[_Charger], float]:
    """Load, the fault (in a thread), more load; the time the fault ended."""
    chargers = _fleet(url)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(charger.run(stop)) for charger in chargers]
    deadline = time.monotonic() + 60
    while sum(len(charger.answered) for charger in chargers) < CHARGERS * 10:
        assert time.monotonic() < deadline, "the fleet never got going"
        await asyncio.sleep(0.1)
    await asyncio.sleep(before_s)
    await asyncio.to_thread(fault)
    fault_over = time.monotonic()
    await asyncio.sleep(after_s)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return chargers, fault_over


def _unlogged(chargers: list[_Charger]) -> dict[str, list[str]]:
    logged = set(
        OcppMessage.objects.filter(
            ocpp_id__startswith="LOG-FAULT-",
            direction=OcppMessage.Direction.IN,
            message_type=OcppMessage.MessageType.CALL,
        ).values_list("unique_id", flat=True)
    )
    return {
        charger.ocpp_id: sorted(charger.answered - logged)
        for charger in chargers
        if charger.answered - logged
    }


def test_frames_answered_before_a_sigkill_are_all_in_the_log(
    server_factory: Any,
) -> None:
    _seed()
    server = server_factory(OCPP_UNKNOWN_CHARGERS="reject")

    def kill() -> None:
        server.process.kill()  # SIGKILL: no shutdown, no flush
        server.process.wait(timeout=10)

    chargers, _ = asyncio.run(
        _load_around(server.ws_url, kill, before_s=2.0, after_s=0.5)
    )
    answered = sum(len(charger.answered) for charger in chargers)
    assert answered > CHARGERS * 10
    assert _unlogged(chargers) == {}
    ChargePoint.objects.update(is_connected=False)  # nobody is left to say so


def test_frames_answered_across_a_postgresql_restart_are_all_in_the_log(
    server_factory: Any,
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("restarts PostgreSQL")
    _seed()
    server = server_factory(OCPP_UNKNOWN_CHARGERS="reject")
    chargers, restarted = asyncio.run(
        _load_around(server.ws_url, postgresql_restart, before_s=1.5, after_s=3.0)
    )
    server.stop()
    connection.close()  # this thread's connection did not survive the restart
    # The server carried on after the restart: frames answered since then.
    assert any(at > restarted for charger in chargers for at in charger.answered_at)
    assert _unlogged(chargers) == {}


def test_a_row_the_database_refuses_is_kept_without_its_payload() -> None:
    """A NUL in a payload (PostgreSQL text cannot hold it) or a link to a charger
    deleted meanwhile: the row is kept with the frame as text, and counted."""

    async def scenario() -> MessageLogWriter:
        writer = MessageLogWriter()
        entries = [
            LogEntry(
                ocpp_id="LOG-REFUSED",
                charge_point_id=None,
                direction="in",
                message_type=2,
                unique_id="fine-1",
                action="Heartbeat",
                payload={},
            ),
            LogEntry(
                ocpp_id="LOG-REFUSED",
                charge_point_id=None,
                direction="in",
                message_type=2,
                unique_id="nul-1",
                action="DataTransfer",
                payload={"vendorId": "ACME", "data": "a\x00b"},
            ),
            LogEntry(
                ocpp_id="LOG-REFUSED",
                charge_point_id=987_654_321,  # no such charger
                direction="in",
                message_type=2,
                unique_id="gone-1",
                action="Heartbeat",
                payload={},
            ),
        ]
        for entry in entries:
            writer.add(entry)
        await asyncio.wait_for(writer.durable(), 30)
        return writer

    writer = asyncio.run(scenario())
    rows = {
        row.unique_id: row for row in OcppMessage.objects.filter(ocpp_id="LOG-REFUSED")
    }
    assert set(rows) == {"fine-1", "nul-1", "gone-1"}
    assert rows["fine-1"].payload == {}
    if connection.vendor == "postgresql":
        assert rows["nul-1"].payload is None
        assert "a\\u0000b" in rows["nul-1"].raw
        assert rows["nul-1"].error_code == "LogRowSalvaged"
    assert rows["gone-1"].charge_point_id is None
    assert writer.dropped == 0
    assert writer.salvaged == (2 if connection.vendor == "postgresql" else 1)


def test_durable_waits_for_a_row_a_batch_holds_and_retries_what_it_gives_back() -> None:
    """A group-commit round that took the rows and failed hands them back: the
    writer writes them, and whoever waited for them is told once they are in."""

    async def scenario() -> tuple[bool, list[str]]:
        writer = MessageLogWriter()
        entry = writer.add(
            LogEntry(
                ocpp_id="LOG-GIVEN-BACK",
                charge_point_id=None,
                direction="in",
                message_type=2,
                unique_id="held-1",
                action="MeterValues",
                payload={},
            )
        )
        taken = writer.take()  # a round holds it
        waiting = asyncio.create_task(writer.durable(entry))
        await asyncio.sleep(0.2)
        held = not waiting.done()
        writer.give_back(taken)  # the round failed
        await asyncio.wait_for(waiting, 30)
        logged = await asyncio.to_thread(
            lambda: list(
                OcppMessage.objects.filter(ocpp_id="LOG-GIVEN-BACK").values_list(
                    "unique_id", flat=True
                )
            )
        )
        return held, logged

    held, logged = asyncio.run(scenario())
    assert held
    assert logged == ["held-1"]
