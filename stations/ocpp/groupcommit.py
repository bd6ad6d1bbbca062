"""Group commit: many chargers' writes of one kind in one database round.

Every ORM call of a process runs on one thread (``database_sync_to_async`` is
thread-sensitive), so the gateway's throughput is one over the time that thread
spends per message. For the messages that dominate a fleet's traffic
(MeterValues, and the last-seen mark of every frame) a per-process batcher
queues the work of all connections and hands it to the ORM thread as one call:
one transaction and a constant number of statements per batch. There is no
timer: a batch is whatever queued while the previous one was written, so an
idle gateway answers at once and a busy one writes bigger batches.

A charger's CALL is answered only after its batch committed, and the OCPP
message log's buffered rows (including that CALL) are written first in the
same round, so an acknowledged message is always on disk with its log row.
A batch that fails is retried item by item, so one bad message fails alone.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Generic, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection, transaction

from cms.events import (
    UnitOfWork,
    outbox_batch,
    relay_nudge,
    subscribers_run,
    unit_of_work,
)
from cms.loops import loop_local
from cms.tasks import task_calls_send
from stations import services
from stations.live import bus as livebus
from stations.ocpp.messagelog import (
    LogEntry,
    MessageLogWriter,
    get_writer,
    write_entries,
)

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
MAX_BATCH = 500

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


Outcome = tuple[BaseException | None, Any]  # (error, result)


def _write_round(
    *,
    batch_service: Callable[..., list[Any] | None],
    items: list[Any],
    log_entries: list[LogEntry],
) -> list[Any] | None:
    """The buffered message-log rows and one batch, in one transaction (one commit).

    The outbox rows the batch emits go in one INSERT with it (``outbox_batch``).
    """
    with transaction.atomic(), outbox_batch():
        if log_entries:
            write_entries(entries=log_entries)
        return batch_service(items=items)


def _run_batch(
    name: str,
    batch_service: Callable[..., list[Any] | None],
    single_service: Callable[..., Any],
    items: list[Any],
    log_entries: list[LogEntry],
) -> tuple[list[Outcome], list[services.LiveEvent]]:
    try:
        results, events = run_service(
            _write_round,
            {
                "batch_service": batch_service,
                "items": items,
                "log_entries": log_entries,
            },
        )
        if results is None:
            results = [None] * len(items)
        return [(None, result) for result in results], events
    except Exception:
        if len(items) == 1:
            logger.exception("%s: the write failed", name)
        else:
            logger.warning(
                "%s: a batch of %d failed; writing its items one by one",
                name,
                len(items),
                exc_info=True,
            )
    if log_entries:
        try:
            run_service(write_entries, {"entries": log_entries})
        except Exception:  # the log is best effort; never fail a charger
            logger.exception("could not write %d OCPP log rows", len(log_entries))
    outcomes: list[Outcome] = []
    events: list[services.LiveEvent] = []
    for item in items:
        try:
            result, item_events = run_service(single_service, {"item": item})
        except Exception as error:
            outcomes.append((error, None))
            if len(items) > 1:
                logger.exception("%s: an item failed alone", name)
        else:
            outcomes.append((None, result))
            events.extend(item_events)
    return outcomes, events


class GroupCommit(Generic[Item]):
    """Queue items from every connection of this event loop; write them in batches.

    ``batch_service(items=[...])`` writes a whole batch in one transaction;
    ``single_service(item=...)`` writes one item (the fallback after a failed
    batch). Both run on the ORM thread and publish live events as services do.
    """

    def __init__(
        self,
        name: str,
        *,
        batch_service: Callable[..., list[Any] | None],
        single_service: Callable[..., Any],
    ) -> None:
        self.name = name
        self._batch_service = batch_service
        self._single_service = single_service
        self._queue: list[tuple[Item, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None
        self.batches = 0
        self.items = 0

    async def submit(self, item: Item) -> Any:
        """Write ``item`` with the next batch; return its result once committed.

        Raises what writing this item alone raised, should its batch fail.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queue.append((item, future))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        # A cancelled submitter (its charger hung up) leaves the write queued:
        # the message was received and is still recorded.
        return await asyncio.shield(future)

    async def _run(self) -> None:
        writer = get_writer()
        writer.rounds_in_flight += 1
        try:
            await self._write_queued(writer)
        finally:
            writer.rounds_in_flight -= 1

    async def _write_queued(self, writer: MessageLogWriter) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            items = [item for item, _ in batch]
            log_entries = writer.take()
            try:
                outcomes, events = await sync_to_async(
                    _run_batch, thread_sensitive=True
                )(
                    self.name,
                    self._batch_service,
                    self._single_service,
                    items,
                    log_entries,
                )
            except BaseException as error:  # the thread hop itself failed
                outcomes, events = [(error, None)] * len(batch), []
                if isinstance(error, asyncio.CancelledError):
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(error)
                    raise
            self.batches += 1
            self.items += len(batch)
            for (_, future), (error, result) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if error is None:
                    future.set_result(result)
                else:
                    future.set_exception(error)
            # Live events leave in the background (one live-bus message for
            # everything queued meanwhile); a charger never waits for them.
            livebus.publish(events)


# --- the gateway's batched writes ---------------------------------------------------


def _meter_values_batch(*, items: list[Any]) -> None:
    from sessions_app.services import meter_values_record_batch

    meter_values_record_batch(reports=items)


def _meter_values_single(*, item: Any) -> None:
    from sessions_app.services import meter_values_record

    meter_values_record(
        charge_point_id=item.charge_point_id,
        connector_id=item.connector_id,
        transaction_id=item.transaction_id,
        meter_value=item.meter_value,
        received_at=item.received_at,
    )


def _seen_batch(*, items: list[tuple[int, str, Any]]) -> None:
    services.charge_points_seen(sightings=items)


def _seen_single(*, item: tuple[int, str, Any]) -> None:
    charge_point_id, channel_name, at = item
    services.charge_point_seen(
        charge_point_id=charge_point_id, channel_name=channel_name, at=at
    )


def _connect_batch(*, items: list[Any]) -> list[Any]:
    return services.charge_point_connections_open(items=items)


def _connect_single(*, item: Any) -> Any:
    return services.charge_point_connection_open(
        ocpp_id=item.ocpp_id,
        channel_name=item.channel_name,
        remote_address=item.remote_address,
        unknown_policy=item.unknown_policy,
        at=item.at,
    )


def _boot_batch(*, items: list[Any]) -> list[Any]:
    return services.charge_points_boot(items=items)


def _boot_single(*, item: Any) -> Any:
    return services.charge_points_boot(items=[item])


def _status_batch(*, items: list[Any]) -> list[Any]:
    return services.connector_statuses_record(items=items)


def _status_single(*, item: Any) -> Any:
    return services.connector_statuses_record(items=[item])


_FACTORIES: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "meter_values": (_meter_values_batch, _meter_values_single),
    "seen": (_seen_batch, _seen_single),
    "connect": (_connect_batch, _connect_single),
    "boot": (_boot_batch, _boot_single),
    "status": (_status_batch, _status_single),
}
_batchers: dict[str, dict[asyncio.AbstractEventLoop, GroupCommit[Any]]] = {
    name: {} for name in _FACTORIES
}


def get_batcher(name: str) -> GroupCommit[Any]:
    """The batcher ``name`` (meter_values, seen, connect, boot, status) of this event loop."""
    batch_service, single_service = _FACTORIES[name]
    return loop_local(
        _batchers[name],
        lambda _: GroupCommit(
            name, batch_service=batch_service, single_service=single_service
        ),
    )
