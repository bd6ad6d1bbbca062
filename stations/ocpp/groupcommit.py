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
A batch that fails is retried item by item, so one bad message fails alone;
its log rows are then written on their own, and if that fails too they go
back to the log writer, which retries them (``MessageLogWriter.give_back``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from asgiref.sync import sync_to_async
from django.db import transaction

from cms.events import outbox_batch
from cms.loops import loop_local
from stations import services
from stations.fleet.quirkcounts import quirk_counts_flush
from stations.live import bus as livebus
from stations.ocpp.messagelog import (
    LogEntry,
    MessageLogWriter,
    get_writer,
    write_entries,
    write_entries_salvaging,
)
from stations.ocpp.runtime import run_service
from stations.session_port import sessions

logger = logging.getLogger(__name__)

Item = TypeVar("Item")
MAX_BATCH = 500

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
        quirk_counts_flush()  # the quirks counted meanwhile, in the same commit
        return batch_service(items=items)


def _run_batch(
    name: str,
    batch_service: Callable[..., list[Any] | None],
    single_service: Callable[..., Any],
    items: list[Any],
    log_entries: list[LogEntry],
) -> tuple[list[Outcome], list[services.LiveEvent], bool]:
    """Write one round; the third value: whether ``log_entries`` were written."""
    try:
        results, round_events = run_service(
            _write_round,
            {
                "batch_service": batch_service,
                "items": items,
                "log_entries": log_entries,
            },
        )
        if results is None:
            results = [None] * len(items)
        return [(None, result) for result in results], round_events, True
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
    logged = True
    if log_entries:
        try:
            run_service(write_entries_salvaging, {"entries": log_entries})
        except Exception:  # the writer keeps them and retries
            logged = False
            logger.warning(
                "could not write %d OCPP log rows; the log writer retries them",
                len(log_entries),
                exc_info=True,
            )
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
    return outcomes, events, logged


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
                outcomes, events, logged = await sync_to_async(
                    _run_batch, thread_sensitive=True
                )(
                    self.name,
                    self._batch_service,
                    self._single_service,
                    items,
                    log_entries,
                )
            except BaseException as hop_error:  # the thread hop itself failed
                outcomes, events, logged = [(hop_error, None)] * len(batch), [], False
                if isinstance(hop_error, asyncio.CancelledError):
                    writer.give_back(log_entries)
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(hop_error)
                    raise
            if logged:
                writer.written(log_entries)
            else:
                writer.give_back(log_entries)
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
    sessions.meter_values_record_batch(reports=items)


def _meter_values_single(*, item: Any) -> None:
    sessions.meter_values_record(
        charge_point_id=item.charge_point_id,
        connector_id=item.connector_id,
        transaction_id=item.transaction_id,
        samples=item.samples,
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
