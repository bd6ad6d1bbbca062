"""The station map in Chromium: the user's stations as markers that follow the
chargers live, on a plain background or on tiles from the configured server."""

from __future__ import annotations

import threading
import zlib
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from websockets.sync.client import connect

from tests.browser.conftest import charger_boot, charger_call, log_in
from tests.factories import ChargePointFactory, ConnectorFactory, StationFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _png() -> bytes:
    """A 256x256 grey PNG, written by hand (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    header = (256).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])  # 8-bit grey
    rows = b"".join(b"\x00" + b"\xcc" * 256 for _ in range(256))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
def tile_server() -> Iterator[dict[str, Any]]:
    """Our own tile server on loopback: every /z/x/y.png is a grey tile."""
    served: list[str] = []
    tile = _png()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(tile)))
            self.end_headers()
            self.wfile.write(tile)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "served": served}
    server.shutdown()


def _watch(page: Page) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {"requests": [], "errors": []}
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.on(
        "console",
        lambda message: (
            seen["errors"].append(message.text) if message.type == "error" else None
        ),
    )
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.on(
        "response",
        lambda response: (
            seen["errors"].append(f"{response.status} {response.url}")
            if response.status >= 400
            else None
        ),
    )
    return seen


def test_markers_follow_the_chargers_on_a_plain_background(
    page: Page, portal_server, operator, station_a, network_b
) -> None:
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-MAP-1")
    ConnectorFactory(charge_point=charge_point, connector_id=1)
    harbour = StationFactory(
        network=station_a.network, name="Harbour", latitude=Decimal("53.54"),
        longitude=Decimal("9.98"),
    )  # fmt: skip
    StationFactory(
        network=station_a.network, name="Depot", latitude=None, longitude=None
    )
    elsewhere = StationFactory(network=network_b, name="Not mine")
    seen = _watch(page)

    log_in(page, portal_server, operator.username, "/map/")
    expect(page.locator("html")).to_have_attribute("data-live", "connected")
    station_map = page.get_by_test_id("station-map")
    expect(station_map).to_have_attribute(
        "data-markers", "2"
    )  # Depot has no coordinates
    marker = page.locator(f"path.station-{station_a.pk}")
    expect(marker).to_have_class(
        f"station-marker station-{station_a.pk} state-offline leaflet-interactive"
    )  # the charger never connected
    expect(page.locator(f"path.station-{harbour.pk}")).to_have_class(
        f"station-marker station-{harbour.pk} state-unknown leaflet-interactive"
    )  # no connectors at all
    expect(page.locator(f"path.station-{elsewhere.pk}")).to_have_count(0)
    # Every station of the page has a strip of the day, hour by hour.
    expect(page.get_by_test_id("heat-strip")).to_have_count(3)
    expect(page.get_by_test_id("heat-strip").first.locator(".heat-cell")).to_have_count(
        24
    )

    with connect(
        f"{portal_server.ws_url}/ocpp/{charge_point.ocpp_id}", subprotocols=["ocpp1.6"]
    ) as charger:
        charger_boot(charger)
        for number, status in enumerate(("Available", "Charging")):
            charger_call(
                charger,
                f"status-{number}",
                "StatusNotification",
                {"connectorId": 1, "errorCode": "NoError", "status": status},
            )
            state = "available" if status == "Available" else "occupied"
            expect(marker).to_have_class(
                f"station-marker station-{station_a.pk} state-{state} leaflet-interactive"
            )

    marker.click()
    expect(page.locator(".leaflet-popup-content")).to_contain_text(
        "0 available, 1 in use, 0 out of order, 0 offline (of 1)"
    )
    # No tile server configured: nothing was fetched from anywhere else.
    assert all(url.startswith(portal_server.http_url) or url.startswith(portal_server.ws_url)
               for url in seen["requests"]), seen["requests"]  # fmt: skip
    assert page.locator(".leaflet-tile").count() == 0
    assert seen["errors"] == []


def test_tiles_come_from_the_configured_server(
    page: Page, server_factory, operator, station_a, tile_server
) -> None:
    server = server_factory(
        MAP_TILE_URL=tile_server["url"] + "/{z}/{x}/{y}.png",
        MAP_TILE_ATTRIBUTION="Tiles: test server",
    )
    seen = _watch(page)

    log_in(page, server, operator.username, "/map/")
    expect(page.get_by_test_id("station-map")).to_have_attribute("data-markers", "1")
    expect(page.locator("img.leaflet-tile-loaded").first).to_be_visible()
    expect(page.locator(".leaflet-control-attribution")).to_contain_text(
        "Tiles: test server"
    )

    assert tile_server["served"], "no tile was requested"
    assert all(path.endswith(".png") for path in tile_server["served"])
    # The Content-Security-Policy admits the tile server (and nothing was refused).
    assert seen["errors"] == []
