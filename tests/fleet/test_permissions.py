"""Who may see and steer firmware campaigns: portal, API and manage.py."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import AuditLog
from stations.fleet.models import CampaignStatus, FirmwareCampaign
from stations.fleet.services import campaign_create
from tests.factories import ChargePointFactory

pytestmark = pytest.mark.django_db
IMAGE = "https://firmware.example.com/simcharge-2.4.0.bin"


@pytest.fixture
def campaign(station_a, operator) -> FirmwareCampaign:
    for n in range(3):
        ChargePointFactory(station=station_a, ocpp_id=f"PERM-CP-{n}")
    return campaign_create(
        network=station_a.network,
        name="Rollout",
        location=IMAGE,
        version="2.4.0",
        created_by=operator,
    )


def api(user) -> APIClient:
    client = APIClient()
    key, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key.key}")
    return client


@pytest.mark.parametrize(
    ("role", "expected"),
    [("support", 403), ("finance", 403), ("outsider", 404), ("operator", 200)],
)
def test_campaign_page_needs_operations_in_scope(
    client, request, campaign, role, expected
):
    client.force_login(request.getfixturevalue(role))
    response = client.get(reverse("fleet:campaign_detail", args=[campaign.pk]))
    assert response.status_code == expected
    if expected == 200:
        assert b"Rollout" in response.content
        assert b"Waiting for its batch: <strong>3</strong>" in response.content


@pytest.mark.parametrize(
    ("role", "expected"),
    [("support", 403), ("finance", 403), ("outsider", 404)],
)
def test_denied_users_cannot_start_a_campaign(
    client, request, campaign, role, expected
):
    client.force_login(request.getfixturevalue(role))
    response = client.post(
        reverse("fleet:campaign_action", args=[campaign.pk, "start"])
    )
    assert response.status_code == expected
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    assert not AuditLog.objects.filter(action="firmware_campaign.started").exists()


def test_operator_starts_and_aborts_from_the_portal(client, operator, campaign):
    client.force_login(operator)
    url = reverse("fleet:campaign_action", args=[campaign.pk, "start"])
    assert client.post(url).status_code == 302
    # A second start is refused: the campaign is running already.
    assert client.post(url).status_code == 409
    abort = reverse("fleet:campaign_action", args=[campaign.pk, "abort"])
    assert client.post(abort).status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.ABORTED
    assert set(campaign.targets.values_list("state", flat=True)) == {"skipped"}
    actions = list(
        AuditLog.objects.filter(object_id=str(campaign.pk))
        .order_by("id")
        .values_list("action", "actor__username")
    )
    assert actions == [
        ("firmware_campaign.create", "operator"),
        ("firmware_campaign.started", "operator"),
        ("firmware_campaign.aborted", "operator"),
    ]


@pytest.mark.parametrize("role", ["support", "finance"])
def test_campaign_list_and_form_refused_to_other_roles(client, request, role):
    client.force_login(request.getfixturevalue(role))
    assert client.get(reverse("fleet:campaign_list")).status_code == 403
    assert client.get(reverse("fleet:campaign_new")).status_code == 403


def test_campaign_form_creates_with_the_operators_networks_only(
    client, operator, station_a, station_b
):
    ChargePointFactory(station=station_a, ocpp_id="FORM-CP-1")
    ChargePointFactory(station=station_b, ocpp_id="FORM-CP-2")
    client.force_login(operator)
    data = {
        "network": station_b.network_id,
        "location": IMAGE,
        "version": "2.4.0",
        "canary_percent": 10,
        "batch_size": 5,
        "pause_minutes": 1,
        "max_attempts": 2,
        "halt_failure_percent": 20,
    }
    refused = client.post(reverse("fleet:campaign_new"), data)
    assert refused.status_code == 400
    assert b"Select a valid choice" in refused.content
    data["network"] = station_a.network_id
    created = client.post(reverse("fleet:campaign_new"), data)
    assert created.status_code == 302
    campaign = FirmwareCampaign.objects.get()
    assert list(campaign.targets.values_list("charge_point__ocpp_id", flat=True)) == [
        "FORM-CP-1"
    ]


@pytest.mark.parametrize(
    ("role", "expected"),
    [("support", 403), ("finance", 403), ("outsider", 404), ("operator", 200)],
)
def test_campaign_api_detail_scope_and_role(request, campaign, role, expected):
    response = api(request.getfixturevalue(role)).get(
        f"/api/v1/fleet/campaigns/{campaign.pk}/"
    )
    assert response.status_code == expected
    if expected == 200:
        assert response.json()["progress"]["pending"] == 3


@pytest.mark.parametrize("role", ["support", "finance", "outsider"])
def test_campaign_api_list_and_create_refused_or_empty(request, campaign, role):
    client = api(request.getfixturevalue(role))
    listed = client.get("/api/v1/fleet/campaigns/")
    created = client.post(
        "/api/v1/fleet/campaigns/",
        {"network": campaign.network_id, "location": IMAGE, "version": "9.9"},
        format="json",
    )
    if role == "outsider":  # an operator of another network
        assert listed.status_code == 200
        assert listed.json() == []
        assert created.status_code == 400
        assert created.json()["errors"][0]["field"] == "network"
    else:
        assert listed.status_code == 403
        assert created.status_code == 403
    assert FirmwareCampaign.objects.count() == 1


def test_campaign_api_create_names_the_bad_field(operator, station_a):
    ChargePointFactory(station=station_a, ocpp_id="API-CP-1")
    client = api(operator)
    bad = client.post(
        "/api/v1/fleet/campaigns/",
        {"network": station_a.network_id, "location": "not a url", "version": "2"},
        format="json",
    )
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "location"
    none_match = client.post(
        "/api/v1/fleet/campaigns/",
        {
            "network": station_a.network_id,
            "location": IMAGE,
            "version": "2.4.0",
            "vendor": "Nobody",
        },
        format="json",
    )
    assert none_match.status_code == 400
    assert none_match.json()["errors"][0]["field"] == "targets"
    created = client.post(
        "/api/v1/fleet/campaigns/",
        {"network": station_a.network_id, "location": IMAGE, "version": "2.4.0"},
        format="json",
    )
    assert created.status_code == 201
    pk = created.json()["id"]
    paused = client.post(f"/api/v1/fleet/campaigns/{pk}/pause/")
    assert paused.status_code == 409
    assert client.post(f"/api/v1/fleet/campaigns/{pk}/start/").json()["status"] == (
        "running"
    )


def test_manage_py_acts_with_the_users_role(campaign, support, operator):
    with pytest.raises(CommandError, match="refused"):
        call_command(
            "firmware_campaign", "start", str(campaign.pk), "--user", support.username
        )
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.DRAFT
    out = io.StringIO()
    call_command(
        "firmware_campaign",
        "start",
        str(campaign.pk),
        "--user",
        operator.username,
        stdout=out,
    )
    assert '"status": "running"' in out.getvalue()


def test_manage_py_creates_a_campaign(operator, station_a):
    ChargePointFactory(station=station_a, ocpp_id="CLI-CP-1", firmware_version="1.0")
    ChargePointFactory(station=station_a, ocpp_id="CLI-CP-2", firmware_version="1.1")
    out = io.StringIO()
    call_command(
        "firmware_campaign",
        "create",
        "--user",
        operator.username,
        "--network",
        station_a.network.name,
        "--location",
        IMAGE,
        "--firmware-version",
        "2.4.0",
        "--from-version",
        "1.0",
        "--hours",
        "22-6",
        stdout=out,
    )
    campaign = FirmwareCampaign.objects.get()
    assert (campaign.allowed_from_hour, campaign.allowed_to_hour) == (22, 6)
    assert list(campaign.targets.values_list("charge_point__ocpp_id", flat=True)) == [
        "CLI-CP-1"
    ]
