"""System checks for configurations that only work as one process."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register


@register(Tags.compatibility)
def frame_limits(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The gateway's frame limit must sit under the WebSocket server's cap.

    Above the cap the server closes the socket (1009) and the charger resends
    the same frame on every reconnect; under it the gateway answers a CALLERROR
    and the charger moves on.
    """
    limit = settings.OCPP_MAX_FRAME_BYTES
    cap = settings.OCPP_TRANSPORT_MAX_FRAME_BYTES
    if limit < cap:
        return []
    return [
        Error(
            f"OCPP_MAX_FRAME_BYTES ({limit}) must be below "
            f"OCPP_TRANSPORT_MAX_FRAME_BYTES ({cap}).",
            hint="Raise OCPP_TRANSPORT_MAX_FRAME_BYTES or lower OCPP_MAX_FRAME_BYTES.",
            id="cms.E001",
        )
    ]


@register(Tags.compatibility, deploy=False)
def single_process_backends(
    app_configs: Any = None, **kwargs: Any
) -> list[CheckMessage]:
    if settings.DEBUG or getattr(settings, "DEMO_MODE", False):
        return []
    messages: list[CheckMessage] = []
    backend = settings.CHANNEL_LAYERS.get("default", {}).get("BACKEND", "")
    if backend.endswith("InMemoryChannelLayer"):
        messages.append(
            Warning(
                "The in-memory channel layer only reaches consumers in this process.",
                hint="Set REDIS_URL so commands and live updates reach every ASGI process.",
                id="cms.W001",
            )
        )
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        messages.append(
            Warning(
                "SQLite is in use with DEBUG off: run a single process only.",
                hint="Set DATABASE_URL to a PostgreSQL database for production.",
                id="cms.W002",
            )
        )
    return messages
