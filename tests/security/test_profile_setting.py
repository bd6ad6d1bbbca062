"""The security profile is set per charger in the portal, audited, and checked."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditLog
from stations.models import SecurityProfile
from tests.factories import ChargePointFactory

pytestmark = pytest.mark.django_db


def test_operations_sets_a_chargers_security_profile(client, operator, station_a):
    charge_point = ChargePointFactory(station=station_a)
    client.force_login(operator)

    response = client.post(
        reverse("stations:charge_point_edit", args=[charge_point.pk]),
        {"station": station_a.pk, "heartbeat_interval_s": 300, "security_profile": 3},
    )

    assert response.status_code == 302
    charge_point.refresh_from_db()
    assert charge_point.security_profile == SecurityProfile.TLS_CLIENT_CERT
    entry = AuditLog.objects.get(action="charge_point.update")
    assert entry.after["security_profile"] == 3
    detail = client.get(reverse("stations:charge_point_detail", args=[charge_point.pk]))
    assert "3: TLS + client certificate" in detail.content.decode()


def test_profile_2_without_a_password_is_refused_naming_the_field(
    client, operator, station_a
):
    charge_point = ChargePointFactory(station=station_a)
    client.force_login(operator)

    response = client.post(
        reverse("stations:charge_point_edit", args=[charge_point.pk]),
        {"station": station_a.pk, "heartbeat_interval_s": 300, "security_profile": 2},
    )

    assert response.status_code == 400
    assert "Security profile 2 authenticates the charger by its password" in (
        response.content.decode()
    )
    charge_point.refresh_from_db()
    assert charge_point.security_profile == SecurityProfile.BASIC


def test_support_cannot_change_the_security_profile(client, support, station_a):
    charge_point = ChargePointFactory(station=station_a)
    client.force_login(support)

    response = client.post(
        reverse("stations:charge_point_edit", args=[charge_point.pk]),
        {"station": station_a.pk, "heartbeat_interval_s": 300, "security_profile": 1},
    )

    assert response.status_code == 403
    charge_point.refresh_from_db()
    assert charge_point.security_profile == SecurityProfile.BASIC


def test_other_networks_charger_is_out_of_scope(client, operator, station_b):
    charge_point = ChargePointFactory(station=station_b)
    client.force_login(operator)

    response = client.post(
        reverse("stations:charge_point_edit", args=[charge_point.pk]),
        {"station": station_b.pk, "heartbeat_interval_s": 300, "security_profile": 3},
    )

    assert response.status_code in (403, 404)
    charge_point.refresh_from_db()
    assert charge_point.security_profile == SecurityProfile.BASIC
