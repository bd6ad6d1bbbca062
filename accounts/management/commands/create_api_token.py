"""Issue an API token for a user from the shell (revokes the user's old token)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import User
from accounts.services import api_token_create


class Command(BaseCommand):
    help = (
        "Print a new API token for USERNAME (header: Authorization: Token <key>). "
        "The user's previous token stops working."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"]
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        try:
            token = api_token_create(
                actor=None, user=user, detail="Issued with manage.py create_api_token."
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        # Only the key goes to stdout so scripts can capture it.
        self.stdout.write(token.key)
        self.stderr.write(
            f"New API token for {user.username}; any previous token was revoked."
        )
