"""``manage.py report_rollups [--purge]``: bring the report roll-ups up to date now.

Runs the same service as the periodic task without its time budget, so a first
build (backfill) of a large fleet finishes in one go; prints the rows written and
the roll-ups' freshness. A run already in progress (Celery beat) makes it return
at once with nothing written. ``--purge`` then also purges raw meter values past
``METER_VALUE_RETENTION_DAYS``.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from stations.report_tasks import (
    meter_values_purge,
    report_rollups_update,
    rollup_freshness,
)


class Command(BaseCommand):
    help = (
        "Bring the report roll-ups up to the last closed hour (and optionally purge)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--purge",
            action="store_true",
            help="Also purge raw meter values past METER_VALUE_RETENTION_DAYS.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        began = time.monotonic()
        written = report_rollups_update()
        fresh = rollup_freshness()
        self.stdout.write(
            f"{written} hourly rows written in {time.monotonic() - began:.1f} s; "
            f"complete until {fresh['complete_until']}"
            + (
                f" (backfilling: {fresh['backfill_percent']} %)"
                if fresh["backfill_percent"] is not None
                else ""
            )
        )
        if options["purge"]:
            self.stdout.write(f"{meter_values_purge()} raw meter values purged")
