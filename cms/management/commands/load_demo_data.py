"""Create the demo networks, their fleet, id tokens, tariffs and one user per role.

Each app loads its own part (``cms.demo``); this command runs them in one
transaction and prints what changed. Demo users have a known password, so the
command refuses to run unless ``DEMO_MODE`` is on.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from cms.demo import DemoDataError, demo_data_load


class Command(BaseCommand):
    help = (
        "Create the demo network (4 stations, 12 charge points, id tokens) and the "
        "demo users admin/ops/support/finance/driver. Demo mode only; safe to rerun."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEMO_MODE:
            raise CommandError(
                "load_demo_data creates users with a known password, so it only runs "
                "in demo mode: set DEMO_MODE=true (make run does)."
            )
        try:
            tally = demo_data_load()
        except DemoDataError as error:
            raise CommandError(str(error)) from error
        if tally.changed:
            self.stdout.write(self.style.SUCCESS(f"Demo data: {tally.summary()}."))
        else:
            self.stdout.write("Demo data already loaded; nothing changed.")
