"""What the tests' OCPI 2.2.1 counterparts (``emsp.py``, ``cpo_peer.py``) share,
written from the specification and sharing no code with the product: the
client side of the transport (Base64 credentials token, X-Request-ID /
X-Correlation-ID, routing headers, the response format, pagination links) and
a loopback HTTP server that records every request it receives."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol


def encode_token(token: str) -> str:
    return base64.b64encode(token.encode("utf-8")).decode("ascii")


@dataclass
class Response:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def data(self) -> Any:
        return self.body.get("data")

    @property
    def status_code(self) -> int | None:
        return self.body.get("status_code")


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


def peer_call(
    method: str,
    url: str,
    *,
    authorization: str,
    routing_from: tuple[str, str] | None = None,
    body: Any = None,
    raw_body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """One OCPI request; header names of the answer kept lower-case
    (transport_and_format: they are case-insensitive)."""
    send = {
        "X-Request-ID": str(uuid.uuid4()),
        "X-Correlation-ID": str(uuid.uuid4()),
        "Authorization": authorization,
    }
    if routing_from is not None:
        send["OCPI-from-country-code"], send["OCPI-from-party-id"] = routing_from
    send.update(headers or {})
    data = raw_body
    if body is not None:
        data = json.dumps(body).encode()
    if data is not None:
        send["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=send)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, raw, got = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, got = error.code, error.read(), error.headers
    return Response(status, json.loads(raw), {k.lower(): v for k, v in got.items()})


def peer_get_all(
    call: Callable[[str], Response], url: str
) -> tuple[list[Any], list[Response]]:
    """Follow the Link rel="next" headers to the last page (transport_and_format
    "Paginated Response")."""
    items: list[Any] = []
    pages: list[Response] = []
    next_url: str | None = url
    while next_url is not None:
        page = call(next_url)
        assert page.status == 200, page.body
        pages.append(page)
        items.extend(page.data)
        next_url = None
        link = page.headers.get("link", "")
        if 'rel="next"' in link:
            next_url = link.split(";")[0].strip().lstrip("<").rstrip(">")
    return items, pages


class Platform(Protocol):
    base_url: str
    received: list[Received]

    def handle(
        self, method: str, path: str, body: Any, authorization: str
    ) -> tuple[int, dict[str, Any]]: ...


class _Handler(BaseHTTPRequestHandler):
    platform: Platform

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.platform.received.append(Received(self.command, self.path, headers, body))
        status, answer = self.platform.handle(
            self.command, self.path, body, self.headers.get("Authorization", "")
        )
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name in ("X-Request-ID", "X-Correlation-ID"):
            if self.headers.get(name):
                self.send_header(name, self.headers[name])
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        return


def serve(platform: Platform) -> ThreadingHTTPServer:
    """Serve ``platform`` on a loopback port; its ``base_url`` is set."""
    handler = type("Handler", (_Handler,), {"platform": platform})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    platform.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
