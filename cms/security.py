"""Security headers Django's SecurityMiddleware does not set.

Content-Security-Policy: scripts, styles, fonts and images from the portal itself
(its static files and the vendored assets in static/vendor/) only; no inline
script or handler anywhere (pages declare behaviour with data-* attributes read
by static/cms/portal.js). The one inline ``<style>`` (the receipt document, also
mailed) carries the per-request nonce ``request.csp_nonce``. Sockets connect to
the same origin (``'self'`` covers ws:/wss: of it, CSP Level 3 §6.7.2.8).
Permissions-Policy switches off the browser features the portal never uses.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse

PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer", "camera", "geolocation", "gyroscope", "magnetometer",
        "microphone", "payment", "usb", "interest-cohort", "browsing-topics",
    )
)  # fmt: skip


def _tile_origin() -> str:
    """The station map's tile server (``MAP_TILE_URL``), the one image source
    outside the portal, when one is configured (one host; no ``{s}`` subdomains)."""
    parts = urlsplit(settings.MAP_TILE_URL)
    if parts.scheme in ("http", "https") and parts.netloc and "{" not in parts.netloc:
        return f" {parts.scheme}://{parts.netloc}"
    return ""


def content_security_policy(nonce: str) -> str:
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            f"style-src 'self' 'nonce-{nonce}'",
            f"img-src 'self' data:{_tile_origin()}",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        nonce = secrets.token_urlsafe(16)
        request.csp_nonce = nonce  # type: ignore[attr-defined]
        response = self.get_response(request)
        response.headers.setdefault(
            "Content-Security-Policy", content_security_policy(nonce)
        )
        response.headers.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        response.headers.setdefault("X-Permitted-Cross-Domain-Policies", "none")
        return response
