"""The portal search page: each registered section lists what it found."""

from __future__ import annotations

from django.urls import reverse

from tests.factories import ChargingSessionFactory, IdTokenFactory


def test_search_page_lists_tokens_and_sessions_with_their_links(
    client, operator, network_a, charge_point_a
):
    token = IdTokenFactory(token="RFID-A-77", network=network_a)
    session = ChargingSessionFactory(charge_point=charge_point_a, id_tag="RFID-A-77")
    client.force_login(operator)

    page = client.get(reverse("stations:search"), {"q": "RFID-A-77"}).content.decode()

    assert "<h2>Id tokens</h2>" in page
    assert "RFID-A-77" in page
    assert "<h2>Sessions</h2>" in page
    assert reverse("charging:session_detail", args=[session.pk]) in page
    assert f"Session #{session.pk}" in page
    assert token.network.name in page


def test_search_page_lists_charge_points_and_stations(
    client, operator, station_a, charge_point_a
):
    client.force_login(operator)

    by_charger = client.get(reverse("stations:search"), {"q": "CP-A"}).content.decode()
    by_station = client.get(reverse("stations:search"), {"q": "mall"}).content.decode()

    assert "<h2>Charge points</h2>" in by_charger
    assert (
        reverse("stations:charge_point_detail", args=[charge_point_a.pk]) in by_charger
    )
    assert "<h2>Stations</h2>" in by_station
    assert reverse("stations:station_detail", args=[station_a.pk]) in by_station
