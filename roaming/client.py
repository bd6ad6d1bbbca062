"""The OCPI 2.2.1 transport, client side: calls to a partner's endpoints.

Each call has a deadline (``OCPI_TIMEOUT_SECONDS`` unless given), sends the
credentials token, fresh X-Request-ID/X-Correlation-ID and, for functional
modules, the routing headers; it reads the response format and is written to
the audit log when it is a known partner's.
"""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from accounts.services import audit_record
from roaming.models import Partner, TokenEncoding
from roaming.transport import (
    FROM_COUNTRY,
    FROM_PARTY,
    SUCCESS,
    TO_COUNTRY,
    TO_PARTY,
    our_party,
)

logger = logging.getLogger(__name__)


class PartnerCallError(Exception):
    """A call to a partner failed: unreachable, timed out, not OCPI, or refused."""

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.status_code = status_code


@dataclass
class OcpiAnswer:
    http_status: int
    status_code: int | None
    data: Any
    status_message: str = ""
    headers: dict[str, str] = field(default_factory=dict)


def authorization_header(token: str, encoding: str = TokenEncoding.BASE64) -> str:
    """transport_and_format "Authorization header": Token + Base64 of the UTF-8 token."""
    if encoding == TokenEncoding.RAW:
        return f"Token {token}"
    return "Token " + base64.b64encode(token.encode("utf-8")).decode("ascii")


def ocpi_call(
    url: str,
    *,
    token: str,
    method: str = "GET",
    body: Any = None,
    encoding: str = TokenEncoding.BASE64,
    partner: Partner | None = None,
    functional: bool = False,
    timeout_s: float | None = None,
    require_success: bool = True,
) -> OcpiAnswer:
    """Call ``url`` and read the OCPI response format; raise PartnerCallError."""
    if not url.startswith(("http://", "https://")):
        raise PartnerCallError(f"Not an http(s) URL: {url!r}")
    request_id = str(uuid.uuid4())
    headers = {
        "Authorization": authorization_header(token, encoding),
        "X-Request-ID": request_id,
        "X-Correlation-ID": str(uuid.uuid4()),
        "Accept": "application/json",
    }
    if functional and partner is not None:
        headers[FROM_COUNTRY], headers[FROM_PARTY] = our_party()
        headers[TO_COUNTRY], headers[TO_PARTY] = partner.country_code, partner.party_id
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - http(s) only, checked above
    timeout = timeout_s if timeout_s is not None else settings.OCPI_TIMEOUT_SECONDS
    try:
        answer = _send(request, timeout)
    except PartnerCallError as error:
        _audit_outgoing(partner, method, url, request_id, f"failed: {error.message}")
        raise
    _audit_outgoing(
        partner,
        method,
        url,
        request_id,
        f"HTTP {answer.http_status}, OCPI {answer.status_code}",
    )
    if require_success and answer.status_code != SUCCESS:
        raise PartnerCallError(
            f"{method} {url} answered HTTP {answer.http_status}, OCPI "
            f"{answer.status_code} {answer.status_message}".strip(),
            http_status=answer.http_status,
            status_code=answer.status_code,
        )
    return answer


def _send(request: urllib.request.Request, timeout: float) -> OcpiAnswer:
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, raw, headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        status, raw, headers = error.code, error.read(), error.headers
    except TimeoutError:
        raise PartnerCallError(
            f"{request.get_method()} {request.full_url} timed out after {timeout:g} s"
        ) from None
    except (urllib.error.URLError, OSError) as error:
        raise PartnerCallError(
            f"{request.get_method()} {request.full_url} unreachable: {error}"
        ) from None
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise PartnerCallError(
            f"{request.get_method()} {request.full_url} answered HTTP {status} "
            "without JSON",
            http_status=status,
        ) from None
    if not isinstance(body, dict):
        raise PartnerCallError(
            f"{request.full_url} answered without the OCPI response format",
            http_status=status,
        )
    status_code = body.get("status_code")
    return OcpiAnswer(
        http_status=status,
        status_code=status_code if isinstance(status_code, int) else None,
        data=body.get("data"),
        status_message=str(body.get("status_message") or ""),
        headers=dict(headers.items()),
    )


def _audit_outgoing(
    partner: Partner | None, method: str, url: str, request_id: str, outcome: str
) -> None:
    if partner is None or partner.pk is None:
        return
    audit_record(
        actor=None,
        action="ocpi.out",
        target=partner,
        detail=f"{method} {url} -> {outcome}; X-Request-ID {request_id}",
    )
