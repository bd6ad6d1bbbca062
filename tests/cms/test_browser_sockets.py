"""Every browser socket checks Origin: the session cookie rides along cross-site."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
import websockets.exceptions
from django.conf import settings
from django.test import Client

from cms.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)

BROWSER_SOCKETS = ["/ws/live/?view=board", "/ws/alerts/"]


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


async def _open(server, path: str, cookie: str, origin: str | None) -> bool:
    """Whether the handshake completed (the consumers refuse before accepting)."""
    headers = {"Cookie": cookie}
    if origin is not None:
        headers["Origin"] = origin
    async with websockets.connect(
        f"{server.ws_url}{path}", additional_headers=headers, open_timeout=10
    ) as socket:
        if path.startswith("/ws/alerts/"):  # its first message: the badge count
            first = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
            assert first["kind"] == "alert.badge"
        return socket.state is websockets.State.OPEN


@pytest.mark.parametrize("path", BROWSER_SOCKETS)
@pytest.mark.parametrize(
    "origin",
    [
        pytest.param("https://evil.example", id="foreign"),
        pytest.param("http://127.0.0.1.evil.example", id="look-alike"),
        pytest.param(None, id="missing"),
    ],
)
def test_a_browser_socket_from_another_origin_is_refused(
    asgi_server, operator, connector_a, path, origin
):
    cookie = _session_cookie(operator)

    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        asyncio.run(_open(asgi_server, path, cookie, origin))

    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("path", BROWSER_SOCKETS)
def test_a_browser_socket_from_the_portal_itself_connects(
    asgi_server, operator, connector_a, path
):
    cookie = _session_cookie(operator)

    assert asyncio.run(_open(asgi_server, path, cookie, asgi_server.http_url))


def test_every_route_under_ws_checks_origin():
    from channels.security.websocket import OriginValidator

    browser_routes = [
        route for route in websocket_urlpatterns if str(route.pattern).startswith("ws/")
    ]
    assert browser_routes
    for route in browser_routes:
        assert isinstance(route.callback, OriginValidator), route.pattern
