"""A load generator of real OCPP chargers (raw ``websockets`` + json), 1.6J or 2.0.1.

Chargers are spread over several worker processes (``multiprocessing``, spawn)
so that the client is not the bottleneck; each worker runs one asyncio loop
holding its share of the sockets. Every run is bounded: a fixed number of
chargers, a fixed duration and loopback URLs only (``LoadConfig`` refuses
anything else).

Modes (``LoadConfig.mode``):

``steady``      realistic mix at a target total rate: heartbeats, status changes,
                sessions (Authorize, StartTransaction, MeterValues, StopTransaction).
``throughput``  closed loop: each charger sends its next CALL as soon as the
                previous one is answered (MeterValues-heavy mix in a session).
``idle``        connect (paced), boot, then only heartbeats; also answers
                every CALL from the server (commands scenario).
``storm``       all chargers connect and boot at the same moment.

``LoadConfig.protocol`` picks the chargers' OCPP version: ``ocpp1.6`` (Authorize,
StartTransaction, MeterValues, StopTransaction) or ``ocpp2.0.1``, a lean station
speaking the same mix in 2.0.1 terms (Authorize, TransactionEvent Started /
Updated with the meter values / Ended, StatusNotification per EVSE, Heartbeat).

What a worker measures: CALL->CALLRESULT latency per call, CALLERRORs, calls
never answered within ``call_timeout_s`` (lost), refused handshakes, sockets the
server closed before the end (dropped), and the arrival time of every
server-initiated CALL (for command latency).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import json
import multiprocessing
import random
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1", "[::1]"}
MODES = ("steady", "throughput", "idle", "storm")
PROTOCOLS = ("ocpp1.6", "ocpp2.0.1")


@dataclass(frozen=True)
class LoadConfig:
    urls: tuple[str, ...]  # ws://127.0.0.1:PORT/ocpp/ ; chargers round-robin
    mode: str
    count: int
    processes: int = 2
    duration_s: float = 20.0
    prefix: str = "BENCH-"
    first_index: int = 1
    connect_rate: float = 500.0  # new connections per second, all workers together
    rate: float = 100.0  # steady: target CALLs per second, all chargers together
    heartbeat_s: float = 30.0  # idle: heartbeat interval per charger
    call_timeout_s: float = 30.0
    connect_timeout_s: float = 60.0
    id_tag_prefix: str = "BT"
    # steady: MeterValues per session (at 10-60 s apart in the field, a 20-60 min
    # session sends 20-360; the bench compresses time to one call per second).
    session_meter_values: tuple[int, int] = (20, 60)
    # steady: chargers whose random phase falls inside a session start it before
    # the window opens (a fleet in steady state is mostly mid-session).
    warm_sessions: bool = True
    # steady: sessions already open in the CMS, as (charger index, transaction id):
    # those chargers continue them (MeterValues, then StopTransaction) instead of
    # starting one before the window, as a fleet does after a gateway restart.
    # When given, it replaces warm_sessions (the soak: 50,000 starts would be a
    # storm of StartTransactions no fleet sends).
    open_transactions: tuple[tuple[int, int], ...] = ()
    protocol: str = "ocpp1.6"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}")
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}")
        if self.open_transactions and self.protocol != "ocpp1.6":
            # Seeded sessions carry the CMS's 1.6 transaction ids.
            raise ValueError("open_transactions are 1.6 transactions")
        if not 0 < self.count <= 60_000:
            raise ValueError("count must be between 1 and 60000")
        if not 0 < self.duration_s <= 1800:
            raise ValueError("duration_s must be between 0 and 1800 seconds")
        for url in self.urls:
            parsed = urlparse(url)
            if parsed.scheme != "ws" or parsed.hostname not in LOOPBACK_HOSTS:
                raise ValueError(f"load tests target loopback ws:// only, not {url}")


def charger_id(config: LoadConfig, index: int) -> str:
    return f"{config.prefix}{config.first_index + index:05d}"


def id_tag(config: LoadConfig, index: int) -> str:
    return f"{config.id_tag_prefix}{config.first_index + index:05d}"


@dataclass
class WorkerStats:
    connected: int = 0
    refused: int = 0
    dropped: int = 0
    booted: int = 0
    sent: int = 0
    answered: int = 0
    window_answered: int = 0  # answers inside the measuring window
    window_latencies_ms: list[float] = field(default_factory=list)
    window_start: float = 0.0  # loop.time() bounds of the window
    window_end: float = 0.0
    call_errors: int = 0
    lost: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    heartbeat_ms: list[float] = field(default_factory=list)
    boot_done_s: list[float] = field(default_factory=list)  # since the worker start
    sent_by_action: dict[str, int] = field(default_factory=dict)
    errors_by_code: dict[str, int] = field(default_factory=dict)
    commands_received: dict[str, float] = field(default_factory=dict)  # uid -> time()
    error_samples: list[str] = field(default_factory=list)


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _meter_values(connector_id: int, transaction_id: int, energy_wh: int) -> dict:
    return {
        "connectorId": connector_id,
        "transactionId": transaction_id,
        "meterValue": [
            {
                "timestamp": _now_iso(),
                "sampledValue": [
                    {
                        "value": str(energy_wh),
                        "measurand": "Energy.Active.Import.Register",
                        "unit": "Wh",
                        "context": "Sample.Periodic",
                    },
                    {
                        "value": "11000",
                        "measurand": "Power.Active.Import",
                        "unit": "W",
                        "context": "Sample.Periodic",
                    },
                    {
                        "value": "16.0",
                        "measurand": "Current.Import",
                        "unit": "A",
                        "phase": "L1",
                        "context": "Sample.Periodic",
                    },
                ],
            }
        ],
    }


def _meter_value_201(energy_wh: int, context: str) -> dict:
    """A 2.0.1 MeterValueType (§2.33): numeric values with unitOfMeasure."""
    return {
        "timestamp": _now_iso(),
        "sampledValue": [
            {
                "value": energy_wh,
                "measurand": "Energy.Active.Import.Register",
                "unitOfMeasure": {"unit": "Wh"},
                "context": context,
            },
            {
                "value": 11000,
                "measurand": "Power.Active.Import",
                "unitOfMeasure": {"unit": "W"},
                "context": context,
            },
            {
                "value": 16.0,
                "measurand": "Current.Import",
                "unitOfMeasure": {"unit": "A"},
                "phase": "L1",
                "context": context,
            },
        ],
    }


# 1.6 connector statuses as a 2.0.1 connector reports them (ConnectorStatusEnumType:
# a connector in use is Occupied; the transaction carries Charging/Suspended).
_STATUS_201 = {"Available": "Available", "Unavailable": "Unavailable"}

# Answers a charger gives to server-initiated CALLs (commands).
_COMMAND_ANSWERS: dict[str, dict[str, Any]] = {
    "GetConfiguration": {"configurationKey": [], "unknownKey": []},
    "GetLocalListVersion": {"listVersion": 0},
    "GetDiagnostics": {},
    "UpdateFirmware": {},
    "GetCompositeSchedule": {"status": "Rejected"},
}


class Charger:
    """One simulated charger: a socket, a reader task and awaitable CALLs."""

    def __init__(
        self, config: LoadConfig, index: int, url: str, stats: WorkerStats, t0: float
    ) -> None:
        import websockets  # imported in the worker process
        from websockets.typing import Subprotocol

        self._websockets = websockets
        self._subprotocols = [Subprotocol(config.protocol)]
        self.v201 = config.protocol == "ocpp2.0.1"
        self.config = config
        self.index = index
        self.ocpp_id = charger_id(config, index)
        self.url = url.rstrip("/") + "/" + self.ocpp_id
        self.stats = stats
        self.t0 = t0
        self.ws: Any = None
        self._ids = itertools.count(1)
        self._pending: dict[str, tuple[asyncio.Future[Any], float, str]] = {}
        self._closing = False
        self.closed = False
        self.energy_wh = 0
        self.transaction_id: int | str | None = None
        self._transactions = itertools.count(1)
        self._seq_no = 0

    async def connect(self) -> bool:
        try:
            self.ws = await asyncio.wait_for(
                self._websockets.connect(
                    self.url,
                    subprotocols=self._subprotocols,
                    open_timeout=self.config.connect_timeout_s,
                    ping_interval=None,
                    max_queue=64,
                    compression=None,
                ),
                self.config.connect_timeout_s,
            )
        except Exception as error:
            self.stats.refused += 1
            self._sample(f"connect {self.ocpp_id}: {type(error).__name__}: {error}")
            return False
        if self.ws.subprotocol != self.config.protocol:
            self.stats.refused += 1
            await self.ws.close()
            return False
        self.stats.connected += 1
        asyncio.get_running_loop().create_task(self._read())
        return True

    def _sample(self, text: str) -> None:
        if len(self.stats.error_samples) < 10:
            self.stats.error_samples.append(text[:300])

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self._on_frame(raw)
        except Exception as error:
            self._sample(f"read {self.ocpp_id}: {type(error).__name__}: {error}")
        self.closed = True
        if not self._closing:
            self.stats.dropped += 1
            self._sample(f"{self.ocpp_id}: closed by server {self.ws.close_code}")
        for future, _, _ in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError("closed"))

    def _on_frame(self, raw: str | bytes) -> None:
        message = json.loads(raw)
        kind, unique_id = message[0], message[1]
        if kind == 2:  # a command from the central system
            self.stats.commands_received[unique_id] = time.time()
            answer = _COMMAND_ANSWERS.get(message[2], {"status": "Accepted"})
            asyncio.get_running_loop().create_task(
                self._send_quietly(json.dumps([3, unique_id, answer]))
            )
            return
        entry = self._pending.pop(unique_id, None)
        if entry is None:
            return
        future, started, action = entry
        elapsed_ms = (time.perf_counter() - started) * 1000
        if kind == 3:
            self.stats.answered += 1
            self.stats.latencies_ms.append(elapsed_ms)
            now = asyncio.get_running_loop().time()
            if self.stats.window_start <= now <= self.stats.window_end:
                self.stats.window_answered += 1
                self.stats.window_latencies_ms.append(elapsed_ms)
                if action == "Heartbeat":  # held connections, not the connect ramp
                    self.stats.heartbeat_ms.append(elapsed_ms)
            if not future.done():
                future.set_result(message[2])
        else:
            self.stats.call_errors += 1
            code = str(message[2])
            self.stats.errors_by_code[code] = self.stats.errors_by_code.get(code, 0) + 1
            self._sample(f"{self.ocpp_id} {action}: CALLERROR {message[2:]}")
            if not future.done():
                future.set_result(None)

    async def _send_quietly(self, text: str) -> None:
        with contextlib.suppress(Exception):
            await self.ws.send(text)

    async def call(
        self, action: str, payload: dict[str, Any], *, counted_as: str = ""
    ) -> Any:
        """Send a CALL; return its payload, None for a CALLERROR or a lost call.

        ``counted_as``: the name ``sent_by_action`` counts it under (2.0.1's
        ``TransactionEvent.Started`` and so on), default the action.
        """
        if self.closed:
            raise ConnectionError("socket closed")
        unique_id = f"{next(self._ids)}"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[unique_id] = (future, time.perf_counter(), action)
        self.stats.sent += 1
        name = counted_as or action
        self.stats.sent_by_action[name] = self.stats.sent_by_action.get(name, 0) + 1
        try:
            await self.ws.send(json.dumps([2, unique_id, action, payload]))
            return await asyncio.wait_for(future, self.config.call_timeout_s)
        except TimeoutError:
            self.stats.lost += 1
            self._sample(f"{self.ocpp_id} {action}: no answer")
        except Exception:
            self.stats.lost += 1
        finally:
            self._pending.pop(unique_id, None)
        return None

    async def boot(self) -> bool:
        payload: dict[str, Any] = {
            "chargePointVendor": "BenchCo",
            "chargePointModel": "LoadGen-1",
            "firmwareVersion": "1.0.0",
        }
        if self.v201:
            payload = {
                "reason": "PowerUp",
                "chargingStation": {
                    "vendorName": "BenchCo",
                    "model": "LoadGen-201",
                    "firmwareVersion": "1.0.0",
                },
            }
        answer = await self.call("BootNotification", payload)
        if not answer or answer.get("status") != "Accepted":
            return False
        self.stats.booted += 1
        self.stats.boot_done_s.append(time.perf_counter() - self.t0)
        return True

    async def status(self, status: str) -> None:
        if self.v201:
            await self.call(
                "StatusNotification",
                {
                    "timestamp": _now_iso(),
                    "connectorStatus": _STATUS_201.get(status, "Occupied"),
                    "evseId": 1,
                    "connectorId": 1,
                },
            )
            return
        await self.call(
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": status,
                "timestamp": _now_iso(),
            },
        )

    async def _transaction_event(
        self, event_type: str, trigger: str, context: str, **extra: Any
    ) -> Any:
        """A 2.0.1 TransactionEvent (E01-E07) of the charger's transaction."""
        payload: dict[str, Any] = {
            "eventType": event_type,
            "timestamp": _now_iso(),
            "triggerReason": trigger,
            "seqNo": self._seq_no,
            "transactionInfo": {
                "transactionId": str(self.transaction_id),
                "chargingState": "Charging" if event_type != "Ended" else "EVConnected",
                **extra.pop("info", {}),
            },
            "meterValue": [_meter_value_201(self.energy_wh, context)],
            **extra,
        }
        self._seq_no += 1
        return await self.call(
            "TransactionEvent", payload, counted_as=f"TransactionEvent.{event_type}"
        )

    async def start_session(self) -> None:
        tag = id_tag(self.config, self.index)
        if self.v201:
            token = {"idToken": tag, "type": "ISO14443"}
            await self.call("Authorize", {"idToken": token})
            # The station's own transaction id (2.0.1 §2.50), unique on it.
            self.transaction_id = f"{self.ocpp_id}-{next(self._transactions)}"
            self._seq_no = 0
            await self._transaction_event(
                "Started",
                "Authorized",
                "Transaction.Begin",
                idToken=token,
                evse={"id": 1, "connectorId": 1},
            )
            return
        await self.call("Authorize", {"idTag": tag})
        answer = await self.call(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": tag,
                "meterStart": self.energy_wh,
                "timestamp": _now_iso(),
            },
        )
        self.transaction_id = int(answer["transactionId"]) if answer else None

    async def meter_values(self) -> None:
        self.energy_wh += random.randint(50, 400)
        if self.v201:
            # Inside a transaction 2.0.1 meter values ride on TransactionEvent
            # Updated (E02); MeterValues is for readings outside one (J01).
            if self.transaction_id is None:
                await self.call(
                    "MeterValues",
                    {
                        "evseId": 1,
                        "meterValue": [
                            _meter_value_201(self.energy_wh, "Sample.Periodic")
                        ],
                    },
                )
                return
            await self._transaction_event(
                "Updated", "MeterValuePeriodic", "Sample.Periodic"
            )
            return
        await self.call(
            "MeterValues",
            _meter_values(1, int(self.transaction_id or 0), self.energy_wh),
        )

    async def stop_session(self) -> None:
        if self.transaction_id is None:
            return
        if self.v201:
            await self._transaction_event(
                "Ended",
                "StopAuthorized",
                "Transaction.End",
                info={"stoppedReason": "Local"},
            )
            self.transaction_id = None
            return
        await self.call(
            "StopTransaction",
            {
                "transactionId": self.transaction_id,
                "meterStop": self.energy_wh,
                "timestamp": _now_iso(),
                "reason": "Local",
                "idTag": id_tag(self.config, self.index),
            },
        )
        self.transaction_id = None

    async def close(self) -> None:
        self._closing = True
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ws.close(), 5)


async def _session_cycle(
    charger: Charger,
    interval_s: float,
    deadline: float,
    meter_values: tuple[int, int],
    ongoing: int | None = None,
) -> None:
    """steady: idle with heartbeats, then a session with meter values, repeat.

    ``ongoing``: the charger is mid-session; send that many MeterValues first.
    """
    loop = asyncio.get_running_loop()

    async def pause() -> bool:
        wait = random.uniform(0.5, 1.5) * interval_s
        if loop.time() + wait >= deadline:
            return False
        await asyncio.sleep(wait)
        return True

    async def charge(count: int) -> bool:
        for _ in range(count):
            # At the deadline a charging session stays open, as in a fleet that
            # keeps charging after the window (no artificial wave of stops).
            if not await pause():
                return False
            await charger.meter_values()
        await charger.stop_session()
        await charger.status("Finishing")
        await charger.status("Available")
        return True

    if ongoing is not None and not await charge(ongoing):
        return
    while loop.time() < deadline:
        for _ in range(random.randint(0, 2)):
            if not await pause():
                return
            await charger.call("Heartbeat", {})
        if not await pause():
            return
        await charger.status("Preparing")
        await charger.start_session()
        await charger.status("Charging")
        if not await charge(random.randint(*meter_values)):
            return


async def _warm_session(charger: Charger, meter_values: tuple[int, int]) -> int | None:
    """Before the window: start a session if the charger's random phase is inside one."""
    if random.random() >= mid_session_share(meter_values):
        return None
    await charger.status("Preparing")
    await charger.start_session()
    await charger.status("Charging")
    return random.randint(1, meter_values[1])


def mid_session_share(meter_values: tuple[int, int]) -> float:
    """The share of a steady fleet's chargers inside a session at any moment.

    A cycle is 0-2 heartbeats (~1 step idle), a start (~1 step) and on average
    ``mean(meter_values)`` MeterValues, all at the same pace.
    """
    charging = sum(meter_values) / 2
    return charging / (charging + 2.0)


async def _closed_loop(charger: Charger, deadline: float) -> None:
    """throughput: back-to-back CALLs, mostly MeterValues inside a session."""
    loop = asyncio.get_running_loop()
    await charger.start_session()
    step = 0
    while loop.time() < deadline:
        step += 1
        if step % 20 == 0:
            await charger.call("Heartbeat", {})
        elif step % 20 == 10:
            await charger.status("Charging")
        else:
            await charger.meter_values()
    await charger.stop_session()


async def _heartbeats(charger: Charger, interval_s: float, deadline: float) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(random.uniform(0, interval_s))
    while loop.time() < deadline:
        await charger.call("Heartbeat", {})
        await asyncio.sleep(interval_s * random.uniform(0.9, 1.1))


async def _run_charger(
    charger: Charger, start_at: float, ready_at: float, deadline: float
) -> None:
    loop = asyncio.get_running_loop()
    config = charger.config
    await asyncio.sleep(max(0.0, start_at - loop.time()))
    if not await charger.connect():
        return
    try:
        if not await charger.boot():
            return
        # Set by the worker from ``config.open_transactions``: mid-session already.
        open_transaction = charger.transaction_id
        await charger.status("Available" if open_transaction is None else "Charging")
        if config.mode == "storm":
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            return
        meter_values = (
            int(config.session_meter_values[0]),
            int(config.session_meter_values[1]),
        )
        ongoing = None
        if open_transaction is not None:
            ongoing = random.randint(1, meter_values[1])
        elif config.mode == "steady" and config.open_transactions:
            pass  # the open sessions were given: this charger is idle
        elif config.mode == "steady" and config.warm_sessions:
            # Ongoing sessions began at different times in a real fleet: their
            # starts are spread over the settling time, not sent all at once.
            spread = max(0.0, ready_at - loop.time() - 1.0)
            await asyncio.sleep(random.uniform(0.0, spread))
            ongoing = await _warm_session(charger, meter_values)
        await asyncio.sleep(max(0.0, ready_at - loop.time()))
        if config.mode == "steady":
            interval = config.count / max(config.rate, 0.1)
            await _session_cycle(charger, interval, deadline, meter_values, ongoing)
        elif config.mode == "throughput":
            await _closed_loop(charger, deadline)
        else:
            await _heartbeats(charger, config.heartbeat_s, deadline)
    finally:
        await charger.close()


async def _worker_main(config: LoadConfig, worker: int) -> WorkerStats:
    stats = WorkerStats()
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    indexes = range(worker, config.count, config.processes)
    per_worker_rate = max(config.connect_rate / config.processes, 1.0)
    start = loop.time()
    chargers = []
    start_times = []
    open_transactions = dict(config.open_transactions)
    for position, index in enumerate(indexes):
        url = config.urls[index % len(config.urls)]
        charger = Charger(config, index, url, stats, t0)
        charger.transaction_id = open_transactions.get(index)
        chargers.append(charger)
        start_at = (
            start if config.mode == "storm" else start + position / per_worker_rate
        )
        start_times.append(start_at)
    ramp_s = 0.0 if config.mode == "storm" else config.count / config.connect_rate
    # Steady fleets start their ongoing sessions before the window: more settling.
    warm_starts = (
        config.mode == "steady"
        and config.warm_sessions
        and not config.open_transactions
    )
    settle_s = 15.0 if warm_starts else 2.0
    ready_at = start + ramp_s + settle_s
    deadline = ready_at + config.duration_s
    stats.window_start, stats.window_end = ready_at, deadline
    if config.mode == "storm":
        deadline = start + config.duration_s
        stats.window_start, stats.window_end = start, deadline
    gc.freeze()  # a client holding thousands of sockets must not pause either
    await asyncio.gather(
        *(
            _run_charger(charger, start_at, ready_at, deadline)
            for charger, start_at in zip(chargers, start_times, strict=True)
        ),
        return_exceptions=True,
    )
    return stats


def _worker_entry(config: LoadConfig, worker: int, queue: Any) -> None:
    try:
        import uvloop

        stats = uvloop.run(_worker_main(config, worker))
    except ImportError:
        stats = asyncio.run(_worker_main(config, worker))
    queue.put(asdict(stats))


@dataclass
class LoadResult:
    config: LoadConfig
    wall_s: float
    stats: WorkerStats

    @property
    def active_s(self) -> float:
        return self.config.duration_s


def merge(parts: list[dict[str, Any]]) -> WorkerStats:
    total = WorkerStats()
    for part in parts:
        for name in ("connected", "refused", "dropped", "booted", "sent"):
            setattr(total, name, getattr(total, name) + part[name])
        total.answered += part["answered"]
        total.window_answered += part["window_answered"]
        total.window_latencies_ms.extend(part["window_latencies_ms"])
        total.call_errors += part["call_errors"]
        total.lost += part["lost"]
        total.latencies_ms.extend(part["latencies_ms"])
        total.heartbeat_ms.extend(part["heartbeat_ms"])
        total.boot_done_s.extend(part["boot_done_s"])
        total.commands_received.update(part["commands_received"])
        total.error_samples.extend(part["error_samples"][:3])
        for key in ("sent_by_action", "errors_by_code"):
            target = getattr(total, key)
            for name, value in part[key].items():
                target[name] = target.get(name, 0) + value
    return total


class LoadRun:
    """Start the worker processes now; ``result()`` waits for them (bounded)."""

    def __init__(self, config: LoadConfig) -> None:
        self.config = config
        context = multiprocessing.get_context("spawn")
        self._queue = context.Queue()
        self._started = time.perf_counter()
        self._processes = [
            context.Process(
                target=_worker_entry, args=(config, worker, self._queue), daemon=True
            )
            for worker in range(config.processes)
        ]
        for process in self._processes:
            process.start()

    def result(self) -> LoadResult:
        config = self.config
        ramp_s = 0.0 if config.mode == "storm" else config.count / config.connect_rate
        limit = ramp_s + config.duration_s + config.call_timeout_s + 60
        parts = []
        deadline = time.monotonic() + limit
        try:
            for _ in self._processes:
                parts.append(
                    self._queue.get(timeout=max(1.0, deadline - time.monotonic()))
                )
        finally:
            for process in self._processes:
                process.join(timeout=5)
                if process.is_alive():
                    process.kill()
        return LoadResult(config, time.perf_counter() - self._started, merge(parts))


def run_load(config: LoadConfig) -> LoadResult:
    return LoadRun(config).result()


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    position = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[position]


def latency_summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    if not ordered:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}

    def at(fraction: float) -> float:
        return round(ordered[round(fraction * (len(ordered) - 1))], 2)

    return {"p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": at(1.0)}
