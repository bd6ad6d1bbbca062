"""Sessions and CDRs modules, CPO side, Sender interface (OCPI 2.2.1 mod_sessions,
mod_cdrs): the roaming sessions of the calling partner only, and their CDRs.

A partner sees only sessions started with its own tokens (``RoamingSession``);
the same objects are pushed to it (``roaming/push.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest

from billing.models import Cdr
from roaming.countries import ALPHA_3
from roaming.cpo.locations import connector_standard
from roaming.models import CommandType, Partner, RoamingCommand, RoamingSession
from roaming.transport import OcpiResult, OcpiView, ocpi_timestamp, our_party, paginated
from sessions_app.models import ChargingSession, SessionStatus
from sessions_app.pricing import session_cost_estimate

_STATUS = {
    # mod_sessions "SessionStatus enum".
    SessionStatus.ACTIVE: "ACTIVE",
    SessionStatus.COMPLETED: "COMPLETED",
    SessionStatus.REJECTED: "INVALID",
}


def _cdr_token(link: RoamingSession) -> dict[str, Any]:
    # mod_cdrs "CdrToken class": who charged, as the eMSP knows the token.
    token = link.token
    if token is None:
        return {
            "country_code": link.partner.country_code,
            "party_id": link.partner.party_id,
            "uid": link.session.id_tag,
            "type": "RFID",
            "contract_id": link.session.id_tag,
        }
    return {
        "country_code": token.country_code,
        "party_id": token.party_id,
        "uid": token.uid,
        "type": token.type,
        "contract_id": token.contract_id,
    }


def _auth_method(link: RoamingSession) -> str:
    # mod_cdrs "AuthMethod enum": COMMAND for a START_SESSION, else the token
    # was checked with the eMSP (AUTH_REQUEST) or from its whitelist.
    session = link.session
    started_by_command = RoamingCommand.objects.filter(
        partner=link.partner,
        type=CommandType.START_SESSION,
        token_uid__iexact=session.id_tag,
        created_at__lte=session.created_at,
    ).exists()
    if started_by_command:
        return "COMMAND"
    if link.token is not None and link.token.whitelist in {"NEVER", "ALLOWED_OFFLINE"}:
        return "AUTH_REQUEST"
    return "WHITELIST"


def _kwh(energy_wh: int) -> float:
    return float(Decimal(energy_wh) / 1000)


def session_object(link: RoamingSession) -> dict[str, Any]:
    """A roaming session as an OCPI Session (mod_sessions "Session object")."""
    session: ChargingSession = link.session
    charge_point = session.charge_point
    country_code, party_id = our_party()
    currency = charge_point.station.network.currency if charge_point.station else "EUR"
    body: dict[str, Any] = {
        "country_code": country_code,
        "party_id": party_id,
        "id": str(session.pk),
        "start_date_time": ocpi_timestamp(session.started_at),
        "kwh": _kwh(session.energy_wh),
        "cdr_token": _cdr_token(link),
        "auth_method": _auth_method(link),
        "location_id": str(charge_point.station_id or ""),
        "evse_uid": f"{charge_point.ocpp_id}-{session.connector_number}"[:36],
        "connector_id": "1",
        "currency": currency,
        "status": _STATUS.get(SessionStatus(session.status), "INVALID"),
        "last_updated": ocpi_timestamp(session.updated_at),
    }
    if session.stopped_at is not None:
        body["end_date_time"] = ocpi_timestamp(session.stopped_at)
    if link.authorization_reference:
        body["authorization_reference"] = link.authorization_reference
    cost = session_cost_estimate(session)
    if cost is not None:
        amount, currency = cost
        body["currency"] = currency
        body["total_cost"] = {"excl_vat": float(amount)}
    return body


def session_changes(link: RoamingSession) -> dict[str, Any]:
    """The fields of a Session that change while charging (mod_sessions PATCH)."""
    full = session_object(link)
    keys = ("kwh", "status", "end_date_time", "total_cost", "currency", "last_updated")
    return {key: full[key] for key in keys if key in full}


def cdr_object(cdr: Cdr, link: RoamingSession) -> dict[str, Any]:
    """Our immutable CDR as an OCPI CDR (mod_cdrs "CDR object")."""
    session = link.session
    charge_point = session.charge_point
    station = cdr.station or charge_point.station
    if station is None:  # CDRs of chargers without a site are never roaming
        raise ValueError(f"CDR {cdr.number} has no station")
    connector = session.connector
    standard, form, power_type = connector_standard(connector)
    country_code, party_id = our_party()
    hours = Decimal(cdr.charging_seconds + cdr.idle_seconds) / 3600
    return {
        "country_code": country_code,
        "party_id": party_id,
        "id": cdr.number,
        "start_date_time": ocpi_timestamp(cdr.started_at),
        "end_date_time": ocpi_timestamp(cdr.stopped_at),
        "session_id": str(session.pk),
        "cdr_token": _cdr_token(link),
        "auth_method": _auth_method(link),
        **(
            {"authorization_reference": link.authorization_reference}
            if link.authorization_reference
            else {}
        ),
        "cdr_location": {
            "id": str(station.pk),
            "name": station.name,
            "address": (station.address or "#NA")[:45],
            "city": (station.city or "#NA")[:45],
            **(
                {"postal_code": station.postal_code[:10]} if station.postal_code else {}
            ),
            "country": ALPHA_3.get(station.country, station.country),
            "coordinates": {
                "latitude": "#NA"
                if station.latitude is None
                else f"{station.latitude:.6f}",
                "longitude": "#NA"
                if station.longitude is None
                else f"{station.longitude:.6f}",
            },
            "evse_uid": f"{charge_point.ocpp_id}-{session.connector_number}"[:36],
            "evse_id": f"{charge_point.ocpp_id}-{session.connector_number}"[:48],
            "connector_id": "1",
            "connector_standard": standard,
            "connector_format": form,
            "connector_power_type": power_type,
        },
        "currency": cdr.currency,
        # mod_cdrs "CDR object": charging_periods is required (+); one period
        # of the whole session's energy and time.
        "charging_periods": [
            {
                "start_date_time": ocpi_timestamp(cdr.started_at),
                "dimensions": [
                    {"type": "ENERGY", "volume": _kwh(cdr.energy_wh)},
                    {"type": "TIME", "volume": float(round(hours, 4))},
                ],
            }
        ],
        "total_cost": {
            "excl_vat": float(cdr.net_amount),
            "incl_vat": float(cdr.total_amount),
        },
        "total_energy": _kwh(cdr.energy_wh),
        "total_time": float(round(hours, 4)),
        "total_parking_time": float(round(Decimal(cdr.idle_seconds) / 3600, 4)),
        "last_updated": ocpi_timestamp(cdr.issued_at),
    }


def roaming_sessions_of(partner: Partner) -> QuerySet[RoamingSession]:
    return RoamingSession.objects.filter(partner=partner).select_related(
        "partner",
        "token",
        "session__charge_point__station__network",
        "session__connector",
    )


class SessionListView(OcpiView):
    module = "sessions"
    partner_role = "EMSP"

    def get(self, request: HttpRequest) -> OcpiResult:
        def serialize(links: Iterable[RoamingSession]) -> list[dict[str, Any]]:
            return [session_object(link) for link in links]

        return paginated(
            request,
            roaming_sessions_of(self.caller.partner),
            serialize,
            updated_field="session__updated_at",
        )


class CdrListView(OcpiView):
    module = "cdrs"
    partner_role = "EMSP"

    def get(self, request: HttpRequest) -> OcpiResult:
        links = {
            link.session_id: link for link in roaming_sessions_of(self.caller.partner)
        }
        cdrs = Cdr.objects.filter(session_id__in=list(links)).select_related("station")

        def serialize(items: Iterable[Cdr]) -> list[dict[str, Any]]:
            return [cdr_object(cdr, links[cdr.session_id]) for cdr in items]

        return paginated(request, cdrs, serialize, updated_field="issued_at")
