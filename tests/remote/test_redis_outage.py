"""A Redis outage, with real processes: a server whose channel layer and Celery
broker are a Redis this test starts, stops and starts again.

While Redis is down a command is recorded and answered 503 with its error body
(``ChannelLayerError``), never a 500; the charger's socket stays up; the first
command after Redis is back reaches the charger (no stale connection).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis as redis_client
from rest_framework.authtoken.models import Token
from websockets.sync.client import connect

from stations.models import ChargePoint, ChargePointCommand, CommandStatus
from tests.factories import ChargePointFactory
from tests.live_server import free_port

pytestmark = pytest.mark.django_db(transaction=True)


class _Redis:
    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("redis-server") or "redis-server"
        self.process = subprocess.Popen(
            [
                binary, "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis_client.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis_client.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def redis(tmp_path: Path) -> Iterator[_Redis]:
    if not shutil.which("redis-server"):
        pytest.skip("needs redis-server")
    server = _Redis(tmp_path)
    server.start()
    yield server
    server.stop()


class _Charger:
    """A charger on a real socket that accepts every CALL and notes its action."""

    def __init__(self, url: str) -> None:
        self.socket = connect(url, subprotocols=["ocpp1.6"])  # type: ignore[list-item]
        self.calls: list[str] = []
        self.closed = threading.Event()
        self.thread = threading.Thread(target=self._answer, daemon=True)
        self.thread.start()

    def _answer(self) -> None:
        try:
            while True:
                frame = json.loads(self.socket.recv())
                if frame[0] == 2:
                    self.calls.append(frame[2])
                    self.socket.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
        except Exception:  # noqa: S110  (the socket closing ends the loop)
            pass
        self.closed.set()

    def wait_for_call(self, count: int, timeout_s: float = 15) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.calls) < count:
            assert time.monotonic() < deadline, f"only {self.calls} arrived"
            assert not self.closed.is_set(), "the charger's socket closed"
            time.sleep(0.05)


def _post(url: str, token: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, _json(response.read())
    except urllib.error.HTTPError as error:
        return error.code, _json(error.read())


def _json(body: bytes) -> dict[str, Any]:
    try:
        return dict(json.loads(body))
    except ValueError:
        return {"not JSON": body[:300].decode(errors="replace")}


def test_commands_during_and_after_a_redis_outage(
    server_factory: Any, operator: Any, station_a: Any, redis: _Redis
) -> None:
    server = server_factory(
        REDIS_URL=f"{redis.url}/0",
        CMS_TEST_CHANNEL_LAYER="redis",
        CMS_TEST_CELERY_BROKER=f"{redis.url}/1",
    )
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-OUTAGE")
    token = Token.objects.create(user=operator).key
    url = f"{server.http_url}/api/v1/charge-points/{charge_point.pk}/commands/"
    trigger = {"action": "TriggerMessage", "payload": {"requestedMessage": "Heartbeat"}}

    charger = _Charger(f"{server.ws_url}/ocpp/{charge_point.ocpp_id}")
    try:
        deadline = time.monotonic() + 10
        while not ChargePoint.objects.get(pk=charge_point.pk).is_connected:
            assert time.monotonic() < deadline, "charger never connected"
            time.sleep(0.05)
        status, _ = _post(url, token, trigger)
        assert status == 202
        charger.wait_for_call(1)

        redis.stop()
        status, body = _post(url, token, trigger)
        assert status == 503, body
        assert body["status"] == CommandStatus.ERROR
        assert body["error_code"] == "ChannelLayerError"
        assert "Could not reach the gateway" in body["error_description"]
        assert (
            ChargePointCommand.objects.get(pk=body["id"]).status == CommandStatus.ERROR
        )

        redis.start()  # same port: the server's pooled connections are stale now
        status, body = _post(url, token, trigger)
        assert status == 202, body
        charger.wait_for_call(2)
        deadline = time.monotonic() + 15
        command = ChargePointCommand.objects.get(pk=body["id"])
        while command.status == CommandStatus.PENDING:
            assert time.monotonic() < deadline, "the command never finished"
            time.sleep(0.05)
            command.refresh_from_db()
        assert command.status == CommandStatus.ACCEPTED
        assert not charger.closed.is_set(), "the outage closed the charger's socket"
    finally:
        charger.socket.close()
    log = server.log()
    assert "Internal Server Error" not in log
