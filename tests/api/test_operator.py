"""Operator endpoints: field-named errors, scope on input, filters, command outcome."""

from __future__ import annotations

import pytest

from accounts.models import AuditLog
from stations.models import ChargePointCommand, Station


def test_station_create_names_the_invalid_fields(api, operator, network_a):
    response = api("operator").post(
        "/api/v1/stations/create/",
        {"network": network_a.pk, "name": "", "latitude": "123"},
        format="json",
    )
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"name", "latitude"}
    assert not Station.objects.exists()


def test_model_validation_errors_name_the_field(api, operator, network_a, station_a):
    response = api("operator").post(
        "/api/v1/stations/create/",
        {"network": network_a.pk, "name": station_a.name, "time_zone": "Mars/Base"},
        format="json",
    )
    assert response.status_code == 400
    assert "time_zone" in {e["field"] for e in response.json()["errors"]}
    assert Station.objects.count() == 1


def test_station_create_in_scope_is_audited(api, operator, network_a):
    response = api("operator").post(
        "/api/v1/stations/create/",
        {"network": network_a.pk, "name": "Depot", "latitude": "52.5"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["time_zone"] == network_a.time_zone
    assert AuditLog.objects.filter(action="station.create").count() == 1


def test_tariff_element_errors_are_named_by_position(api, finance, network_a):
    response = api("finance").post(
        "/api/v1/tariffs/create/",
        {
            "network": network_a.pk,
            "name": "Bad",
            "currency": "EUR",
            "elements": [{"energy_price_per_kwh": "0.3"}, {"flat_price": "-1"}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "elements.1.flat_price"


def test_unknown_command_action_names_the_field(api, operator, charge_point_a):
    response = api("operator").post(
        f"/api/v1/charge-points/{charge_point_a.pk}/commands/",
        {"action": "SelfDestruct"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "action"
    assert not ChargePointCommand.objects.exists()


def test_invalid_command_payload_names_the_field(api, operator, charge_point_a):
    response = api("operator").post(
        f"/api/v1/charge-points/{charge_point_a.pk}/commands/",
        {"action": "Reset", "payload": {"type": "Explode"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"]
    assert not ChargePointCommand.objects.exists()


def test_command_outcome_is_polled_at_its_url(api, support, charge_point_a):
    client = api("support")
    response = client.post(
        f"/api/v1/charge-points/{charge_point_a.pk}/commands/",
        {"action": "UnlockConnector", "payload": {"connectorId": 1}},
        format="json",
    )
    assert response.status_code == 202
    outcome = client.get(response.json()["url"]).json()
    assert outcome["status"] == "offline"  # the charger is not connected


def test_lists_only_show_the_callers_networks(
    api, operator, outsider, station_a, station_b
):
    names = [
        s["name"] for s in api("operator").get("/api/v1/stations/").json()["results"]
    ]
    assert names == ["City Mall"]
    names = [
        s["name"] for s in api("outsider").get("/api/v1/stations/").json()["results"]
    ]
    assert names == ["Airport"]


def test_bad_ordering_names_the_parameter(api, operator, station_a):
    response = api("operator").get("/api/v1/sessions/", {"ordering": "password"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "ordering"


def test_revoked_token_answers_401(api, operator):
    client = api("operator")
    operator.auth_token.delete()
    assert client.get("/api/v1/networks/").status_code == 401


RESERVE_NOW = {"connectorId": 1, "idTag": "TAG-1", "expiryDate": "2099-01-01T00:00:00Z"}


def _reserve_now(api, charge_point, **extra):
    return api("operator").post(
        f"/api/v1/charge-points/{charge_point.pk}/commands/",
        {"action": "ReserveNow", "payload": {**RESERVE_NOW, **extra}},
        format="json",
    )


def test_reserve_now_gets_its_reservation_id_from_the_cms(
    api, operator, charge_point_a
):
    from stations.remote.models import Reservation

    response = _reserve_now(api, charge_point_a)

    assert response.status_code == 202, response.json()
    reservation = Reservation.objects.get(charge_point=charge_point_a)
    sent = ChargePointCommand.objects.get(pk=response.json()["id"])
    assert sent.payload["reservationId"] == reservation.pk


@pytest.mark.parametrize("spelling", ["reservationId", "reservation_id"])
def test_reserve_now_with_a_callers_reservation_id_is_refused_naming_it(
    api, operator, charge_point_a, spelling
):
    from stations.remote.models import Reservation

    response = _reserve_now(api, charge_point_a, **{spelling: 77})

    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "reservationId"
    assert "assigns" in response.json()["errors"][0]["message"]
    assert not Reservation.objects.exists()
    assert not ChargePointCommand.objects.exists()
