"""An OCPI 2.2.1 eMSP platform for the tests, written from the specification.

It shares no code with the product's roaming app: its own HTTP server (the
eMSP's versions, version details and credentials endpoints, on loopback) and
its own client (Base64 credentials tokens, X-Request-ID / X-Correlation-ID,
routing headers, the response format). Every request it receives is kept in
``received`` so tests can assert what the CPO sent.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any

from tests.roaming.ocpi_peer import (
    Received,
    Response,
    encode_token,
    peer_call,
    peer_get_all,
    serve,
)

__all__ = ["COUNTRY_CODE", "PARTY_ID", "EmspPlatform", "Received", "Response"]

COUNTRY_CODE = "DE"
PARTY_ID = "EMS"


@dataclass
class EmspPlatform:
    """The eMSP's state: its tokens, what it learnt of the CPO, what it received."""

    base_url: str = ""
    # The token the CPO must send us (our "Token B", or the one we issued it).
    token_for_cpo: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # The token we send to the CPO (Token A first, then the CPO's Token C).
    token_to_cpo: str = ""
    cpo_endpoints: dict[tuple[str, str], str] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    # When set, the versions endpoint answers this HTTP status (a partner in trouble).
    versions_failure: int | None = None
    # Real-time authorization (mod_tokens POST authorize): uid -> AllowedType;
    # an unknown uid is answered 404 / 2004, after authorize_delay_s seconds.
    authorizations: dict[str, str] = field(default_factory=dict)
    authorize_delay_s: float = 0.0
    # How many CommandResult POSTs to refuse with HTTP 500 before accepting.
    command_result_failures: int = 0
    # How many pushes (locations, sessions, cdrs) to refuse with HTTP 500.
    push_failures: int = 0
    # Further CredentialsRole objects of this platform (e.g. a HUB role).
    extra_roles: list[dict[str, Any]] = field(default_factory=list)

    # --- the eMSP's own endpoints -------------------------------------------------

    def versions_url(self) -> str:
        return f"{self.base_url}/ocpi/emsp/versions"

    def credentials_object(self) -> dict[str, Any]:
        return {
            "token": self.token_for_cpo,
            "url": self.versions_url(),
            "roles": [
                {
                    "role": "EMSP",
                    "business_details": {"name": "Test eMSP"},
                    "party_id": PARTY_ID,
                    "country_code": COUNTRY_CODE,
                },
                *self.extra_roles,
            ],
        }

    def answer(self, method: str, path: str) -> tuple[int, dict[str, Any]]:
        now = datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if path.rstrip("/") == "/ocpi/emsp/versions":
            if self.versions_failure:
                return self.versions_failure, {"status_code": 3000, "timestamp": now}
            data: Any = [
                {"version": "2.2.1", "url": f"{self.base_url}/ocpi/emsp/2.2.1"}
            ]
        elif path.rstrip("/") == "/ocpi/emsp/2.2.1":
            data = {
                "version": "2.2.1",
                "endpoints": [
                    {
                        "identifier": "credentials",
                        "role": "SENDER",
                        "url": f"{self.base_url}/ocpi/emsp/2.2.1/credentials",
                    },
                    *(
                        {
                            "identifier": module,
                            "role": "RECEIVER",
                            "url": f"{self.base_url}/ocpi/emsp/2.2.1/{module}",
                        }
                        for module in ("locations", "tariffs", "sessions", "cdrs")
                    ),
                    {
                        "identifier": "tokens",
                        "role": "SENDER",
                        "url": f"{self.base_url}/ocpi/emsp/2.2.1/tokens",
                    },
                ],
            }
        elif path.rstrip("/") == "/ocpi/emsp/2.2.1/credentials" and method == "GET":
            data = self.credentials_object()
        elif method == "POST" and path.startswith("/ocpi/emsp/2.2.1/commands/"):
            # mod_commands "Sender Interface": the CPO's CommandResult arrives.
            if self.command_result_failures > 0:
                self.command_result_failures -= 1
                return 500, {"status_code": 3000, "timestamp": now}
            return 200, {"status_code": 1000, "timestamp": now}
        elif method in {"PUT", "PATCH", "POST"} and path.startswith(
            tuple(f"/ocpi/emsp/2.2.1/{m}" for m in ("locations", "sessions", "cdrs"))
        ):
            # The Receiver interfaces of Locations, Sessions and CDRs: pushes.
            if self.push_failures > 0:
                self.push_failures -= 1
                return 500, {"status_code": 3000, "timestamp": now}
            return 200, {"status_code": 1000, "timestamp": now}
        elif method == "POST" and path.split("?")[0].endswith("/authorize"):
            time.sleep(self.authorize_delay_s)
            uid = path.split("?")[0].split("/")[-2]
            if uid not in self.authorizations:
                return 404, {"status_code": 2004, "timestamp": now}
            data = {"allowed": self.authorizations[uid], "token": self.token(uid)}
        else:
            return 404, {"status_code": 2000, "timestamp": now}
        return 200, {"data": data, "status_code": 1000, "timestamp": now}

    def token(self, uid: str, **changes: Any) -> dict[str, Any]:
        """A Token object of ours (mod_tokens "Token object")."""
        return {
            "country_code": COUNTRY_CODE,
            "party_id": PARTY_ID,
            "uid": uid,
            "type": "RFID",
            "contract_id": f"DE-EMS-C{uid}"[:36],
            "issuer": "Test eMSP",
            "valid": True,
            "whitelist": "ALLOWED",
            "last_updated": datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            **changes,
        }

    # --- the eMSP's client ----------------------------------------------------------

    def call(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        raw_body: bytes | None = None,
        token: str | None = None,
        authorization: str | None = None,
        headers: dict[str, str] | None = None,
        routing: bool = False,
    ) -> Response:
        if authorization is None:
            authorization = "Token " + encode_token(token or self.token_to_cpo)
        return peer_call(
            method,
            url,
            authorization=authorization,
            routing_from=(COUNTRY_CODE, PARTY_ID) if routing else None,
            body=body,
            raw_body=raw_body,
            headers=headers,
        )

    def register(self, versions_url: str, token_a: str) -> Response:
        """credentials "Registration", Sender side: versions, details, POST credentials."""
        self.token_to_cpo = token_a
        versions = self.call("GET", versions_url)
        assert versions.status == 200, versions.body
        details_url = next(v["url"] for v in versions.data if v["version"] == "2.2.1")
        details = self.call("GET", details_url)
        assert details.status == 200, details.body
        self.cpo_endpoints = {
            (e["identifier"], e["role"]): e["url"] for e in details.data["endpoints"]
        }
        credentials_url = self.cpo_endpoints[("credentials", "SENDER")]
        answer = self.call("POST", credentials_url, body=self.credentials_object())
        if answer.status == 200 and answer.status_code == 1000:
            self.token_to_cpo = answer.data["token"]
        return answer

    def command_results(self, reference: str) -> list[Any]:
        """The CommandResult bodies the CPO POSTed to our response_url ``reference``."""
        path = f"/ocpi/emsp/2.2.1/commands/{reference}"
        return [r.body for r in self.received if r.method == "POST" and r.path == path]

    def pushes(self, module: str) -> list[Received]:
        """The pushes the CPO sent to our ``module`` Receiver, in arrival order."""
        prefix = f"/ocpi/emsp/2.2.1/{module}"
        return [
            r
            for r in self.received
            if r.method in {"PUT", "PATCH", "POST"} and r.path.startswith(prefix)
        ]

    def response_url(self, reference: str) -> str:
        return f"{self.base_url}/ocpi/emsp/2.2.1/commands/{reference}"

    def get_all(self, url: str) -> tuple[list[Any], list[Response]]:
        """Follow the Link rel="next" headers to the last page."""
        return peer_get_all(lambda page: self.call("GET", page, routing=True), url)

    def handle(
        self, method: str, path: str, body: Any, authorization: str
    ) -> tuple[int, dict[str, Any]]:
        if authorization != "Token " + encode_token(self.token_for_cpo):
            return 401, {"status_code": 2000, "timestamp": "x"}
        return self.answer(method, path)


def start_emsp() -> tuple[EmspPlatform, ThreadingHTTPServer]:
    platform = EmspPlatform()
    return platform, serve(platform)
