"""An OCPI 2.2.1 CPO platform for the tests, written from the specification.

It shares no code with the product's roaming app: its own HTTP server on
loopback (versions, version details, credentials, the Tokens Receiver, the
Commands Receiver) and its own client (Base64 credentials tokens, X-Request-ID
/ X-Correlation-ID, routing headers, the response format). Every request it
receives is kept in ``received``; the tokens pushed to it are kept in
``tokens`` as its own store, so tests assert what the eMSP sent.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.roaming.ocpi_peer import (
    Received,
    Response,
    encode_token,
    peer_call,
    peer_get_all,
    serve,
)

COUNTRY_CODE = "FR"
PARTY_ID = "CPX"
MODULES_SENDER = ("locations", "tariffs", "sessions", "cdrs")
MODULES_RECEIVER = ("tokens", "commands")


def now_text() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class CpoPeer:
    """The CPO's state: its tokens, what it learnt of the eMSP, what it received."""

    base_url: str = ""
    # The token the eMSP must send us.
    token_for_emsp: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # The token we send to the eMSP (Token A first, then the one it answers).
    token_to_emsp: str = ""
    emsp_endpoints: dict[tuple[str, str], str] = field(default_factory=dict)
    emsp_roles: list[dict[str, Any]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    # Tokens Receiver store: (country_code, party_id, uid, type) -> Token object.
    tokens: dict[tuple[str, str, str, str], dict[str, Any]] = field(
        default_factory=dict
    )
    # While True every functional request is answered HTTP 503 (a CPO that is down).
    down: bool = False
    # The CommandResponse the Commands Receiver answers (mod_commands).
    command_response: dict[str, Any] = field(
        default_factory=lambda: {"result": "ACCEPTED", "timeout": 30}
    )
    # A Token A we issued for an eMSP that registers with us.
    token_a: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def versions_url(self) -> str:
        return f"{self.base_url}/ocpi/cpo/versions"

    def module_url(self, module: str) -> str:
        return f"{self.base_url}/ocpi/cpo/2.2.1/{module}"

    def credentials_object(self) -> dict[str, Any]:
        return {
            "token": self.token_for_emsp,
            "url": self.versions_url(),
            "roles": [
                {
                    "role": "CPO",
                    "business_details": {"name": "Test CPO"},
                    "party_id": PARTY_ID,
                    "country_code": COUNTRY_CODE,
                }
            ],
        }

    # --- the CPO's own endpoints --------------------------------------------------

    def handle(
        self, method: str, path: str, body: Any, authorization: str
    ) -> tuple[int, dict[str, Any]]:
        accepted = {"Token " + encode_token(self.token_for_emsp)}
        if self.token_a:
            accepted.add("Token " + encode_token(self.token_a))
        if authorization not in accepted:
            return 401, {"status_code": 2000, "timestamp": now_text()}
        return self.answer(method, path, body)

    def answer(self, method: str, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        now = now_text()
        route = urlsplit(path).path.rstrip("/")
        query = parse_qs(urlsplit(path).query)
        data: Any = None
        if route == "/ocpi/cpo/versions":
            data = [{"version": "2.2.1", "url": f"{self.base_url}/ocpi/cpo/2.2.1"}]
        elif route == "/ocpi/cpo/2.2.1":
            data = {
                "version": "2.2.1",
                "endpoints": [
                    {
                        "identifier": "credentials",
                        "role": "SENDER",
                        "url": self.module_url("credentials"),
                    },
                    *(
                        {"identifier": m, "role": "SENDER", "url": self.module_url(m)}
                        for m in MODULES_SENDER
                    ),
                    *(
                        {"identifier": m, "role": "RECEIVER", "url": self.module_url(m)}
                        for m in MODULES_RECEIVER
                    ),
                ],
            }
        elif route == "/ocpi/cpo/2.2.1/credentials" and method == "GET":
            data = self.credentials_object()
        elif route == "/ocpi/cpo/2.2.1/credentials" and method == "POST":
            # credentials "Registration": the eMSP registers with us using our
            # Token A; we fetch its versions with the token it sent, then
            # answer with a new token for it.
            self.token_to_emsp = body["token"]
            self.emsp_roles = body["roles"]
            self._learn_endpoints(body["url"])
            self.token_for_emsp = secrets.token_urlsafe(24)
            data = self.credentials_object()
        elif self.down:
            return 503, {"status_code": 3000, "timestamp": now}
        elif route.startswith("/ocpi/cpo/2.2.1/tokens/") and method in {"PUT", "PATCH"}:
            return self._token_push(method, route, query, body)
        elif route.startswith("/ocpi/cpo/2.2.1/tokens/") and method == "GET":
            parts = route.split("/")[-3:]
            kind = query.get("type", ["RFID"])[0]
            token = self.tokens.get((parts[0], parts[1], parts[2], kind))
            if token is None:
                return 404, {"status_code": 2004, "timestamp": now}
            data = token
        elif route.startswith("/ocpi/cpo/2.2.1/commands/") and method == "POST":
            # mod_commands Receiver "POST Method": the CommandResponse.
            data = dict(self.command_response)
        else:
            return 404, {"status_code": 2000, "timestamp": now}
        return 200, {"data": data, "status_code": 1000, "timestamp": now}

    def _token_push(
        self, method: str, route: str, query: dict[str, list[str]], body: Any
    ) -> tuple[int, dict[str, Any]]:
        # mod_tokens Receiver PUT/PATCH {url}/{country_code}/{party_id}/{uid}[?type=].
        now = now_text()
        country_code, party_id, uid = route.split("/")[-3:]
        kind = query.get("type", ["RFID"])[0]
        key = (country_code, party_id, uid, kind)
        if not isinstance(body, dict) or not body.get("last_updated"):
            return 400, {"status_code": 2001, "timestamp": now}
        with self.lock:
            if method == "PUT":
                for name in ("uid", "type", "contract_id", "issuer", "valid"):
                    if name not in body:
                        return 400, {"status_code": 2001, "timestamp": now}
                self.tokens[key] = body
            else:
                if key not in self.tokens:
                    return 404, {"status_code": 2004, "timestamp": now}
                self.tokens[key] = {**self.tokens[key], **body}
        return 200, {"status_code": 1000, "timestamp": now}

    def _learn_endpoints(self, versions_url: str) -> None:
        versions = self.call("GET", versions_url)
        details_url = next(v["url"] for v in versions.data if v["version"] == "2.2.1")
        details = self.call("GET", details_url)
        self.emsp_endpoints = {
            (e["identifier"], e["role"]): e["url"] for e in details.data["endpoints"]
        }

    # --- the CPO's client ---------------------------------------------------------

    def call(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        raw_body: bytes | None = None,
        token: str | None = None,
        routing: bool = False,
    ) -> Response:
        return peer_call(
            method,
            url,
            authorization="Token " + encode_token(token or self.token_to_emsp),
            routing_from=(COUNTRY_CODE, PARTY_ID) if routing else None,
            body=body,
            raw_body=raw_body,
        )

    def register(self, versions_url: str, token_a: str) -> Response:
        """credentials "Registration", Sender side: versions, details, POST credentials."""
        self.token_to_emsp = token_a
        self._learn_endpoints(versions_url)
        answer = self.call(
            "POST",
            self.emsp_endpoints[("credentials", "SENDER")],
            body=self.credentials_object(),
        )
        if answer.status == 200 and answer.status_code == 1000:
            self.token_to_emsp = answer.data["token"]
            self.emsp_roles = answer.data["roles"]
        return answer

    def authorize(self, uid: str, kind: str = "RFID") -> Response:
        """mod_tokens Sender "POST" .../tokens/{uid}/authorize (real-time authorization)."""
        url = (
            self.emsp_endpoints[("tokens", "SENDER")] + f"/{uid}/authorize?type={kind}"
        )
        return self.call("POST", url, body={"location_id": "LOC1"}, routing=True)

    def get_all(self, url: str) -> tuple[list[Any], list[Response]]:
        """Follow the Link rel="next" headers to the last page."""
        return peer_get_all(lambda page: self.call("GET", page, routing=True), url)

    def send_result(
        self, command: Received, result: str, *, message: str = ""
    ) -> Response:
        """mod_commands: POST the CommandResult to the request's response_url."""
        body: dict[str, Any] = {"result": result}
        if message:
            body["message"] = [{"language": "en", "text": message}]
        return self.call("POST", command.body["response_url"], body=body, routing=True)

    def commands(self, command: str) -> list[Received]:
        path = f"/ocpi/cpo/2.2.1/commands/{command}"
        return [r for r in self.received if r.method == "POST" and r.path == path]

    def token_pushes(self) -> list[Received]:
        return [
            r
            for r in self.received
            if r.method in {"PUT", "PATCH"}
            and r.path.startswith("/ocpi/cpo/2.2.1/tokens/")
        ]


def start_cpo() -> tuple[CpoPeer, ThreadingHTTPServer]:
    platform = CpoPeer()
    return platform, serve(platform)
