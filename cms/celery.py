"""The Celery application; tasks are dispatched on commit (DjangoTask)."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")

app = Celery("cms", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def _schedule_periodic_tasks(sender: Celery, **_: object) -> None:
    from django.conf import settings

    for name, entry in settings.PERIODIC_TASKS.items():
        sender.add_periodic_task(
            float(entry["every_seconds"]),  # type: ignore[arg-type]
            sender.signature(str(entry["task"])),
            name=name,
        )
