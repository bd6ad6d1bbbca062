"""Report pages, CSV exports and the API: scope, roles, bad input."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta

import pytest
from django.urls import reverse

from stations.reports.filters import local_range
from stations.reports.models import ConnectorHourlyRollup
from tests.factories import ConnectorFactory
from tests.reports.support import session, status

DAY = date(2026, 3, 10)
RANGE = {"date_from": "2026-03-10", "date_to": "2026-03-10"}


@pytest.fixture
def histories(connector_a, charge_point_b):
    start, _ = local_range(connector_a.charge_point.station, DAY, DAY)
    status(connector_a, start - timedelta(days=1), "Available")
    status(connector_a, start + timedelta(hours=12), "Faulted")
    connector_b = ConnectorFactory(charge_point=charge_point_b, connector_id=1)
    status(connector_b, start - timedelta(days=1), "Faulted")
    return connector_a, connector_b


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


@pytest.mark.parametrize("role", ["operator", "support", "finance", "administrator"])
def test_staff_roles_see_the_availability_report(client, request, histories, role):
    client.force_login(request.getfixturevalue(role))

    response = client.get(reverse("reports:report", args=["availability"]), RANGE)

    assert response.status_code == 200
    assert ["station", "City Mall", "50.00", "24.00", "12.00"] in response.context[
        "table"
    ]


def test_csv_matches_the_page(client, operator, histories):
    client.force_login(operator)

    page = client.get(reverse("reports:report", args=["availability"]), RANGE)
    export = client.get(reverse("reports:csv", args=["availability"]), RANGE)

    assert export.status_code == 200
    assert export["Content-Type"].startswith("text/csv")
    rows = _csv(export)
    assert rows[0] == page.context["columns"]
    assert rows[1:] == [[str(cell) for cell in row] for row in page.context["table"]]


def test_outsider_sees_nothing_of_network_a(client, outsider, histories, station_a):
    client.force_login(outsider)

    response = client.get(reverse("reports:report", args=["availability"]), RANGE)
    names = {row[1] for row in response.context["table"]}
    denied = client.get(
        reverse("reports:report", args=["utilization"]),
        {**RANGE, "station": station_a.pk},
    )
    day = client.get(reverse("reports:availability_day", args=[station_a.pk]))

    assert response.status_code == 200
    assert "Airport" in names
    assert not any("City Mall" in name for name in names)
    assert denied.status_code == 404
    assert day.status_code == 404


def test_user_without_role_is_denied_and_nothing_is_written(client, no_role_user):
    client.force_login(no_role_user)

    pages = [
        client.get(reverse("reports:index")),
        client.get(reverse("reports:report", args=["energy"])),
        client.get(reverse("reports:csv", args=["energy"])),
    ]

    assert [page.status_code for page in pages] == [403, 403, 403]
    assert not ConnectorHourlyRollup.objects.exists()


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("reports:report", args=["availability"]))

    assert response.status_code == 302
    assert "login" in response["Location"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"date_from": "yesterday"}, "date_from"),
        ({"date_from": "2026-03-11", "date_to": "2026-03-10"}, "date_from"),
        ({"date_from": "2024-01-01", "date_to": "2026-03-10"}, "date_to"),
        ({"station": "abc"}, "station"),
    ],
)
def test_bad_filters_answer_400_naming_the_field(
    client, api_client, operator, params, field
):
    client.force_login(operator)
    api_client.force_authenticate(operator)

    page = client.get(reverse("reports:report", args=["utilization"]), params)
    api = api_client.get(reverse("reports_api:report", args=["utilization"]), params)

    assert page.status_code == 400
    assert page.context["error"].field == field
    assert api.status_code == 400
    assert api.json()["errors"][0]["field"] == field


def test_unknown_report_is_404(client, operator):
    client.force_login(operator)

    assert client.get("/reports/nonsense/").status_code == 404


def test_five_minute_windows_page(client, support, histories, station_a):
    client.force_login(support)

    response = client.get(
        reverse("reports:availability_day", args=[station_a.pk]), {"day": "2026-03-10"}
    )

    assert response.status_code == 200
    values = response.context["chart"]["values"]
    assert len(values) == 288
    assert values[143] == 100
    assert values[144] == 0  # faulted from 12:00 local


def test_api_returns_the_energy_report(api_client, finance, histories):
    api_client.force_authenticate(finance)

    response = api_client.get(reverse("reports_api:report", args=["energy"]), RANGE)

    assert response.status_code == 200
    assert response.json()["rows"] == [
        {
            "level": "station day",
            "name": "City Mall",
            "day": "2026-03-10",
            "weekday": None,
            "hour": None,
            "availability_pct": "50.00",
            "occupied_pct": "0.00",
            "charging_pct": "0.00",
            "known_hours": "24.00",
            "downtime_hours": "12.00",
            "sessions_started": 0,
            "energy_kwh": "0.000",
        }
    ]


@pytest.mark.parametrize(
    ("user", "expected"),
    [(None, 401), ("no_role_user", 403), ("outsider", 404), ("support", 200)],
)
def test_api_windows_permission_matrix(
    api_client, request, histories, station_a, user, expected
):
    if user is not None:
        api_client.force_authenticate(request.getfixturevalue(user))

    response = api_client.get(
        reverse("reports_api:availability_windows", args=[station_a.pk]),
        {"day": "2026-03-10"},
    )

    assert response.status_code == expected
    if expected == 200:
        assert len(response.json()) == 288
    else:
        assert "errors" in response.json()
    assert not ConnectorHourlyRollup.objects.exists()


@pytest.mark.parametrize(("user", "expected"), [(None, 401), ("no_role_user", 403)])
def test_api_report_denied(api_client, request, user, expected):
    if user is not None:
        api_client.force_authenticate(request.getfixturevalue(user))

    response = api_client.get(reverse("reports_api:report", args=["availability"]))

    assert response.status_code == expected
    assert "errors" in response.json()


def test_navigation_shows_reports_to_support(client, support):
    client.force_login(support)

    response = client.get(reverse("reports:index"))

    assert reverse("reports:index") in [
        item["url"] for item in response.context["nav_items"]
    ]


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


def test_peak_hours_heatmap_page_csv_and_api_agree(
    client, api_client, operator, connector_a
):
    start, _ = local_range(connector_a.charge_point.station, DAY, DAY)
    session(
        connector_a,
        start + timedelta(hours=18, minutes=30),
        start + timedelta(hours=19, minutes=30),
        2000,
    )
    client.force_login(operator)
    api_client.force_authenticate(operator)

    page = client.get(reverse("reports:report", args=["peak"]), RANGE)
    export = _csv(client.get(reverse("reports:csv", args=["peak"]), RANGE))
    api = api_client.get(reverse("reports_api:report", args=["peak"]), RANGE).json()

    tuesday = dict(page.context["heatmap"])["Tue"]
    assert tuesday[18]["sessions"] == 1
    assert (tuesday[18]["energy_kwh"], tuesday[19]["energy_kwh"]) == ("1.000", "1.000")
    assert ["Tue", "18", "1", "1.000"] in export
    busy = [row for row in api["rows"] if row["sessions_started"]]
    assert [(r["weekday"], r["hour"]) for r in busy] == [(1, 18)]
