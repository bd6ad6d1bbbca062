"""Onboarding at scale: many unassigned chargers placed in one step, and chargers
imported from CSV with every bad line named and nothing written."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from accounts.models import AuditLog
from stations.charger_import import ChargerImportError, charge_points_import
from stations.models import ChargePoint, Connector, RegistrationStatus, Station
from tests.factories import ChargePointFactory, StationFactory

pytestmark = pytest.mark.django_db


def _unassigned(count: int, prefix: str = "NEW") -> list[ChargePoint]:
    return [
        ChargePointFactory(
            station=None,
            ocpp_id=f"{prefix}-{index:02d}",
            registration_status=RegistrationStatus.PENDING,
        )
        for index in range(count)
    ]


def _state() -> list[tuple]:
    return list(
        ChargePoint.objects.order_by("ocpp_id").values_list(
            "ocpp_id", "station_id", "registration_status"
        )
    ) + list(Connector.objects.order_by("pk").values_list("pk", "connector_type"))


def test_every_filtered_unassigned_charger_is_assigned_and_accepted_in_one_step(
    client, operator, station_a
):
    chargers = _unassigned(12)
    client.force_login(operator)

    response = client.post(
        reverse("stations:unassigned_onboard") + "?registration=Pending",
        {"everything": "on", "station": station_a.pk, "accept": "on"},
    )

    assert response.status_code == 302
    assert response["Location"].endswith("?registration=Pending")
    for charger in chargers:
        charger.refresh_from_db()
        assert charger.station == station_a
        assert charger.registration_status == RegistrationStatus.ACCEPTED
    assert AuditLog.objects.filter(action="charge_point.assign").count() == 12
    assert AuditLog.objects.filter(action="charge_point.approve").count() == 12
    page = client.get(reverse("stations:unassigned_list"))
    assert "No unassigned chargers." in page.content.decode()


def test_only_the_chosen_chargers_are_assigned(client, operator, station_a):
    first, second, third = _unassigned(3)
    client.force_login(operator)

    client.post(
        reverse("stations:unassigned_onboard"),
        {"charge_points": [first.pk, third.pk], "station": station_a.pk},
    )

    assert ChargePoint.objects.get(pk=first.pk).station == station_a
    assert ChargePoint.objects.get(pk=second.pk).station is None
    # not asked to accept: the registration stays as it was
    assert (
        ChargePoint.objects.get(pk=third.pk).registration_status
        == RegistrationStatus.PENDING
    )


def test_onboarding_without_a_choice_names_the_field(client, operator, station_a):
    _unassigned(2)
    client.force_login(operator)
    before = _state()

    response = client.post(
        reverse("stations:unassigned_onboard"), {"station": station_a.pk}
    )

    assert response.status_code == 400
    assert "charge_points" in response.context["onboard_form"].errors
    assert _state() == before


@pytest.mark.parametrize("role", ["support", "finance"])
def test_onboarding_is_refused_to_roles_without_it(client, request, role, station_a):
    _unassigned(2)
    client.force_login(request.getfixturevalue(role))
    before = _state()

    response = client.post(
        reverse("stations:unassigned_onboard"),
        {"everything": "on", "station": station_a.pk, "accept": "on"},
    )

    assert response.status_code == 403
    assert _state() == before


def test_onboarding_to_a_station_outside_the_scope_is_refused(
    client, operator, station_b
):
    _unassigned(2)
    client.force_login(operator)
    before = _state()

    response = client.post(
        reverse("stations:unassigned_onboard"),
        {"everything": "on", "station": station_b.pk},
    )

    assert response.status_code == 400
    assert "station" in response.context["onboard_form"].errors
    assert _state() == before


# --- CSV import ---------------------------------------------------------------


def _import(client, user, network, text: str):
    client.force_login(user)
    return client.post(
        reverse("stations:charger_import"),
        {
            "network": network.pk,
            "file": SimpleUploadedFile("chargers.csv", text.encode(), "text/csv"),
        },
    )


def test_csv_import_registers_new_and_places_waiting_chargers(
    client, operator, network_a, station_a
):
    (waiting,) = _unassigned(1, prefix="WAIT")
    StationFactory(network=network_a, name="Depot")
    text = (
        "ocpp_id,station,connectors,connector_types,max_power_kw\n"
        "WAIT-00,City Mall,2,CCS2;CHAdeMO,150;50\n"
        "FRESH-1,depot,1,Type2,22\n"
        "FRESH-2,Depot,,,\n"
    )

    response = _import(client, operator, network_a, text)

    assert response.status_code == 302
    waiting.refresh_from_db()
    assert waiting.station == station_a
    assert waiting.registration_status == RegistrationStatus.ACCEPTED
    assert list(
        waiting.connectors.order_by("connector_id").values_list(
            "connector_type", "max_power_kw"
        )
    ) == [("CCS2", Decimal("150.00")), ("CHAdeMO", Decimal("50.00"))]
    fresh = ChargePoint.objects.get(ocpp_id="FRESH-2")
    assert fresh.station.name == "Depot"
    assert list(fresh.connectors.values_list("connector_type", "max_power_kw")) == [
        ("Type2", Decimal("22.00"))
    ]


def test_csv_import_lists_every_bad_line_and_writes_nothing(
    client, operator, network_a, station_a, station_b
):
    ChargePointFactory(station=station_b, ocpp_id="ELSEWHERE")
    before = _state()
    text = (
        "ocpp_id,station,connectors,connector_types,max_power_kw\n"
        "GOOD-1,City Mall,1,Type2,22\n"
        "bad id,City Mall,1,Type2,22\n"
        "GOOD-2,Nowhere,1,Type2,22\n"
        "GOOD-3,City Mall,2,CCS2;CCS2;CCS2,50\n"
        "GOOD-4,City Mall,1,Plug,abc\n"
        "GOOD-1,City Mall,1,Type2,22\n"
        "ELSEWHERE,City Mall,1,Type2,22\n"
    )

    response = _import(client, operator, network_a, text)

    assert response.status_code == 400
    errors = [(e.line, e.column) for e in response.context["line_errors"]]
    assert errors == [
        (3, "ocpp_id"),
        (4, "station"),
        (5, "connector_types"),
        (6, "connector_types"),
        (6, "max_power_kw"),
        (7, "ocpp_id"),
        (8, "ocpp_id"),
    ]
    content = response.content.decode()
    assert "Nothing was imported: 7 problems" in content
    assert "No station “Nowhere” in this network." in content
    assert _state() == before


def test_csv_import_stays_in_the_chosen_networks_stations(operator, station_b):
    with pytest.raises(ChargerImportError) as caught:
        charge_points_import(
            actor=operator,
            csv_text="ocpp_id,station\nX-1,Airport\n",
            stations=Station.objects.filter(network__name="Network A"),
        )

    assert caught.value.errors[0].column == "station"
    assert not ChargePoint.objects.filter(ocpp_id="X-1").exists()


@pytest.mark.parametrize("role", ["support", "finance"])
def test_csv_import_is_refused_to_roles_without_it(client, request, role, network_a):
    before = _state()

    response = _import(
        client,
        request.getfixturevalue(role),
        network_a,
        "ocpp_id,station\nX,City Mall\n",
    )

    assert response.status_code == 403
    assert _state() == before


def test_csv_import_refuses_a_network_outside_the_scope(client, operator, network_b):
    response = _import(client, operator, network_b, "ocpp_id,station\nX,Airport\n")

    assert response.status_code == 400
    assert "network" in response.context["form"].errors
    assert not ChargePoint.objects.filter(ocpp_id="X").exists()
