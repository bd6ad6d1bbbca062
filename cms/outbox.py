"""The outbox relay: committed events handed to external subscribers, at least once.

``cms.events.emit`` writes an ``OutboxEvent`` row in the transaction of the change
for every kind an external subscriber wants (webhooks; roaming pushes next). The
relay runs after a nudge (a task sent once such a transaction committed) and
periodically (``PERIODIC_TASKS["outbox-relay"]``), so a crash between the commit
and the nudge only delays delivery.

Each round claims the oldest pending rows with ``SELECT ... FOR UPDATE SKIP
LOCKED`` (several relay processes share the work on PostgreSQL; SQLite has one
writer and ignores the lock), calls the subscribers, and marks a row delivered in
the same transaction, only after its subscribers returned and their task calls
were sent. Order per charger: a charger with an older pending row held by another
relay, or whose previous row failed this round, waits for the next round. A
failing row is retried on later rounds and given up after
``OUTBOX_MAX_ATTEMPTS`` (logged, state ``failed``), so one poisoned event cannot
hold its charger's later events forever.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from cms.events import Event, event_from_payload, external_subscribers
from cms.models import OutboxEvent

logger = logging.getLogger(__name__)

RELAY_ROUND = 200
MAX_ROUNDS = 50


def outbox_write(*, events: Sequence[Event]) -> None:
    """Insert the outbox rows of ``events`` in one statement (in the caller's transaction)."""
    now = timezone.now()
    OutboxEvent.objects.bulk_create(
        [
            OutboxEvent(
                kind=event.kind.value,
                charger_key=event.charger_key,
                payload=event.payload(),
                created_at=now,
            )
            for event in events
        ]
    )


def _keys_held_elsewhere(claimed: list[OutboxEvent]) -> set[str]:
    """Chargers with an older pending row this round did not claim (another relay has it)."""
    return set(
        OutboxEvent.objects.filter(
            state=OutboxEvent.State.PENDING,
            charger_key__in={row.charger_key for row in claimed},
            pk__lt=claimed[-1].pk,
        )
        .exclude(pk__in=[row.pk for row in claimed])
        .values_list("charger_key", flat=True)
        .distinct()
    )


def _deliver(row: OutboxEvent) -> None:
    from cms.tasks import task_calls_send

    event = event_from_payload(kind=row.kind, payload=row.payload)
    for handler in external_subscribers(row.kind):
        # Sent now, inside the claim: the row is marked delivered only once its
        # work is with the broker (or, eager, done).
        task_calls_send(list(handler(event) or ()))


def _relay_round(*, limit: int) -> tuple[int, bool]:
    """Deliver one round of pending rows; return (delivered, whether more may wait)."""
    with transaction.atomic():
        claimed = list(
            OutboxEvent.objects.select_for_update(skip_locked=True)
            .filter(state=OutboxEvent.State.PENDING)
            .order_by("pk")[:limit]
        )
        if not claimed:
            return 0, False
        waiting = _keys_held_elsewhere(claimed)
        delivered: list[int] = []
        for row in claimed:
            if row.charger_key in waiting:
                continue
            try:
                with (
                    transaction.atomic()
                ):  # a failed delivery undoes only its own writes
                    _deliver(row)
            except Exception as error:
                _record_failure(row, error)
                waiting.add(row.charger_key)  # its later rows keep their order
            else:
                delivered.append(row.pk)
        OutboxEvent.objects.filter(pk__in=delivered).update(
            state=OutboxEvent.State.DELIVERED, delivered_at=timezone.now()
        )
    return len(delivered), len(claimed) == limit and bool(delivered)


def _record_failure(row: OutboxEvent, error: Exception) -> None:
    row.attempts += 1
    row.last_error = f"{type(error).__name__}: {error}"[:1000]
    if row.attempts >= settings.OUTBOX_MAX_ATTEMPTS:
        row.state = OutboxEvent.State.FAILED
        logger.error(
            "outbox event %s (%s) given up after %d attempts",
            row.pk,
            row.kind,
            row.attempts,
            exc_info=error,
        )
    else:
        logger.warning("outbox event %s (%s) failed; retried later", row.pk, row.kind)
    row.save(update_fields=["attempts", "last_error", "state"])


def outbox_relay(*, limit: int = RELAY_ROUND) -> int:
    """Deliver pending outbox events to their external subscribers; return how many."""
    total = 0
    for _ in range(MAX_ROUNDS):
        delivered, more = _relay_round(limit=limit)
        total += delivered
        if not more:
            break
    return total


def outbox_purge(*, before: datetime, batch_size: int = 5000) -> int:
    """Delete delivered and given-up rows created before ``before``; return the count."""
    done = OutboxEvent.objects.exclude(state=OutboxEvent.State.PENDING).filter(
        created_at__lt=before
    )
    deleted = 0
    while True:
        ids = list(done.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return deleted
        count, _ = OutboxEvent.objects.filter(pk__in=ids).delete()
        deleted += count
