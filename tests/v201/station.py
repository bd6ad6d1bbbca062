"""A 2.0.1 charging station for tests: raw OCPP-J frames over a real WebSocket.

It checks every CALL it sends and every answer it gets against the OCPP 2.0.1
schemas, so a test also proves the CMS speaks schema-valid 2.0.1.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from stations.ocpp.protocol import CALL, CALLRESULT
from stations.ocpp.v201.validation import validate
from tests.ocpp.client import raw_socket

SUBPROTOCOL = "ocpp2.0.1"


def now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Station:
    """Sends CALLs and answers the CMS's CALLs with ``answers[action](payload)``."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self._ids = itertools.count(1)
        self.answers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {}
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._waiting: dict[str, asyncio.Future[list[Any]]] = {}
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for text in self.socket:
            frame = json.loads(text)
            if frame[0] == CALL:
                _, unique_id, action, payload = frame
                validate(action, CALL, payload)
                self.received.append((action, payload))
                answer = self.answers.get(action, lambda _p: {"status": "Accepted"})(
                    payload
                )
                validate(action, CALLRESULT, answer)
                await self.socket.send(json.dumps([CALLRESULT, unique_id, answer]))
            elif frame[1] in self._waiting:
                self._waiting.pop(frame[1]).set_result(frame)

    async def send(self, frame: list[Any] | str) -> list[Any]:
        """Send a raw frame and return the CMS's answer frame."""
        text = frame if isinstance(frame, str) else json.dumps(frame)
        unique_id = frame[1] if isinstance(frame, list) else "?"
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._waiting[str(unique_id)] = future
        await self.socket.send(text)
        return await asyncio.wait_for(future, 10)

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """A schema-valid CALL; returns the CALLRESULT payload (validated)."""
        validate(action, CALL, payload)
        answer = await self.send([CALL, f"m{next(self._ids)}", action, payload])
        assert answer[0] == CALLRESULT, answer
        validate(action, CALLRESULT, answer[2])
        return answer[2]

    async def close(self) -> None:
        self._reader.cancel()


@asynccontextmanager
async def station(
    server: Any, ocpp_id: str, *, subprotocols: tuple[str, ...] = (SUBPROTOCOL,)
) -> AsyncIterator[Station]:
    async with raw_socket(server, ocpp_id, subprotocols=subprotocols) as socket:
        assert socket.subprotocol == SUBPROTOCOL
        client = Station(socket)
        try:
            yield client
        finally:
            await client.close()


def booted(ocpp_id: str) -> Any:
    """The charge point once its station is connected and booted, else None."""
    from stations.models import ChargePoint

    return ChargePoint.objects.filter(
        ocpp_id=ocpp_id, is_connected=True, last_boot_at__isnull=False
    ).first()


def boot_payload() -> dict[str, Any]:
    return {
        "reason": "PowerUp",
        "chargingStation": {
            "model": "DC-150",
            "vendorName": "ACME",
            "serialNumber": "SN-201",
            "firmwareVersion": "2.0.1-r4",
            "modem": {"iccid": "8949000000000000002", "imsi": "262010000000002"},
        },
    }


def energy(wh: float, at: str, context: str = "Sample.Periodic") -> dict[str, Any]:
    return {
        "timestamp": at,
        "sampledValue": [
            {
                "value": wh / 1000,
                "context": context,
                "measurand": "Energy.Active.Import.Register",
                "unitOfMeasure": {"unit": "kWh"},
            },
            {
                "value": 50,
                "context": context,
                "measurand": "Power.Active.Import",
                "unitOfMeasure": {"unit": "W", "multiplier": 3},
            },
        ],
    }


def transaction_event(
    event: str,
    seq_no: int,
    *,
    transaction_id: str = "TX-201-1",
    at: str,
    trigger: str = "MeterValuePeriodic",
    evse: int | None = 1,
    **extra: Any,
) -> dict[str, Any]:
    info: dict[str, Any] = {"transactionId": transaction_id}
    for key in ("chargingState", "stoppedReason", "remoteStartId"):
        if key in extra:
            info[key] = extra.pop(key)
    payload: dict[str, Any] = {
        "eventType": event,
        "timestamp": at,
        "triggerReason": trigger,
        "seqNo": seq_no,
        "transactionInfo": info,
        **extra,
    }
    if evse is not None:
        payload["evse"] = {"id": evse, "connectorId": 1}
    return payload
