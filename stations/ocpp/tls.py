"""Security profiles 2 and 3 at the WebSocket handshake (OCPP 1.6 Security
Whitepaper ed. 2 §2 "Security Profiles"; OCPP 2.0.1 Part 2 §A00).

- Profile 1: HTTP Basic auth over plain WebSocket (stations/ocpp/auth.py).
- Profile 2: TLS with server authentication + HTTP Basic auth.
- Profile 3: TLS with client-side certificates; the charger authenticates with
  its certificate, whose subject commonName is its identity (whitepaper
  "Certificate Properties"; 2.0.1 A00.FR.4xx), so another charger's valid
  certificate is refused.

TLS is terminated either by the ASGI server itself (``manage.py serve --tls``;
the client certificate arrives in the ASGI TLS extension, see
``tls_server.py``) or by a TLS proxy (nginx in ``make run-distributed``), which
verifies the client certificate and passes it in ``X-SSL-Client-Cert``
(URL-encoded PEM, nginx ``$ssl_client_escaped_cert``) with its verdict in
``X-SSL-Client-Verify``. Those headers count only on a connection whose scheme
the server took as ``wss`` from ``X-Forwarded-Proto``, which uvicorn honours
from the addresses in ``OCPP_TLS_TRUSTED_PROXIES`` only (``serve`` passes them
as ``--forwarded-allow-ips``). The certificate is checked here again either way.

A charger's profile is a floor: a profile-2 or -3 charger arriving without TLS
(a downgrade) is refused, and the refusal is kept in its connection history.
Runs once per handshake, never per message.
"""

from __future__ import annotations

import functools
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from django.conf import settings

from cms.pki import ca_load_or_create, certificate_problem, common_name

CERT_HEADER = b"x-ssl-client-cert"
VERIFY_HEADER = b"x-ssl-client-verify"


class SecurityRefusal(str):
    """A handshake refused for its transport security (answered 403, not 401)."""

    __slots__ = ()


@dataclass(frozen=True)
class ConnectionSecurity:
    tls: bool
    via_proxy: bool = False
    certificate: x509.Certificate | None = None
    problem: str = ""  # a certificate was presented but is not usable

    @property
    def certificate_serial(self) -> str:
        return (
            ""
            if self.certificate is None
            else format(self.certificate.serial_number, "x")
        )


@functools.cache
def trusted_client_cas() -> tuple[x509.Certificate, ...]:
    """The CAs whose charger certificates are accepted (the CMS CA + extra ones)."""
    trusted = [ca_load_or_create(Path(settings.OCPP_CA_DIR)).certificate]
    if settings.OCPP_TLS_EXTRA_CLIENT_CA_FILE:
        trusted.extend(
            x509.load_pem_x509_certificates(
                Path(settings.OCPP_TLS_EXTRA_CLIENT_CA_FILE).read_bytes()
            )
        )
    return tuple(trusted)


def _header(headers: Iterable[tuple[bytes, bytes]], wanted: bytes) -> str:
    for name, value in headers:
        if name.lower() == wanted:
            return value.decode("latin-1")
    return ""


def _load_pem(pem: str) -> x509.Certificate | str:
    try:
        return x509.load_pem_x509_certificate(pem.encode())
    except ValueError:
        return "the client certificate could not be read"


def connection_security(scope: Mapping[str, Any]) -> ConnectionSecurity:
    """How this WebSocket connection arrived: TLS or not, and which certificate."""
    extensions = scope.get("extensions") or {}
    tls = extensions.get("tls") if isinstance(extensions, dict) else None
    if isinstance(tls, dict):  # the server terminated TLS itself
        chain = tls.get("client_cert_chain") or []
        if tls.get("client_cert_error"):
            return ConnectionSecurity(tls=True, problem=str(tls["client_cert_error"]))
        if not chain:
            return ConnectionSecurity(tls=True)
        loaded = _load_pem(str(chain[0]))
        if isinstance(loaded, str):
            return ConnectionSecurity(tls=True, problem=loaded)
        return ConnectionSecurity(tls=True, certificate=loaded)
    if scope.get("scheme") != "wss":
        return ConnectionSecurity(tls=False)
    # wss without the extension: X-Forwarded-Proto from a trusted TLS proxy.
    raw_headers = scope.get("headers")
    headers = raw_headers if isinstance(raw_headers, list) else []
    verify = _header(headers, VERIFY_HEADER)
    pem = urllib.parse.unquote(_header(headers, CERT_HEADER))
    if not pem.strip() or verify in ("", "NONE"):
        return ConnectionSecurity(tls=True, via_proxy=True)
    if verify != "SUCCESS":
        return ConnectionSecurity(
            tls=True, via_proxy=True, problem=f"the TLS proxy's verification: {verify}"
        )
    loaded = _load_pem(pem)
    if isinstance(loaded, str):
        return ConnectionSecurity(tls=True, via_proxy=True, problem=loaded)
    return ConnectionSecurity(tls=True, via_proxy=True, certificate=loaded)


def security_refusal(
    *, ocpp_id: str, profile: int, security: ConnectionSecurity, has_password: bool
) -> SecurityRefusal | None:
    """Why the transport does not meet this charger's profile (None if it does)."""
    if security.problem:
        return SecurityRefusal(f"client certificate refused: {security.problem}")
    if security.certificate is not None:
        # Whatever the profile, a certificate presented must be valid and name
        # this charger: a certificate of another charger is never accepted.
        problem = certificate_problem(
            security.certificate, trusted=list(trusted_client_cas())
        )
        if problem:
            return SecurityRefusal(f"client certificate refused: {problem}")
        named = common_name(security.certificate.subject)
        if named != ocpp_id:
            return SecurityRefusal(
                f"client certificate refused: issued to {named!r}, not to {ocpp_id!r}"
            )
    if profile >= 2 and not security.tls:
        return SecurityRefusal(
            f"security profile {profile} requires TLS; connection without TLS "
            "refused (downgrade)"
        )
    if profile == 3 and security.certificate is None:
        return SecurityRefusal("security profile 3 requires a client certificate")
    if profile == 2 and not has_password:
        # Profile 2 authenticates the charger by its Basic-auth password only.
        return SecurityRefusal("security profile 2 requires a charger password")
    return None
