"""Tokens module, CPO side: the Receiver interface (OCPI 2.2.1 mod_tokens) and
the charger-side authorization of the tokens eMSPs pushed to us.

The eMSP owns its tokens (transport_and_format "Client Owned Object Push"):
it PUTs and PATCHes them at .../tokens/{country_code}/{party_id}/{uid}?type=.
At the charger, sessions_app asks ``partner_token_authorize`` about id tags
that are not our own.

Real-time authorization (mod_tokens "Real-time authorization"): a NEVER or
ALLOWED_OFFLINE token is checked with the eMSP's POST .../{uid}/authorize,
with a deadline of ``OCPI_AUTHORIZE_TIMEOUT_SECONDS`` because the charger
waits for the answer. When the eMSP does not answer in time (or answers
with an error) the fallback is: ALLOWED_OFFLINE tokens are accepted
(WhitelistType enum: "the CPO shall allow this Token to be used"), NEVER
tokens are refused (Invalid), as real-time is the only authorization allowed
for them. ALWAYS and ALLOWED tokens are answered from the stored token.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from cms.events import SessionStarted, TaskCalls
from roaming.client import PartnerCallError, ocpi_call
from roaming.cpo.hubclientinfo import party_is_unreachable
from roaming.models import (
    CommandType,
    Partner,
    PartnerStatus,
    PartnerToken,
    RoamingCommand,
    RoamingSession,
    TokenType,
    WhitelistType,
)
from roaming.transport import (
    INVALID_PARAMETERS,
    UNKNOWN_TOKEN,
    NotFound,
    OcpiError,
    OcpiResult,
    OcpiView,
    ocpi_datetime_parse,
    ocpi_timestamp,
    request_json,
    require_object,
    require_string,
)
from sessions_app.models import ChargingSession
from stations.facts import Authorization
from stations.models import ChargePoint

logger = logging.getLogger(__name__)

# mod_tokens "Token object": (field, required, maximum length or None).
_STRING_FIELDS = (
    ("country_code", True, 2),
    ("party_id", True, 3),
    ("uid", True, 36),
    ("contract_id", True, 36),
    ("issuer", True, 64),
    ("visual_number", False, 64),
    ("group_id", False, 36),
    ("language", False, 2),
)


def _token_type(request: HttpRequest) -> str:
    value = request.GET.get("type") or TokenType.RFID  # default RFID (mod_tokens)
    if value not in TokenType.values:
        raise OcpiError(INVALID_PARAMETERS, f"type: unknown token type {value!r}")
    return value


def token_parse(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    """Check a Token object (all required fields for PUT, present ones for PATCH)."""
    for name, required, max_length in _STRING_FIELDS:
        if name in data or (required and not partial):
            if data.get(name) is None and not required:
                continue
            require_string(data, name, max_length=max_length)
    for name, allowed in (
        ("type", TokenType.values),
        ("valid", [True, False]),
        ("whitelist", WhitelistType.values),
    ):
        value = data.get(name)
        wrong = value not in allowed or (
            name == "valid" and not isinstance(value, bool)
        )
        if (name in data or not partial) and wrong:
            if name not in data:
                raise OcpiError(INVALID_PARAMETERS, f"Missing required field: {name}")
            raise OcpiError(
                INVALID_PARAMETERS,
                f"{name}: one of " + ", ".join(str(value) for value in allowed),
            )
    # transport_and_format "PATCH" and mod_tokens "PATCH Method": last_updated
    # is required in every PATCH as in every PUT.
    raw = data.get("last_updated")
    if not isinstance(raw, str):
        raise OcpiError(INVALID_PARAMETERS, "Missing required field: last_updated")
    ocpi_datetime_parse(raw, field="last_updated")
    return data


def _apply(token: PartnerToken, data: dict[str, Any]) -> None:
    token.contract_id = data["contract_id"]
    token.issuer = data["issuer"]
    token.group_id = data.get("group_id") or ""
    token.is_valid = data["valid"]
    token.whitelist = data["whitelist"]
    token.last_updated = ocpi_datetime_parse(data["last_updated"], field="last_updated")
    token.data = data


def token_object(token: PartnerToken) -> dict[str, Any]:
    return {**token.data, "last_updated": ocpi_timestamp(token.last_updated)}


def token_store(*, partner: Partner, data: dict[str, Any]) -> bool:
    """Store a checked Token object of ``partner``; True when it was new."""
    country_code, party_id = data["country_code"].upper(), data["party_id"].upper()
    with transaction.atomic():
        token = (
            PartnerToken.objects.select_for_update()
            .filter(
                country_code=country_code,
                party_id=party_id,
                uid=data["uid"],
                type=data["type"],
            )
            .first()
        )
        created = token is None
        if token is None:
            token = PartnerToken(
                partner=partner,
                country_code=country_code,
                party_id=party_id,
                uid=data["uid"],
                type=data["type"],
            )
        _apply(token, data)
        token.save()
    return created


class TokenObjectView(OcpiView):
    """GET/PUT/PATCH .../tokens/{country_code}/{party_id}/{token_uid}[?type=]."""

    module = "tokens"
    partner_role = "EMSP"

    def _owner(self, country_code: str, party_id: str) -> tuple[str, str]:
        # transport_and_format "Client Owned Object Push", Errors: a party that
        # is not one of the caller's roles is answered 404.
        partner = self.caller.partner
        if not partner.has_party(country_code, party_id):
            raise NotFound(
                f"{country_code}*{party_id} is not a party of this connection"
            )
        return country_code.upper(), party_id.upper()

    def _stored(
        self, request: HttpRequest, country_code: str, party_id: str, token_uid: str
    ) -> PartnerToken | None:
        country_code, party_id = self._owner(country_code, party_id)
        return PartnerToken.objects.filter(
            partner=self.caller.partner,
            country_code=country_code,
            party_id=party_id,
            uid=token_uid,
            type=_token_type(request),
        ).first()

    def get(
        self, request: HttpRequest, country_code: str, party_id: str, token_uid: str
    ) -> OcpiResult:
        token = self._stored(request, country_code, party_id, token_uid)
        if token is None:
            raise NotFound(f"Unknown token {token_uid}", UNKNOWN_TOKEN)
        return OcpiResult(data=token_object(token))

    def put(
        self, request: HttpRequest, country_code: str, party_id: str, token_uid: str
    ) -> OcpiResult:
        owner = self._owner(country_code, party_id)
        data = token_parse(require_object(request_json(request)), partial=False)
        kind = _token_type(request)
        # mod_tokens "PUT Method": the URL's party, uid and type are the object's.
        for field, expected in (
            ("country_code", owner[0]),
            ("party_id", owner[1]),
            ("uid", token_uid),
            ("type", kind),
        ):
            if str(data[field]).upper() != expected.upper():
                raise OcpiError(
                    INVALID_PARAMETERS, f"{field}: {data[field]!r} differs from the URL"
                )
        created = token_store(partner=self.caller.partner, data=data)
        # status_codes: 201 for a new object, 200 for an updated one.
        return OcpiResult(http_status=201 if created else 200)

    def patch(
        self, request: HttpRequest, country_code: str, party_id: str, token_uid: str
    ) -> OcpiResult:
        changes = token_parse(require_object(request_json(request)), partial=True)
        for field in ("country_code", "party_id", "uid", "type"):
            if field in changes:
                raise OcpiError(INVALID_PARAMETERS, f"{field}: cannot be changed")
        with transaction.atomic():
            token = self._stored(request, country_code, party_id, token_uid)
            if token is None:
                # transport_and_format "PATCH": the client PUTs what we do not know.
                raise NotFound(f"Unknown token {token_uid}", UNKNOWN_TOKEN)
            token = PartnerToken.objects.select_for_update().get(pk=token.pk)
            _apply(token, {**token.data, **changes})
            token.save()
        return OcpiResult()


# --- At the charger ------------------------------------------------------------------

_ALLOWED = {
    # mod_tokens "AllowedType enum" -> OCPP 1.6 AuthorizationStatus.
    "ALLOWED": "Accepted",
    "BLOCKED": "Blocked",
    "EXPIRED": "Expired",
    "NO_CREDIT": "Blocked",
    "NOT_ALLOWED": "Invalid",
}


def partner_token_for(id_tag: str) -> PartnerToken | None:
    """The partner token an id tag read at a charger is (newest first)."""
    return (
        PartnerToken.objects.select_related("partner")
        .filter(uid__iexact=id_tag, partner__status=PartnerStatus.REGISTERED)
        .order_by("-last_updated")
        .first()
    )


def _realtime(token: PartnerToken, charge_point: ChargePoint) -> str | None:
    """The eMSP's answer as an OCPP status, or None when it gave none in time."""
    partner: Partner = token.partner
    url = partner.endpoint_url("tokens", "SENDER")
    if url is None:
        return None
    if party_is_unreachable(token.country_code, token.party_id):
        return None  # its hub says it cannot be reached: the fallback at once
    body: dict[str, Any] | None = None
    if charge_point.station_id is not None:
        # mod_tokens "LocationReferences class".
        body = {"location_id": str(charge_point.station_id)}
    try:
        answer = ocpi_call(
            f"{url.rstrip('/')}/{token.uid}/authorize?type={token.type}",
            token=partner.outgoing_token,
            method="POST",
            body=body,
            encoding=partner.token_encoding,
            partner=partner,
            functional=True,
            timeout_s=settings.OCPI_AUTHORIZE_TIMEOUT_SECONDS,
            require_success=False,
        )
    except PartnerCallError as error:
        logger.warning("Real-time authorization of %s failed: %s", token, error)
        return None
    if answer.http_status == 404 or answer.status_code == UNKNOWN_TOKEN:
        return "Invalid"  # mod_tokens "POST Method": the eMSP does not know it
    data = answer.data if isinstance(answer.data, dict) else {}
    return _ALLOWED.get(str(data.get("allowed")))


def partner_token_authorize(
    *, id_tag: str, charge_point: ChargePoint, at: datetime
) -> Authorization | None:
    """Answer for a partner's token at our charger; None if it is not one."""
    token = partner_token_for(id_tag)
    if token is None:
        return None
    if not token.is_valid:
        return Authorization(status="Blocked")
    if token.whitelist in {WhitelistType.ALWAYS, WhitelistType.ALLOWED}:
        return Authorization(status="Accepted")
    if recent_start_command(partner_id=token.partner_id, token_uid=token.uid):
        # mod_commands "StartSession object": the token of a START_SESSION is
        # authorized by the eMSP already; no second real-time round trip.
        return Authorization(status="Accepted")
    status = _realtime(token, charge_point)
    if status is None:
        # The documented fallback (module docstring).
        status = (
            "Accepted"
            if token.whitelist == WhitelistType.ALLOWED_OFFLINE
            else "Invalid"
        )
    return Authorization(status=status)


def recent_start_command(*, partner_id: int, token_uid: str) -> bool:
    """Whether the partner started a session with this token moments ago."""
    since = timezone.now() - timedelta(seconds=settings.REMOTE_START_TIMEOUT_SECONDS)
    return RoamingCommand.objects.filter(
        partner_id=partner_id,
        type=CommandType.START_SESSION,
        token_uid__iexact=token_uid,
        created_at__gte=since,
    ).exists()


def roaming_session_link(event: SessionStarted) -> TaskCalls:
    """Mark a session started with a partner's token as that partner's."""
    session = ChargingSession.objects.filter(pk=event.session_id).first()
    if session is None or session.id_token_id is not None:
        return None  # gone, or one of our own tokens
    token = partner_token_for(session.id_tag)
    if token is None:
        return None
    from roaming.cpo.pushes import session_push_start

    start = (
        RoamingCommand.objects.filter(
            partner=token.partner,
            type=CommandType.START_SESSION,
            token_uid__iexact=token.uid,
            created_at__lte=session.created_at,
        )
        .order_by("-created_at")
        .first()
    )
    # Linked twice at once (two deliveries): the first one stands.
    with contextlib.suppress(IntegrityError), transaction.atomic():
        link, created = RoamingSession.objects.get_or_create(
            session=session,
            defaults={
                "partner": token.partner,
                "token": token,
                "authorization_reference": start.authorization_reference
                if start is not None
                else "",
            },
        )
        if created:
            return session_push_start(link)
    return None
