"""A driver's "stations near me" shows partner CPOs' locations, pushed to us over
OCPI, next to our own: marked as partner, with live EVSE status and the partner's
tariff as a price (real HTTP to a live server both ways)."""

from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from rest_framework.authtoken.models import Token

from tests.factories import (
    ChargePointFactory,
    ConnectorFactory,
    StationFactory,
    UserFactory,
)
from tests.roaming.cpo_platform import (
    CpoPlatform,
    connector,
    evse,
    location,
    stamp,
    tariff,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _nearby(base_url: str, user: Any, **query: str) -> list[dict[str, Any]]:
    token, _created = Token.objects.get_or_create(user=user)
    params = "&".join(f"{k}={v}" for k, v in {"lat": "52.520008", "lng": "13.404954",
                                                **query}.items())  # fmt: skip
    request = urllib.request.Request(
        f"{base_url}/api/v1/driver/stations/?{params}",
        headers={"Authorization": f"Token {token.key}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["results"]


@pytest.fixture
def pushed(partner_cpo: CpoPlatform) -> CpoPlatform:
    """Our station 'Mitte' at the point; the partner's LOC1 ~1.1 km away, LOC2 ~30 km."""
    station = StationFactory(name="Mitte")
    charger = ChargePointFactory(station=station, ocpp_id="MITTE-1", is_online=True)
    ConnectorFactory(charge_point=charger, connector_id=1, connector_type="Type2",
                     max_power_kw=Decimal("22"), status="Available")  # fmt: skip
    near = location("LOC1", "52.530000", "13.404954")
    near["evses"] = [
        evse("LOC1-1"),
        evse("LOC1-2", "CHARGING"),
        evse("LOC1-3", connectors=[connector("1", standard="IEC_62196_T2",
             power_type="AC_3_PHASE", format="SOCKET", max_voltage=230,
             max_amperage=16, max_electric_power=None, tariff_ids=["AC"])]),
    ]  # fmt: skip
    for body in (near, location("LOC2", "52.790000", "13.404954")):
        answer = partner_cpo.call(
            "PUT", partner_cpo.location_url(body["id"]), body=body
        )
        assert answer.status_code == 1000, answer.body
    for body in (tariff("FAST"), _time_of_day_tariff()):
        answer = partner_cpo.call("PUT", partner_cpo.tariff_url(body["id"]), body=body)
        assert answer.status_code == 1000, answer.body
    return partner_cpo


DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]


def _time_of_day_tariff() -> dict[str, Any]:
    """AC: 0.30/kWh on every day but today (in Berlin), else 0.40/kWh + 1.20/h, no VAT."""
    today = datetime.now(tz=ZoneInfo("Europe/Berlin")).weekday()
    body = tariff("AC")
    body["elements"] = [
        {
            "price_components": [{"type": "ENERGY", "price": 0.30, "step_size": 1}],
            "restrictions": {"day_of_week": [d for i, d in enumerate(DAYS) if i != today]},
        },
        {"price_components": [{"type": "ENERGY", "price": 0.40, "step_size": 1},
                              {"type": "TIME", "price": 1.20, "step_size": 60}]},
    ]  # fmt: skip
    return body


def test_partner_locations_are_found_with_live_status_and_price(pushed, cpo):
    driver = UserFactory(username="driver-anna", is_driver=True)
    rows = _nearby(cpo, driver, radius_km="5")

    assert [(r["name"], r["is_partner"]) for r in rows] == [
        ("Mitte", False),
        ("Partner site LOC1", True),
    ]
    partner = rows[1]
    assert partner["operator"] == "Blitz Laden GmbH"
    assert partner["id"] is None
    assert partner["partner_location"] == {
        "country_code": "FR",
        "party_id": "CPX",
        "location_id": "LOC1",
    }
    assert 1.0 < partner["distance_km"] < 1.2
    by_evse = {c["evse_uid"]: c for c in partner["connectors"]}
    assert by_evse["LOC1-1"]["status"] == "Available"
    assert by_evse["LOC1-1"]["is_available"] is True
    assert by_evse["LOC1-2"]["status"] == "Charging"
    assert partner["available_connectors"] == 2
    fast = by_evse["LOC1-1"]["partner_price"]
    assert fast["currency"] == "EUR"
    assert fast["energy_per_kwh"] == "0.7021"  # 0.59 + 19 % VAT
    assert fast["flat_per_session"] == "1.1900"
    assert fast["parking_per_minute"] == "0.1000"  # 6.00/h, no VAT given
    assert fast["description"] == "0.70/kWh incl. VAT"
    assert by_evse["LOC1-1"]["connector_type"] == "CCS2"
    assert by_evse["LOC1-1"]["max_power_kw"] == "150.00"
    ac = by_evse["LOC1-3"]
    assert ac["connector_type"] == "Type2"
    assert ac["max_power_kw"] == "11.04"
    assert ac["partner_price"]["energy_per_kwh"] == "0.4000"  # the element in force
    assert ac["partner_price"]["charging_per_minute"] == "0.0200"
    assert ac["partner_price"]["elements"][1]["components"][0]["vat_percent"] is None
    assert rows[0]["connectors"][0]["partner_price"] is None

    # A status push changes what the driver sees at once; a REMOVED EVSE goes.
    later = stamp(datetime.now(tz=UTC) + timedelta(seconds=5))
    for uid, status in (("LOC1-1", "CHARGING"), ("LOC1-3", "REMOVED")):
        answer = pushed.call("PATCH", pushed.location_url("LOC1", uid),
                             body={"status": status, "last_updated": later})  # fmt: skip
        assert answer.status_code == 1000
    partner = _nearby(cpo, driver, radius_km="5")[1]
    assert [c["evse_uid"] for c in partner["connectors"]] == ["LOC1-1", "LOC1-2"]
    assert partner["available_connectors"] == 0


def test_partner_locations_follow_the_finder_filters(pushed, cpo):
    driver = UserFactory(username="driver-ben", is_driver=True)
    wide = _nearby(cpo, driver, radius_km="50")
    assert [r["name"] for r in wide] == [
        "Mitte",
        "Partner site LOC1",
        "Partner site LOC2",
    ]
    fast = _nearby(cpo, driver, radius_km="5", min_power_kw="100")
    assert [r["name"] for r in fast] == ["Partner site LOC1"]
    type2 = _nearby(cpo, driver, radius_km="5", connector_type="Type2")
    assert [(r["name"], len(r["connectors"])) for r in type2] == [
        ("Mitte", 1),
        ("Partner site LOC1", 1),
    ]
    unpublished = location("LOC1", "52.530000", "13.404954", publish=False,
                           last_updated=stamp(datetime.now(tz=UTC) + timedelta(seconds=5)))  # fmt: skip
    assert (
        pushed.call("PUT", pushed.location_url("LOC1"), body=unpublished).status_code
        == 1000
    )
    assert [r["name"] for r in _nearby(cpo, driver, radius_km="5")] == ["Mitte"]
