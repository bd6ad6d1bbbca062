"""``manage.py embedded_env``: record the embedded run's settings for other commands.

``make run`` runs it before serving. It writes ``VAR_DIR/embedded.env`` with the
DEBUG, DEMO_MODE, SECRET_KEY and DATABASE_URL of this process, so that
``.venv/bin/python manage.py import_id_tokens tokens.csv`` or ``send_command``
typed in another shell, with none of those variables set, works on the same
database with the same settings (cms/settings.py reads the file only then).
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from cms.env import EMBEDDED_ENV_FILE_NAME, embedded_env_write


class Command(BaseCommand):
    help = "Write var/embedded.env for manage.py commands run beside `make run`."

    def handle(self, *args: Any, **options: Any) -> None:
        path = settings.VAR_DIR / EMBEDDED_ENV_FILE_NAME
        embedded_env_write(
            path,
            {
                "DEBUG": "true" if settings.DEBUG else "false",
                "DEMO_MODE": "true" if settings.DEMO_MODE else "false",
                "SECRET_KEY": settings.SECRET_KEY,
                "DATABASE_URL": os.environ.get("DATABASE_URL", ""),
                # The URL partners are told (its default follows PORT and TLS).
                "OCPI_BASE_URL": settings.OCPI_BASE_URL,
            },
        )
        self.stdout.write(f"Wrote {path}")
