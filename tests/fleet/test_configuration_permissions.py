"""Who may declare configuration and read drift: portal, API and manage.py."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import AuditLog
from stations.fleet.configuration import configuration_converge, desired_declare
from stations.fleet.models import ConfigurationDrift, DesiredConfiguration
from tests.factories import ChargePointFactory

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    key, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key.key}")
    return client


@pytest.fixture
def declared(station_a, operator) -> DesiredConfiguration:
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CFG-PERM-1")
    desired = desired_declare(
        network=station_a.network,
        key="HeartbeatInterval",
        value="300",
        station=station_a,
        actor=operator,
    )
    configuration_converge(charge_point_id=charge_point.pk)
    return desired


@pytest.mark.parametrize(
    ("role", "expected"), [("support", 403), ("finance", 403), ("operator", 200)]
)
def test_configuration_pages_need_the_configuration_role(
    client, request, declared, role, expected
):
    client.force_login(request.getfixturevalue(role))
    page = client.get(reverse("fleet:desired_configuration"))
    drift = client.get(reverse("fleet:configuration_drift"))
    assert (page.status_code, drift.status_code) == (expected, expected)
    if expected == 200:
        assert declared.scope_label.encode() in page.content
        assert b"CFG-PERM-1" in drift.content
        assert b"Not read yet" in drift.content


def test_an_operator_of_another_network_sees_nothing_and_cannot_remove(
    client, outsider, declared
):
    client.force_login(outsider)
    page = client.get(reverse("fleet:desired_configuration"))
    assert page.status_code == 200
    assert b"HeartbeatInterval" not in page.content
    assert b"CFG-PERM-1" not in client.get(reverse("fleet:configuration_drift")).content
    removed = client.post(
        reverse("fleet:desired_configuration_remove", args=[declared.pk])
    )
    assert removed.status_code == 404
    assert DesiredConfiguration.objects.filter(pk=declared.pk).exists()


@pytest.mark.parametrize("role", ["support", "finance", "outsider"])
def test_denied_users_cannot_declare(client, request, station_a, role):
    client.force_login(request.getfixturevalue(role))
    response = client.post(
        reverse("fleet:desired_configuration"),
        {"network": station_a.network_id, "key": "HeartbeatInterval", "value": "60"},
    )
    assert response.status_code in (400, 403)
    assert not DesiredConfiguration.objects.exists()
    assert not AuditLog.objects.filter(action="desired_configuration.set").exists()


def test_operator_declares_in_the_portal_and_the_scope_is_checked(
    client, operator, station_a
):
    client.force_login(operator)
    both = client.post(
        reverse("fleet:desired_configuration"),
        {
            "network": station_a.network_id,
            "key": "HeartbeatInterval",
            "value": "60",
            "station": station_a.pk,
            "vendor": "ACME",
        },
    )
    assert both.status_code == 400
    assert b"Narrow the scope by one of" in both.content
    created = client.post(
        reverse("fleet:desired_configuration"),
        {"network": station_a.network_id, "key": "HeartbeatInterval", "value": "60"},
    )
    assert created.status_code == 302
    assert DesiredConfiguration.objects.get().value == "60"
    assert AuditLog.objects.filter(
        action="desired_configuration.set", actor=operator
    ).exists()


@pytest.mark.parametrize(
    ("role", "expected"), [("support", 403), ("finance", 403), ("operator", 201)]
)
def test_configuration_api_role(request, station_a, role, expected):
    client = api(request.getfixturevalue(role))
    response = client.post(
        "/api/v1/fleet/configuration/",
        {"network": station_a.network_id, "key": "HeartbeatInterval", "value": "90"},
        format="json",
    )
    assert response.status_code == expected
    assert DesiredConfiguration.objects.count() == (1 if expected == 201 else 0)
    assert client.get("/api/v1/fleet/configuration/drift/").status_code == (
        200 if expected == 201 else 403
    )


def test_configuration_api_other_network_and_bad_field(outsider, operator, declared):
    refused = api(outsider).post(
        "/api/v1/fleet/configuration/",
        {"network": declared.network_id, "key": "HeartbeatInterval", "value": "1"},
        format="json",
    )
    assert refused.status_code == 400
    assert refused.json()["errors"][0]["field"] == "network"
    assert api(outsider).get("/api/v1/fleet/configuration/drift/").json() == []
    bad = api(operator).post(
        "/api/v1/fleet/configuration/",
        {"network": declared.network_id, "key": "", "value": "1"},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "key"
    drift = api(operator).get("/api/v1/fleet/configuration/drift/").json()
    assert [(d["charge_point"], d["state"], d["scope"]) for d in drift] == [
        ("CFG-PERM-1", "unknown", f"station {declared.station}")
    ]


def test_manage_py_declares_as_the_user(operator, support, station_a):
    with pytest.raises(CommandError, match="refused"):
        call_command(
            "desired_configuration",
            "set",
            "HeartbeatInterval",
            "300",
            "--user",
            support.username,
            "--network",
            station_a.network.name,
        )
    out = io.StringIO()
    call_command(
        "desired_configuration",
        "set",
        "HeartbeatInterval",
        "300",
        "--user",
        operator.username,
        "--network",
        station_a.network.name,
        "--station",
        str(station_a.pk),
        stdout=out,
    )
    assert '"scope": "station ' in out.getvalue()
    assert DesiredConfiguration.objects.get().station == station_a
    assert not ConfigurationDrift.objects.exists()
