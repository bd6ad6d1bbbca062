"""The portal shows each charger's protocol; an operator caps the newest it may use."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditLog
from stations.models import ChargePoint
from tests.factories import ChargePointFactory

pytestmark = pytest.mark.django_db


def test_the_list_and_page_show_the_protocol_in_use(client, operator, station_a):
    ChargePointFactory(station=station_a, ocpp_id="CP-P16", ocpp_protocol="ocpp1.6")
    newer = ChargePointFactory(
        station=station_a, ocpp_id="CP-P201", ocpp_protocol="ocpp2.0.1"
    )
    client.force_login(operator)

    listing = client.get(reverse("stations:charge_point_list")).content.decode()
    page = client.get(
        reverse("stations:charge_point_detail", args=[newer.pk])
    ).content.decode()

    assert "OCPP 1.6J" in listing
    assert "OCPP 2.0.1" in listing
    assert "OCPP 2.0.1" in page
    assert "newest allowed: OCPP 2.0.1" in page


def test_an_operator_caps_the_newest_protocol_and_it_is_audited(
    client, operator, station_a
):
    charge_point = ChargePointFactory(station=station_a)
    client.force_login(operator)

    answer = client.post(
        reverse("stations:charge_point_edit", args=[charge_point.pk]),
        {
            "station": station_a.pk,
            "heartbeat_interval_s": 300,
            "ocpp_protocol_max": "ocpp1.6",
        },
    )

    assert answer.status_code == 302
    assert ChargePoint.objects.get(pk=charge_point.pk).ocpp_protocol_max == "ocpp1.6"
    entry = AuditLog.objects.filter(action="charge_point.update").latest("id")
    assert entry.after["ocpp_protocol_max"] == "ocpp1.6"


def test_an_unknown_protocol_is_refused_naming_the_field(client, operator, station_a):
    charge_point = ChargePointFactory(station=station_a)
    client.force_login(operator)

    answer = client.post(
        reverse("stations:charge_point_edit", args=[charge_point.pk]),
        {
            "station": station_a.pk,
            "heartbeat_interval_s": 300,
            "ocpp_protocol_max": "ocpp9.9",
        },
    )

    assert answer.status_code == 400
    assert "ocpp_protocol_max" in answer.context["form"].errors
    assert ChargePoint.objects.get(pk=charge_point.pk).ocpp_protocol_max == "ocpp2.0.1"


def test_a_viewer_without_the_change_permission_cannot_cap_it(
    client, finance, station_a
):
    charge_point = ChargePointFactory(station=station_a)
    client.force_login(finance)

    answer = client.post(
        reverse("stations:charge_point_edit", args=[charge_point.pk]),
        {
            "station": station_a.pk,
            "heartbeat_interval_s": 300,
            "ocpp_protocol_max": "ocpp1.6",
        },
    )

    assert answer.status_code in {403, 404}
    assert ChargePoint.objects.get(pk=charge_point.pk).ocpp_protocol_max == "ocpp2.0.1"
