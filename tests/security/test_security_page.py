"""The charger's Security page and the rotate-password action: roles and scope."""

from __future__ import annotations

import pytest
from django.urls import reverse

from stations.models import PasswordRotation
from tests.factories import ChargePointFactory

pytestmark = pytest.mark.django_db


def test_support_sees_the_page_but_cannot_rotate(client, support, station_a):
    charge_point = ChargePointFactory(station=station_a, password="old-pass-1234567")
    client.force_login(support)

    page = client.get(reverse("stations:charge_point_security", args=[charge_point.pk]))
    rotate = client.post(
        reverse("stations:charge_point_password_rotate", args=[charge_point.pk])
    )

    assert page.status_code == 200
    assert "Rotate OCPP password" not in page.content.decode()
    assert rotate.status_code == 403
    assert not PasswordRotation.objects.exists()


def test_other_networks_charger_is_not_shown(client, operator, station_b):
    charge_point = ChargePointFactory(station=station_b)
    client.force_login(operator)

    page = client.get(reverse("stations:charge_point_security", args=[charge_point.pk]))
    rotate = client.post(
        reverse("stations:charge_point_password_rotate", args=[charge_point.pk])
    )

    assert page.status_code == 404
    assert rotate.status_code == 404


def test_rotating_an_offline_chargers_password_is_refused_clearly(
    client, operator, station_a
):
    charge_point = ChargePointFactory(station=station_a, password="old-pass-1234567")
    client.force_login(operator)

    response = client.post(
        reverse("stations:charge_point_password_rotate", args=[charge_point.pk]),
        follow=True,
    )

    assert "The charger is not connected." in response.content.decode()
    assert not PasswordRotation.objects.exists()
    charge_point.refresh_from_db()
    assert charge_point.check_password("old-pass-1234567")
