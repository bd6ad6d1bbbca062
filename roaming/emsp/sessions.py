"""Sessions module, eMSP side, Receiver interface (OCPI 2.2.1 mod_sessions).

A CPO partner PUTs the Session of one of our drivers when it starts, PATCHes
what changes (energy, the live cost, the status) and may GET it back, at
``/ocpi/emsp/2.2.1/sessions/{country_code}/{party_id}/{session_id}``. The
object is kept as sent (``roaming.PartnerSession``) with the figures read out
of it: energy in Wh, the cost in the session's currency (Decimal).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.http import HttpRequest

from roaming.models import Partner, PartnerSession
from roaming.transport import (
    INVALID_PARAMETERS,
    NotFound,
    OcpiError,
    OcpiResult,
    OcpiView,
    ocpi_datetime_parse,
    our_party,
    request_json,
    require_object,
    require_string,
)
from sessions_app.models import IdToken

# mod_sessions "SessionStatus enum".
STATUSES = {"ACTIVE", "COMPLETED", "INVALID", "PENDING", "RESERVATION"}
_REQUIRED = (
    "country_code",
    "party_id",
    "id",
    "start_date_time",
    "kwh",
    "cdr_token",
    "auth_method",
    "location_id",
    "evse_uid",
    "connector_id",
    "currency",
    "status",
    "last_updated",
)


def number(value: Any, *, field: str) -> Decimal:
    """An OCPI number (JSON number, or a numeric string some peers send)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise OcpiError(INVALID_PARAMETERS, f"{field}: a number is required")
    try:
        parsed = Decimal(str(value))
    except InvalidOperation:
        raise OcpiError(INVALID_PARAMETERS, f"{field}: a number is required") from None
    if not parsed.is_finite() or parsed < 0:
        raise OcpiError(INVALID_PARAMETERS, f"{field}: a number of 0 or more")
    return parsed


def price(value: Any, *, field: str) -> tuple[Decimal, Decimal | None]:
    """A Price object (types "Price class"): excl_vat and the optional incl_vat."""
    data = require_object(value, field=field)
    if "excl_vat" not in data:
        raise OcpiError(INVALID_PARAMETERS, f"Missing required field: {field}.excl_vat")
    excl = number(data["excl_vat"], field=f"{field}.excl_vat")
    incl = data.get("incl_vat")
    return excl, (None if incl is None else number(incl, field=f"{field}.incl_vat"))


def energy_wh(kwh: Decimal) -> int:
    return int((kwh * 1000).to_integral_value())


def currency(data: dict[str, Any]) -> str:
    value = require_string(data, "currency", max_length=3).upper()
    if len(value) != 3 or not value.isalpha():
        raise OcpiError(INVALID_PARAMETERS, "currency: an ISO 4217 code is required")
    return value


def our_token(cdr_token: Any, *, field: str) -> tuple[str, IdToken | None]:
    """The uid of a CdrToken (mod_sessions "CdrToken class") and our IdToken for it."""
    data = require_object(cdr_token, field=field)
    uid = require_string(data, "uid", max_length=36, prefix=f"{field}.")
    ours = (
        str(data.get("country_code", "")).upper(),
        str(data.get("party_id", "")).upper(),
    ) in {our_party(), ("", "")}
    token = IdToken.objects.filter(token__iexact=uid).first() if ours else None
    return uid, token


def check_owner(
    partner: Partner, sender: tuple[str, str], country_code: str, party_id: str
) -> None:
    """The URL's party must be the sender's own (transport_and_format "Client
    Owned Object Push": only the owner pushes its objects)."""
    if (country_code.upper(), party_id.upper()) != sender or not partner.has_party(
        country_code, party_id
    ):
        raise OcpiError(
            INVALID_PARAMETERS,
            f"{country_code}*{party_id} is not the party sending this request",
        )


def _apply(row: PartnerSession, data: dict[str, Any], *, whole: bool) -> None:
    if whole or "status" in data:
        status = require_string(data, "status", max_length=12)
        if status not in STATUSES:
            raise OcpiError(INVALID_PARAMETERS, f"status: unknown value {status!r}")
        row.status = status
    if whole or "start_date_time" in data:
        row.started_at = ocpi_datetime_parse(
            require_string(data, "start_date_time", max_length=25),
            field="start_date_time",
        )
    if data.get("end_date_time"):
        row.ended_at = ocpi_datetime_parse(
            str(data["end_date_time"]), field="end_date_time"
        )
    if whole or "kwh" in data:
        row.energy_wh = energy_wh(number(data.get("kwh"), field="kwh"))
    if whole or "currency" in data:
        row.currency = currency(data)
    if data.get("total_cost") is not None:
        row.cost_excl_vat, row.cost_incl_vat = price(
            data["total_cost"], field="total_cost"
        )
    if whole or "cdr_token" in data:
        row.token_uid, row.id_token = our_token(
            data.get("cdr_token"), field="cdr_token"
        )
    for name in ("location_id", "evse_uid", "connector_id"):
        if whole or name in data:
            setattr(row, name, require_string(data, name, max_length=36))
    if data.get("authorization_reference"):
        row.authorization_reference = str(data["authorization_reference"])[:36]
    row.last_updated = ocpi_datetime_parse(
        require_string(data, "last_updated", max_length=25), field="last_updated"
    )


def session_store(
    *,
    partner: Partner,
    country_code: str,
    party_id: str,
    session_id: str,
    payload: Any,
    whole: bool,
) -> PartnerSession:
    """PUT (``whole``) or PATCH one Session; PATCH of an unknown one is a 404."""
    data = require_object(payload)
    if whole:
        for name in _REQUIRED:
            if data.get(name) is None:
                raise OcpiError(INVALID_PARAMETERS, f"Missing required field: {name}")
        if str(data["id"]) != session_id:
            raise OcpiError(INVALID_PARAMETERS, "id: differs from the URL's session id")
    elif "last_updated" not in data:
        # mod_sessions "PATCH Method": last_updated is always sent.
        raise OcpiError(INVALID_PARAMETERS, "Missing required field: last_updated")
    key = {
        "country_code": country_code.upper(),
        "party_id": party_id.upper(),
        "session_id": session_id,
    }
    with transaction.atomic():
        row = PartnerSession.objects.select_for_update().filter(**key).first()
        if row is None and not whole:
            raise NotFound(f"Unknown session {session_id}")
        if row is None:
            row = PartnerSession(partner=partner, **key)
        elif row.partner_id != partner.pk:
            raise NotFound(f"Unknown session {session_id}")
        _apply(row, data, whole=whole)
        row.data = data if whole else {**(row.data or {}), **data}
        row.save()
    return row


def session_live_cost(session: PartnerSession) -> Decimal | None:
    """The cost so far as the CPO last pushed it (incl. VAT when it says)."""
    if session.cost_incl_vat is not None:
        return session.cost_incl_vat
    return session.cost_excl_vat


class SessionObjectView(OcpiView):
    """PUT/PATCH/GET .../emsp/2.2.1/sessions/{country_code}/{party_id}/{session_id}."""

    module = "sessions"
    partner_role = "CPO"

    def _owned(self, country_code: str, party_id: str) -> None:
        check_owner(self.caller.partner, self.sender, country_code, party_id)

    def get(
        self, request: HttpRequest, country_code: str, party_id: str, session_id: str
    ) -> OcpiResult:
        self._owned(country_code, party_id)
        row = PartnerSession.objects.filter(
            partner=self.caller.partner,
            country_code=country_code.upper(),
            party_id=party_id.upper(),
            session_id=session_id,
        ).first()
        if row is None:
            raise NotFound(f"Unknown session {session_id}")
        return OcpiResult(data=row.data)

    def _store(
        self,
        request: HttpRequest,
        country_code: str,
        party_id: str,
        session_id: str,
        *,
        whole: bool,
    ) -> OcpiResult:
        self._owned(country_code, party_id)
        session_store(
            partner=self.caller.partner,
            country_code=country_code,
            party_id=party_id,
            session_id=session_id,
            payload=request_json(request),
            whole=whole,
        )
        return OcpiResult()

    def put(
        self, request: HttpRequest, country_code: str, party_id: str, session_id: str
    ) -> OcpiResult:
        return self._store(request, country_code, party_id, session_id, whole=True)

    def patch(
        self, request: HttpRequest, country_code: str, party_id: str, session_id: str
    ) -> OcpiResult:
        return self._store(request, country_code, party_id, session_id, whole=False)
