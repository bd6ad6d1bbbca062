"""WebSocket routes: chargers under /ocpp/, browsers under /ws/."""

from __future__ import annotations

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path, re_path

from alerts.live import AlertsConsumer
from stations.live.sockets import LiveConsumer
from stations.ocpp.consumer import OcppConsumer

# Channels routes ASGI applications through Django's path(), whose stubs take
# views only: hence the arg-type ignores below.
websocket_urlpatterns: list = [
    # Browsers only: the origin must be one of ALLOWED_HOSTS (no cross-site sockets).
    path(
        "ws/live/",
        AllowedHostsOriginValidator(AuthMiddlewareStack(LiveConsumer.as_asgi())),
    ),
    path("ws/alerts/", AuthMiddlewareStack(AlertsConsumer.as_asgi())),  # type: ignore[arg-type]
    re_path(r"^ocpp/(?P<charge_point_id>[^/]+)/?$", OcppConsumer.as_asgi()),  # type: ignore[arg-type]
]

websocket_application = URLRouter(websocket_urlpatterns)
