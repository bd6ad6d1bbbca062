"""One ASGI application for the portal (HTTP), OCPP WebSockets and live updates."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from cms.routing import websocket_application  # noqa: E402
from cms.scheduler import start_embedded_scheduler  # noqa: E402

application = ProtocolTypeRouter(
    {"http": django_asgi_app, "websocket": websocket_application}
)

start_embedded_scheduler()

__all__ = ["URLRouter", "application"]
