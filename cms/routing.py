"""WebSocket routes: chargers under /ocpp/, browsers under /ws/."""

from __future__ import annotations

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path, re_path

from alerts.live import AlertsConsumer
from stations.live.sockets import LiveConsumer
from stations.ocpp.consumer import OcppConsumer


def browser_socket(consumer: Any) -> Any:
    """A socket a browser opens with the user's session cookie.

    The cookie goes with every request, whichever site opens the socket, so the
    Origin header must name one of ALLOWED_HOSTS (RFC 6455 §10.2): a foreign or
    missing Origin is refused at the handshake (403) before the session is read.
    Every route under /ws/ goes through here.
    """
    return AllowedHostsOriginValidator(AuthMiddlewareStack(consumer.as_asgi()))


# Channels routes ASGI applications through Django's path(), whose stubs take
# views only: hence the arg-type ignores below.
websocket_urlpatterns: list = [
    path("ws/live/", browser_socket(LiveConsumer)),
    path("ws/alerts/", browser_socket(AlertsConsumer)),
    # Chargers send no Origin; they authenticate with Basic auth (stations/ocpp/).
    re_path(r"^ocpp/(?P<charge_point_id>[^/]+)/?$", OcppConsumer.as_asgi()),  # type: ignore[arg-type]
]

websocket_application = URLRouter(websocket_urlpatterns)
