"""Tasks of the event path: batched task calls, the outbox relay and its purge."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from celery import current_app, shared_task
from celery.canvas import Signature
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from cms import outbox

logger = logging.getLogger(__name__)


def enqueue_on_commit(task: Any, **kwargs: Any) -> None:
    """Queue ``task`` with ``kwargs`` once the current transaction commits.

    Never raises into the caller: with the broker down (a Redis outage) the
    request that changed the data still succeeds, the task is logged as not
    queued, and the periodic sweep of its domain does the work later (the
    remote-operations sweep applies command results, the load-management sweep
    re-plans sites, the billing sweep collects payments; a webhook delivery left
    pending is queued again by its alert's next notice). Celery's own ``delay_on_commit``
    raises from the commit instead, which made a view answer 500.
    """

    def enqueue() -> None:
        try:
            task.apply_async(kwargs=kwargs)
        except (OperationalError, OSError):
            # Only the broker's failures: an eager task's own error (tests
            # propagate them) still surfaces, as with delay_on_commit.
            logger.warning(
                "%s not queued (broker unavailable); its sweep catches up",
                getattr(task, "name", task),
                exc_info=True,
            )

    transaction.on_commit(enqueue)


# Publishing one task costs ~1-2 ms of CPU in kombu, as much as a charger's
# change itself, so the gateway's subscriber thread sends the task calls of a
# round in messages of this many calls (docs/benchmarks.md, "Domain hooks").
CHUNK = 50


def task_calls_send(calls: Sequence[Signature]) -> None:
    """Send task calls: one alone as itself, more in messages of ``CHUNK`` calls.

    With eager Celery (the embedded mode) each call runs here, at once.
    """
    if len(calls) == 1 or (calls and current_app.conf.task_always_eager):
        for call in calls:
            call.apply_async()
        return
    for start in range(0, len(calls), CHUNK):
        task_calls_run_task.apply_async(
            kwargs={
                "calls": [
                    [call.task, list(call.args), dict(call.kwargs)]
                    for call in calls[start : start + CHUNK]
                ]
            }
        )


@shared_task(acks_late=True, ignore_result=True)
def task_calls_run_task(*, calls: list[list[Any]]) -> int:
    """Run a chunk of task calls in order; re-send each one that fails on its own.

    A re-sent call gets its task's own retries and error handling. Tasks are
    idempotent, so a chunk redelivered after a worker crash is safe to run again.
    """
    done = 0
    for name, args, kwargs in calls:
        task = current_app.tasks.get(name)
        if task is None:
            logger.error("batched call of unknown task %s dropped", name)
            continue
        try:
            task(*args, **kwargs)
            done += 1
        except Exception:
            logger.warning(
                "batched %s failed; sending it on its own", name, exc_info=True
            )
            task.apply_async(args, kwargs)
    return done


@shared_task(ignore_result=True)
def outbox_relay_task() -> int:
    """Deliver pending outbox events; safe to run twice and in parallel."""
    return outbox.outbox_relay()


@shared_task(ignore_result=True)
def outbox_purge_task() -> int:
    """Delete delivered outbox rows past their retention; safe to run twice."""
    before = timezone.now() - timedelta(hours=settings.OUTBOX_RETENTION_HOURS)
    return outbox.outbox_purge(before=before)
