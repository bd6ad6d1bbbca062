"""A partner CPO pushes its Locations and Tariffs to us (eMSP Receiver interfaces),
over real HTTP from an independent CPO platform on loopback."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from roaming.models import PartnerConnector, PartnerEvse, PartnerLocation, PartnerTariff
from tests.roaming.cpo_platform import (
    CpoPlatform,
    connector,
    evse,
    location,
    stamp,
    tariff,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _later(seconds: int) -> str:
    return stamp(datetime.now(tz=UTC) + timedelta(seconds=seconds))


def test_a_pushed_location_is_stored_and_served_back(partner_cpo: CpoPlatform):
    body = location("LOC1", "52.520008", "13.404954")
    put = partner_cpo.call("PUT", partner_cpo.location_url("LOC1"), body=body)
    assert (put.status, put.status_code) == (200, 1000), put.body

    stored = PartnerLocation.objects.get(location_id="LOC1")
    assert stored.partner.party_id == "CPX"
    assert (stored.latitude, stored.longitude) == (
        Decimal("52.520008"),
        Decimal("13.404954"),
    )
    assert stored.operator_name == "Blitz Laden GmbH"
    assert stored.notes == []
    connectors = PartnerConnector.objects.filter(evse__location=stored)
    assert connectors.count() == 2
    assert {c.max_power_kw for c in connectors} == {Decimal("150.00")}
    assert {c.standard for c in connectors} == {"IEC_62196_T2_COMBO"}

    got = partner_cpo.call("GET", partner_cpo.location_url("LOC1"))
    assert got.data["id"] == "LOC1"
    assert [e["uid"] for e in got.data["evses"]] == ["LOC1-1", "LOC1-2"]
    assert got.data["evses"][0]["connectors"][0]["standard"] == "IEC_62196_T2_COMBO"
    evse_only = partner_cpo.call("GET", partner_cpo.location_url("LOC1", "LOC1-2"))
    assert evse_only.data["uid"] == "LOC1-2"
    one = partner_cpo.call("GET", partner_cpo.location_url("LOC1", "LOC1-2", "1"))
    assert one.data["max_electric_power"] == 150000


def test_status_patches_update_the_live_status_and_removed_evses_stay(
    partner_cpo: CpoPlatform,
):
    partner_cpo.call(
        "PUT",
        partner_cpo.location_url("LOC1"),
        body=location("LOC1", "52.520008", "13.404954"),
    )
    moment = _later(5)
    patch = partner_cpo.call(
        "PATCH",
        partner_cpo.location_url("LOC1", "LOC1-1"),
        body={"status": "CHARGING", "last_updated": moment},
    )
    assert patch.status_code == 1000, patch.body
    first = PartnerEvse.objects.get(uid="LOC1-1")
    assert first.status == "CHARGING"
    assert first.data["evse_id"] == "FR*CPX*ELOC1-1"  # merged, not replaced
    # The Location's last_updated follows its EVSE's.
    assert stamp(PartnerLocation.objects.get().last_updated) == moment

    removed = partner_cpo.call(
        "PATCH",
        partner_cpo.location_url("LOC1", "LOC1-2"),
        body={"status": "REMOVED", "last_updated": _later(6)},
    )
    assert removed.status_code == 1000
    assert PartnerEvse.objects.get(uid="LOC1-2").status == "REMOVED"
    got = partner_cpo.call("GET", partner_cpo.location_url("LOC1"))
    assert [e["status"] for e in got.data["evses"]] == ["CHARGING", "REMOVED"]

    # A connector PATCH and a connector PUT.
    power = partner_cpo.call(
        "PATCH",
        partner_cpo.location_url("LOC1", "LOC1-1", "1"),
        body={"max_electric_power": 50000, "last_updated": _later(7)},
    )
    assert power.status_code == 1000
    assert PartnerConnector.objects.get(evse__uid="LOC1-1").max_power_kw == 50
    second = partner_cpo.call(
        "PUT",
        partner_cpo.location_url("LOC1", "LOC1-1", "2"),
        body=connector("2", standard="IEC_62196_T2", power_type="AC_3_PHASE",
                       format="SOCKET", max_voltage=230, max_amperage=32,
                       max_electric_power=None, last_updated=_later(8)),
    )  # fmt: skip
    assert second.status_code == 1000, second.body
    ac = PartnerConnector.objects.get(evse__uid="LOC1-1", connector_id="2")
    assert ac.max_power_kw == Decimal("22.08")  # 230 V x 32 A x 3 phases

    # A new EVSE PUT into the location.
    added = partner_cpo.call(
        "PUT",
        partner_cpo.location_url("LOC1", "LOC1-3"),
        body=evse("LOC1-3", "OUTOFORDER", last_updated=_later(9)),
    )
    assert added.status_code == 1000
    assert PartnerEvse.objects.get(uid="LOC1-3").status == "OUTOFORDER"


def test_an_older_copy_does_not_overwrite_a_newer_one(partner_cpo: CpoPlatform):
    url = partner_cpo.location_url("LOC1")
    partner_cpo.call("PUT", url, body=location("LOC1", "52.520008", "13.404954"))
    partner_cpo.call(
        "PATCH",
        partner_cpo.location_url("LOC1", "LOC1-1"),
        body={"status": "CHARGING", "last_updated": _later(60)},
    )
    old = location("LOC1", "52.520008", "13.404954", last_updated=_later(-60))
    assert partner_cpo.call("PUT", url, body=old).status_code == 1000
    assert PartnerEvse.objects.get(uid="LOC1-1").status == "CHARGING"


def test_bad_fields_are_refused_naming_them_and_odd_ones_kept(
    partner_cpo: CpoPlatform,
):
    url = partner_cpo.location_url("LOC1")
    no_coordinates = location("LOC1", "52.520008", "13.404954")
    del no_coordinates["coordinates"]
    answer = partner_cpo.call("PUT", url, body=no_coordinates)
    assert (answer.status, answer.status_code) == (200, 2001)
    assert "coordinates" in answer.body["status_message"]

    bad_status = location("LOC1", "52.520008", "13.404954")
    bad_status["evses"][1]["status"] = "BROKEN"
    answer = partner_cpo.call("PUT", url, body=bad_status)
    assert answer.status_code == 2001
    assert "evses[1].status" in answer.body["status_message"]

    bad_power = location("LOC1", "52.520008", "13.404954")
    bad_power["evses"][0]["connectors"][0]["power_type"] = "AC"
    answer = partner_cpo.call("PUT", url, body=bad_power)
    assert "evses[0].connectors[0].power_type" in answer.body["status_message"]

    wrong_id = location("LOC2", "52.520008", "13.404954")
    answer = partner_cpo.call("PUT", url, body=wrong_id)
    assert answer.status_code == 2001
    assert "id" in answer.body["status_message"]
    assert not PartnerLocation.objects.exists()

    # Odd but usable: numbers for coordinates, a standard we do not know.
    odd = location("LOC1", "52.520008", "13.404954")
    odd["coordinates"] = {"latitude": 52.52, "longitude": 13.405}
    odd["evses"][0]["connectors"][0]["standard"] = "MCS"
    answer = partner_cpo.call("PUT", url, body=odd)
    assert answer.status_code == 1000, answer.body
    stored = PartnerLocation.objects.get()
    assert stored.latitude == Decimal("52.520000")
    assert any("coordinates.latitude" in note for note in stored.notes)
    assert any(
        "standard" in note for note in PartnerEvse.objects.get(uid="LOC1-1").notes
    )

    # PATCH must carry last_updated; an unknown object is 404 / 2003.
    answer = partner_cpo.call(
        "PATCH", partner_cpo.location_url("LOC1", "LOC1-1"), body={"status": "BLOCKED"}
    )
    assert answer.status_code == 2001
    assert "last_updated" in answer.body["status_message"]
    unknown = partner_cpo.call(
        "PATCH",
        partner_cpo.location_url("NOPE", "X"),
        body={"status": "BLOCKED", "last_updated": stamp()},
    )
    assert (unknown.status, unknown.status_code) == (404, 2003)
    malformed = partner_cpo.call("PUT", url, raw_body=b"{oops")
    assert malformed.status == 400


def test_a_partner_writes_only_its_own_party_and_strangers_are_refused(
    partner_cpo: CpoPlatform,
):
    base = partner_cpo.emsp_endpoints[("locations", "RECEIVER")]
    other = location("LOC1", "52.520008", "13.404954", party_id="XYZ")
    answer = partner_cpo.call("PUT", f"{base}/FR/XYZ/LOC1", body=other)
    assert answer.status == 403
    assert not PartnerLocation.objects.exists()
    stranger = partner_cpo.call(
        "PUT",
        partner_cpo.location_url("LOC1"),
        body=location("LOC1", "52.520008", "13.404954"),
        token="not-a-token",
    )
    assert stranger.status == 401


def test_tariffs_are_put_read_and_deleted(partner_cpo: CpoPlatform):
    url = partner_cpo.tariff_url("FAST")
    put = partner_cpo.call("PUT", url, body=tariff("FAST"))
    assert put.status_code == 1000, put.body
    stored = PartnerTariff.objects.get(tariff_id="FAST")
    assert stored.currency == "EUR"
    assert (
        partner_cpo.call("GET", url).data["elements"][0]["price_components"][0]["price"]
        == 0.59
    )

    missing_step = tariff("FAST")
    del missing_step["elements"][0]["price_components"][1]["step_size"]
    answer = partner_cpo.call("PUT", url, body=missing_step)
    assert answer.status_code == 2001
    assert "elements[0].price_components[1].step_size" in answer.body["status_message"]
    bad_currency = partner_cpo.call("PUT", url, body=tariff("FAST", currency="EURO"))
    assert "currency" in bad_currency.body["status_message"]

    assert partner_cpo.call("DELETE", url).status_code == 1000
    assert not PartnerTariff.objects.exists()
    gone = partner_cpo.call("GET", url)
    assert gone.status == 404
