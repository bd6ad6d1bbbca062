"""In-process scheduler for periodic jobs when running embedded (no Celery beat).

The embedded server has no beat process, so the ASGI lifespan starts this
scheduler; each periodic task from ``settings.PERIODIC_TASKS`` is called in a
worker thread at its interval. With Redis configured, Celery beat runs them and
this scheduler stays off (``EMBEDDED_SCHEDULER``).
"""

from __future__ import annotations

import logging
import threading
import time

from celery import current_app
from django.conf import settings
from django.db import close_old_connections

logger = logging.getLogger(__name__)

_started = threading.Event()


def _run_forever(task_name: str, every_seconds: float, stop: threading.Event) -> None:
    task = current_app.tasks[task_name]
    while not stop.wait(every_seconds):
        started = time.monotonic()
        try:
            close_old_connections()
            task.apply()
        except Exception:  # a failing sweep must not stop the next ones
            logger.exception("periodic task %s failed", task_name)
        finally:
            close_old_connections()
        logger.debug(
            "periodic task %s took %.3fs", task_name, time.monotonic() - started
        )


def start_embedded_scheduler() -> threading.Event | None:
    """Start one thread per periodic task; return the event that stops them."""
    if not settings.EMBEDDED_SCHEDULER or _started.is_set():
        return None
    _started.set()
    stop = threading.Event()
    current_app.loader.import_default_modules()
    for name, entry in settings.PERIODIC_TASKS.items():
        thread = threading.Thread(
            target=_run_forever,
            args=(str(entry["task"]), float(entry["every_seconds"]), stop),  # type: ignore[arg-type]
            name=f"scheduler-{name}",
            daemon=True,
        )
        thread.start()
    logger.info(
        "embedded scheduler started with %d periodic tasks",
        len(settings.PERIODIC_TASKS),
    )
    return stop
