"""uvicorn's WebSocket protocol with the ASGI TLS extension (client certificates).

uvicorn terminates TLS (``--ssl-*``) but does not put the client's certificate
into the connection scope. This subclass adds the ASGI TLS extension
(asgiref "TLS Extension": ``scope["extensions"]["tls"]`` with
``client_cert_chain`` as PEM strings and ``client_cert_name`` as RFC 4514) to
each WebSocket scope of a TLS connection, read from the verified peer
certificate of the socket. ``manage.py serve --tls`` selects it with
``--ws stations.ocpp.tls_server:TlsWebSocketProtocol``.

Imported by uvicorn before Django is set up: no Django imports here.
"""

from __future__ import annotations

import ssl
from typing import Any

from cryptography import x509
from uvicorn.protocols.websockets.websockets_sansio_impl import (
    WebSocketsSansIOProtocol,
)

_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_extension(ssl_object: ssl.SSLObject | None) -> dict[str, Any] | None:
    """The ASGI TLS extension's dict for a connection's SSL object."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    chain: list[str] = []
    name = None
    if der:
        certificate = x509.load_der_x509_certificate(der)
        chain = [ssl.DER_cert_to_PEM_cert(der)]
        name = certificate.subject.rfc4514_string()
    cipher = ssl_object.cipher()
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        # With CERT_OPTIONAL an invalid certificate fails the TLS handshake, so
        # a connection that got this far has a verified one or none.
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None if cipher is None else cipher[0],
    }


class TlsWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is None or self.scheme != "wss":
            return
        extension = tls_extension(self.transport.get_extra_info("ssl_object"))
        if extension is not None:
            # The ASGI task is created but has not run yet: it sees this.
            scope["extensions"]["tls"] = extension
