"""``manage.py login_unlock [--username NAME] [--address IP]``: lift a log-in lockout."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.throttle import login_unlock


class Command(BaseCommand):
    help = "Lift the log-in lockout of an account and/or a source address."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="")
        parser.add_argument("--address", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["username"] and not options["address"]:
            raise CommandError("Give --username, --address or both.")
        login_unlock(username=options["username"], address=options["address"])
        self.stdout.write(self.style.SUCCESS("Unlocked."))
