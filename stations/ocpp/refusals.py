"""Refused handshakes, counted off the path of the chargers that do connect.

Every refusal (unknown id, wrong password, subprotocol, certificate, downgrade,
per-address cap, boot deadline) is noted here in memory, without an await: a
dict entry per (charger id as offered, source address, reason, window) counts
it. A flush, ``OCPP_CONNECTION_ATTEMPT_FLUSH_SECONDS`` after the first refusal
since the previous flush, writes what was counted in one upsert statement
(``stations.services.connection_attempts_record``) on the side database pool,
never on the ORM thread the handshakes and batches of legitimate chargers use.
A storm of refusals therefore costs one dict update each and one statement
per flush, and becomes one row per window with a count and first/last seen.

Bounded: past ``MAX_PENDING`` distinct keys in one flush, further new ids
from an address are counted under the id ``*`` (an attacker cycling ids
fills no memory and no table). Counts noted after the last flush of a process
that stops are lost (at most one flush interval).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings

from stations import services
from stations.models import ConnectionAttempt
from stations.ocpp.runtime import side_call

logger = logging.getLogger(__name__)

Reason = ConnectionAttempt.Reason
MAX_PENDING = 5_000
MANY_IDS = "*"

_Key = tuple[str, str, str, datetime]


class RefusalRecorder:
    """This process's refusals since the last flush, and the flush to come."""

    def __init__(self) -> None:
        self._pending: dict[_Key, list[Any]] = {}
        self._flush: asyncio.Task[None] | None = None

    def note(
        self,
        *,
        ocpp_id: str,
        remote_address: str,
        reason: str,
        detail: str = "",
        subprotocols: list[str] | None = None,
        at: datetime | None = None,
    ) -> None:
        """Count one refusal; the write follows within one flush interval."""
        at = at or datetime.now(UTC)
        window = _window_start(at)
        key: _Key = (ocpp_id[:255], remote_address[:64], reason, window)
        entry = self._pending.get(key)
        if entry is None and len(self._pending) >= MAX_PENDING:
            key = (MANY_IDS, key[1], reason, window)
            entry = self._pending.get(key)
        offered = ", ".join(subprotocols or [])
        if entry is None:
            self._pending[key] = [1, at, at, detail, offered]
        else:
            entry[0] += 1
            entry[2] = max(entry[2], at)
            entry[3] = detail
            entry[4] = offered
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop running: written by the flush after the next note
        flush = self._flush
        if flush is None or flush.done() or flush.get_loop() is not loop:
            self._flush = loop.create_task(self._flush_later())

    def take(self) -> list[services.RefusedAttempts]:
        """What was counted since the last take, as rows to upsert."""
        pending, self._pending = self._pending, {}
        return [
            services.RefusedAttempts(
                ocpp_id=ocpp_id,
                remote_address=address,
                reason=reason,
                window_start=window,
                count=count,
                first_seen_at=first,
                last_seen_at=last,
                detail=detail,
                subprotocols=offered,
            )
            for (ocpp_id, address, reason, window), (
                count,
                first,
                last,
                detail,
                offered,
            ) in pending.items()
        ]

    async def flush(self) -> None:
        attempts = self.take()
        if not attempts:
            return
        try:
            await side_call(services.connection_attempts_record, attempts=attempts)
        except Exception:
            logger.exception(
                "could not record %d refused connection attempts", len(attempts)
            )

    async def _flush_later(self) -> None:
        await asyncio.sleep(settings.OCPP_CONNECTION_ATTEMPT_FLUSH_SECONDS)
        await self.flush()


def _window_start(at: datetime) -> datetime:
    minutes = settings.OCPP_CONNECTION_ATTEMPT_WINDOW_MINUTES
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    span = timedelta(minutes=minutes)
    return epoch + ((at - epoch) // span) * span


recorder = RefusalRecorder()
