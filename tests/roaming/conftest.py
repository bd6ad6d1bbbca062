from __future__ import annotations

from collections.abc import Iterator

import pytest

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
