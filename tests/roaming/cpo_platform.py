"""An OCPI 2.2.1 CPO platform for the tests, written from the specification.

It shares no code with the product's roaming app: its own HTTP server on
loopback (versions, version details, credentials, and the Locations and
Tariffs Sender interfaces with pagination headers) and the tests' OCPI client
(``ocpi_peer``), with which it registers with an eMSP and pushes Locations,
EVSEs, Connectors and Tariffs to the eMSP's Receiver interfaces. It can be taken
down and brought back on the same port (a partner that is down).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.roaming.cpo_peer import COUNTRY_CODE, PARTY_ID, CpoPeer
from tests.roaming.ocpi_peer import Received, encode_token


def stamp(moment: datetime | None = None) -> str:
    return (moment or datetime.now(tz=UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def connector(connector_id: str = "1", **changes: Any) -> dict[str, Any]:
    """mod_locations "Connector object"."""
    return {
        "id": connector_id,
        "standard": "IEC_62196_T2_COMBO",
        "format": "CABLE",
        "power_type": "DC",
        "max_voltage": 920,
        "max_amperage": 163,
        "max_electric_power": 150000,
        "tariff_ids": ["FAST"],
        "last_updated": stamp(),
        **changes,
    }


def evse(uid: str, status: str = "AVAILABLE", **changes: Any) -> dict[str, Any]:
    """mod_locations "EVSE object"."""
    return {
        "uid": uid,
        "evse_id": f"{COUNTRY_CODE}*{PARTY_ID}*E{uid}",
        "status": status,
        "capabilities": ["RFID_READER", "REMOTE_START_STOP_CAPABLE"],
        "connectors": [connector()],
        "last_updated": stamp(),
        **changes,
    }


def location(
    location_id: str, latitude: str, longitude: str, **changes: Any
) -> dict[str, Any]:
    """mod_locations "Location object"."""
    return {
        "country_code": COUNTRY_CODE,
        "party_id": PARTY_ID,
        "id": location_id,
        "publish": True,
        "name": f"Partner site {location_id}",
        "address": "Hauptstrasse 1",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DEU",
        "coordinates": {"latitude": latitude, "longitude": longitude},
        "time_zone": "Europe/Berlin",
        "operator": {"name": "Blitz Laden GmbH"},
        "evses": [evse(f"{location_id}-1"), evse(f"{location_id}-2")],
        "last_updated": stamp(),
        **changes,
    }


def tariff(tariff_id: str = "FAST", **changes: Any) -> dict[str, Any]:
    """mod_tariffs "Tariff object": 0.59/kWh + 19 % VAT, 1.00 flat, parking 6.00/h."""
    return {
        "country_code": COUNTRY_CODE,
        "party_id": PARTY_ID,
        "id": tariff_id,
        "currency": "EUR",
        "tariff_alt_text": [{"language": "en", "text": "0.70/kWh incl. VAT"}],
        "elements": [
            {
                "price_components": [
                    {"type": "ENERGY", "price": 0.59, "vat": 19.0, "step_size": 1},
                    {"type": "FLAT", "price": 1.00, "vat": 19.0, "step_size": 1},
                ]
            },
            {
                "price_components": [
                    {"type": "PARKING_TIME", "price": 6.00, "step_size": 60}
                ]
            },
        ],
        "last_updated": stamp(),
        **changes,
    }


@dataclass
class CpoPlatform(CpoPeer):
    """The tests' CPO (``CpoPeer``) with Locations and Tariffs to serve, paginated."""

    locations: dict[str, dict[str, Any]] = field(default_factory=dict)
    tariffs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The most objects one page holds, whatever limit the caller asks for.
    page_limit: int = 2
    # Send Link headers (True) or only X-Total-Count/X-Limit (False).
    send_links: bool = True
    server: ThreadingHTTPServer | None = None
    port: int = 0

    def serve_request(
        self, method: str, target: str, body: Any, authorization: str
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """The Sender GETs of Locations and Tariffs here; the rest as ``CpoPeer``."""
        parts = urlsplit(target)
        route = parts.path.rstrip("/")
        senders = {
            self.module_url("locations"): self.locations,
            self.module_url("tariffs"): self.tariffs,
        }
        objects = senders.get(f"{self.base_url}{route}")
        if method != "GET" or objects is None:
            status, answer = self.handle(method, target, body, authorization)
            return status, answer, {}
        if authorization != "Token " + encode_token(self.token_for_emsp):
            return 401, {"status_code": 2000, "timestamp": stamp()}, {}
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        return self._page(route, query, list(objects.values()))

    def _page(
        self, path: str, query: dict[str, str], objects: list[dict[str, Any]]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        """transport_and_format "Pagination": date_from inclusive, date_to exclusive."""
        if "date_from" in query:
            since = _parse(query["date_from"])
            objects = [o for o in objects if _parse(o["last_updated"]) >= since]
        if "date_to" in query:
            until = _parse(query["date_to"])
            objects = [o for o in objects if _parse(o["last_updated"]) < until]
        offset = int(query.get("offset", 0))
        limit = min(int(query.get("limit", self.page_limit)), self.page_limit)
        page = objects[offset : offset + limit]
        headers = {"X-Total-Count": str(len(objects)), "X-Limit": str(limit)}
        if self.send_links and offset + limit < len(objects):
            following = {**query, "offset": str(offset + limit), "limit": str(limit)}
            headers["Link"] = (
                f'<{self.base_url}{path}?{urlencode(following)}>; rel="next"'
            )
        body = {"data": page, "status_code": 1000, "timestamp": stamp()}
        return 200, body, headers

    def location_url(self, *parts: str) -> str:
        base = self.emsp_endpoints[("locations", "RECEIVER")]
        return "/".join([base, COUNTRY_CODE, PARTY_ID, *parts])

    def tariff_url(self, tariff_id: str) -> str:
        base = self.emsp_endpoints[("tariffs", "RECEIVER")]
        return f"{base}/{COUNTRY_CODE}/{PARTY_ID}/{tariff_id}"

    def paths(self, module: str) -> list[str]:
        """The paths (with query) of the requests to our ``module`` Sender."""
        prefix = f"/ocpi/cpo/2.2.1/{module}"
        return [r.path for r in self.received if r.path.startswith(prefix)]

    # --- up and down --------------------------------------------------------------------

    def start(self) -> None:
        handler = type("Handler", (_Handler,), {"platform": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self.port = self.server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


class _Handler(BaseHTTPRequestHandler):
    """Like the tests' peer server, and it sends the pagination headers."""

    platform: CpoPlatform

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.platform.received.append(Received(self.command, self.path, headers, body))
        status, answer, extra = self.platform.serve_request(
            self.command, self.path, body, self.headers.get("Authorization", "")
        )
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in extra.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        return
