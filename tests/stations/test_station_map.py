"""The station map's data and page: scope, refusals, availability classes and
the heat strip of the day in the station's own time zone."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from stations.models import ChargePoint, StatusChange
from tests.factories import (
    ChargePointFactory,
    ConnectorFactory,
    StationFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _connector(station, ocpp_id: str, status: str, *, online: bool = True):
    charge_point = ChargePointFactory(station=station, ocpp_id=ocpp_id)
    ChargePoint.objects.filter(pk=charge_point.pk).update(is_online=online)
    return ConnectorFactory(charge_point=charge_point, connector_id=1, status=status)


def test_data_lists_the_users_stations_with_each_connectors_availability(
    operator, station_a, network_b
) -> None:
    _connector(station_a, "CP-M1", "Available")
    _connector(station_a, "CP-M2", "Charging")
    _connector(station_a, "CP-M3", "Faulted")
    _connector(station_a, "CP-M4", "Available", online=False)  # charger offline
    StationFactory(network=station_a.network, name="No position", latitude=None)
    StationFactory(network=network_b, name="Other network")

    stations = _client(operator).get("/map/data/").json()["stations"]

    assert [station["name"] for station in stations] == ["City Mall"]
    (mall,) = stations
    assert (
        mall["available"],
        mall["occupied"],
        mall["out_of_order"],
        mall["offline"],
        mall["connectors"],
        mall["state"],
    ) == (1, 1, 1, 1, 4, "available")
    assert (mall["latitude"], mall["longitude"]) == (52.520008, 13.404954)
    assert mall["url"] == f"/stations/{station_a.pk}/"


def test_a_station_with_nothing_free_shows_what_most_connectors_are(
    operator, station_a
) -> None:
    _connector(station_a, "CP-F1", "Faulted")
    _connector(station_a, "CP-F2", "Unavailable")
    _connector(station_a, "CP-F3", "Charging")

    (mall,) = _client(operator).get("/map/data/").json()["stations"]

    assert mall["state"] == "out_of_order"


def test_another_networks_stations_stay_hidden_even_when_asked_for(
    operator, station_a, network_b
) -> None:
    StationFactory(network=network_b, name="Other network")

    response = _client(operator).get(f"/map/data/?network={network_b.pk}")

    assert response.status_code == 200
    assert response.json() == {"stations": []}
    page = _client(operator).get(f"/map/?network={network_b.pk}")
    assert "Other network" not in page.content.decode()


def test_refused_without_a_role_that_sees_stations(station_a) -> None:
    driver = UserFactory(username="driver-map", is_driver=True)
    assert _client(driver).get("/map/").status_code == 403
    assert _client(driver).get("/map/data/").status_code == 403
    anonymous = Client()
    assert anonymous.get("/map/").status_code == 302
    assert anonymous.get("/map/data/").status_code == 302


def test_the_heat_strip_is_the_stations_day_in_its_own_zone(
    operator, station_a
) -> None:
    station = StationFactory(
        network=station_a.network, name="Harbour", time_zone="America/New_York",
        latitude=Decimal("40.7"), longitude=Decimal("-74.0"),
    )  # fmt: skip
    connector = _connector(station, "CP-NY", "Available")
    # Available since well before the station's midnight, so every hour so far
    # of its day counts as available.
    StatusChange.objects.create(
        connector=connector,
        status="Available",
        at=timezone.now() - timedelta(days=2),
        received_at=timezone.now() - timedelta(days=2),
    )

    html = _client(operator).get("/map/").content.decode()

    strip = html.split('aria-label="Availability of Harbour today (America/New_York)"')[
        1
    ]
    strip = strip.split("</div>")[0]
    assert strip.count('class="heat-cell') == 24
    assert 'title="00:00 America/New_York: 100 % available"' in strip
    assert 'data-heat="1.00"' in strip
