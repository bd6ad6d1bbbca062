"""Issue an OCPI Token A for a new roaming partner from the shell."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cms.errors import InputError
from roaming.credentials import partner_invite, public_versions_url


class Command(BaseCommand):
    help = (
        "Issue a Token A for the partner COUNTRY_CODE*PARTY_ID; prints our versions "
        "URL and the token as two lines, versions_url=... and token_a=..."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--country-code", required=True)
        parser.add_argument("--party-id", required=True)
        parser.add_argument("--name", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            _partner, token_a = partner_invite(
                country_code=options["country_code"],
                party_id=options["party_id"],
                name=options["name"],
            )
        except InputError as error:
            raise CommandError(f"{error.field}: {error}") from error
        # Exactly these two lines on stdout, so scripts can read them.
        self.stdout.write(f"versions_url={public_versions_url()}")
        self.stdout.write(f"token_a={token_a}")
