"""The quarterly NEVI data set: every session and outage of the quarter, finance only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from stations.reliability.models import Outage
from tests.reports.support import session

Q3 = {"date_from": "2026-09-01", "date_to": "2026-09-30"}


@pytest.fixture
def quarter(connector_a):
    ok = session(
        connector_a,
        datetime(2026, 7, 2, 8, tzinfo=UTC),
        datetime(2026, 7, 2, 9, 30, tzinfo=UTC),
        24_500,
        readings=[(datetime(2026, 7, 2, 9, tzinfo=UTC), 12_000)],
    )
    ok.stop_reason = "EVDisconnected"
    ok.save(update_fields=["stop_reason"])
    failed = session(
        connector_a,
        datetime(2026, 8, 5, 10, tzinfo=UTC),
        datetime(2026, 8, 5, 10, 20, tzinfo=UTC),
        300,
    )
    failed.stop_reason = "EmergencyStop"
    failed.save(update_fields=["stop_reason"])
    session(  # the quarter before: left out
        connector_a,
        datetime(2026, 6, 20, 10, tzinfo=UTC),
        datetime(2026, 6, 20, 11, tzinfo=UTC),
        1000,
    )
    Outage.objects.create(
        connector=connector_a,
        started_at=datetime(2026, 6, 30, 20, tzinfo=UTC),  # 22:00 Berlin: in Q2
        ended_at=datetime(2026, 7, 1, 1, tzinfo=UTC),
        cause="offline",
        is_excluded=True,
        exclusion_reason="grid",
    )
    return ok, failed


def _rows(response) -> list[dict[str, str]]:
    return list(
        csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode()))
    )


def test_finance_exports_the_quarter_sessions_and_outages(client, finance, quarter):
    client.force_login(finance)

    rows = _rows(client.get(reverse("reports:csv", args=["nevi_quarterly"]), Q3))

    sessions = [r for r in rows if r["level"] == "session"]
    assert [r["start"] for r in sessions] == [
        "2026-07-02T10:00:00+02:00",
        "2026-08-05T12:00:00+02:00",
    ]
    first, second = sessions
    assert (first["duration_min"], first["energy_kwh"]) == ("90.00", "24.500")
    assert first["session_successful"] == "True"
    assert (second["session_successful"], second["error_code"]) == (
        "False",
        "EmergencyStop",
    )
    [outage] = [r for r in rows if r["level"] == "outage"]
    # clipped to the quarter: 1 Jul 00:00 Berlin (22:00 UTC) to 03:00 Berlin
    assert (outage["start"], outage["end"], outage["duration_min"]) == (
        "2026-07-01T00:00:00+02:00",
        "2026-07-01T03:00:00+02:00",
        "180.00",
    )
    assert (outage["excluded"], outage["exclusion_reason"]) == ("True", "grid")


@pytest.mark.parametrize("role", ["operator", "support"])
def test_roles_without_cdrs_are_denied_the_quarterly_data_set(
    client, request, quarter, role
):
    client.force_login(request.getfixturevalue(role))

    assert (
        client.get(reverse("reports:csv", args=["nevi_quarterly"]), Q3).status_code
        == 403
    )
    assert client.get("/api/v1/reports/nevi_quarterly/", Q3).status_code == 403


def test_outsider_finance_sees_nothing_of_another_network(client, network_b, quarter):
    from accounts.models import Role
    from tests.factories import user_with_role

    client.force_login(user_with_role(Role.FINANCE, network_b, username="fin-b"))

    rows = _rows(client.get(reverse("reports:csv", args=["nevi_quarterly"]), Q3))

    assert rows == []
