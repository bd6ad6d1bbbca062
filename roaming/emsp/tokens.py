"""Tokens module, eMSP side, Sender interface (OCPI 2.2.1 mod_tokens).

Our drivers' id tokens for CPOs: GET the list (paginated) to whitelist them,
and POST .../tokens/{uid}/authorize for real-time authorization, answered from
our token rules (``sessions_app.services.id_token_rules_authorization``: the
token's status, expiry and its group token's).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from roaming.transport import (
    INVALID_PARAMETERS,
    UNKNOWN_TOKEN,
    NotFound,
    OcpiError,
    OcpiResult,
    OcpiView,
    ocpi_timestamp,
    our_party,
    paginated,
    request_json,
)
from sessions_app.models import IdToken, TokenStatus
from sessions_app.services import id_token_rules_authorization

# IdToken.Kind -> mod_tokens "TokenType enum".
_TYPES = {
    IdToken.Kind.RFID: "RFID",
    IdToken.Kind.FLEET: "RFID",
    IdToken.Kind.APP: "APP_USER",
}
# Our token rules -> mod_tokens "AllowedType enum".
_ALLOWED = {
    TokenStatus.ACCEPTED: "ALLOWED",
    TokenStatus.BLOCKED: "BLOCKED",
    TokenStatus.EXPIRED: "EXPIRED",
    TokenStatus.INVALID: "NOT_ALLOWED",
}


def _tokens() -> QuerySet[IdToken]:
    return IdToken.objects.filter(kind__in=list(_TYPES)).select_related("parent")


def token_object(token: IdToken) -> dict[str, Any]:
    """One of our tokens as an OCPI Token (mod_tokens "Token object")."""
    country_code, party_id = our_party()
    rules = id_token_rules_authorization(token, at=timezone.now())
    body: dict[str, Any] = {
        "country_code": country_code,
        "party_id": party_id,
        "uid": token.token,
        "type": _TYPES.get(IdToken.Kind(token.kind), "RFID"),
        # eMA-style contract id: country, party, then the token (mod_tokens
        # "Token object" contract_id, at most 36 characters).
        "contract_id": f"{country_code}-{party_id}-{token.token}"[:36],
        "issuer": settings.OCPI_BUSINESS_NAME[:64],
        "valid": rules.status == TokenStatus.ACCEPTED,
        # CPOs may whitelist our tokens and ask us in real time when they can.
        "whitelist": "ALLOWED",
        "last_updated": ocpi_timestamp(token.updated_at),
    }
    if token.parent is not None:
        body["group_id"] = token.parent.token[:36]
    if token.label:
        body["visual_number"] = token.label[:64]
    return body


class TokenListView(OcpiView):
    """GET .../emsp/2.2.1/tokens (mod_tokens Sender "GET Method")."""

    module = "tokens"
    partner_role = "CPO"

    def get(self, request: HttpRequest) -> OcpiResult:
        def serialize(tokens: Iterable[IdToken]) -> list[dict[str, Any]]:
            return [token_object(token) for token in tokens]

        return paginated(request, _tokens(), serialize, updated_field="updated_at")


class TokenAuthorizeView(OcpiView):
    """POST .../emsp/2.2.1/tokens/{uid}/authorize[?type=] (real-time authorization)."""

    module = "tokens"
    partner_role = "CPO"

    def post(self, request: HttpRequest, token_uid: str) -> OcpiResult:
        kind = request.GET.get("type") or "RFID"  # default RFID (mod_tokens)
        if kind not in {"AD_HOC_USER", "APP_USER", "OTHER", "RFID"}:
            raise OcpiError(INVALID_PARAMETERS, f"type: unknown token type {kind!r}")
        location = request_json(request) if request.body else None
        if location is not None and not isinstance(location, dict):
            raise OcpiError(INVALID_PARAMETERS, "body: a LocationReferences object")
        token = _tokens().filter(token__iexact=token_uid).first()
        if token is None or _TYPES.get(IdToken.Kind(token.kind)) != kind:
            # mod_tokens "POST Method": an unknown token is HTTP 404, 2004.
            raise NotFound(f"Unknown token {token_uid}", UNKNOWN_TOKEN)
        rules = id_token_rules_authorization(token, at=timezone.now())
        # mod_tokens "AuthorizationInfo object".
        data: dict[str, Any] = {
            "allowed": _ALLOWED.get(TokenStatus(rules.status), "NOT_ALLOWED"),
            "token": token_object(token),
        }
        if location and location.get("location_id"):
            data["location"] = {"location_id": str(location["location_id"])[:36]}
        return OcpiResult(data=data)
