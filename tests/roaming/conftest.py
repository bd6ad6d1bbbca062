from __future__ import annotations

import io
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from typing import TypeVar

import pytest
from django.core.management import call_command

from tests.live_server import LiveServer
from tests.roaming.cpo_peer import CpoPeer, start_cpo
from tests.roaming.cpo_platform import CpoPlatform
from tests.roaming.emsp import EmspPlatform, start_emsp

P = TypeVar("P")


def _served(platform: P, server: ThreadingHTTPServer) -> Iterator[P]:
    yield platform
    server.shutdown()
    server.server_close()


def _token_a(country_code: str, party_id: str) -> tuple[str, str]:
    """``manage.py ocpi_token_a``'s two lines: our versions URL and a Token A."""
    out = io.StringIO()
    call_command(
        "ocpi_token_a", "--country-code", country_code, "--party-id", party_id,
        stdout=out,
    )  # fmt: skip
    versions_url, token_a = (line.split("=", 1)[1] for line in out.getvalue().split())
    return versions_url, token_a


@pytest.fixture
def emsp() -> Iterator[EmspPlatform]:
    yield from _served(*start_emsp())


@pytest.fixture
def cpo(asgi_server: LiveServer, settings) -> str:
    """Our product's base URL, live on loopback; our versions URL follows it."""
    settings.OCPI_BASE_URL = asgi_server.http_url
    return asgi_server.http_url


@pytest.fixture
def registered(cpo, emsp: EmspPlatform) -> EmspPlatform:
    assert emsp.register(*_token_a("DE", "EMS")).status_code == 1000
    return emsp


@pytest.fixture
def cpo_peer() -> Iterator[CpoPeer]:
    """A CPO platform on loopback (our drivers charge there)."""
    yield from _served(*start_cpo())


@pytest.fixture
def registered_cpo(cpo, cpo_peer: CpoPeer) -> CpoPeer:
    """The CPO registered with us with a Token A we issued."""
    assert cpo_peer.register(*_token_a("FR", "CPX")).status_code == 1000
    return cpo_peer


@pytest.fixture
def partner_cpo(cpo) -> Iterator[CpoPlatform]:
    """A CPO serving and pushing Locations and Tariffs, registered with us."""
    platform = CpoPlatform()
    platform.start()
    answer = platform.register(*_token_a("FR", "CPX"))
    assert answer.status_code == 1000, answer.body
    yield platform
    platform.stop()
