"""WebSocket routes: chargers under /ocpp/, browsers under /ws/."""

from __future__ import annotations

from channels.routing import URLRouter

websocket_urlpatterns: list = []

websocket_application = URLRouter(websocket_urlpatterns)
