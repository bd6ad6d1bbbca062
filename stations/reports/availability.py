"""Availability SLA per connector, station, region and station-local month.

Available: Available, Preparing, Charging, Suspended (EV/EVSE), Finishing and
Reserved; not available: Faulted, Unavailable, Offline (``stations.reports.tallies``
describes the time model). Also the 5-minute windows of one station-local day.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from accounts.http import AnyUser
from stations.models import Connector
from stations.reports.filters import (
    REPORT_PERMISSION,
    ReportFilters,
    connectors_by_station,
    local_range,
    report_stations_for_user,
    reports_require,
    stations_by_zone,
)
from stations.reports.registry import (
    LEVEL_AND_NAME,
    Chart,
    Column,
    Report,
    report_register,
)
from stations.reports.rows import ReportRow
from stations.reports.tallies import (
    Tally,
    connectors_buckets_raw,
    range_totals,
    raw_end,
    station_id_of,
)
from stations.selectors import station_get_for_user


def _month_spans(first: date, last: date) -> list[tuple[date, date]]:
    spans = []
    cursor = first
    while cursor <= last:
        next_month = (cursor.replace(day=1) + timedelta(days=32)).replace(day=1)
        spans.append((cursor, min(last, next_month - timedelta(days=1))))
        cursor = next_month
    return spans


def availability_report(*, user: AnyUser, filters: ReportFilters) -> list[ReportRow]:
    """Availability per connector, station, region and station-local month."""
    stations = report_stations_for_user(user=user, filters=filters)
    connectors = connectors_by_station(stations)
    per_connector: dict[int, Tally] = defaultdict(Tally)
    per_month: dict[tuple[int, date | None], Tally] = defaultdict(Tally)
    for zone, members in stations_by_zone(stations).items():
        chosen = [c for station in members for c in connectors[station.pk]]
        # One pass: per connector and local month; stations and totals add up.
        station_of = {c.pk: station_id_of(c.charge_point) for c in chosen}
        for (pk, month), tally in range_totals(
            connectors=chosen,
            first=filters.date_from,
            last=filters.date_to,
            zone=zone,
            period="month",
        ).items():
            per_connector[pk].add(tally)
            per_month[(station_of[pk], month)].add(tally)
    rows: list[ReportRow] = []
    regions: dict[str, Tally] = defaultdict(Tally)
    months: list[ReportRow] = []
    for station in stations:
        station_tally = Tally()
        for connector in connectors[station.pk]:
            tally = per_connector[connector.pk]
            station_tally.add(tally)
            rows.append(ReportRow("connector", f"{station.name} / {connector}", tally))
        rows.append(ReportRow("station", station.name, station_tally))
        regions[station.region or "—"].add(station_tally)
        for first, _ in _month_spans(filters.date_from, filters.date_to):
            months.append(
                ReportRow(
                    "month",
                    f"{station.name} {first:%Y-%m}",
                    per_month.get((station.pk, first.replace(day=1)), Tally()),
                )
            )
    rows += [
        ReportRow("region", name, tally) for name, tally in sorted(regions.items())
    ]
    return rows + months


def availability_windows(
    *, user: AnyUser, station_id: int, day: date, minutes: int = 5
) -> list[tuple[datetime, float | None]]:
    """Station availability per ``minutes`` window of one station-local day."""
    reports_require(user=user)
    station = station_get_for_user(user=user, pk=station_id, perm=REPORT_PERMISSION)
    start, end = local_range(station, day, day)
    window = timedelta(minutes=minutes)
    merged: dict[datetime, Tally] = defaultdict(Tally)
    raw = connectors_buckets_raw(
        connectors=list(Connector.objects.filter(charge_point__station=station)),
        start=start,
        end=raw_end(end),
        bucket=window,
    )
    for per_window in raw.values():
        for bucket_start, tally in per_window.items():
            merged[bucket_start].add(tally)
    zone = ZoneInfo(station.time_zone or "UTC")
    result = []
    moment = start
    while moment < end:
        bucket = merged.get(moment)
        result.append(
            (moment.astimezone(zone), bucket.availability if bucket else None)
        )
        moment += window
    return result


def _chart(rows: list[ReportRow]) -> Chart:
    picked = [r for r in rows if r.level == "station"]
    return {
        "type": "bar",
        "labels": [r.label for r in picked],
        "series": {"Availability %": [r.availability_pct or None for r in picked]},
    }


REPORT = report_register(
    Report(
        key="availability",
        title="Availability SLA",
        rows=availability_report,
        columns=(
            *LEVEL_AND_NAME,
            Column("availability_pct", lambda r: r.availability_pct),
            Column("known_hours", lambda r: r.known_hours),
            Column("downtime_hours", lambda r: r.downtime_hours),
        ),
        api_kind="tally",
        chart=_chart,
        note=(
            "Available: Available, Preparing, Charging, Suspended (EV/EVSE), "
            "Finishing, Reserved. Not available: Faulted, Unavailable, Offline. "
            "Time before any known status is left out. Per-station 5-minute "
            "windows are linked below the table."
        ),
        footer_template="stations/reports/availability_windows_links.html",
    )
)
