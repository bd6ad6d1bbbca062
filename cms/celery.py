"""The Celery application; tasks are dispatched on commit (DjangoTask)."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.contrib.django.task import DjangoTask

from cms import taskbatch

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")


class CmsTask(DjangoTask):
    """Django's task class; inside ``cms.taskbatch.collecting()`` a plain call is
    recorded to travel with others in one message instead of being published."""

    def apply_async(  # type: ignore[override]
        self, args: Any = None, kwargs: Any = None, **options: Any
    ) -> Any:
        sink = taskbatch.current_sink()
        if sink is not None and not options and not self.app.conf.task_always_eager:
            sink.append((self.name, list(args or ()), dict(kwargs or {})))
            return None
        return super().apply_async(args, kwargs, **options)


app = Celery("cms", task_cls=CmsTask)
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
