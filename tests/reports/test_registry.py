"""A report registered from one module shows on the index, page, CSV and API."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from stations.reports import registry
from stations.reports.filters import ReportFilters, report_stations_for_user
from stations.reports.registry import LEVEL_AND_NAME, Report, extra_columns
from stations.reports.rows import ReportRow, table_row

RANGE = {"date_from": "2026-03-10", "date_to": "2026-03-11"}


def station_days_rows(*, user: Any, filters: ReportFilters) -> list[ReportRow]:
    """One row per station in scope with the number of days asked for."""
    return [
        table_row("station", station.name, days=filters.days)
        for station in report_stations_for_user(user=user, filters=filters)
    ]


@pytest.fixture
def station_days(monkeypatch):
    """The registry with one more report, as a new module would register it."""
    monkeypatch.setattr(registry, "_REPORTS", dict(registry._REPORTS))
    return registry.report_register(
        Report(
            key="station-days",
            title="Station days",
            rows=station_days_rows,
            columns=(*LEVEL_AND_NAME, *extra_columns("days")),
            note="Days per station.",
        )
    )


@pytest.fixture
def audited(monkeypatch, station_days):
    """A registered report that needs a permission operators lack."""
    return registry.report_register(
        Report(
            key="audited",
            title="Audited",
            rows=station_days_rows,
            columns=LEVEL_AND_NAME,
            permission="accounts.view_auditlog_everything",
        )
    )


def _open_everywhere(client, user, key):
    """The index, then the report's page, CSV and API answers for ``user``."""
    client.force_login(user)
    api = APIClient()
    api.force_authenticate(user)
    return (
        client.get(reverse("reports:index")),
        client.get(reverse("reports:report", args=[key]), RANGE),
        client.get(reverse("reports:csv", args=[key]), RANGE),
        api.get(reverse("reports_api:report", args=[key]), RANGE),
    )


def test_registered_report_is_listed_shown_exported_and_served(
    client, operator, station_a, station_days
):
    index, page, export, served = _open_everywhere(client, operator, "station-days")

    assert ("station-days", "Station days") in index.context["reports"]
    assert page.status_code == 200
    assert page.context["title"] == "Station days"
    assert "Days per station." in page.content.decode()
    assert page.context["table"] == [["station", station_a.name, 2]]
    body = b"".join(export.streaming_content).decode()
    assert list(csv.reader(io.StringIO(body))) == [
        ["level", "name", "days"],
        ["station", station_a.name, "2"],
    ]
    assert served.status_code == 200
    assert served.json()["columns"] == ["level", "name", "days"]
    assert served.json()["rows"] == [
        {"level": "station", "name": station_a.name, "days": "2"}
    ]


def test_report_needing_a_permission_is_hidden_and_denied(
    client, operator, station_a, audited
):
    index, page, export, served = _open_everywhere(client, operator, "audited")

    assert "audited" not in [key for key, _ in index.context["reports"]]
    assert "station-days" in [key for key, _ in index.context["reports"]]
    assert (page.status_code, export.status_code, served.status_code) == (
        403,
        403,
        403,
    )


def test_built_in_reports_are_registered_in_index_order():
    assert [report.key for report in registry.report_list()][:10] == [
        "availability",
        "utilization",
        "energy",
        "peak",
        "faults",
        "quirks",
        "nevi_uptime",
        "reliability_intervals",
        "sessions",
        "revenue",
    ]
