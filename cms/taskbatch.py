"""One Celery message for many small task calls (the gateway's domain hooks).

Each committed charger change dispatches a few tasks (evaluate alerts, re-plan
the site, end idle time...). Publishing one costs ~1-2 ms of CPU in kombu, as
much as the change itself, so at fleet rates the publishes rivalled the
gateway's database work. The gateway's hook thread runs the hooks of
everything queued inside ``collecting()``: plain ``.delay()`` calls of our
tasks (``cms.celery.CmsTask``) are recorded instead of published, then
``publish()`` sends them in chunks of ``CHUNK`` as one
``stations.tasks.task_calls_run_task`` message each. A worker runs the calls
in order; a call that fails is re-published on its own, so it gets its task's
normal retries and error handling. Tasks are idempotent, so a chunk that is
redelivered after a worker crash is safe to run again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger(__name__)

CHUNK = 50

Call = tuple[str, list[Any], dict[str, Any]]  # task name, args, kwargs

_local = threading.local()


@contextmanager
def collecting() -> Iterator[list[Call]]:
    """Record, instead of publishing, the plain task calls made in this thread."""
    sink: list[Call] = []
    previous = getattr(_local, "sink", None)
    _local.sink = sink
    try:
        yield sink
    finally:
        _local.sink = previous


def current_sink() -> list[Call] | None:
    return getattr(_local, "sink", None)


def publish(calls: list[Call]) -> None:
    """Send recorded calls: one alone as itself, more in chunks of ``CHUNK``."""
    from celery import current_app

    from stations.tasks import task_calls_run_task

    if len(calls) == 1:
        name, args, kwargs = calls[0]
        current_app.tasks[name].apply_async(args, kwargs)
        return
    for start in range(0, len(calls), CHUNK):
        task_calls_run_task.apply_async(
            kwargs={"calls": [list(call) for call in calls[start : start + CHUNK]]}
        )


def run_calls(calls: list[list[Any]]) -> int:
    """Run recorded calls in order in this worker; re-publish each one that fails."""
    from celery import current_app

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
