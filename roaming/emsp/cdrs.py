"""CDRs module, eMSP side, Receiver interface (OCPI 2.2.1 mod_cdrs).

A CPO partner POSTs the CDR of one of our drivers' sessions to
``/ocpi/emsp/2.2.1/cdrs``; we answer with its URL on our side in the
``Location`` header (mod_cdrs Receiver "POST Method"), where the CPO may GET
it. CDRs are immutable: a CDR posted again (a retry) changes nothing and is
answered the same. The CDR becomes the driver's charge: its total cost in its
currency, plus our uplift (``OCPI_EMSP_UPLIFT_PERCENT``) as its own line. It is
compared with the session pushes; energy, cost or end time beyond the
tolerances (``OCPI_CDR_TOLERANCE_*``), or no session pushed at all, flag it
as disputed, with the reason.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.urls import reverse

from roaming.emsp.sessions import (
    check_owner,
    currency,
    energy_wh,
    number,
    our_token,
    price,
    session_live_cost,
)
from roaming.models import Partner, PartnerCdr, PartnerSession
from roaming.transport import (
    INVALID_PARAMETERS,
    NotFound,
    OcpiError,
    OcpiResult,
    OcpiView,
    ocpi_datetime_parse,
    request_json,
    require_object,
    require_string,
)

_CENT = Decimal("0.01")
_REQUIRED = (
    "country_code",
    "party_id",
    "id",
    "start_date_time",
    "end_date_time",
    "cdr_token",
    "auth_method",
    "cdr_location",
    "currency",
    "charging_periods",
    "total_cost",
    "total_energy",
    "total_time",
    "last_updated",
)


def uplift_of(total: Decimal) -> Decimal:
    percent = Decimal(str(settings.OCPI_EMSP_UPLIFT_PERCENT))
    return (total * percent / 100).quantize(_CENT, rounding=ROUND_HALF_UP)


def dispute_reasons(cdr: PartnerCdr, session: PartnerSession | None) -> list[str]:
    """Where the CDR and the session pushes disagree beyond the tolerances."""
    if session is None:
        return ["no session was pushed for this CDR"]
    reasons = []
    kwh_gap = abs(cdr.energy_wh - session.energy_wh) / Decimal(1000)
    if kwh_gap > Decimal(str(settings.OCPI_CDR_TOLERANCE_KWH)):
        reasons.append(
            f"energy {cdr.energy_wh} Wh, the session pushes said {session.energy_wh} Wh"
        )
    pushed = session_live_cost(session)
    if pushed is None:
        reasons.append("the session pushes carried no cost")
    else:
        billed = (
            cdr.cost_incl_vat
            if session.cost_incl_vat is not None
            else (cdr.cost_excl_vat)
        )
        if abs(billed - pushed) > Decimal(str(settings.OCPI_CDR_TOLERANCE_COST)):
            reasons.append(
                f"cost {billed} {cdr.currency}, the session pushes said {pushed}"
            )
        if session.currency and session.currency != cdr.currency:
            reasons.append(f"currency {cdr.currency}, the session's {session.currency}")
    tolerance = timedelta(minutes=settings.OCPI_CDR_TOLERANCE_MINUTES)
    if (
        session.ended_at is not None
        and abs(cdr.ended_at - session.ended_at) > tolerance
    ):
        reasons.append(
            f"ended {cdr.ended_at:%Y-%m-%d %H:%M} UTC, the session pushes said "
            f"{session.ended_at:%Y-%m-%d %H:%M} UTC"
        )
    return reasons


def cdr_parse(partner: Partner, payload: Any) -> PartnerCdr:
    data = require_object(payload)
    for name in _REQUIRED:
        if data.get(name) is None:
            raise OcpiError(INVALID_PARAMETERS, f"Missing required field: {name}")
    location = require_object(data["cdr_location"], field="cdr_location")
    excl, incl = price(data["total_cost"], field="total_cost")
    uid, token = our_token(data["cdr_token"], field="cdr_token")
    cdr = PartnerCdr(
        partner=partner,
        country_code=require_string(data, "country_code", max_length=2).upper(),
        party_id=require_string(data, "party_id", max_length=3).upper(),
        cdr_id=require_string(data, "id", max_length=39),
        ocpi_session_id=str(data.get("session_id") or "")[:36],
        id_token=token,
        token_uid=uid,
        location_id=require_string(
            location, "id", max_length=36, prefix="cdr_location."
        ),
        evse_uid=require_string(
            location, "evse_uid", max_length=36, prefix="cdr_location."
        ),
        started_at=ocpi_datetime_parse(
            require_string(data, "start_date_time", max_length=25),
            field="start_date_time",
        ),
        ended_at=ocpi_datetime_parse(
            require_string(data, "end_date_time", max_length=25), field="end_date_time"
        ),
        energy_wh=energy_wh(number(data["total_energy"], field="total_energy")),
        currency=currency(data),
        cost_excl_vat=excl,
        # Without incl_vat the CPO charges no VAT on top (types "Price class").
        cost_incl_vat=incl if incl is not None else excl,
        data=data,
        last_updated=ocpi_datetime_parse(
            require_string(data, "last_updated", max_length=25), field="last_updated"
        ),
    )
    cdr.uplift = uplift_of(cdr.cost_incl_vat)
    return cdr


def cdr_store(*, partner: Partner, sender: tuple[str, str], payload: Any) -> PartnerCdr:
    """Keep a posted CDR (once), link it to its session, flag a dispute."""
    cdr = cdr_parse(partner, payload)
    check_owner(partner, sender, cdr.country_code, cdr.party_id)
    key = {
        "country_code": cdr.country_code,
        "party_id": cdr.party_id,
        "cdr_id": cdr.cdr_id,
    }
    existing = PartnerCdr.objects.filter(**key).first()
    if existing is not None:
        if existing.partner_id != partner.pk:
            raise OcpiError(INVALID_PARAMETERS, f"id: CDR {cdr.cdr_id} exists")
        return existing  # a retry: CDRs are immutable (mod_cdrs)
    session = None
    if cdr.ocpi_session_id:
        session = PartnerSession.objects.filter(
            partner=partner,
            country_code=cdr.country_code,
            party_id=cdr.party_id,
            session_id=cdr.ocpi_session_id,
        ).first()
    cdr.partner_session = session
    reasons = dispute_reasons(cdr, session)
    cdr.disputed = bool(reasons)
    cdr.dispute_reason = "; ".join(reasons)
    try:
        with transaction.atomic():
            cdr.save()
    except IntegrityError:  # the same CDR posted twice at once
        return PartnerCdr.objects.get(**key)
    return cdr


def cdr_url(request: HttpRequest, cdr: PartnerCdr) -> str:
    return request.build_absolute_uri(
        reverse("roaming:ocpi_emsp_cdr", kwargs={"cdr_pk": cdr.pk})
    )


class CdrListView(OcpiView):
    """POST .../emsp/2.2.1/cdrs (mod_cdrs Receiver "POST Method")."""

    module = "cdrs"
    partner_role = "CPO"

    def post(self, request: HttpRequest) -> OcpiResult:
        cdr = cdr_store(
            partner=self.caller.partner,
            sender=self.sender,
            payload=request_json(request),
        )
        return OcpiResult(headers={"Location": cdr_url(request, cdr)})


class CdrObjectView(OcpiView):
    """GET .../emsp/2.2.1/cdrs/{id}: the URL our POST answer named."""

    module = "cdrs"
    partner_role = "CPO"

    def get(self, request: HttpRequest, cdr_pk: int) -> OcpiResult:
        cdr = PartnerCdr.objects.filter(pk=cdr_pk, partner=self.caller.partner).first()
        if cdr is None:
            raise NotFound(f"Unknown CDR {cdr_pk}")
        return OcpiResult(data=cdr.data)
