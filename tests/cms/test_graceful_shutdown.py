"""A rolling restart under load: SIGTERM to `manage.py serve` stops it gracefully.

Real processes on the test database and (in `make test`) the Redis channel layer:
chargers charge and send meter values, others keep failing their handshake or
hang up at once, and the server is stopped in the middle of it. The server must
close every socket with 1012 (service restart), finish its handlers without the
forced cancellation at the shutdown timeout, leave no process behind, and have
stored every meter value it acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import websockets
from django.db import connection

from cms.management.commands.serve import server_command
from sessions_app.models import ChargingSession, MeterValue
from tests.factories import ChargePointFactory, ConnectorFactory, IdTokenFactory
from tests.live_server import (
    ROOT,
    free_port,
    server_environment,
    wait_until_answers,
)
from tests.ocpp.client import auth_header

pytestmark = pytest.mark.django_db(transaction=True)

CHARGERS = 12
PASSWORD = "restart-test-pass"
SHUTDOWN_TIMEOUT_S = 8
LOAD_S = 4.0


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


class _Charger:
    def __init__(self, url: str, ocpp_id: str, connector_id: int) -> None:
        self.url, self.ocpp_id, self.connector_id = url, ocpp_id, connector_id
        self.acknowledged = 0
        self.close_code: int | None = None
        self._ids = iter(range(1, 1_000_000))

    async def _call(self, ws: Any, action: str, payload: dict[str, Any]) -> Any:
        unique_id = f"{self.ocpp_id}-{next(self._ids)}"
        await ws.send(json.dumps([2, unique_id, action, payload]))
        while True:
            frame = json.loads(await ws.recv())
            if frame[0] in (3, 4) and frame[1] == unique_id:
                assert frame[0] == 3, frame
                return frame[2]

    async def run(self, started: asyncio.Event) -> None:
        base = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
        try:
            async with websockets.connect(
                f"{self.url}/ocpp/{self.ocpp_id}",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                additional_headers=auth_header(self.ocpp_id, PASSWORD),
            ) as ws:
                await self._call(
                    ws,
                    "BootNotification",
                    {"chargePointVendor": "ACME", "chargePointModel": "Wallbox 22"},
                )
                start = await self._call(
                    ws,
                    "StartTransaction",
                    {
                        "connectorId": self.connector_id,
                        "idTag": "RESTART-TAG",
                        "meterStart": 0,
                        "timestamp": base.isoformat(),
                    },
                )
                started.set()
                for number in range(1, 100_000):
                    at = base + timedelta(seconds=number)
                    await self._call(
                        ws,
                        "MeterValues",
                        {
                            "connectorId": self.connector_id,
                            "transactionId": start["transactionId"],
                            "meterValue": [
                                {
                                    "timestamp": at.isoformat(),
                                    "sampledValue": [
                                        {
                                            "value": str(number * 10),
                                            "measurand": "Energy.Active.Import.Register",
                                            "unit": "Wh",
                                        }
                                    ],
                                }
                            ],
                        },
                    )
                    self.acknowledged += 1
        except websockets.ConnectionClosed as closed:
            self.close_code = closed.rcvd.code if closed.rcvd else None


async def _refused_storm(url: str, stop: asyncio.Event) -> int:
    """Wrong passwords and sockets that hang up at once, as fast as they go."""
    attempts = 0
    while not stop.is_set():
        attempts += 1
        with contextlib.suppress(Exception):
            async with websockets.connect(
                f"{url}/ocpp/RESTART-CP-00",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                additional_headers=auth_header("RESTART-CP-00", "wrong-password"),
                open_timeout=2,
            ):
                pass
        with contextlib.suppress(Exception):
            async with websockets.connect(
                f"{url}/ocpp/RESTART-CP-01",
                subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                additional_headers=auth_header("RESTART-CP-01", PASSWORD),
                open_timeout=2,
            ):
                pass  # open, then close before any frame
    return attempts


async def _load_then_stop(url: str, serve_pid: int) -> tuple[list[_Charger], int]:
    chargers = [
        _Charger(url, f"RESTART-CP-{number:02d}", 1) for number in range(2, CHARGERS)
    ]
    started = [asyncio.Event() for _ in chargers]
    tasks = [
        asyncio.create_task(charger.run(event))
        for charger, event in zip(chargers, started, strict=True)
    ]
    stop = asyncio.Event()
    storm = asyncio.create_task(_refused_storm(url, stop))
    await asyncio.wait_for(asyncio.gather(*(event.wait() for event in started)), 60)
    await asyncio.sleep(LOAD_S)  # load for a while: the restart comes mid-stream
    os.kill(serve_pid, signal.SIGTERM)
    await asyncio.wait_for(asyncio.gather(*tasks), SHUTDOWN_TIMEOUT_S + 10)
    stop.set()
    attempts = await asyncio.wait_for(storm, 10)
    return chargers, attempts


def test_sigterm_under_load_stops_gracefully_and_loses_nothing(tmp_path: Path) -> None:
    for number in range(CHARGERS):
        charge_point = ChargePointFactory(
            ocpp_id=f"RESTART-CP-{number:02d}", password=PASSWORD
        )
        ConnectorFactory(charge_point=charge_point, connector_id=1)
    IdTokenFactory(token="RESTART-TAG")
    port = free_port()
    log = tmp_path / "serve.log"
    env = server_environment(ASGI_SHUTDOWN_TIMEOUT_S=str(SHUTDOWN_TIMEOUT_S))
    with log.open("wb") as log_file:
        serve = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--port", str(port)],
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until_answers(f"http://127.0.0.1:{port}/healthz", serve, log)
        (server_pid,) = _children(serve.pid)

        chargers, attempts = asyncio.run(
            _load_then_stop(f"ws://127.0.0.1:{port}", serve.pid)
        )
        stopped_at = time.monotonic()
        serve.wait(timeout=SHUTDOWN_TIMEOUT_S + 10)
        waited = time.monotonic() - stopped_at
    finally:
        if serve.poll() is None:
            serve.kill()
        for pid in _children(serve.pid):
            os.kill(pid, signal.SIGKILL)
    output = log.read_text(errors="replace")

    # Stopped by itself, promptly, with nothing left running.
    assert not _alive(server_pid), "the ASGI server outlived serve"
    assert "killed" not in output, output[-3000:]
    assert "timeout graceful shutdown exceeded" not in output, output[-3000:]
    assert "Finished server process" in output
    assert waited < SHUTDOWN_TIMEOUT_S, f"took {waited:.1f} s after the last socket"
    assert attempts > 5  # the storm ran during the restart

    # Every charger was told to come back (1012 service restart), and every
    # meter value the server acknowledged is stored.
    assert [charger.close_code for charger in chargers] == [1012] * len(chargers)
    assert all(charger.acknowledged > 0 for charger in chargers)
    for charger in chargers:
        session = ChargingSession.objects.get(charge_point__ocpp_id=charger.ocpp_id)
        stored = MeterValue.objects.filter(session=session).count()
        assert stored >= charger.acknowledged, (charger.ocpp_id, stored)


async def _failing_handshakes(url: str, stop: asyncio.Event) -> int:
    """Chargers reconnecting in a loop to a server whose database is gone."""
    refused = 0

    async def one(number: int) -> None:
        nonlocal refused
        while not stop.is_set():
            try:
                async with websockets.connect(
                    f"{url}/ocpp/OUTAGE-CP-{number:02d}",
                    subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                    additional_headers=auth_header(f"OUTAGE-CP-{number:02d}", PASSWORD),
                    open_timeout=2,
                ):
                    pass
            except websockets.InvalidStatus:
                refused += 1
            except (OSError, TimeoutError, websockets.WebSocketException):
                await asyncio.sleep(0.05)

    await asyncio.gather(*(one(number) for number in range(8)))
    return refused


def test_sigterm_during_a_database_outage_does_not_hang(
    tmp_path: Path, settings: Any
) -> None:
    """Handshakes that fail inside the consumer (database gone: HTTP 500) used to
    leave a channel-layer receive that never finished its cancellation, and the
    server waited for it forever after SIGTERM ("Waiting for background tasks")."""
    settings.ASGI_SHUTDOWN_TIMEOUT_S = SHUTDOWN_TIMEOUT_S
    port = free_port()
    log = tmp_path / "server.log"
    # A database that is not there: on SQLite a file in a directory that does not
    # exist (so nothing is created in the checkout), on PostgreSQL an unknown name.
    gone = (
        str(tmp_path / "gone" / "cms.sqlite3")
        if connection.vendor == "sqlite"
        else "cms_database_that_is_gone"
    )
    env = server_environment(CMS_LIVE_SERVER_DB=gone)
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            server_command("uvicorn", "127.0.0.1", port),
            cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT,
        )  # fmt: skip

    async def storm_then_stop() -> tuple[int, float]:
        stop = asyncio.Event()
        storm = asyncio.create_task(_failing_handshakes(f"ws://127.0.0.1:{port}", stop))
        deadline = time.monotonic() + 30
        while "connection rejected (500" not in log.read_text(errors="replace"):
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            assert server.poll() is None, log.read_text(errors="replace")
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # handshakes failing mid-flight when the stop comes
        server.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(server.wait, 30)
        waited = time.monotonic() - signalled
        stop.set()
        return await asyncio.wait_for(storm, 10), waited

    try:
        refused, waited = asyncio.run(storm_then_stop())
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    output = log.read_text(errors="replace")
    assert refused > 0
    assert "timeout graceful shutdown exceeded" not in output, output[-3000:]
    # Stopped by itself. uvicorn (0.54, websockets-sansio) can trip over its own
    # assertion when shutdown() meets a handshake it has already answered 500
    # ("assert not self.eof_sent"): that is still a prompt exit, not a hang.
    assert (
        "Finished server process" in output or "assert not self.eof_sent" in output
    ), output[-3000:]
    assert waited < SHUTDOWN_TIMEOUT_S
