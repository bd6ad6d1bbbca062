"""The OCPP message log writer: every frame in and out, written in batches.

One INSERT per frame would double the database work of the gateway, so frames
are buffered per process (per event loop) and written with one COPY
every ``FLUSH_INTERVAL_S`` or when ``MAX_BATCH`` frames are waiting. A
consumer flushes on disconnect so the last frames of a session are never lost
to a quiet period. A failed write is logged and dropped: the log is an audit
aid and must never hold up a charger.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.utils import timezone

from cms.db import insert_rows
from cms.loops import loop_local
from stations.models import OcppMessage
from stations.ocpp.runtime import orm_call

logger = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.1
MAX_BATCH = 500
RAW_MAX_CHARS = 10_000


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


def write_entries(*, entries: list[LogEntry]) -> None:
    """Insert log rows (one COPY on PostgreSQL, ``cms.db.insert_rows``)."""
    insert_rows(OcppMessage, LOG_FIELDS, [entry.to_row() for entry in entries])


class MessageLogWriter:
    """Buffer log entries and write them in batches from a background task."""

    def __init__(self) -> None:
        self._buffer: list[LogEntry] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        # Group-commit rounds under way: each takes the buffer with its batch.
        self.rounds_in_flight = 0

    def add(self, entry: LogEntry) -> None:
        self._buffer.append(entry)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        if len(self._buffer) >= MAX_BATCH:
            self._wakeup.set()

    def take(self) -> list[LogEntry]:
        """Hand over every buffered entry (the group commit writes them in its round)."""
        entries, self._buffer = self._buffer, []
        return entries

    async def flush(self) -> None:
        async with self._lock:
            while self._buffer:
                batch, self._buffer = self._buffer[:MAX_BATCH], self._buffer[MAX_BATCH:]
                try:
                    await orm_call(write_entries, entries=batch)
                except Exception:  # the log is best effort; never fail a charger
                    logger.exception("could not write %d OCPP log rows", len(batch))

    async def _run(self) -> None:
        while self._buffer:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), FLUSH_INTERVAL_S)
            full = self._wakeup.is_set()
            self._wakeup.clear()
            if self.rounds_in_flight and not full:
                # A busy gateway writes the log with its batches (one
                # transaction less each time); the timer covers quiet periods.
                continue
            await self.flush()


_writers: dict[asyncio.AbstractEventLoop, MessageLogWriter] = {}


def get_writer() -> MessageLogWriter:
    """The writer of the running event loop (one per process in practice)."""
    return loop_local(_writers, lambda _: MessageLogWriter())
