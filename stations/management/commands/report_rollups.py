"""``manage.py report_rollups [--purge]``: bring the report roll-ups up to date now.

Runs the same service as the periodic task until the roll-ups are complete, so a
first build (backfill) of a large fleet finishes in one go, printing the rows
written and the roll-ups' freshness every 30 s. A run already in progress
(Celery beat) makes it return at once with nothing written. ``--purge`` then also purges raw meter values past
``METER_VALUE_RETENTION_DAYS``.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from stations.reports.tasks import (
    meter_values_purge,
    report_rollups_update,
    rollup_freshness,
)

# A progress line at least this often during a long first build.
PROGRESS_EVERY_S = 30.0


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
        total = 0
        while True:  # in slices, so a first build of a large fleet shows progress
            written = report_rollups_update(budget_s=PROGRESS_EVERY_S)
            total += written
            fresh = rollup_freshness()
            backfill = fresh["backfill_percent"]
            self.stdout.write(
                f"{total} hourly rows written in {time.monotonic() - began:.1f} s; "
                f"complete until {fresh['complete_until']}"
                + (f" (backfilling: {backfill} %)" if backfill is not None else "")
            )
            if written == 0 or backfill is None:
                break
        if options["purge"]:
            self.stdout.write(f"{meter_values_purge()} raw meter values purged")
