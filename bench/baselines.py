"""The two baselines every benchmark run starts next to the CMS.

``handrolled``  what a Python team would write first: the ``ocpp`` package's
                ``ChargePoint`` on a plain ``websockets`` server, one INSERT per
                message into the same PostgreSQL (psycopg async, autocommit),
                with the package's own schema validation.
``canned``      the ceiling: a raw ``websockets`` server answering every CALL with
                a canned CALLRESULT, no parsing beyond ``json.loads``.

Run one process per port::

    python -m bench.baselines handrolled --port 9101 --database-url postgres://...
    python -m bench.baselines canned --port 9201
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
from datetime import UTC, datetime
from typing import Any

TABLE_SQL = """
CREATE TABLE IF NOT EXISTS bench_baseline_message (
    id bigserial PRIMARY KEY,
    charger text NOT NULL,
    action text NOT NULL,
    payload jsonb NOT NULL,
    received_at timestamptz NOT NULL
)
"""


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


_CANNED: dict[str, Any] = {
    "BootNotification": lambda: {
        "currentTime": _now(),
        "interval": 300,
        "status": "Accepted",
    },
    "Heartbeat": lambda: {"currentTime": _now()},
    "Authorize": lambda: {"idTagInfo": {"status": "Accepted"}},
    "StartTransaction": lambda: {
        "transactionId": 1,
        "idTagInfo": {"status": "Accepted"},
    },
    "StopTransaction": lambda: {"idTagInfo": {"status": "Accepted"}},
}


async def _canned_server(port: int) -> None:
    from websockets.asyncio.server import serve
    from websockets.typing import Subprotocol

    async def handler(websocket: Any) -> None:
        async for raw in websocket:
            message = json.loads(raw)
            if message[0] != 2:
                continue
            answer = _CANNED.get(message[2])
            await websocket.send(
                json.dumps([3, message[1], answer() if answer else {}])
            )

    async with serve(
        handler,
        "127.0.0.1",
        port,
        subprotocols=[Subprotocol("ocpp1.6")],
        ping_interval=None,
        compression=None,
        backlog=4096,
    ):
        await asyncio.Future()


async def _handrolled_server(port: int, database_url: str) -> None:
    import psycopg
    from ocpp.routing import on
    from ocpp.v16 import ChargePoint, call_result
    from ocpp.v16.enums import Action, AuthorizationStatus, RegistrationStatus
    from psycopg.types.json import Jsonb
    from websockets.asyncio.server import serve
    from websockets.typing import Subprotocol

    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True
    ) as db:
        await db.execute(TABLE_SQL)
        transaction_ids = iter(range(1, 10**9))

        class CentralSystem(ChargePoint):
            async def store(self, action: str, payload: dict[str, Any]) -> None:
                await db.execute(
                    "INSERT INTO bench_baseline_message (charger, action, payload,"
                    " received_at) VALUES (%s, %s, %s, now())",
                    (self.id, action, Jsonb(payload)),
                )

            @on(Action.boot_notification)
            async def on_boot(self, **payload: Any) -> Any:
                await self.store("BootNotification", payload)
                return call_result.BootNotification(
                    current_time=_now(),
                    interval=300,
                    status=RegistrationStatus.accepted,
                )

            @on(Action.heartbeat)
            async def on_heartbeat(self, **payload: Any) -> Any:
                await self.store("Heartbeat", payload)
                return call_result.Heartbeat(current_time=_now())

            @on(Action.status_notification)
            async def on_status(self, **payload: Any) -> Any:
                await self.store("StatusNotification", payload)
                return call_result.StatusNotification()

            @on(Action.authorize)
            async def on_authorize(self, **payload: Any) -> Any:
                await self.store("Authorize", payload)
                return call_result.Authorize(
                    id_tag_info={"status": AuthorizationStatus.accepted}
                )

            @on(Action.start_transaction)
            async def on_start(self, **payload: Any) -> Any:
                await self.store("StartTransaction", payload)
                return call_result.StartTransaction(
                    transaction_id=next(transaction_ids),
                    id_tag_info={"status": AuthorizationStatus.accepted},
                )

            @on(Action.stop_transaction)
            async def on_stop(self, **payload: Any) -> Any:
                await self.store("StopTransaction", payload)
                return call_result.StopTransaction()

            @on(Action.meter_values)
            async def on_meter_values(self, **payload: Any) -> Any:
                await self.store("MeterValues", payload)
                return call_result.MeterValues()

        async def handler(websocket: Any) -> None:
            charger_id = websocket.request.path.rstrip("/").split("/")[-1]
            try:
                await CentralSystem(charger_id, websocket).start()
            except Exception:  # the socket closed
                return

        async with serve(
            handler,
            "127.0.0.1",
            port,
            subprotocols=[Subprotocol("ocpp1.6")],
            ping_interval=None,
            compression=None,
            backlog=4096,
        ):
            await asyncio.Future()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=["handrolled", "canned"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    gc.freeze()
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:
        runner = asyncio.run
    if args.kind == "canned":
        runner(_canned_server(args.port))
    else:
        if not args.database_url:
            parser.error("handrolled needs --database-url")
        runner(_handrolled_server(args.port, args.database_url))


if __name__ == "__main__":
    main()
