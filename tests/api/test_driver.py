"""The driver app's endpoints: search, start/stop, live session, history, receipts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.throttling import ScopedRateThrottle

from sessions_app.models import SessionStatus
from stations.models import ChargePointCommand, CommandStatus
from stations.remote.models import RemoteStartRequest
from tests.factories import (
    ChargePointFactory,
    ChargingSessionFactory,
    ConnectorFactory,
    StationFactory,
)

BERLIN = {"lat": "52.520008", "lng": "13.404954"}


@pytest.fixture
def stations(network_a, tariff_a):
    """Mitte (0 km, online AC + DC), Potsdam (~27 km, offline), Hamburg (~255 km)."""
    mitte = StationFactory(network=network_a, name="Mitte")
    online = ChargePointFactory(station=mitte, ocpp_id="MITTE-1", is_online=True)
    ConnectorFactory(charge_point=online, connector_id=1, connector_type="Type2",
                     max_power_kw=Decimal("22"), status="Available")  # fmt: skip
    ConnectorFactory(charge_point=online, connector_id=2, connector_type="CCS2",
                     max_power_kw=Decimal("150"), status="Faulted")  # fmt: skip
    potsdam = StationFactory(network=network_a, name="Potsdam",
                             latitude=Decimal("52.390569"), longitude=Decimal("13.064473"))  # fmt: skip
    offline = ChargePointFactory(station=potsdam, ocpp_id="POTSDAM-1", is_online=False)
    ConnectorFactory(charge_point=offline, connector_id=1, status="Available")
    hamburg = StationFactory(network=network_a, name="Hamburg",
                             latitude=Decimal("53.551086"), longitude=Decimal("9.993682"))  # fmt: skip
    far = ChargePointFactory(station=hamburg, ocpp_id="HH-1", is_online=True)
    ConnectorFactory(charge_point=far, connector_id=1, status="Available")
    return {"mitte": mitte, "potsdam": potsdam, "hamburg": hamburg}


def _names(response):
    return [row["name"] for row in response.json()["results"]]


def test_nearby_lists_stations_within_radius_nearest_first(api, driver, stations):
    response = api("driver").get(
        "/api/v1/driver/stations/", {**BERLIN, "radius_km": 50}
    )
    assert response.status_code == 200
    assert _names(response) == ["Mitte", "Potsdam"]
    mitte, potsdam = response.json()["results"]
    assert mitte["distance_km"] < 0.01
    assert 20 < potsdam["distance_km"] < 35


def test_nearby_shows_live_availability_offline_and_faulted(api, driver, stations):
    response = api("driver").get(
        "/api/v1/driver/stations/", {**BERLIN, "radius_km": 50}
    )
    mitte, potsdam = response.json()["results"]
    statuses = {
        c["connector_type"]: (c["status"], c["is_available"])
        for c in mitte["connectors"]
    }
    assert statuses == {"Type2": ("Available", True), "CCS2": ("Faulted", False)}
    assert mitte["available_connectors"] == 1
    assert potsdam["connectors"][0]["status"] == "Offline"
    assert potsdam["available_connectors"] == 0


def test_nearby_filters_by_connector_type_and_power(api, driver, stations):
    client = api("driver")
    dc = client.get(
        "/api/v1/driver/stations/",
        {**BERLIN, "radius_km": 50, "connector_type": "CCS2"},
    )
    assert _names(dc) == ["Mitte"]
    assert [c["connector_type"] for c in dc.json()["results"][0]["connectors"]] == [
        "CCS2"
    ]
    fast = client.get(
        "/api/v1/driver/stations/", {**BERLIN, "radius_km": 50, "min_power_kw": 100}
    )
    assert _names(fast) == ["Mitte"]
    available = client.get(
        "/api/v1/driver/stations/",
        {**BERLIN, "radius_km": 50, "available_only": "true"},
    )
    assert _names(available) == ["Mitte"]


def test_nearby_quotes_the_price_that_would_apply(api, driver, stations):
    response = api("driver").get("/api/v1/driver/stations/", {**BERLIN, "radius_km": 1})
    price = response.json()["results"][0]["connectors"][0]["price"]
    assert price["currency"] == "EUR"
    assert price["vat_percent"] == "19.00"
    assert price["elements"][0]["energy_price_per_kwh"] == "0.5000"


def test_nearby_rejects_bad_coordinates_naming_the_field(api, driver):
    response = api("driver").get("/api/v1/driver/stations/", {"lat": "91", "lng": "x"})
    assert response.status_code == 400
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"lat", "lng"}


def test_start_on_offline_charger_resolves_to_failure_reason(
    api, driver, driver_token, connector_a
):
    client = api("driver")
    response = client.post("/api/v1/driver/starts/",
                           {"connector": connector_a.pk, "id_token": driver_token.pk}, format="json")  # fmt: skip
    assert response.status_code == 202
    handle = client.get(response.json()["url"]).json()
    assert handle["status"] == "failed"
    assert handle["failure_reason"] == "offline"
    assert handle["transaction_id"] is None
    command = ChargePointCommand.objects.get()
    assert command.action == "RemoteStartTransaction"
    assert command.payload["idTag"] == "ANNA-APP-1"


def test_start_with_someone_elses_token_is_refused(
    api, driver, other_driver_token, connector_a
):
    response = api("driver").post("/api/v1/driver/starts/",
                                  {"connector": connector_a.pk, "id_token": other_driver_token.pk}, format="json")  # fmt: skip
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "id_token"
    assert not RemoteStartRequest.objects.exists()


def test_start_with_blocked_token_is_refused(api, driver, driver_token, connector_a):
    driver_token.status = "Blocked"
    driver_token.save()
    response = api("driver").post("/api/v1/driver/starts/",
                                  {"connector": connector_a.pk, "id_token": driver_token.pk}, format="json")  # fmt: skip
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {"field": "id_token", "message": "This token is blocked."}
    ]
    assert not ChargePointCommand.objects.exists()


def test_start_handle_of_another_driver_is_not_found(
    api, driver, other_driver, driver_token, connector_a
):
    response = api("driver").post("/api/v1/driver/starts/",
                                  {"connector": connector_a.pk, "id_token": driver_token.pk}, format="json")  # fmt: skip
    assert api("other_driver").get(response.json()["url"]).status_code == 404


@pytest.fixture
def active_session(connector_a, driver_token, tariff_a):
    return ChargingSessionFactory(
        charge_point=connector_a.charge_point, connector=connector_a,
        connector_number=1, id_token=driver_token, id_tag=driver_token.token,
        started_at=timezone.now(), energy_wh=7200, power_w=11000.0,
    )  # fmt: skip


def test_active_session_shows_energy_power_and_cost(api, driver, active_session):
    response = api("driver").get("/api/v1/driver/sessions/active/")
    assert response.status_code == 200
    [row] = response.json()
    assert row["id"] == active_session.pk
    assert row["energy_wh"] == 7200
    assert row["power_w"] == 11000.0
    assert row["currency"] == "EUR"
    assert row["cost"] is not None


def test_stop_sends_remote_stop_for_my_active_session(api, driver, active_session):
    response = api("driver").post(f"/api/v1/driver/sessions/{active_session.pk}/stop/")
    assert response.status_code == 202
    assert response.json()["command_status"] == CommandStatus.OFFLINE
    command = ChargePointCommand.objects.get(action="RemoteStopTransaction")
    assert command.payload == {"transactionId": active_session.pk}


def test_driver_cannot_see_or_stop_another_drivers_session(
    api, other_driver, active_session, receipt
):
    client = api("other_driver")
    assert (
        client.get(f"/api/v1/driver/sessions/{active_session.pk}/").status_code == 404
    )
    assert (
        client.post(f"/api/v1/driver/sessions/{active_session.pk}/stop/").status_code
        == 404
    )
    assert client.get("/api/v1/driver/sessions/").json()["results"] == []
    assert client.get("/api/v1/driver/receipts/").json()["results"] == []
    assert client.get(f"/api/v1/driver/receipts/{receipt.pk}/").status_code == 404
    assert client.get(f"/api/v1/driver/receipts/{receipt.pk}/pdf/").status_code == 404
    assert not ChargePointCommand.objects.exists()
    active_session.refresh_from_db()
    assert active_session.status == SessionStatus.ACTIVE


def test_history_and_receipt_json_and_pdf(api, driver, receipt):
    client = api("driver")
    [row] = client.get("/api/v1/driver/sessions/").json()["results"]
    assert row["receipt_id"] == receipt.pk
    assert Decimal(row["cost"]) == receipt.total_amount
    detail = client.get(f"/api/v1/driver/receipts/{receipt.pk}/").json()
    assert detail["number"] == receipt.number
    assert Decimal(detail["total_amount"]) == Decimal("11.9000")  # 20 kWh x 0.50 + 19 %
    pdf = client.get(detail["pdf_url"])
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")


def test_driver_endpoints_are_rate_limited(api, driver, monkeypatch):
    monkeypatch.setattr(ScopedRateThrottle, "THROTTLE_RATES", {"driver": "3/min"})
    client = api("driver")
    codes = [client.get("/api/v1/driver/tokens/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert client.get("/api/v1/driver/tokens/").json()["errors"][0]["field"] is None
