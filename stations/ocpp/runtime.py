"""The gateway runtime: the threads and loops the OCPP consumers run on.

- The ORM thread: the group-committed batches and the process-wide writes
  run on the one thread ``database_sync_to_async`` uses (thread-sensitive),
  through ``run_service`` with throttled connection upkeep; ``orm_service`` /
  ``orm_call`` are the async ways to reach it and ``side_call`` a small pool
  beside it for reads and single-row claims on PostgreSQL.
- Charger workers: a charger's own messages that are not group-committed
  (session starts and stops, 2.0.1 transaction events, firmware and
  diagnostics notifications) run on one of ``OCPP_DB_WORKERS`` database
  threads chosen by the charger's id (``charger_service``), so different
  chargers' session work runs on several connections at once while one
  charger's work stays on one thread, in the order it arrived.
- GC freezing: long-lived connection objects kept out of the cyclic
  collector's scans (``GcFreezer``).
- Embedded dispatch: with the in-memory channel layer, commands written by
  another process reach this process's sockets by polling (``EmbeddedDispatch``).

The group commit (``groupcommit``) and the message log (``messagelog``) build
on this module; it imports neither.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from cms.events import UnitOfWork, relay_nudge, subscribers_run, unit_of_work
from cms.tasks import task_calls_send
from stations import services
from stations.remote import dispatch as commands

logger = logging.getLogger(__name__)

# Connection upkeep (Django's ``close_old_connections``: max age, and with
# CONN_HEALTH_CHECKS a ``SELECT 1`` round trip) runs before a service call at
# most this often on the ORM thread, and at once after a call that failed,
# instead of twice per charger message as ``database_sync_to_async`` does.
CONNECTION_UPKEEP_INTERVAL_S = 1.0
_upkeep = threading.local()


def run_service(
    service: Callable[..., Any], kwargs: dict[str, Any]
) -> tuple[Any, list[services.LiveEvent]]:
    """Run a domain service on the ORM thread with throttled connection upkeep.

    Returns its result and the live events it committed (``_run_in_unit_of_work``).
    """
    now = time.monotonic()
    if now - getattr(_upkeep, "at", float("-inf")) >= CONNECTION_UPKEEP_INTERVAL_S:
        close_old_connections()
        _upkeep.at = now
    try:
        return _run_in_unit_of_work(service, kwargs)
    except Exception:
        # A broken or errored connection is closed now, not reused by the next call.
        close_old_connections()
        _upkeep.at = time.monotonic()
        raise


async def orm_service(
    service: Callable[..., Any], kwargs: dict[str, Any]
) -> tuple[Any, list[services.LiveEvent]]:
    """``run_service`` on the ORM thread: the gateway's way to call a service."""
    return await sync_to_async(run_service, thread_sensitive=True)(service, kwargs)


async def orm_call(service: Callable[..., Any], **kwargs: Any) -> Any:
    """Call a service on the ORM thread for its result (its live events are dropped)."""
    result, _ = await orm_service(service, kwargs)
    return result


def _charger_executor(charge_point_id: int) -> ThreadPoolExecutor | None:
    """The database worker of this charger, or None for the ORM thread.

    PostgreSQL only: SQLite has one writer, so the embedded server keeps
    every write on the ORM thread (concurrent writers would only wait on
    its lock, or fail with "database is locked").
    """
    count = settings.OCPP_DB_WORKERS
    if count <= 1 or connection.vendor != "postgresql":
        return None
    with _charger_pools_lock:
        if len(_charger_pools) != count:
            # One single-thread executor per worker: a charger always lands on
            # the same thread (its messages are handled one at a time anyway:
            # the consumer reads the next frame once this one is answered).
            _charger_pools[:] = [
                ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix=f"cms-charger-db-{index}"
                )
                for index in range(count)
            ]
        return _charger_pools[charge_point_id % count]


_charger_pools: list[ThreadPoolExecutor] = []
_charger_pools_lock = threading.Lock()


async def charger_service(
    charge_point_id: int | None, service: Callable[..., Any], kwargs: dict[str, Any]
) -> tuple[Any, list[services.LiveEvent]]:
    """``run_service`` on the database worker of one charger.

    For a charger's own messages that change session or charger state. What
    two chargers share is guarded in the database, not by running everything
    on one thread: the id token's row lock orders concurrent starts against
    its concurrent-session limit, the site's ``SiteSmartState`` row lock
    orders smart-charging re-plans, the network's number sequence row lock
    keeps CDR numbers gap-free, and the unique-start constraint answers a
    resent start (``tests/charging/test_concurrent_starts.py``).
    """
    executor = (
        _charger_executor(charge_point_id) if charge_point_id is not None else None
    )
    if executor is None:
        return await orm_service(service, kwargs)
    return await sync_to_async(run_service, thread_sensitive=False, executor=executor)(
        service, kwargs
    )


SIDE_THREADS = 3
_side_pool: ThreadPoolExecutor | None = None
_side_pool_lock = threading.Lock()


async def side_call(service: Callable[..., Any], **kwargs: Any) -> Any:
    """Short work that must not wait behind the chargers' batches.

    For reads (Authorize) and for work that touches only its own rows with one
    atomic statement (a command claim: a conditional UPDATE), so it cannot race
    the ORM thread's writes:
    on PostgreSQL it runs on a small pool of its own database threads; on
    SQLite (one writer) on the ORM thread like everything else.
    """
    global _side_pool
    if connection.vendor != "postgresql":
        return await orm_call(service, **kwargs)
    with _side_pool_lock:
        if _side_pool is None:
            _side_pool = ThreadPoolExecutor(
                max_workers=SIDE_THREADS, thread_name_prefix="cms-side-db"
            )
    result, _ = await sync_to_async(
        run_service, thread_sensitive=False, executor=_side_pool
    )(service, kwargs)
    return result


# Units of work (one per service call or batch) the hook thread delivers per round.
UNITS_PER_ROUND = 500


def _run_in_unit_of_work(
    service: Callable[..., Any], kwargs: dict[str, Any]
) -> tuple[Any, list[services.LiveEvent]]:
    """Run ``service`` in a unit of work; return its result and its live events.

    The live events go to the caller's async side; with a real broker the
    subscriber events go to the hook thread, since a subscriber's task call is
    a broker round trip the ORM thread must not wait for. Eager Celery (the
    embedded mode) runs its tasks inline anyway, so the unit delivers to the
    subscribers here, after commit.
    """
    eager = settings.CELERY_TASK_ALWAYS_EAGER
    with unit_of_work(hands_over=not eager) as unit:
        result = service(**kwargs)
    _hook_thread.submit(unit)
    return result, unit.live


class _HookThread:
    """One thread per process that delivers the gateway's committed events, in order."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[UnitOfWork] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, unit: UnitOfWork) -> None:
        if not unit.events and not unit.relay_nudge:
            return
        self._queue.put(unit)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="cms-domain-hooks", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        upkeep_at = float("-inf")
        while True:
            units = [self._queue.get()]
            while len(units) < UNITS_PER_ROUND:
                try:
                    units.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            now = time.monotonic()
            if now - upkeep_at >= CONNECTION_UPKEEP_INTERVAL_S:
                close_old_connections()  # subscribers may read (e.g. a session's site)
                upkeep_at = now
            delivery = subscribers_run(event for unit in units for event in unit.events)
            if delivery.failures:
                close_old_connections()  # a failure may have broken the connection
            if any(unit.relay_nudge for unit in units):
                delivery.calls.append(relay_nudge())
            # The task calls of the whole round leave in one message per chunk,
            # not one broker publish per call (cms.tasks.task_calls_send).
            try:
                task_calls_send(delivery.calls)
            except Exception:
                logger.exception("%d subscriber tasks not sent", len(delivery.calls))


_hook_thread = _HookThread()


class LateCalls:
    """Charger CALLs answered after ``OCPP_CALL_LATE_SECONDS`` (the back-pressure measure).

    The gateway never drops a charger's CALL nor its connection under load:
    every CALL is answered once its work committed, late rather than never
    (docs/benchmarks.md, "Back-pressure"). A charger gives up on an answer
    after its own timeout (OCPP-J leaves it to the implementation; 30-60 s
    is common) and resends, so every answer slower than the limit is counted
    here and logged, at most once a minute per process, with the slowest.
    Delay = frame received -> answer sent, including the wait behind the
    charger's own earlier frames.
    """

    LOG_INTERVAL_S = 60.0

    def __init__(self) -> None:
        self.total = 0
        self._window = 0
        self._slowest: tuple[float, str, str] = (0.0, "", "")
        self._logged_at = float("-inf")

    def answered(self, ocpp_id: str, action: str, elapsed_s: float) -> bool:
        """Count the answer if it was late; True when it was."""
        if elapsed_s < settings.OCPP_CALL_LATE_SECONDS:
            return False
        self.total += 1
        self._window += 1
        if elapsed_s > self._slowest[0]:
            self._slowest = (elapsed_s, ocpp_id, action)
        now = time.monotonic()
        if now - self._logged_at < self.LOG_INTERVAL_S:
            return True
        slowest_s, slowest_id, slowest_action = self._slowest
        logger.warning(
            "late charger calls: %d answered after %g s or more since the last "
            "report (slowest %.1f s: %s %s); %d in this process in all",
            self._window,
            settings.OCPP_CALL_LATE_SECONDS,
            slowest_s,
            slowest_id,
            slowest_action,
            self.total,
        )
        self._logged_at = now
        self._window = 0
        self._slowest = (0.0, "", "")
        return True


late_calls = LateCalls()


# gc.freeze() this long after the last connection of a burst, and at least this
# often while sockets are open (docs/benchmarks.md: gen-2 pauses dominate p99).
GC_FREEZE_DELAY_S = 2.0
GC_FREEZE_INTERVAL_S = 300.0
# Frozen objects are never cycle-collected: unfreeze and collect once this often.
GC_FULL_COLLECT_INTERVAL_S = 3600.0
# During a long connect ramp (tens of thousands of chargers at a paced rate) the
# burst never settles: freeze after every this many new connections as well.
GC_FREEZE_EVERY_CONNECTIONS = 1000


class GcFreezer:
    """Keep long-lived connection objects out of the cyclic collector's scans.

    With thousands of sockets per process most heap objects live as long as
    their connection; every gen-2 collection walks all of them and stalls the
    event loop for 0.3-1.3 s. Freezing after a connect burst moves them to the
    permanent generation. Closed connections are still freed by reference
    counting; cycles among frozen objects wait for the hourly full collection.
    """

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._burst_at = 0.0
        self._last_full = time.monotonic()
        self.open_sockets = 0
        self._connected_since_freeze = 0

    def connected(self) -> None:
        self.open_sockets += 1
        self._connected_since_freeze += 1
        self._burst_at = time.monotonic()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def disconnected(self) -> None:
        self.open_sockets = max(0, self.open_sockets - 1)

    async def _run(self) -> None:
        last_freeze = time.monotonic()
        while self.open_sockets:
            await asyncio.sleep(GC_FREEZE_DELAY_S)
            now = time.monotonic()
            burst_settled = self._burst_at > last_freeze and (
                now - self._burst_at >= GC_FREEZE_DELAY_S
            )
            ramp = self._connected_since_freeze >= GC_FREEZE_EVERY_CONNECTIONS
            if (
                not burst_settled
                and not ramp
                and now - last_freeze < GC_FREEZE_INTERVAL_S
            ):
                continue
            if now - self._last_full >= GC_FULL_COLLECT_INTERVAL_S:
                gc.unfreeze()
                gc.collect()
                self._last_full = now
            else:
                gc.collect(1)
            gc.freeze()
            self._connected_since_freeze = 0
            last_freeze = time.monotonic()


gc_freezer = GcFreezer()


class CommandConsumer(Protocol):
    channel_name: str

    def start_command(self, command_id: int) -> None: ...


class EmbeddedDispatch:
    """Deliver commands from the database when the channel layer is in-memory.

    The embedded server's in-memory layer cannot be reached from another
    process (``manage.py send_command``, a test), so while this process holds
    sockets it polls for unclaimed commands addressed to them. The claim in
    ``command_claim`` keeps delivery exactly-once when the layer delivers too.
    With Redis the channel layer is the path and this stays off.
    """

    def __init__(self) -> None:
        self._consumers: dict[str, CommandConsumer] = {}
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def enabled() -> bool:
        backend = str(settings.CHANNEL_LAYERS["default"]["BACKEND"])
        return backend.endswith("InMemoryChannelLayer")

    def register(self, consumer: CommandConsumer) -> None:
        if not self.enabled():
            return
        self._consumers[consumer.channel_name] = consumer
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll())

    def unregister(self, consumer: CommandConsumer) -> None:
        self._consumers.pop(getattr(consumer, "channel_name", ""), None)

    async def _poll(self) -> None:
        interval = settings.OCPP_COMMAND_POLL_SECONDS
        while self._consumers:
            await asyncio.sleep(interval)
            since = timezone.now() - timedelta(
                seconds=settings.OCPP_COMMAND_TIMEOUT * 2 + 30
            )
            try:
                pending = await orm_call(
                    commands.pending_command_ids,
                    channel_names=list(self._consumers),
                    since=since,
                )
            except Exception:
                logger.warning("command poll failed", exc_info=True)
                continue
            for channel_name, command_id in pending:
                consumer = self._consumers.get(channel_name)
                if consumer is not None:
                    consumer.start_command(command_id)


embedded_dispatch = EmbeddedDispatch()
