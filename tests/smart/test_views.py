"""Portal pages: the site's load management page, its forms and their denied paths."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from accounts.models import AuditLog
from stations.models import Station
from stations.smart.models import (
    ConnectorSmartSettings,
    SiteLimitScheduleEntry,
    SiteLimitSignal,
)
from tests.conftest import PASSWORD
from tests.smart.support import site_connectors, start_session


def _login(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _base(station) -> str:
    return f"/smart-charging/stations/{station.pk}/"


POSTS = [
    ("limit/", {"limit_kw": "30"}),
    (
        "schedule/",
        {
            "weekdays": ["0", "1"],
            "start_time": "17:00",
            "end_time": "21:00",
            "limit_kw": "8",
        },
    ),
    ("signals/", {"limit_kw": "7", "duration_min": "30"}),
    ("priority-tokens/", {"id_tag": "FLEET", "priority": "3"}),
]


def _state(station: Station) -> tuple:
    station.refresh_from_db()
    return (
        station.power_limit_kw,
        SiteLimitScheduleEntry.objects.count(),
        SiteLimitSignal.objects.count(),
        AuditLog.objects.filter(action__startswith="smart.").count(),
    )


@pytest.mark.parametrize(
    ("user_fixture", "status"),
    [("support", 403), ("finance", 403), ("outsider", 404), ("no_role_user", 404)],
)
@pytest.mark.parametrize(("path", "data"), POSTS)
def test_changes_are_refused_without_role_or_scope(
    request, station_a, user_fixture, status, path, data
):
    before = _state(station_a)
    client = _login(request.getfixturevalue(user_fixture))

    response = client.post(_base(station_a) + path, data)

    assert response.status_code == status
    assert _state(station_a) == before


def test_anonymous_is_sent_to_login(station_a):
    response = Client().post(_base(station_a) + "limit/", {"limit_kw": "30"})

    assert response.status_code == 302
    assert "/login" in response["Location"]
    assert _state(station_a)[0] is None


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_operator_changes_are_stored_and_audited(station_a, operator, path, data):
    response = _login(operator).post(_base(station_a) + path, data)

    assert response.status_code == 302
    assert _state(station_a)[3] == 1


def test_schedule_form_stores_the_weekday_bits(station_a, operator):
    _login(operator).post(_base(station_a) + "schedule/", POSTS[1][1])

    entry = SiteLimitScheduleEntry.objects.get()
    assert entry.weekdays == 0b11
    assert entry.limit_kw == Decimal("8")


def test_bad_form_input_answers_400_naming_the_field(station_a, operator):
    response = _login(operator).post(
        _base(station_a) + "schedule/",
        {
            "weekdays": ["0"],
            "start_time": "17:00",
            "end_time": "17:00",
            "limit_kw": "8",
        },
    )

    assert response.status_code == 400
    assert b"The end must differ from the start." in response.content
    assert not SiteLimitScheduleEntry.objects.exists()


def test_connector_settings_need_the_connector_in_the_station(
    station_a, station_b, operator, administrator
):
    other = site_connectors(station_b, chargers=1)[0]
    response = _login(administrator).post(
        _base(station_a) + f"connectors/{other.pk}/",
        {"phases": "1", "min_current_a": "6", "priority": "0"},
    )
    assert response.status_code == 404
    assert not ConnectorSmartSettings.objects.exists()

    mine = site_connectors(station_a, chargers=1)[0]
    response = _login(operator).post(
        _base(station_a) + f"connectors/{mine.pk}/",
        {"phases": "1", "min_current_a": "8", "max_current_a": "16", "priority": "2"},
    )
    assert response.status_code == 302
    assert ConnectorSmartSettings.objects.get(connector=mine).phases == 1


def test_page_shows_the_limit_and_the_shares(station_a, support):
    station_a.power_limit_kw = Decimal("22")
    station_a.save()
    connectors = site_connectors(station_a, chargers=1)
    for connector in connectors:
        start_session(connector)
    from stations.smart.services import site_replan

    site_replan(station_id=station_a.pk, trigger="test")
    client = _login(support)

    page = client.get(_base(station_a))
    summary = client.get(_base(station_a) + "summary/")
    series = client.get(_base(station_a) + "series.json?minutes=15").json()

    assert page.status_code == 200
    assert b"22.00 kW" in summary.content
    assert b"11.00 kW" in summary.content
    assert b"Add entry" not in page.content  # support may look, not change
    assert len(series["connectors"]) == 2
    assert series["points"][-1]["limit_w"] == 22_000


def test_station_page_has_the_site_power_panel(station_a, operator):
    response = _login(operator).get(f"/stations/{station_a.pk}/")

    assert response.status_code == 200
    assert b'id="smart-panel"' in response.content


@pytest.mark.parametrize("user_fixture", ["outsider", "no_role_user"])
def test_pages_outside_scope_are_not_found(request, station_a, user_fixture):
    client = _login(request.getfixturevalue(user_fixture))

    for path in ("", "summary/", "series.json"):
        assert client.get(_base(station_a) + path).status_code == 404


def test_series_refuses_a_bad_period(station_a, operator):
    response = _login(operator).get(_base(station_a) + "series.json?minutes=x")

    assert response.status_code == 400
    assert "minutes" in response.json()["errors"]
