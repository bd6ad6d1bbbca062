"""Known-answer tests for availability, utilization and energy."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from stations.models import ConnectionEvent, Connector, Station
from stations.reports.availability import availability_report, availability_windows
from stations.reports.energy import energy_report
from stations.reports.filters import ReportFilters, local_range
from stations.reports.models import ConnectorHourlyRollup
from stations.reports.peak_hours import peak_hours_report
from stations.reports.tallies import connector_buckets_raw, connector_totals
from stations.reports.tasks import report_rollups_update
from stations.reports.utilization import utilization_report
from tests.factories import ConnectorFactory
from tests.reports.support import connection, session, status

T0 = datetime(2026, 3, 10, 10, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def test_connector_faulted_30_of_60_minutes_is_50_percent_available(connector_a):
    status(connector_a, T0 - timedelta(days=1), "Available")
    status(connector_a, T0 + 15 * MINUTE, "Faulted")
    status(connector_a, T0 + 45 * MINUTE, "Available")

    hours = connector_buckets_raw(
        connector=connector_a, start=T0, end=T0 + timedelta(hours=1)
    )

    assert list(hours) == [T0]
    assert hours[T0].availability == 0.5
    assert hours[T0].seconds["faulted_s"] == 1800


def test_offline_time_counts_as_unavailable(connector_a):
    status(connector_a, T0 - timedelta(days=1), "Available")
    connection(connector_a.charge_point, T0, ConnectionEvent.Kind.DISCONNECTED)
    connection(
        connector_a.charge_point, T0 + 20 * MINUTE, ConnectionEvent.Kind.CONNECTED
    )

    tally = connector_buckets_raw(
        connector=connector_a, start=T0, end=T0 + 60 * MINUTE
    )[T0]

    assert tally.seconds["offline_s"] == 1200
    assert tally.availability == pytest.approx(2 / 3)


def test_silent_charger_is_back_online_at_its_next_status(connector_a):
    status(connector_a, T0 - timedelta(days=1), "Available")
    connection(connector_a.charge_point, T0, ConnectionEvent.Kind.WENT_SILENT)
    status(connector_a, T0 + 30 * MINUTE, "Available")

    tally = connector_buckets_raw(
        connector=connector_a, start=T0, end=T0 + 60 * MINUTE
    )[T0]

    assert tally.seconds["offline_s"] == 1800


def test_charger_wide_fault_makes_every_connector_unavailable(connector_a):
    status(connector_a, T0 - timedelta(days=1), "Available")
    status(None, T0, "Faulted", charge_point=connector_a.charge_point)
    status(None, T0 + 30 * MINUTE, "Available", charge_point=connector_a.charge_point)

    tally = connector_buckets_raw(
        connector=connector_a, start=T0, end=T0 + 60 * MINUTE
    )[T0]

    assert tally.availability == 0.5


def test_reserved_and_suspended_count_as_available_and_suspended_as_occupied(
    connector_a,
):
    status(connector_a, T0, "Reserved")
    status(connector_a, T0 + 15 * MINUTE, "Charging")
    status(connector_a, T0 + 30 * MINUTE, "SuspendedEV")
    status(connector_a, T0 + 45 * MINUTE, "Unavailable")

    tally = connector_buckets_raw(
        connector=connector_a, start=T0, end=T0 + 60 * MINUTE
    )[T0]

    assert tally.availability == 0.75
    assert tally.occupied_share == 0.5
    assert tally.charging_share == 0.25


def test_late_status_not_applied_is_ignored(connector_a):
    status(connector_a, T0, "Available")
    status(connector_a, T0 + 10 * MINUTE, "Faulted", is_applied=False)

    tally = connector_buckets_raw(
        connector=connector_a, start=T0, end=T0 + 60 * MINUTE
    )[T0]

    assert tally.availability == 1


def test_time_before_any_status_is_excluded(connector_a):
    status(connector_a, T0 + 30 * MINUTE, "Faulted")

    tally = connector_buckets_raw(
        connector=connector_a, start=T0, end=T0 + 60 * MINUTE
    )[T0]

    assert tally.seconds["unknown_s"] == 1800
    assert tally.availability == 0


def test_five_minute_windows_of_a_station_day(operator, station_a, connector_a):
    day_start, _ = local_range(station_a, date(2026, 3, 10), date(2026, 3, 10))
    status(connector_a, day_start - timedelta(days=1), "Available")
    status(connector_a, day_start + 7 * MINUTE, "Faulted")
    status(connector_a, day_start + 10 * MINUTE, "Available")

    windows = availability_windows(
        user=operator, station_id=station_a.pk, day=date(2026, 3, 10)
    )

    assert len(windows) == 288
    assert [share for _, share in windows[:3]] == [1, pytest.approx(0.4), 1]
    assert windows[0][0].hour == 0  # station-local midnight


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25), (date(2026, 3, 10), 24)],
)
def test_berlin_dst_days_have_23_or_25_hours(
    operator, station_a, connector_a, day, hours
):
    start, _ = local_range(station_a, day, day)
    status(connector_a, start - timedelta(days=1), "Available")

    rows = energy_report(user=operator, filters=ReportFilters(day, day))

    assert rows[0].extra["hours"] == hours
    totals = connector_totals(
        connectors=[connector_a], start=start, end=start + timedelta(hours=hours)
    )
    assert totals[connector_a.pk].known_s == hours * 3600


def test_session_crossing_midnight_is_split_across_local_days(
    operator, station_a, connector_a
):
    # 23:00-01:00 Berlin (UTC+1 in March), 6 kWh; the reading at midnight says 2 kWh.
    midnight = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)
    session(
        connector_a,
        midnight - timedelta(hours=1),
        midnight + timedelta(hours=1),
        6000,
        readings=[(midnight, 2000)],
    )

    rows = energy_report(
        user=operator, filters=ReportFilters(date(2026, 3, 10), date(2026, 3, 11))
    )

    assert [
        (r.extra["day"], r.tally.energy_wh, r.tally.sessions_started) for r in rows
    ] == [
        (date(2026, 3, 10), 2000, 1),
        (date(2026, 3, 11), 4000, 0),
    ]


def test_energy_without_readings_is_split_linearly(operator, station_a, connector_a):
    midnight = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)
    session(
        connector_a, midnight - timedelta(hours=1), midnight + timedelta(hours=2), 3001
    )

    rows = energy_report(
        user=operator, filters=ReportFilters(date(2026, 3, 10), date(2026, 3, 11))
    )

    assert [r.tally.energy_wh for r in rows] == [1000, 2001]


def _history(connector: Connector) -> None:
    status(connector, T0 - timedelta(days=2), "Available")
    status(connector, T0 + 17 * MINUTE, "Charging")
    status(connector, T0 + 95 * MINUTE, "Faulted")
    status(connector, T0 + timedelta(hours=5), "Available")
    connection(
        connector.charge_point,
        T0 + timedelta(hours=8),
        ConnectionEvent.Kind.DISCONNECTED,
    )
    connection(
        connector.charge_point,
        T0 + timedelta(hours=9, minutes=3),
        ConnectionEvent.Kind.CONNECTED,
    )
    session(connector, T0 + 17 * MINUTE, T0 + 95 * MINUTE, 12345)


def test_rollups_give_the_same_totals_as_the_raw_history(connector_a):
    _history(connector_a)
    now = T0 + timedelta(days=1, minutes=30)
    report_rollups_update(now=now)
    start, end = T0 - timedelta(minutes=50), T0 + timedelta(hours=20, minutes=10)

    rolled = connector_totals(connectors=[connector_a], start=start, end=end)[
        connector_a.pk
    ]
    raw = connector_totals(
        connectors=[connector_a], start=start, end=end, use_rollups=False
    )[connector_a.pk]

    assert ConnectorHourlyRollup.objects.filter(connector=connector_a).count() > 20
    assert rolled.seconds == raw.seconds
    assert (rolled.energy_wh, rolled.sessions_started) == (12345, 1)
    assert (raw.energy_wh, raw.sessions_started) == (12345, 1)


def test_rollup_update_is_idempotent_and_picks_up_late_statuses(connector_a):
    _history(connector_a)
    now = T0 + timedelta(days=1)
    report_rollups_update(now=now)
    report_rollups_update(now=now)
    rows_before = ConnectorHourlyRollup.objects.filter(connector=connector_a).count()
    # A charger's offline queue delivers a fault from yesterday afterwards.
    status(
        connector_a,
        T0 + timedelta(hours=12),
        "Faulted",
        received_at=now + timedelta(minutes=5),
    )

    report_rollups_update(now=now + timedelta(minutes=10))

    hour = ConnectorHourlyRollup.objects.get(
        connector=connector_a, hour_start=T0 + timedelta(hours=12)
    )
    assert hour.faulted_s == 3600
    assert (
        ConnectorHourlyRollup.objects.filter(connector=connector_a).count()
        == rows_before
    )


def test_reports_roll_up_per_station_region_and_month(operator, station_a, connector_a):
    Station.objects.filter(pk=station_a.pk).update(region="North")
    second = ConnectorFactory(charge_point=connector_a.charge_point, connector_id=2)
    day_start, _ = local_range(station_a, date(2026, 3, 10), date(2026, 3, 10))
    status(connector_a, day_start - timedelta(days=1), "Available")
    status(second, day_start - timedelta(days=1), "Faulted")

    rows = availability_report(
        user=operator, filters=ReportFilters(date(2026, 3, 10), date(2026, 3, 10))
    )

    by_level = {(r.level, r.label): r.availability_pct for r in rows}
    assert by_level[("station", "City Mall")] == "50.00"
    assert by_level[("region", "North")] == "50.00"
    assert by_level[("month", "City Mall 2026-03")] == "50.00"
    assert by_level[("connector", f"City Mall / {second}")] == "0.00"


def test_utilization_per_connector_charge_point_and_station(operator, connector_a):
    day = date(2026, 3, 10)
    start, _ = local_range(connector_a.charge_point.station, day, day)
    status(connector_a, start, "Available")
    status(connector_a, start + timedelta(hours=6), "Charging")
    status(connector_a, start + timedelta(hours=12), "Available")

    rows = utilization_report(user=operator, filters=ReportFilters(day, day))

    assert {(r.level, r.occupied_pct, r.charging_pct) for r in rows} == {
        ("connector", "25.00", "25.00"),
        ("charge point", "25.00", "25.00"),
        ("station", "25.00", "25.00"),
    }


def test_peak_hours_from_rollups_match_raw(operator, connector_a):
    _history(connector_a)
    filters = ReportFilters(date(2026, 3, 10), date(2026, 3, 11))
    raw = [
        (r.label, r.extra["hour"], r.tally.sessions_started, r.tally.energy_wh)
        for r in peak_hours_report(user=operator, filters=filters)
    ]

    report_rollups_update(now=T0 + timedelta(days=1, minutes=30))
    rolled = [
        (r.label, r.extra["hour"], r.tally.sessions_started, r.tally.energy_wh)
        for r in peak_hours_report(user=operator, filters=filters)
    ]

    assert rolled == raw
    # 12345 Wh over 11:17-12:35 local: 43 of 78 minutes fall in the 11 o'clock hour.
    assert ("Tue", 11, 1, 6806) in rolled
    assert ("Tue", 12, 0, 5539) in rolled


def test_back_online_event_ends_the_offline_stretch_without_a_status(connector_a):
    status(connector_a, T0 - timedelta(days=1), "Available")
    connection(connector_a.charge_point, T0, ConnectionEvent.Kind.WENT_SILENT)
    connection(
        connector_a.charge_point, T0 + 20 * MINUTE, ConnectionEvent.Kind.BACK_ONLINE
    )

    tally = connector_buckets_raw(
        connector=connector_a, start=T0, end=T0 + 60 * MINUTE
    )[T0]

    assert tally.seconds["offline_s"] == 1200
