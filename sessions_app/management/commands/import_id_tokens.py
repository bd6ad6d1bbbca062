"""``manage.py import_id_tokens FILE.csv [--network NAME]``: bulk create/update id tokens.

The columns are documented in ``sessions_app/token_import.py``. The file is
imported entirely or not at all; every bad line is reported with its number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from sessions_app.token_import import IdTokenImportError, id_tokens_import
from stations.models import Network


class Command(BaseCommand):
    help = (
        "Import id tokens from a CSV file (columns: token, status, expiry, parent, "
        "owner_email; optional label, kind, max_concurrent_sessions). Re-importing "
        "updates existing tokens; nothing is written if any line is wrong."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "file", type=Path, help="CSV file, UTF-8, header line first"
        )
        parser.add_argument(
            "--network",
            help="Name of the network the tokens belong to (default: no network, "
            "valid at every network's chargers).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        network = None
        if options["network"]:
            network = Network.objects.filter(name=options["network"]).first()
            if network is None:
                raise CommandError(f"No network named {options['network']!r}.")
        path: Path = options["file"]
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError as error:
            raise CommandError(f"No such file: {path}") from error
        except UnicodeDecodeError as error:
            raise CommandError(f"{path} is not UTF-8 text.") from error
        try:
            summary = id_tokens_import(actor=None, csv_text=text, network=network)
        except IdTokenImportError as error:
            for line_error in error.errors:
                self.stderr.write(f"{path}: {line_error}")
            raise CommandError(
                f"Nothing imported: {len(error.errors)} error(s) in {path}."
            ) from error
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {path}: {summary.created} created, {summary.updated} "
                f"updated, {summary.unchanged} unchanged."
            )
        )
