"""The OCPP message log writer: every frame in and out, written in batches.

One INSERT per frame would double the database work of the gateway, so frames
are buffered per process (per event loop) and written with one COPY
every ``FLUSH_INTERVAL_S`` or when ``MAX_BATCH`` frames are waiting, or with
the group commit's batch (``groupcommit``) in the same transaction.

The log is the audit trail, so what a charger was told is never missing from
it: before a charger's frame is answered the central system waits until that
frame's row is written (``durable``): at once when a group-commit round took
it, else the writer writes whatever is buffered right away (one COPY for all
the frames waiting, on the ORM thread). A CMS command's CALL is written before
it is sent. A write that fails is retried with a back-off, never dropped: a
lost database connection keeps the rows buffered until it is back; a row the
database refuses (say a NUL in a payload) is kept with its payload as text
instead (``salvaged``); only a row refused even then is dropped, logged and
counted (``dropped``). ``write_failures`` counts failed attempts.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import DatabaseError, InterfaceError, OperationalError, transaction
from django.utils import timezone

from cms.db import insert_rows
from cms.loops import loop_local
from stations.models import OcppMessage
from stations.ocpp.runtime import orm_call

logger = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.1
MAX_BATCH = 500
RAW_MAX_CHARS = 10_000
# A failed write is retried after this long, doubling up to the cap (jittered).
RETRY_DELAY_S = (0.05, 2.0)


@dataclass
class LogEntry:
    ocpp_id: str
    charge_point_id: int | None
    direction: str
    message_type: int
    unique_id: str = ""
    action: str = ""
    payload: Any = None
    raw: str = ""
    error_code: str = ""
    at: datetime = field(default_factory=timezone.now)
    # Its place in the writer's order (``MessageLogWriter.add``).
    seq: int = field(default=0, compare=False)

    def to_row(self) -> tuple[object, ...]:
        """The row in ``LOG_FIELDS`` order."""
        return (
            self.ocpp_id[:48],
            self.charge_point_id,
            self.direction,
            self.message_type,
            self.unique_id[:64],
            self.action[:64],
            self.payload,
            self.raw[:RAW_MAX_CHARS],
            self.error_code[:40],
            self.at,
        )

    def salvaged_row(self) -> tuple[object, ...]:
        """The row the database refused, kept: payload as escaped text, no link."""
        text = self.raw or json.dumps(self.payload, default=str)
        return (
            self.ocpp_id[:48].replace("\x00", ""),
            None,
            self.direction,
            self.message_type,
            self.unique_id[:64].replace("\x00", ""),
            self.action[:64].replace("\x00", ""),
            None,
            text.replace("\x00", "\\u0000")[:RAW_MAX_CHARS],
            (self.error_code or "LogRowSalvaged")[:40].replace("\x00", ""),
            self.at,
        )


LOG_FIELDS = (
    "ocpp_id",
    "charge_point",
    "direction",
    "message_type",
    "unique_id",
    "action",
    "payload",
    "raw",
    "error_code",
    "at",
)

# The database is away (restart, network): retry the whole batch later.
_CONNECTION_ERRORS = (OperationalError, InterfaceError)


def write_entries(*, entries: list[LogEntry]) -> None:
    """Insert log rows (one COPY on PostgreSQL, ``cms.db.insert_rows``)."""
    insert_rows(OcppMessage, LOG_FIELDS, [entry.to_row() for entry in entries])


@dataclass
class WriteOutcome:
    salvaged: int = 0
    dropped: int = 0


def write_entries_salvaging(*, entries: list[LogEntry]) -> WriteOutcome:
    """Write ``entries``; a row the database refuses is salvaged, never the batch lost.

    Raises on a lost connection (the caller keeps the batch and retries). Else a
    batch that fails is written row by row: a refused row is written again
    without its payload and link (``LogEntry.salvaged_row``), and only a row
    refused even then is dropped (logged, counted in the outcome).
    """
    outcome = WriteOutcome()
    try:
        with transaction.atomic():
            write_entries(entries=entries)
        return outcome
    except _CONNECTION_ERRORS:
        raise
    except (DatabaseError, ValueError, TypeError):
        logger.warning(
            "%d OCPP log rows refused as a batch; writing them one by one",
            len(entries),
            exc_info=True,
        )
    for entry in entries:
        try:
            with transaction.atomic():
                write_entries(entries=[entry])
            continue
        except _CONNECTION_ERRORS:
            raise
        except (DatabaseError, ValueError, TypeError):
            pass
        try:
            with transaction.atomic():
                insert_rows(OcppMessage, LOG_FIELDS, [entry.salvaged_row()])
            outcome.salvaged += 1
            logger.warning(
                "%s: OCPP log row %s kept without its payload (refused as sent)",
                entry.ocpp_id,
                entry.unique_id,
            )
        except _CONNECTION_ERRORS:
            raise
        except (DatabaseError, ValueError, TypeError):
            outcome.dropped += 1
            logger.exception(
                "%s: OCPP log row %s refused by the database; dropped",
                entry.ocpp_id,
                entry.unique_id,
            )
    return outcome


class MessageLogWriter:
    """Buffer log entries and write them in batches from a background task.

    Every entry added is *pending* until a write of it committed (by this
    writer, or by a group-commit round that took it and reports back with
    ``written`` or ``give_back``); ``durable`` waits for that.
    """

    def __init__(self) -> None:
        self._buffer: list[LogEntry] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        # Group-commit rounds under way: each takes the buffer with its batch.
        self.rounds_in_flight = 0
        self._next_seq = 1
        # Sequence numbers added and not yet written, in order (dicts keep it).
        self._pending: dict[int, None] = {}
        # (sequence number, whether all before it too, future) of ``durable``.
        self._waiters: list[tuple[int, bool, asyncio.Future[None]]] = []
        self._retry_delay = RETRY_DELAY_S[0]
        self.write_failures = 0
        self.salvaged = 0
        self.dropped = 0

    def add(self, entry: LogEntry) -> LogEntry:
        entry.seq = self._next_seq
        self._next_seq += 1
        self._pending[entry.seq] = None
        self._buffer.append(entry)
        self._ensure_running()
        if len(self._buffer) >= MAX_BATCH:
            self._wakeup.set()
        return entry

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def take(self) -> list[LogEntry]:
        """Hand over every buffered entry (the group commit writes them in its round).

        The taker reports back: ``written`` once they committed, ``give_back``
        when they did not.
        """
        entries, self._buffer = self._buffer, []
        return entries

    def written(self, entries: list[LogEntry]) -> None:
        """``entries`` are committed: wake whoever waits for them."""
        for entry in entries:
            self._pending.pop(entry.seq, None)
        if not self._waiters:
            return
        low = self._low_water()
        still = []
        for waiter in self._waiters:
            target, through, future = waiter
            if target < low or (not through and target not in self._pending):
                if not future.done():
                    future.set_result(None)
            else:
                still.append(waiter)
        self._waiters = still

    def give_back(self, entries: list[LogEntry]) -> None:
        """``entries`` were not written: retry them first (kept in order)."""
        if not entries:
            return
        self._buffer[:0] = entries
        self._ensure_running()
        self._wakeup.set()

    def _low_water(self) -> int:
        """The oldest sequence number not yet written (or the next one)."""
        return next(iter(self._pending), self._next_seq)

    async def durable(self, entry: LogEntry | None = None) -> None:
        """Wait until ``entry`` (default: everything added so far) is written.

        A buffered entry is written now (with whatever else is waiting); one a
        group-commit round holds is waited for. While the database is away
        this waits, retrying: it never returns for an entry not written.
        """
        through = entry is None
        target = self._next_seq - 1 if entry is None else entry.seq
        if target < self._low_water() or not (through or target in self._pending):
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((target, through, future))
        self._ensure_running()
        self._wakeup.set()
        try:
            await future
        finally:
            if not future.done():  # cancelled: the charger hung up
                self._waiters = [
                    waiter for waiter in self._waiters if waiter[2] is not future
                ]

    async def flush(self) -> bool:
        """Write what is buffered now; False if a write failed (kept, retried)."""
        async with self._lock:
            while self._buffer:
                batch, self._buffer = (
                    self._buffer[:MAX_BATCH],
                    self._buffer[MAX_BATCH:],
                )
                try:
                    outcome = await orm_call(write_entries_salvaging, entries=batch)
                except BaseException as error:
                    self.give_back(batch)
                    if not isinstance(error, Exception):
                        raise
                    self.write_failures += 1
                    logger.warning(
                        "could not write %d OCPP log rows; retrying in %.2f s",
                        len(batch),
                        self._retry_delay,
                        exc_info=True,
                    )
                    return False
                self.salvaged += outcome.salvaged
                self.dropped += outcome.dropped
                self.written(batch)
        return True

    async def _run(self) -> None:
        while self._buffer:
            if not self._waiters:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), FLUSH_INTERVAL_S)
            urgent = bool(self._waiters) or len(self._buffer) >= MAX_BATCH
            self._wakeup.clear()
            if self.rounds_in_flight and not urgent:
                # A busy gateway writes the log with its batches (one
                # transaction less each time); the timer covers quiet periods.
                continue
            if await self.flush():
                self._retry_delay = RETRY_DELAY_S[0]
                continue
            delay = self._retry_delay
            self._retry_delay = min(delay * 2, RETRY_DELAY_S[1])
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))  # noqa: S311


_writers: dict[asyncio.AbstractEventLoop, MessageLogWriter] = {}


def get_writer() -> MessageLogWriter:
    """The writer of the running event loop (one per process in practice)."""
    return loop_local(_writers, lambda _: MessageLogWriter())
