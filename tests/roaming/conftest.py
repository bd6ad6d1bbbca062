from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from django.core.management import call_command

from tests.live_server import LiveServer
from tests.roaming.emsp import EmspPlatform, start_emsp


@pytest.fixture
def emsp() -> Iterator[EmspPlatform]:
    platform, server = start_emsp()
    yield platform
    server.shutdown()
    server.server_close()


@pytest.fixture
def cpo(asgi_server: LiveServer, settings) -> str:
    """Our product's base URL, live on loopback; our versions URL follows it."""
    settings.OCPI_BASE_URL = asgi_server.http_url
    return asgi_server.http_url


@pytest.fixture
def registered(cpo, emsp: EmspPlatform) -> EmspPlatform:
    out = io.StringIO()
    call_command(
        "ocpi_token_a", "--country-code", "DE", "--party-id", "EMS", stdout=out
    )
    versions_url, token_a = (line.split("=", 1)[1] for line in out.getvalue().split())
    assert emsp.register(versions_url, token_a).status_code == 1000
    return emsp
