"""One clock rule: network-wide lists in the reader's zone, a station's pages in the
station's zone, each time with its zone named; the reader chooses the zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog
from alerts.models import Alert, Rule
from alerts.services import alert_raise
from cms.validators import validate_time_zone

# 14:05 UTC on a winter day: 15:05 in Berlin, 09:05 in New York.
MOMENT = datetime(2026, 1, 15, 14, 5, tzinfo=UTC)


@pytest.fixture
def berlin_alert(network_a) -> Alert:
    alert = alert_raise(
        rule=Rule.BILLING_FAILURE,
        subject_key="session:1",
        title="Rating failed",
        network_id=network_a.pk,
    )
    Alert.objects.filter(pk=alert.pk).update(opened_at=MOMENT)
    return alert


def test_preferences_page_saves_a_zone_and_names_the_field_when_wrong(client, operator):
    client.force_login(operator)
    url = reverse("accounts:preferences")

    page = client.get(url)
    wrong = client.post(url, {"time_zone": "Mars/Olympus"})
    right = client.post(url, {"time_zone": "America/New_York"})

    assert page.status_code == 200
    assert "Europe/Berlin" in page.content.decode()  # the network's, by default
    assert wrong.status_code == 400
    assert "time_zone" in wrong.context["form"].errors
    assert "Mars/Olympus" in wrong.content.decode()
    assert right.status_code == 302
    operator.refresh_from_db()
    assert operator.time_zone == "America/New_York"


def test_preferences_page_needs_a_login(client):
    response = client.get(reverse("accounts:preferences"))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_a_user_changes_only_their_own_zone(client, operator, support):
    client.force_login(support)

    client.post(reverse("accounts:preferences"), {"time_zone": "Asia/Tokyo"})

    operator.refresh_from_db()
    support.refresh_from_db()
    assert operator.time_zone == ""
    assert support.time_zone == "Asia/Tokyo"


def test_alert_list_is_in_the_network_zone_by_default(client, operator, berlin_alert):
    client.force_login(operator)

    content = client.get(reverse("alerts:alert_list")).content.decode()

    assert "2026-01-15 15:05" in content
    assert "Europe/Berlin" in content
    assert "2026-01-15 14:05" not in content


def test_alert_list_follows_the_users_chosen_zone(client, operator, berlin_alert):
    operator.time_zone = "America/New_York"
    operator.save()
    client.force_login(operator)

    content = client.get(reverse("alerts:alert_list")).content.decode()

    assert "2026-01-15 09:05" in content
    assert "America/New_York" in content


def test_audit_log_is_in_the_users_zone(client, operator, network_a):
    entry = AuditLog.objects.create(
        action="station.update",
        network=network_a,
        object_type="stations.Station",
        actor=operator,
        actor_label=operator.username,
    )
    AuditLog.objects.filter(pk=entry.pk).update(at=MOMENT)
    operator.time_zone = "Asia/Tokyo"
    operator.save()
    client.force_login(operator)

    content = client.get(reverse("accounts:audit_log")).content.decode()

    assert "2026-01-15 23:05:00 JST" in content  # UTC+9
    assert "Asia/Tokyo" in content


def test_the_api_answers_in_utc_whatever_the_users_zone(client, operator, network_a):
    operator.time_zone = "Asia/Tokyo"
    operator.save()
    client.force_login(operator)

    response = client.get("/api/v1/networks/")

    created = response.json()["results"][0]["created_at"]
    assert created.endswith("Z") or created.endswith("+00:00")


def test_load_management_now_is_the_stations_local_time(client, operator, station_a):
    client.force_login(operator)

    content = client.get(reverse("smart:summary", args=[station_a.pk])).content.decode()

    shown = re.search(r"\(now (\d\d):(\d\d)\)", content)
    assert shown is not None
    assert "Europe/Berlin" in content
    berlin = timezone.now().astimezone(ZoneInfo("Europe/Berlin"))
    candidates = {
        berlin.strftime("%H:%M"),
        (berlin - timedelta(minutes=1)).strftime("%H:%M"),
    }
    assert f"{shown[1]}:{shown[2]}" in candidates


def test_time_zone_validator_names_the_bad_value():
    validate_time_zone("Europe/Berlin")
    with pytest.raises(Exception, match="Mars/Olympus"):
        validate_time_zone("Mars/Olympus")
