"""Roll-ups at scale: overlap guard, late data, daily rows, freshness, retention."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from sessions_app.models import MeterValue
from stations.models import Connector, StatusChange
from stations.reports import tasks as report_tasks
from stations.reports.availability import availability_report
from stations.reports.energy import energy_report
from stations.reports.filters import ReportFilters
from stations.reports.models import (
    ConnectorDailyRollup,
    ConnectorHourlyRollup,
    ReportRollupState,
)
from stations.reports.tallies import range_totals
from stations.reports.tasks import (
    meter_values_purge,
    report_rollups_update,
    rollup_run_guard,
)
from tests.factories import ConnectorFactory
from tests.reports.support import connection as connection_event
from tests.reports.support import session, status

T0 = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)  # 11:00 in Berlin
MINUTE = timedelta(minutes=1)
DAY = date(2026, 3, 10)


def _history(connector: Connector) -> None:
    status(connector, T0, "Available")
    status(connector, T0 + 30 * MINUTE, "Faulted")
    status(connector, T0 + 90 * MINUTE, "Available")
    session(
        connector,
        T0 + 3 * 60 * MINUTE,
        T0 + 5 * 60 * MINUTE,
        20000,
        readings=[(T0 + 4 * 60 * MINUTE, 5000)],
    )
    status(connector, T0 + 3 * 60 * MINUTE, "Charging")
    status(connector, T0 + 5 * 60 * MINUTE, "Available")


def _snapshot() -> list[tuple]:
    return list(
        ConnectorHourlyRollup.objects.order_by(
            "connector_id", "hour_start"
        ).values_list(
            "connector_id",
            "hour_start",
            "available_s",
            "faulted_s",
            "charging_s",
            "unknown_s",
            "sessions_started",
            "energy_wh",
        )
    )


def _daily() -> list[tuple]:
    return list(
        ConnectorDailyRollup.objects.order_by("connector_id", "day").values_list(
            "connector_id", "day", "available_s", "faulted_s", "energy_wh"
        )
    )


class _OtherRun:
    """Another roll-up run holding the guard (a thread with its own connection)."""

    def __init__(self) -> None:
        self.holding = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        try:
            with rollup_run_guard() as acquired:
                assert acquired
                self.holding.set()
                self.release.wait(timeout=10)
        finally:
            connection.close()

    def __enter__(self) -> _OtherRun:
        self.thread.start()
        assert self.holding.wait(timeout=10)
        return self

    def __exit__(self, *_: object) -> None:
        self.release.set()
        self.thread.join(timeout=10)


def _hold_guard():
    """What another run does while it works: the lock (PostgreSQL) or the lease."""
    if connection.vendor == "postgresql":
        return _OtherRun()

    class _Lease:
        def __enter__(self) -> None:
            ReportRollupState.objects.update_or_create(
                key="hourly",
                defaults={"running_token": "other", "running_since": timezone.now()},
            )

        def __exit__(self, *_: object) -> None:
            ReportRollupState.objects.filter(key="hourly").update(
                running_token="", running_since=None
            )

    return _Lease()


def test_a_run_while_another_runs_changes_nothing_and_gives_the_same_rollups(
    connector_a,
):
    _history(connector_a)
    now = T0 + timedelta(days=1)

    with _hold_guard():
        assert report_rollups_update(now=now) == 0
        assert not ConnectorHourlyRollup.objects.exists()
    assert report_rollups_update(now=now) > 0
    once = _snapshot(), _daily()
    # Running again (as beat would after a manual run) changes nothing.
    report_rollups_update(now=now)
    assert (_snapshot(), _daily()) == once
    # A fresh single build gives the same rows.
    ConnectorHourlyRollup.objects.all().delete()
    ConnectorDailyRollup.objects.all().delete()
    ReportRollupState.objects.all().delete()
    report_rollups_update(now=now)
    assert (_snapshot(), _daily()) == once
    assert ReportRollupState.objects.get().running_token == ""


@pytest.mark.skipif(
    connection.vendor == "postgresql", reason="the lease is the SQLite guard"
)
def test_a_dead_runs_lease_expires(connector_a):
    _history(connector_a)
    ReportRollupState.objects.create(
        key="hourly",
        running_token="dead",
        running_since=timezone.now() - timedelta(hours=1),
    )

    assert report_rollups_update(now=T0 + timedelta(days=1)) > 0


def test_late_charger_wide_status_redirties_only_its_connectors(
    operator, station_a, connector_a
):
    second = ConnectorFactory(charge_point=connector_a.charge_point, connector_id=2)
    other = ConnectorFactory(connector_id=1)
    for connector in (connector_a, second, other):
        status(connector, T0, "Available")
    now = T0 + timedelta(days=1)
    report_rollups_update(now=now)
    untouched = dict(
        ConnectorHourlyRollup.objects.filter(connector=other).values_list(
            "hour_start", "computed_at"
        )
    )
    filters = ReportFilters(DAY, DAY, None, station_a.pk)
    before = {
        r.label: r.availability_pct
        for r in availability_report(user=operator, filters=filters)
    }
    # The charger reports, from its offline queue, a whole-charger fault of
    # yesterday 14:00-15:00 UTC, received now.
    late = now + timedelta(minutes=5)
    status(
        None,
        T0 + 4 * 60 * MINUTE,
        "Faulted",
        charge_point=connector_a.charge_point,
        received_at=late,
    )
    status(
        None,
        T0 + 5 * 60 * MINUTE,
        "Available",
        charge_point=connector_a.charge_point,
        received_at=late,
    )

    report_rollups_update(now=now + timedelta(minutes=10))

    for connector in (connector_a, second):
        hour = ConnectorHourlyRollup.objects.get(
            connector=connector, hour_start=T0 + timedelta(hours=4)
        )
        assert (hour.faulted_s, hour.available_s) == (3600, 0)
        daily = ConnectorDailyRollup.objects.get(connector=connector, day=DAY)
        assert daily.faulted_s == 3600
    assert (
        dict(
            ConnectorHourlyRollup.objects.filter(connector=other).values_list(
                "hour_start", "computed_at"
            )
        )
        == untouched
    )
    after = {
        r.label: r.availability_pct
        for r in availability_report(user=operator, filters=filters)
    }
    assert before["City Mall"] == "100.00"
    # 13 known hours on the day (10:00 UTC to midnight Berlin), 1 of them down.
    assert after["City Mall"] == f"{12 / 13 * 100:.2f}"


def test_daily_rollups_add_up_to_the_hours_of_the_local_day_on_a_dst_day(
    station_a, connector_a
):
    # 29 March 2026: Berlin moves to summer time, the local day has 23 hours.
    start = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)  # 23:00 Berlin on the 28th
    status(connector_a, start, "Available")
    status(connector_a, start + timedelta(hours=5), "Faulted")
    status(connector_a, start + timedelta(hours=6), "Available")
    session(connector_a, start + timedelta(hours=20), start + timedelta(hours=27), 7000)

    report_rollups_update(now=start + timedelta(days=3))

    daily = ConnectorDailyRollup.objects.get(
        connector=connector_a, day=date(2026, 3, 29)
    )
    assert daily.available_s + daily.faulted_s == 23 * 3600
    assert daily.faulted_s == 3600
    totals = range_totals(
        connectors=[connector_a],
        first=date(2026, 3, 29),
        last=date(2026, 3, 29),
        zone="Europe/Berlin",
    )[(connector_a.pk, None)]
    raw = range_totals(
        connectors=[connector_a],
        first=date(2026, 3, 29),
        last=date(2026, 3, 29),
        zone="Europe/Berlin",
        use_rollups=False,
    )[(connector_a.pk, None)]
    assert totals.seconds == raw.seconds
    assert totals.energy_wh == raw.energy_wh
    assert 0 < totals.energy_wh < 7000  # the session crosses local midnight


def test_backfill_resumes_across_runs_and_shows_progress(
    client, operator, station_a, connector_a, monkeypatch
):
    second = ConnectorFactory(charge_point=connector_a.charge_point, connector_id=2)
    for connector in (connector_a, second):
        status(connector, T0, "Available")
    monkeypatch.setattr(report_tasks, "CHUNK", 1)
    now = T0 + timedelta(days=1)

    report_rollups_update(now=now, budget_s=0)

    state = ReportRollupState.objects.get()
    assert state.complete_until is None
    assert (state.backfill_done, state.backfill_total) == (1, 2)
    client.force_login(operator)
    page = client.get(reverse("reports:report", args=["availability"]))
    assert b"Backfilling the report roll-ups: 50 % done" in page.content

    report_rollups_update(now=now, budget_s=0)

    state.refresh_from_db()
    assert state.complete_until == T0 + timedelta(days=1)
    assert set(
        ConnectorHourlyRollup.objects.values_list("connector_id", flat=True)
    ) == {connector_a.pk, second.pk}
    page = client.get(
        reverse("reports:report", args=["availability"]), {"station": station_a.pk}
    )
    assert b"Backfilling" not in page.content
    # 10:00 UTC is 11:00 in Berlin (the station's zone).
    assert b"Roll-ups complete until 2026-03-11 11:00 (Europe/Berlin)" in page.content
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(operator)
    body = api.get(reverse("reports_api:report", args=["availability"])).json()
    assert body["rollups_complete_until"] == "2026-03-11T10:00:00Z"
    assert body["backfill_percent"] is None


def test_retention_purge_keeps_rollups_and_reports(
    settings, operator, station_a, connector_a
):
    settings.METER_VALUE_RETENTION_DAYS = 30
    _history(connector_a)
    now = T0 + timedelta(days=40)
    report_rollups_update(now=now)
    filters = ReportFilters(DAY, DAY, None, station_a.pk)
    before_rows = _snapshot()
    before = [
        (r.label, r.tally.energy_wh)
        for r in energy_report(user=operator, filters=filters)
    ]
    assert MeterValue.objects.count() == 1

    assert meter_values_purge(now=now) == 1

    assert not MeterValue.objects.exists()
    assert _snapshot() == before_rows
    after = [
        (r.label, r.tally.energy_wh)
        for r in energy_report(user=operator, filters=filters)
    ]
    assert after == before
    # A late status for that day recomputes the hours but keeps their energy.
    status(connector_a, T0 + 4 * 60 * MINUTE, "Charging", received_at=now)
    report_rollups_update(now=now + timedelta(minutes=5))
    assert [
        (r.label, r.tally.energy_wh)
        for r in energy_report(user=operator, filters=filters)
    ] == before


def test_retention_zero_keeps_meter_values_forever(settings, connector_a):
    settings.METER_VALUE_RETENTION_DAYS = 0
    _history(connector_a)
    now = T0 + timedelta(days=4000)
    report_rollups_update(now=now)

    assert meter_values_purge(now=now) == 0
    assert MeterValue.objects.count() == 1


def test_purge_waits_for_the_rollups(settings, connector_a):
    settings.METER_VALUE_RETENTION_DAYS = 1
    _history(connector_a)

    assert meter_values_purge(now=T0 + timedelta(days=10)) == 0
    assert MeterValue.objects.count() == 1


def test_connection_event_during_a_run_is_picked_up(connector_a):
    status(connector_a, T0, "Available")
    connection_event(connector_a.charge_point, T0, "connected")
    now = T0 + timedelta(days=1)
    report_rollups_update(now=now)
    # Written during that run (timestamped just before its target hour).
    connection_event(
        connector_a.charge_point, now - timedelta(minutes=30), "disconnected"
    )

    report_rollups_update(now=now + timedelta(minutes=5))

    hour = ConnectorHourlyRollup.objects.get(
        connector=connector_a, hour_start=now - timedelta(hours=1)
    )
    assert (hour.available_s, hour.offline_s) == (1800, 1800)
    assert StatusChange.objects.count() == 1


def test_half_hour_zone_reads_hourly_rows_and_raw_edges(station_a, connector_a):
    station_a.time_zone = "Asia/Kolkata"  # UTC+05:30: local days start at :30
    station_a.save()
    _history(connector_a)
    report_rollups_update(now=T0 + timedelta(days=2))

    common = {
        "connectors": [connector_a],
        "first": DAY,
        "last": DAY,
        "zone": "Asia/Kolkata",
        "period": "day",
    }
    rolled = range_totals(**common)[(connector_a.pk, DAY)]
    raw = range_totals(**common, use_rollups=False)[(connector_a.pk, DAY)]

    # Hours with no known status are not stored (Unknown is in no share).
    known = [name for name in rolled.seconds if name != "unknown_s"]
    assert [rolled.seconds[n] for n in known] == [raw.seconds[n] for n in known]
    assert (rolled.energy_wh, rolled.sessions_started) == (20000, 1)
    assert rolled.seconds["faulted_s"] == 3600


def test_whole_months_come_from_the_monthly_rollups(operator, station_a, connector_a):
    from stations.reports.models import ConnectorMonthlyRollup

    feb = datetime(2026, 1, 31, 23, 0, tzinfo=UTC)  # 1 February, 00:00 Berlin
    status(connector_a, feb - timedelta(days=10), "Available")
    status(connector_a, feb + timedelta(days=3), "Faulted")
    status(connector_a, feb + timedelta(days=3, hours=6), "Available")
    session(
        connector_a,
        feb + timedelta(days=27, hours=22),
        feb + timedelta(days=28, hours=2),
        8000,
    )
    report_rollups_update(now=datetime(2026, 4, 2, tzinfo=UTC))

    assert ConnectorMonthlyRollup.objects.filter(
        connector=connector_a, month=date(2026, 2, 1), faulted_s=6 * 3600
    ).exists()
    common = {
        "connectors": [connector_a],
        "first": date(2026, 1, 25),
        "last": date(2026, 3, 31),
        "zone": "Europe/Berlin",
        "period": "month",
    }
    rolled = range_totals(**common)
    raw = range_totals(**common, use_rollups=False)
    assert set(rolled) == set(raw)
    for key, tally in raw.items():
        known = [n for n in tally.seconds if n != "unknown_s"]
        assert [rolled[key].seconds[n] for n in known] == [
            tally.seconds[n] for n in known
        ]
        assert rolled[key].energy_wh == tally.energy_wh
    # The session crossing into March splits its energy across the months.
    assert 0 < rolled[(connector_a.pk, date(2026, 2, 1))].energy_wh < 8000
    report = availability_report(
        user=operator,
        filters=ReportFilters(date(2026, 1, 25), date(2026, 3, 31), None, station_a.pk),
    )
    february = next(r for r in report if r.label == "City Mall 2026-02")
    assert february.availability_pct == f"{(28 * 24 - 6) / (28 * 24) * 100:.2f}"


def test_report_rollups_command_builds_and_purges(settings, connector_a):
    from io import StringIO

    from django.core.management import call_command

    settings.METER_VALUE_RETENTION_DAYS = 1
    _history(connector_a)  # March 2026: long past
    out = StringIO()

    call_command("report_rollups", "--purge", stdout=out)

    assert ConnectorHourlyRollup.objects.filter(connector=connector_a).exists()
    assert "complete until" in out.getvalue()
    assert "1 raw meter values purged" in out.getvalue()
    assert not MeterValue.objects.exists()
