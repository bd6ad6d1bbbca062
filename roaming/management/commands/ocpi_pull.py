"""Pull partner CPOs' Locations and Tariffs now (what the periodic sync does)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from roaming.emsp.sync import MODULES, partner_pull, pull_partners


class Command(BaseCommand):
    help = (
        "Pull Locations and Tariffs from every registered CPO partner, or from one "
        "(--partner CC*PID); --module limits it to one module; --full reads "
        "everything instead of what changed since the last complete pull."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--partner", help="Country code and party id, e.g. DE*CPO")
        parser.add_argument("--module", choices=MODULES)
        parser.add_argument("--full", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        partners = pull_partners()
        if options["partner"]:
            country, _star, party = options["partner"].upper().partition("*")
            partners = [
                p for p in partners if (p.country_code, p.party_id) == (country, party)
            ]
            if not partners:
                raise CommandError(f"No registered CPO partner {options['partner']!r}.")
        modules = [options["module"]] if options["module"] else list(MODULES)
        failed = False
        for partner in partners:
            for module in modules:
                if partner.endpoint_url(module, "SENDER") is None:
                    continue
                result = partner_pull(partner, module, full=options["full"])
                kind = "full" if result.full else "changes"
                line = (
                    f"{partner.country_code}*{partner.party_id} {module} ({kind}): "
                    f"{result.pages} pages, {result.received} received, "
                    f"{result.stored} stored, {result.rejected} refused"
                )
                if not result.ok:
                    failed = True
                    line += f"; failed: {result.error}"
                self.stdout.write(line)
        if failed:
            raise CommandError("A pull failed (see above); it is retried next time.")
