"""The OCPI 2.2.1 transport, server side: envelope, status codes, credentials
token authentication, unique message ids, routing headers and pagination.

Every OCPI endpoint is an ``OcpiView``; its handler returns data (or raises
``OcpiError``) and this module wraps it in the response format, sets the
headers and writes the partner's call to the audit log.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.utils.decorators import classonlymethod
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from accounts.services import audit_record
from roaming.models import Partner, PartnerStatus, TokenEncoding, token_hash

logger = logging.getLogger(__name__)

# OCPI 2.2.1 status_codes: 1xxx success, 2xxx client errors, 3xxx server errors.
SUCCESS = 1000
CLIENT_ERROR = 2000
INVALID_PARAMETERS = 2001
NOT_ENOUGH_INFORMATION = 2002
UNKNOWN_LOCATION = 2003
UNKNOWN_TOKEN = 2004
SERVER_ERROR = 3000
CLIENT_API_UNUSABLE = 3001
UNSUPPORTED_VERSION = 3002
NO_MATCHING_ENDPOINTS = 3003

OCPI_VERSION = "2.2.1"
_ABSENT: Any = object()


def ocpi_timestamp(moment: datetime | None = None) -> str:
    """An OCPI DateTime: UTC, RFC 3339 with a Z and no fraction (types "DateTime")."""
    moment = (moment or datetime.now(tz=UTC)).astimezone(UTC)
    return moment.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def ocpi_datetime_parse(value: str, *, field: str) -> datetime:
    """Read an OCPI DateTime; one without an offset is UTC (types "DateTime")."""
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise OcpiError(
            INVALID_PARAMETERS, f"{field}: not an RFC 3339 date-time: {value!r}"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def envelope(
    data: Any = _ABSENT, *, status_code: int = SUCCESS, message: str = ""
) -> dict[str, Any]:
    """The response format of OCPI 2.2.1 transport_and_format "Response format"."""
    body: dict[str, Any] = {}
    # "Response format" note: leave data unset where no data is specified (and
    # in errors, whose example has no data field).
    if data is not _ABSENT:
        body["data"] = data
    body["status_code"] = status_code
    if message:
        body["status_message"] = message
    body["timestamp"] = ocpi_timestamp()
    return body


class OcpiError(Exception):
    """A request that cannot be served: its OCPI status code and HTTP status."""

    def __init__(self, status_code: int, message: str, *, http_status: int = 200):
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.http_status = http_status


class Unauthorized(OcpiError):
    def __init__(self, message: str) -> None:
        # transport_and_format "Authorization header": a missing header or an
        # unknown token is HTTP 401.
        super().__init__(CLIENT_ERROR, message, http_status=401)


class NotFound(OcpiError):
    def __init__(self, message: str, status_code: int = CLIENT_ERROR) -> None:
        # status_codes: a GET of a resource that does not exist is HTTP 404.
        super().__init__(status_code, message, http_status=404)


class MethodNotAllowed(OcpiError):
    def __init__(self, message: str) -> None:
        super().__init__(CLIENT_ERROR, message, http_status=405)


# --- Authentication ---------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    """Who sent a request: the partner, and whether with its Token A."""

    partner: Partner
    configuration_only: bool
    token: str


def _token_candidates(header: str) -> tuple[str | None, str]:
    """The header's token Base64-decoded (None if not Base64) and as sent."""
    sent = header.strip()
    try:
        decoded = base64.b64decode(sent, validate=True).decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError):
        decoded = None
    return decoded or None, sent


def authenticate(request: HttpRequest) -> Caller:
    """Find the partner by the credentials token of the Authorization header."""
    header = request.headers.get("Authorization", "")
    scheme, _space, value = header.partition(" ")
    if scheme.lower() != "token" or not value.strip():
        raise Unauthorized("Authorization header with a credentials token required")
    decoded, sent = _token_candidates(value)
    candidates = [(decoded, False)] if decoded is not None else []
    # transport_and_format "Authorization header", NOTE: 2.1.1/2.2 peers send
    # the token without Base64; accepted only for partners configured so.
    candidates.append((sent, True))
    for token, raw in candidates:
        digest = token_hash(token)
        partner = Partner.objects.filter(token_hash=digest).first()
        if partner is not None and partner.status != PartnerStatus.UNREGISTERED:
            if raw and partner.token_encoding != TokenEncoding.RAW:
                continue
            return Caller(
                partner=partner,
                configuration_only=partner.status != PartnerStatus.REGISTERED,
                token=token,
            )
        partner = Partner.objects.filter(
            token_a_hash=digest, status=PartnerStatus.PENDING
        ).first()
        if partner is not None:
            if raw and partner.token_encoding != TokenEncoding.RAW:
                continue
            return Caller(partner=partner, configuration_only=True, token=token)
    raise Unauthorized("Unknown credentials token")


# --- Request parsing ----------------------------------------------------------------


def request_json(request: HttpRequest) -> Any:
    """The request body as JSON; malformed JSON is HTTP 400 (status_codes)."""
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise OcpiError(
            CLIENT_ERROR, f"Malformed JSON: {exc}", http_status=400
        ) from None


def require_object(value: Any, *, field: str = "body") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise OcpiError(INVALID_PARAMETERS, f"{field}: a JSON object is required")
    return value


def require_string(
    data: dict[str, Any], field: str, *, max_length: int, prefix: str = ""
) -> str:
    """A required OCPI string field of at most ``max_length`` characters."""
    value = data.get(field)
    name = f"{prefix}{field}"
    if value is None:
        raise OcpiError(INVALID_PARAMETERS, f"Missing required field: {name}")
    if not isinstance(value, str) or not value:
        raise OcpiError(INVALID_PARAMETERS, f"{name}: a non-empty string is required")
    if len(value) > max_length:
        raise OcpiError(
            INVALID_PARAMETERS, f"{name}: at most {max_length} characters allowed"
        )
    return value


# --- Routing headers -------------------------------------------------------------

FROM_COUNTRY = "OCPI-from-country-code"
FROM_PARTY = "OCPI-from-party-id"
TO_COUNTRY = "OCPI-to-country-code"
TO_PARTY = "OCPI-to-party-id"


def our_party() -> tuple[str, str]:
    return settings.OCPI_COUNTRY_CODE, settings.OCPI_PARTY_ID


def _check_routing(request: HttpRequest, partner: Partner) -> tuple[str, str]:
    """Check the routing headers of a functional module; return the sending party.

    transport_and_format "Message Routing Headers": functional modules carry
    OCPI-from/to-country-code/party-id; configuration modules do not. Peer to
    peer they may be absent: the sender is then the partner itself.
    """
    from_country = request.headers.get(FROM_COUNTRY, "")
    from_party = request.headers.get(FROM_PARTY, "")
    if bool(from_country) != bool(from_party):
        raise OcpiError(
            INVALID_PARAMETERS,
            f"{FROM_COUNTRY} and {FROM_PARTY} must be given together",
        )
    if from_country and not partner.has_party(from_country, from_party):
        raise OcpiError(
            CLIENT_ERROR,
            f"{FROM_COUNTRY}/{FROM_PARTY} {from_country}*{from_party} is not a "
            "party of this connection",
            http_status=403,
        )
    to_country = request.headers.get(TO_COUNTRY, "")
    to_party = request.headers.get(TO_PARTY, "")
    if bool(to_country) != bool(to_party):
        raise OcpiError(
            INVALID_PARAMETERS, f"{TO_COUNTRY} and {TO_PARTY} must be given together"
        )
    if to_country and (to_country.upper(), to_party.upper()) != our_party():
        raise OcpiError(
            INVALID_PARAMETERS,
            f"{TO_COUNTRY}/{TO_PARTY} {to_country}*{to_party} is not a party on "
            "this platform",
        )
    if from_country:
        return from_country.upper(), from_party.upper()
    return partner.country_code, partner.party_id


# --- Views ------------------------------------------------------------------------


@dataclass
class OcpiResult:
    """What a handler answers: data (or none), and the HTTP status and headers."""

    data: Any = _ABSENT
    http_status: int = 200
    headers: dict[str, str] | None = None


class OcpiView(View):
    """Base of every OCPI endpoint: authentication, envelope, ids, routing, audit."""

    module = ""
    # Configuration modules (versions, credentials) take Token A and carry no
    # routing headers (transport_and_format "Message Routing Headers").
    configuration = False
    # The role the partner must play for this module: our CPO modules serve
    # EMSPs, our eMSP modules serve CPOs ("" for configuration modules).
    partner_role = ""

    @classonlymethod
    def as_view(cls, **initkwargs: Any) -> Callable[..., HttpResponseBase]:
        # Partners authenticate with credentials tokens, never with cookies.
        return csrf_exempt(super().as_view(**initkwargs))

    caller: Caller
    sender: tuple[str, str]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        # transport_and_format "Unique message IDs": echo both ids; a request
        # without them still gets ids of its own in the answer.
        request_id = request.headers.get("X-Request-ID") or str(uuid.uuid4())
        correlation_id = request.headers.get("X-Correlation-ID") or str(uuid.uuid4())
        partner: Partner | None = None
        try:
            self.caller = authenticate(request)
            partner = self.caller.partner
            if self.caller.configuration_only and not self.configuration:
                # transport_and_format "Authorization header": Token A works
                # for versions and credentials only.
                raise Unauthorized(
                    "This credentials token is valid for registration only"
                )
            if self.partner_role and not partner.has_role(self.partner_role):
                raise OcpiError(
                    CLIENT_ERROR,
                    f"The {self.module} module here serves {self.partner_role} "
                    "parties; this connection has none",
                    http_status=403,
                )
            self.sender = (partner.country_code, partner.party_id)
            if not self.configuration:
                self.sender = _check_routing(request, partner)
            handler = getattr(self, request.method.lower(), None)  # type: ignore[union-attr]
            if request.method not in {"GET", "POST", "PUT", "PATCH", "DELETE"} or (
                handler is None
            ):
                raise MethodNotAllowed(f"{request.method} is not supported here")
            result = handler(request, *args, **kwargs)
            response = _json_response(envelope(result.data), result.http_status)
            for name, value in (result.headers or {}).items():
                response[name] = value
        except OcpiError as error:
            response = _json_response(
                envelope(status_code=error.status_code, message=error.message),
                error.http_status,
            )
        except Exception:
            logger.exception("OCPI %s %s failed", request.method, request.path)
            response = _json_response(
                envelope(status_code=SERVER_ERROR, message="Internal server error"),
                500,
            )
        response["X-Request-ID"] = request_id
        response["X-Correlation-ID"] = correlation_id
        if not self.configuration and partner is not None:
            country, party = our_party()
            sender = getattr(self, "sender", (partner.country_code, partner.party_id))
            response[FROM_COUNTRY], response[FROM_PARTY] = country, party
            response[TO_COUNTRY], response[TO_PARTY] = sender
        if partner is not None:
            _audit_incoming(request, response, partner, self.module, request_id)
        return response


class ModuleRootView(OcpiView):
    """A Receiver module's base URL (version details): its objects live below it,
    so the base itself serves no method (405 after authentication)."""


def _json_response(body: dict[str, Any], status: int) -> JsonResponse:
    return JsonResponse(body, status=status, json_dumps_params={"ensure_ascii": False})


def _audit_incoming(
    request: HttpRequest,
    response: HttpResponse,
    partner: Partner,
    module: str,
    request_id: str,
) -> None:
    status_code = json.loads(response.content).get("status_code")
    audit_record(
        actor=None,
        action=f"ocpi.in.{module}.{(request.method or '').lower()}",
        target=partner,
        detail=(
            f"{request.method} {request.get_full_path()} -> HTTP "
            f"{response.status_code}, OCPI {status_code}; X-Request-ID {request_id}"
        ),
    )


# --- Pagination -------------------------------------------------------------------


def _int_parameter(request: HttpRequest, name: str, default: int) -> int:
    raw = request.GET.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise OcpiError(
            INVALID_PARAMETERS, f"{name}: an integer is required, got {raw!r}"
        ) from None
    if value < 0:
        raise OcpiError(INVALID_PARAMETERS, f"{name}: must not be negative")
    return value


def paginated(
    request: HttpRequest,
    queryset: QuerySet[Any],
    serialize: Callable[[Iterable[Any]], list[dict[str, Any]]],
    *,
    updated_field: str,
) -> OcpiResult:
    """One page of a list (transport_and_format "Pagination").

    ``queryset`` carries ``updated_field`` (the objects' last_updated); the
    filters are date_from (inclusive) and date_to (exclusive); the order is the
    primary key so that repeated calls return the same sequence ("Paginated
    Response": oldest first).
    """
    filters: dict[str, str] = {}
    for name, lookup in (("date_from", "gte"), ("date_to", "lt")):
        raw = request.GET.get(name)
        if raw:
            moment = ocpi_datetime_parse(raw, field=name)
            queryset = queryset.filter(**{f"{updated_field}__{lookup}": moment})
            filters[name] = raw
    offset = _int_parameter(request, "offset", 0)
    server_limit = settings.OCPI_PAGE_LIMIT
    limit = min(_int_parameter(request, "limit", server_limit), server_limit)
    queryset = queryset.order_by("pk")
    total = queryset.count()
    items = list(queryset[offset : offset + limit]) if limit else []
    headers = {"X-Total-Count": str(total), "X-Limit": str(limit)}
    if limit and offset + limit < total:
        # "Paginated Response": the next link keeps the original filters.
        query = urlencode({"offset": offset + limit, "limit": limit, **filters})
        next_url = request.build_absolute_uri(request.path) + "?" + query
        headers["Link"] = f'<{next_url}>; rel="next"'
    return OcpiResult(data=serialize(items), headers=headers)


def object_by_id(
    queryset: QuerySet[Any],
    object_id: str,
    *,
    message: str,
    status_code: int = CLIENT_ERROR,
) -> Any:
    """The object whose (numeric) primary key is ``object_id``, or a 404."""
    found = queryset.filter(pk=int(object_id)).first() if object_id.isdigit() else None
    if found is None:
        raise NotFound(message, status_code)
    return found
