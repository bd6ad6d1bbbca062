"""A CPO partner pushes our drivers' sessions and CDRs (mod_sessions / mod_cdrs
Receiver): live cost, the CDR as the driver's charge with our uplift, disputes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from roaming.emsp.cdrs import cdr_store
from roaming.models import Partner, PartnerCdr, PartnerSession
from tests.factories import IdTokenFactory
from tests.roaming.cpo_peer import COUNTRY_CODE, PARTY_ID, CpoPeer
from tests.roaming.emsp import EmspPlatform

pytestmark = pytest.mark.django_db(transaction=True)

START = "2026-12-01T08:00:00Z"


def session_object(session_id: str, uid: str, **changes: Any) -> dict[str, Any]:
    """A Session object of the CPO (mod_sessions "Session object")."""
    return {
        "country_code": COUNTRY_CODE,
        "party_id": PARTY_ID,
        "id": session_id,
        "start_date_time": START,
        "kwh": 0,
        "cdr_token": {
            "country_code": "NL",
            "party_id": "CMS",
            "uid": uid,
            "type": "RFID",
            "contract_id": f"NL-CMS-{uid}",
        },
        "auth_method": "COMMAND",
        "location_id": "LOC1",
        "evse_uid": "FR*CPX*E1",
        "connector_id": "1",
        "currency": "EUR",
        "status": "ACTIVE",
        "last_updated": START,
        **changes,
    }


def cdr_object(cdr_id: str, session_id: str, uid: str, **changes: Any) -> dict:
    """A CDR object of the CPO (mod_cdrs "CDR object")."""
    return {
        "country_code": COUNTRY_CODE,
        "party_id": PARTY_ID,
        "id": cdr_id,
        "start_date_time": START,
        "end_date_time": "2026-12-01T09:00:00Z",
        "session_id": session_id,
        "cdr_token": session_object(session_id, uid)["cdr_token"],
        "auth_method": "COMMAND",
        "cdr_location": {
            "id": "LOC1",
            "address": "1 Rue de Test",
            "city": "Lyon",
            "country": "FRA",
            "coordinates": {"latitude": "45.75", "longitude": "4.85"},
            "evse_uid": "FR*CPX*E1",
            "evse_id": "FR*CPX*E1",
            "connector_id": "1",
            "connector_standard": "IEC_62196_T2",
            "connector_format": "SOCKET",
            "connector_power_type": "AC_3_PHASE",
        },
        "currency": "EUR",
        "charging_periods": [
            {
                "start_date_time": START,
                "dimensions": [{"type": "ENERGY", "volume": 12.5}],
            }
        ],
        "total_cost": {"excl_vat": 5.00, "incl_vat": 6.05},
        "total_energy": 12.5,
        "total_time": 1.0,
        "last_updated": "2026-12-01T09:00:05Z",
        **changes,
    }


def _sessions_url(cpo: CpoPeer, session_id: str) -> str:
    base = cpo.emsp_endpoints[("sessions", "RECEIVER")]
    return f"{base}/{COUNTRY_CODE}/{PARTY_ID}/{session_id}"


def test_session_pushes_keep_the_live_cost_and_the_cdr_becomes_the_charge(
    registered_cpo: CpoPeer,
):
    token = IdTokenFactory(token="ROAM-DRIVER")
    url = _sessions_url(registered_cpo, "S-1")
    put = registered_cpo.call(
        "PUT", url, body=session_object("S-1", "ROAM-DRIVER"), routing=True
    )
    assert (put.status, put.status_code) == (200, 1000)
    patch = registered_cpo.call(
        "PATCH",
        url,
        body={
            "kwh": 6.25,
            "total_cost": {"excl_vat": 2.5, "incl_vat": 3.03},
            "last_updated": "2026-12-01T08:30:00Z",
        },
        routing=True,
    )
    assert patch.status_code == 1000
    session = PartnerSession.objects.get(session_id="S-1")
    assert session.id_token == token
    assert session.energy_wh == 6250
    assert session.cost_incl_vat == Decimal("3.03")
    assert session.status == "ACTIVE"
    got = registered_cpo.call("GET", url, routing=True)
    assert got.data["kwh"] == 6.25
    assert got.data["cdr_token"]["uid"] == "ROAM-DRIVER"

    registered_cpo.call(
        "PATCH",
        url,
        body={
            "kwh": 12.5,
            "status": "COMPLETED",
            "end_date_time": "2026-12-01T09:00:00Z",
            "total_cost": {"excl_vat": 5.0, "incl_vat": 6.05},
            "last_updated": "2026-12-01T09:00:00Z",
        },
        routing=True,
    )
    cdrs = registered_cpo.emsp_endpoints[("cdrs", "RECEIVER")]
    posted = registered_cpo.call(
        "POST", cdrs, body=cdr_object("CDR-1", "S-1", "ROAM-DRIVER"), routing=True
    )
    assert (posted.status, posted.status_code) == (200, 1000)
    location = posted.headers["location"]
    cdr = PartnerCdr.objects.get(cdr_id="CDR-1")
    assert cdr.partner_session == session
    assert cdr.id_token == token
    assert (cdr.energy_wh, cdr.currency) == (12500, "EUR")
    assert cdr.cost_incl_vat == Decimal("6.05")
    assert cdr.uplift == Decimal("0.00")  # no uplift set on this server
    assert cdr.driver_total == Decimal("6.05")
    assert not cdr.disputed
    # The CPO reads it back at the URL we answered with.
    assert registered_cpo.call("GET", location, routing=True).data["id"] == "CDR-1"
    # A retry of the same CDR changes nothing and keeps its URL.
    again = registered_cpo.call(
        "POST", cdrs, body=cdr_object("CDR-1", "S-1", "ROAM-DRIVER"), routing=True
    )
    assert again.headers["location"] == location
    assert PartnerCdr.objects.count() == 1


def test_our_uplift_is_its_own_line_on_the_drivers_charge(
    registered_cpo: CpoPeer, settings
):
    settings.OCPI_EMSP_UPLIFT_PERCENT = 10
    partner = Partner.objects.get(country_code=COUNTRY_CODE, party_id=PARTY_ID)
    cdr = cdr_store(
        partner=partner,
        sender=(COUNTRY_CODE, PARTY_ID),
        payload=cdr_object("CDR-U", "S-U", "ANY"),
    )
    assert cdr.cost_incl_vat == Decimal("6.05")
    assert cdr.uplift == Decimal("0.61")  # 10 % of 6.05, to the cent
    assert cdr.driver_total == Decimal("6.66")


def test_a_cdr_that_does_not_match_the_session_pushes_is_disputed(
    registered_cpo: CpoPeer,
):
    IdTokenFactory(token="ROAM-D2")
    registered_cpo.call(
        "PUT",
        _sessions_url(registered_cpo, "S-2"),
        body=session_object(
            "S-2",
            "ROAM-D2",
            kwh=10,
            status="COMPLETED",
            end_date_time="2026-12-01T09:00:00Z",
            total_cost={"excl_vat": 4.0, "incl_vat": 4.84},
        ),
        routing=True,
    )
    cdrs = registered_cpo.emsp_endpoints[("cdrs", "RECEIVER")]
    registered_cpo.call(
        "POST",
        cdrs,
        body=cdr_object(
            "CDR-2",
            "S-2",
            "ROAM-D2",
            total_energy=14.0,
            total_cost={"excl_vat": 6.0, "incl_vat": 7.26},
            end_date_time="2026-12-01T10:00:00Z",
        ),
        routing=True,
    )
    registered_cpo.call(
        "POST", cdrs, body=cdr_object("CDR-3", "S-NONE", "ROAM-D2"), routing=True
    )
    # Within the tolerances: 0.05 kWh and 0.04 EUR off, 5 minutes later.
    registered_cpo.call(
        "POST",
        cdrs,
        body=cdr_object(
            "CDR-4",
            "S-2",
            "ROAM-D2",
            total_energy=10.05,
            total_cost={"excl_vat": 4.03, "incl_vat": 4.88},
            end_date_time="2026-12-01T09:05:00Z",
        ),
        routing=True,
    )

    disputed = PartnerCdr.objects.get(cdr_id="CDR-2")
    assert disputed.disputed
    assert "energy 14000 Wh" in disputed.dispute_reason
    assert "cost 7.26" in disputed.dispute_reason
    assert "ended 2026-12-01 10:00 UTC" in disputed.dispute_reason
    orphan = PartnerCdr.objects.get(cdr_id="CDR-3")
    assert orphan.disputed
    assert orphan.dispute_reason == "no session was pushed for this CDR"
    assert not PartnerCdr.objects.get(cdr_id="CDR-4").disputed


def test_bad_pushes_get_ocpi_errors_and_strangers_are_refused(
    registered_cpo: CpoPeer, registered: EmspPlatform
):
    url = _sessions_url(registered_cpo, "S-9")
    body = session_object("S-9", "ANY")
    del body["currency"]
    missing = registered_cpo.call("PUT", url, body=body, routing=True)
    assert missing.status_code == 2001
    assert "currency" in missing.body["status_message"]
    bad_kwh = registered_cpo.call(
        "PUT", url, body=session_object("S-9", "ANY", kwh="lots"), routing=True
    )
    assert bad_kwh.status_code == 2001
    assert "kwh" in bad_kwh.body["status_message"]
    unknown = registered_cpo.call(
        "PATCH", url, body={"kwh": 1, "last_updated": START}, routing=True
    )
    assert unknown.status == 404
    malformed = registered_cpo.call("PUT", url, raw_body=b"{", routing=True)
    assert malformed.status == 400
    # Another party's URL: a CPO pushes only its own sessions.
    other = url.replace(f"/{COUNTRY_CODE}/{PARTY_ID}/", "/DE/XYZ/")
    foreign = registered_cpo.call(
        "PUT", other, body=session_object("S-9", "ANY"), routing=True
    )
    assert foreign.status_code == 2001
    cdrs = registered_cpo.emsp_endpoints[("cdrs", "RECEIVER")]
    cdr = cdr_object("CDR-9", "S-9", "ANY")
    del cdr["total_cost"]["excl_vat"]
    no_cost = registered_cpo.call("POST", cdrs, body=cdr, routing=True)
    assert no_cost.status_code == 2001
    assert "total_cost.excl_vat" in no_cost.body["status_message"]
    # An eMSP partner is refused our eMSP receivers.
    stranger = registered.call(
        "PUT", url, body=session_object("S-9", "ANY"), routing=True
    )
    assert stranger.status == 403
    assert PartnerSession.objects.count() == 0
    assert PartnerCdr.objects.count() == 0
