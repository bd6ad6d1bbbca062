"""Tokens module, eMSP side, Sender interface (OCPI 2.2.1 mod_tokens).

Our drivers' id tokens for CPOs: GET the list (paginated) to whitelist them,
and POST .../tokens/{uid}/authorize for real-time authorization, answered from
our token rules (``sessions_app.services.id_token_rules_authorization``: the
token's status, expiry and its group token's). Each token that is created,
changed (blocked, unblocked, its group token blocked) or expires is pushed to
every CPO partner's Tokens Receiver (``token_pushes_enqueue``, run by the
periodic sweep) through the push queue, so a CPO that is down receives it when
it is back.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from roaming.models import Partner, PartnerStatus, RoamingPush
from roaming.push import client_owned_url, push_enqueue
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


def _last_updated(token: IdToken, *, at: datetime) -> datetime:
    """When the token last changed as a CPO sees it: its own change, its group
    token's, or the moment it (or its group token) expired."""
    moments = [token.updated_at]
    for source in (token, token.parent):
        if source is None:
            continue
        moments.append(source.updated_at)
        if source.expires_at is not None and source.expires_at <= at:
            moments.append(source.expires_at)
    return max(moments)


def token_object(token: IdToken, *, at: datetime | None = None) -> dict[str, Any]:
    """One of our tokens as an OCPI Token (mod_tokens "Token object")."""
    at = at or timezone.now()
    country_code, party_id = our_party()
    rules = id_token_rules_authorization(token, at=at)
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
        "last_updated": ocpi_timestamp(_last_updated(token, at=at)),
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


# A change committed this long after its updated_at is still found by the next
# sweep; what was pushed already is recognised by its body and not sent again.
_COMMIT_MARGIN = timedelta(minutes=2)


def _changed_since(since: datetime, *, now: datetime) -> QuerySet[IdToken]:
    window = since - _COMMIT_MARGIN
    return _tokens().filter(
        Q(updated_at__gt=window)
        | Q(expires_at__gt=window, expires_at__lte=now)
        | Q(parent__updated_at__gt=window)
        | Q(parent__expires_at__gt=window, parent__expires_at__lte=now)
    )


def _same(pushed: dict[str, Any], body: dict[str, Any]) -> bool:
    def strip(value: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in value.items() if k != "last_updated"}

    return strip(pushed) == strip(body)


def token_pushes_enqueue(*, now: datetime | None = None) -> int:
    """Queue a PUT of every token that changed for every CPO with a Tokens Receiver.

    mod_tokens Receiver "PUT Method" carries the whole Token object (new or
    changed), so a CPO that missed an earlier push still ends with the token
    as it is. A partner registering gets all our tokens. Pushes of one token
    go out in order (``roaming.push``); a change already queued is not queued
    again. A sweep rather than an event subscriber: tokens change in the
    portal, the API and bulk imports, and expiry is no change at all.
    """
    now = now or timezone.now()
    queued = 0
    partners = Partner.objects.filter(status=PartnerStatus.REGISTERED)
    for candidate in partners:
        url = candidate.endpoint_url("tokens", "RECEIVER")
        if url is None or not candidate.has_role("CPO"):
            continue
        with transaction.atomic():
            # Two sweeps at once queue a change once: the partner row is the lock.
            partner = Partner.objects.select_for_update().get(pk=candidate.pk)
            since = partner.tokens_pushed_until
            tokens = _tokens() if since is None else _changed_since(since, now=now)
            for token in tokens.order_by("updated_at", "pk"):
                body = token_object(token, at=now)
                key = f"token:{token.token.upper()}"
                last = (
                    RoamingPush.objects.filter(
                        partner=partner, object_key=key, failed_at__isnull=True
                    )
                    .order_by("-pk")
                    .first()
                )
                if last is not None and _same(last.body, body):
                    continue
                push_enqueue(
                    partner=partner,
                    object_key=key,
                    method="PUT",
                    # mod_tokens Receiver: {url}/{country_code}/{party_id}/{uid}[?type=].
                    url=client_owned_url(url, quote(token.token, safe=""))
                    + f"?type={body['type']}",
                    body=body,
                )
                queued += 1
            Partner.objects.filter(pk=partner.pk).update(tokens_pushed_until=now)
    return queued
