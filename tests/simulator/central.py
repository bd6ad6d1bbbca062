"""A minimal OCPP 1.6 central system for testing the simulator (python-ocpp server side)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Received:
    charger: str
    action: str
    payload: dict[str, Any]
    connection: int
    at: float = field(default_factory=time.monotonic)


class CsmsChargePoint(ChargePoint):
    def __init__(
        self, central: CentralSystem, ocpp_id: str, websocket: Any, number: int
    ):
        super().__init__(ocpp_id, websocket, response_timeout=10)
        self.central = central
        self.number = number

    def _record(self, action: str, payload: dict[str, Any]) -> None:
        self.central.record(Received(self.id, action, payload, self.number))

    @on(Action.boot_notification)
    def on_boot_notification(self, **payload: Any) -> call_result.BootNotification:
        self._record("BootNotification", payload)
        status = next(self.central.boot_statuses)
        return call_result.BootNotification(
            current_time=now_iso(),
            interval=self.central.heartbeat_interval,
            status=status,
        )

    @on(Action.heartbeat)
    def on_heartbeat(self, **payload: Any) -> call_result.Heartbeat:
        self._record("Heartbeat", payload)
        return call_result.Heartbeat(current_time=now_iso())

    @on(Action.status_notification)
    def on_status_notification(self, **payload: Any) -> call_result.StatusNotification:
        self._record("StatusNotification", payload)
        return call_result.StatusNotification()

    @on(Action.authorize)
    def on_authorize(self, id_tag: str, **payload: Any) -> call_result.Authorize:
        self._record("Authorize", {"id_tag": id_tag, **payload})
        return call_result.Authorize(
            id_tag_info={"status": self.central.auth_status(id_tag)}
        )

    @on(Action.start_transaction)
    def on_start_transaction(self, **payload: Any) -> call_result.StartTransaction:
        self._record("StartTransaction", payload)
        transaction_id = next(self.central.transaction_ids)
        return call_result.StartTransaction(
            transaction_id=transaction_id,
            id_tag_info={"status": self.central.auth_status(payload["id_tag"])},
        )

    @on(Action.meter_values)
    def on_meter_values(self, **payload: Any) -> call_result.MeterValues:
        self._record("MeterValues", payload)
        return call_result.MeterValues()

    @on(Action.stop_transaction)
    def on_stop_transaction(self, **payload: Any) -> call_result.StopTransaction:
        self._record("StopTransaction", payload)
        return call_result.StopTransaction(id_tag_info={"status": "Accepted"})

    @on(Action.firmware_status_notification)
    def on_firmware_status_notification(
        self, **payload: Any
    ) -> call_result.FirmwareStatusNotification:
        self._record("FirmwareStatusNotification", payload)
        return call_result.FirmwareStatusNotification()

    @on(Action.diagnostics_status_notification)
    def on_diagnostics_status_notification(
        self, **payload: Any
    ) -> call_result.DiagnosticsStatusNotification:
        self._record("DiagnosticsStatusNotification", payload)
        return call_result.DiagnosticsStatusNotification()


class CentralSystem:
    """Records every charger message; tests send CMS calls through ``link(id)``."""

    def __init__(
        self,
        *,
        boot_statuses: list[str] | None = None,
        heartbeat_interval: int = 60,
        rejected_tags: tuple[str, ...] = (),
    ) -> None:
        statuses = boot_statuses or ["Accepted"]
        self.boot_statuses: Iterator[str] = itertools.chain(
            statuses, itertools.repeat(statuses[-1])
        )
        self.heartbeat_interval = heartbeat_interval
        self.rejected_tags = rejected_tags
        self.transaction_ids = itertools.count(101)
        self.received: list[Received] = []
        self.links: dict[str, CsmsChargePoint] = {}
        self.sockets: dict[str, ServerConnection] = {}
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.is_refusing = False
        self.connection_count = 0
        self._changed = asyncio.Event()
        self.server: Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = next(iter(self.server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/ocpp/"

    def auth_status(self, id_tag: str) -> str:
        return "Invalid" if id_tag in self.rejected_tags else "Accepted"

    def record(self, item: Received) -> None:
        self.received.append(item)
        self._changed.set()

    def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        if self.is_refusing:
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "down\n")
        return None

    async def _handle(self, websocket: ServerConnection) -> None:
        path = websocket.request.path
        ocpp_id = unquote(path.rstrip("/").rsplit("/", 1)[-1])
        self.paths.append(path)
        self.headers.append(dict(websocket.request.headers))
        self.connection_count += 1
        link = CsmsChargePoint(self, ocpp_id, websocket, self.connection_count)
        self.links[ocpp_id] = link
        self.sockets[ocpp_id] = websocket
        self._changed.set()
        try:
            await link.start()
        except ConnectionClosed:
            pass
        finally:
            self._changed.set()

    async def __aenter__(self) -> CentralSystem:
        self.server = await serve(
            self._handle,
            "127.0.0.1",
            0,
            subprotocols=["ocpp1.6"],
            process_request=self._process_request,
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def messages(
        self, action: str | None = None, charger: str | None = None
    ) -> list[Received]:
        return [
            m
            for m in self.received
            if (action is None or m.action == action)
            and (charger is None or m.charger == charger)
        ]

    async def wait_for(
        self, condition: Callable[[], Any], deadline_s: float = 15.0, what: str = ""
    ) -> Any:
        """Return ``condition()`` once truthy; fail after ``deadline_s`` seconds."""
        deadline = time.monotonic() + deadline_s
        while True:
            self._changed.clear()
            result = condition()
            if result:
                return result
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                actions = [(m.action, m.payload.get("status")) for m in self.received]
                raise AssertionError(f"timed out waiting for {what}; got {actions}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))

    async def wait_message(
        self,
        action: str,
        predicate: Callable[[Received], bool] = lambda m: True,
        **kwargs: Any,
    ) -> Received:
        def find() -> Received | None:
            return next((m for m in self.messages(action) if predicate(m)), None)

        return await self.wait_for(find, what=action, **kwargs)

    async def wait_online(
        self, ocpp_id: str, connection: int | None = None
    ) -> Received:
        """Wait for the charger-wide StatusNotification sent after an accepted boot."""
        return await self.wait_message(
            "StatusNotification",
            lambda m: (
                m.charger == ocpp_id
                and m.payload["connector_id"] == 0
                and (connection is None or m.connection == connection)
            ),
        )

    async def call(self, ocpp_id: str, payload: Any) -> Any:
        link = await self.wait_for(
            lambda: self.links.get(ocpp_id), what=f"{ocpp_id} link"
        )
        return await link.call(payload)


def sampled(message: Received, measurand: str) -> list[dict[str, Any]]:
    """All sampledValues of a MeterValues message for one measurand."""
    return [
        value
        for meter_value in message.payload["meter_value"]
        for value in meter_value["sampled_value"]
        if value.get("measurand", "Energy.Active.Import.Register") == measurand
    ]


def register_wh(message: Received) -> int:
    return int(sampled(message, "Energy.Active.Import.Register")[0]["value"])


def power_w(message: Received) -> float:
    return float(sampled(message, "Power.Active.Import")[0]["value"])
