"""A charger for tests: python-ocpp's ChargePoint over a real WebSocket."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import quote

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

T = TypeVar("T")


class ClientChargePoint(ChargePoint):
    """Answers Reset with Accepted; ``answer_reset`` False leaves it unanswered."""

    answer_reset = True

    @on(Action.reset)
    async def on_reset(self, type: str, **_: Any) -> call_result.Reset:
        if not self.answer_reset:
            await asyncio.sleep(3600)
        return call_result.Reset(status="Accepted")

    @on(Action.unlock_connector)
    async def on_unlock(
        self, connector_id: int, **_: Any
    ) -> call_result.UnlockConnector:
        return call_result.UnlockConnector(status="UnlockFailed")


def auth_header(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def ocpp_url(server: Any, ocpp_id: str) -> str:
    return f"{server.ws_url}/ocpp/{quote(ocpp_id, safe='')}"


@asynccontextmanager
async def raw_socket(
    server: Any,
    ocpp_id: str,
    *,
    subprotocols: tuple[str, ...] = ("ocpp1.6",),
    headers: dict[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[Any]:
    if ssl_context is None and hasattr(server, "client_ssl_context"):
        ssl_context = server.client_ssl_context()
    async with websockets.connect(
        ocpp_url(server, ocpp_id),
        subprotocols=list(subprotocols),  # type: ignore[arg-type]
        additional_headers=headers or {},
        open_timeout=10,
        ssl=ssl_context,
    ) as socket:
        yield socket


@asynccontextmanager
async def charger(
    server: Any,
    ocpp_id: str,
    *,
    password: str | None = None,
    answer_reset: bool = True,
    ssl_context: ssl.SSLContext | None = None,
    headers: dict[str, str] | None = None,
    cls: type[Any] | None = None,
    subprotocols: tuple[str, ...] = ("ocpp1.6",),
) -> AsyncIterator[Any]:
    headers = {
        **(auth_header(ocpp_id, password) if password else {}),
        **(headers or {}),
    }
    async with raw_socket(
        server,
        ocpp_id,
        headers=headers,
        ssl_context=ssl_context,
        subprotocols=subprotocols,
    ) as socket:
        client = (cls or ClientChargePoint)(ocpp_id, socket, response_timeout=10)
        client.answer_reset = answer_reset
        task = asyncio.create_task(client.start())
        try:
            yield client
        finally:
            task.cancel()


async def exchange(socket: Any, frame: str | bytes | list[Any]) -> list[Any]:
    """Send one raw frame and return the decoded answer."""
    await socket.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))
    return json.loads(await asyncio.wait_for(socket.recv(), 10))


async def heartbeat_answers(socket: Any, unique_id: str = "hb-1") -> bool:
    answer = await exchange(socket, [2, unique_id, "Heartbeat", {}])
    return answer[0] == 3 and answer[1] == unique_id and "currentTime" in answer[2]


def boot() -> call.BootNotification:
    return call.BootNotification(
        charge_point_vendor="ACME",
        charge_point_model="Wallbox 22",
        charge_point_serial_number="SN-1",
        firmware_version="1.2.3",
        iccid="8949000000000000001",
        imsi="262010000000001",
        meter_type="EEM-350",
    )


def wait_for(
    condition: Callable[[], T], timeout: float = 10.0, *, what: str = "condition"
) -> T:
    """Poll ``condition`` until it returns something truthy (or fail naming ``what``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not met within {timeout}s")
        time.sleep(0.05)
