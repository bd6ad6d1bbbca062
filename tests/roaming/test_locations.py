"""Locations pulled by an eMSP over HTTP: pages, filters, objects, publication."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.core.management import call_command

from roaming.publication import location_publication_set
from stations.models import Connector
from tests.factories import (
    ChargePointFactory,
    ConnectorFactory,
    NetworkFactory,
    StationFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def network():
    network = NetworkFactory(name="Roaming network")
    location_publication_set(network=network, is_published=True)
    return network


def _station(network, name, *, connectors=1, online=True):
    station = StationFactory(network=network, name=name)
    charge_point = ChargePointFactory(station=station, is_online=online)
    for number in range(1, connectors + 1):
        ConnectorFactory(charge_point=charge_point, connector_id=number)
    return station


def test_version_details_list_the_locations_sender(registered, cpo):
    assert registered.cpo_endpoints[("locations", "SENDER")] == (
        f"{cpo}/ocpi/cpo/2.2.1/locations"
    )


def test_pull_across_pages_returns_every_published_station_once(registered, network):
    stations = [_station(network, f"Site {n}") for n in range(5)]
    hidden = _station(network, "Withdrawn")
    location_publication_set(station=hidden, is_published=False)
    _station(NetworkFactory(name="Private"), "Never published")
    url = registered.cpo_endpoints[("locations", "SENDER")] + "?limit=2"

    items, pages = registered.get_all(url)

    assert [item["id"] for item in items] == [str(s.pk) for s in stations]
    assert len(pages) == 3
    assert pages[0].headers["x-total-count"] == "5"
    assert pages[0].headers["x-limit"] == "2"
    assert "link" not in pages[-1].headers
    assert pages[0].headers["ocpi-from-party-id"] == "CMS"
    assert pages[0].headers["ocpi-to-party-id"] == "EMS"


def test_the_server_caps_the_limit_and_says_so(registered, network):
    for n in range(4):
        _station(network, f"Site {n}")
    # The live server runs with the default limit of 100; ask for more.
    page = registered.call(
        "GET", registered.cpo_endpoints[("locations", "SENDER")] + "?limit=1000"
    )
    assert page.headers["x-limit"] == "100"
    assert len(page.data) == 4


def test_next_link_keeps_the_date_filters(registered, network):
    for n in range(3):
        _station(network, f"Site {n}")
    url = (
        registered.cpo_endpoints[("locations", "SENDER")]
        + "?limit=1&date_from=2020-01-01T00:00:00Z&date_to=2100-01-01T00:00:00Z"
    )
    page = registered.call("GET", url)
    link = page.headers["link"]
    assert link.endswith('>; rel="next"')
    query = parse_qs(urlparse(link[1 : link.index(">")]).query)
    assert query == {
        "offset": ["1"],
        "limit": ["1"],
        "date_from": ["2020-01-01T00:00:00Z"],
        "date_to": ["2100-01-01T00:00:00Z"],
    }


def test_date_from_is_inclusive_and_date_to_exclusive(registered, network):
    station = _station(network, "Site")
    Connector.objects.filter(charge_point__station=station).update(
        status_received_at=datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
    )
    base = registered.cpo_endpoints[("locations", "SENDER")]
    at = "2030-01-01T12:00:00Z"
    assert len(registered.call("GET", f"{base}?date_from={at}").data) == 1
    assert len(registered.call("GET", f"{base}?date_to={at}").data) == 0
    later = (datetime(2030, 1, 1, 12, tzinfo=UTC) + timedelta(seconds=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert len(registered.call("GET", f"{base}?date_to={later}").data) == 1


def test_a_location_maps_station_connectors_and_status(registered, network):
    station = _station(network, "Mapped", connectors=2)
    Connector.objects.filter(charge_point__station=station, connector_id=2).update(
        status="Charging", connector_type="CCS2", max_power_kw=150
    )
    base = registered.cpo_endpoints[("locations", "SENDER")]

    location = registered.call("GET", f"{base}/{station.pk}").data

    assert location["country"] == "DEU"
    assert location["coordinates"] == {
        "latitude": "52.520008",
        "longitude": "13.404954",
    }
    assert location["time_zone"] == "Europe/Berlin"
    assert location["opening_times"] == {"twentyfourseven": True}
    assert location["party_id"] == "CMS"
    first, second = location["evses"]
    assert first["status"] == "AVAILABLE"
    assert second["status"] == "CHARGING"
    assert "REMOTE_START_STOP_CAPABLE" in second["capabilities"]
    assert second["connectors"][0]["standard"] == "IEC_62196_T2_COMBO"
    assert second["connectors"][0]["power_type"] == "DC"
    assert second["connectors"][0]["max_electric_power"] == 150000
    evse = registered.call("GET", f"{base}/{station.pk}/{second['uid']}").data
    assert evse["uid"] == second["uid"]
    connector = registered.call("GET", f"{base}/{station.pk}/{second['uid']}/1").data
    assert connector["standard"] == "IEC_62196_T2_COMBO"


def test_an_offline_charger_shows_unknown(registered, network):
    station = _station(network, "Offline", online=False)
    base = registered.cpo_endpoints[("locations", "SENDER")]
    assert (
        registered.call("GET", f"{base}/{station.pk}").data["evses"][0]["status"]
        == "UNKNOWN"
    )


def test_unknown_and_unpublished_locations_are_404_2003(registered, network):
    hidden = _station(network, "Withdrawn")
    location_publication_set(station=hidden, is_published=False)
    base = registered.cpo_endpoints[("locations", "SENDER")]
    for url in (f"{base}/999999", f"{base}/{hidden.pk}", f"{base}/abc"):
        answer = registered.call("GET", url)
        assert (answer.status, answer.status_code) == (404, 2003)


def test_token_a_is_refused_on_locations(cpo, emsp, network):
    out = io.StringIO()
    call_command(
        "ocpi_token_a", "--country-code", "DE", "--party-id", "EMS", stdout=out
    )
    token_a = out.getvalue().split()[1].split("=", 1)[1]
    answer = emsp.call("GET", f"{cpo}/ocpi/cpo/2.2.1/locations", token=token_a)
    assert (answer.status, answer.status_code) == (401, 2000)


def test_wrong_routing_headers_are_refused(registered, network):
    base = registered.cpo_endpoints[("locations", "SENDER")]
    wrong_from = registered.call(
        "GET",
        base,
        headers={"OCPI-from-country-code": "FR", "OCPI-from-party-id": "XXX"},
    )
    assert (wrong_from.status, wrong_from.status_code) == (403, 2000)
    wrong_to = registered.call(
        "GET",
        base,
        headers={"OCPI-to-country-code": "NL", "OCPI-to-party-id": "NOP"},
    )
    assert (wrong_to.status, wrong_to.status_code) == (200, 2001)
    assert "OCPI-to" in wrong_to.body["status_message"]


def test_bad_pagination_parameters_are_2001_naming_them(registered, network):
    base = registered.cpo_endpoints[("locations", "SENDER")]
    for query, name in (
        ("limit=x", "limit"),
        ("offset=-1", "offset"),
        ("date_from=yesterday", "date_from"),
    ):
        answer = registered.call("GET", f"{base}?{query}")
        assert answer.status_code == 2001
        assert name in answer.body["status_message"]


def test_tariffs_of_published_networks_are_pulled_mapped_exactly(registered, network):
    from billing.models import Tariff, TariffElement

    tariff = Tariff.objects.create(
        network=network,
        name="Standard",
        currency="EUR",
        vat_percent=19,
        min_price="0.50",
        idle_grace_minutes=30,
    )
    TariffElement.objects.create(
        tariff=tariff,
        energy_price_per_kwh="0.3900",
        energy_step_wh=1,
        idle_price_per_minute="0.10",
        idle_step_s=60,
        days_of_week=["MONDAY", "TUESDAY"],
        min_duration_minutes=5,
    )
    private = NetworkFactory(name="Private")
    Tariff.objects.create(network=private, name="Hidden", currency="EUR")
    url = registered.cpo_endpoints[("tariffs", "SENDER")]

    items, _pages = registered.get_all(url)

    assert [item["id"] for item in items] == [str(tariff.pk)]
    [element] = items[0]["elements"]
    assert element["price_components"] == [
        {"type": "ENERGY", "price": 0.39, "vat": 19.0, "step_size": 1},
        {"type": "PARKING_TIME", "price": 6.0, "vat": 19.0, "step_size": 60},
    ]
    assert element["restrictions"] == {
        "min_duration": 300,
        "day_of_week": ["MONDAY", "TUESDAY"],
    }
    assert items[0]["min_price"] == {"excl_vat": 0.5, "incl_vat": 0.595}
    assert "30 idle minutes" in items[0]["tariff_alt_text"][0]["text"]
    one = registered.call("GET", f"{url}/{tariff.pk}")
    assert one.data["id"] == str(tariff.pk)
    missing = registered.call("GET", f"{url}/999999")
    assert (missing.status, missing.status_code) == (404, 2000)
