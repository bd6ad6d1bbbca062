"""Histograms of stopped sessions: duration and energy (billing adds idle time).

The report reads the charging sessions, so it lives here and registers into
the stations report registry from ``ChargingConfig.ready()``.

Sessions (not rejected, stopped) count by their station-local start day,
bucketed and summed in SQL (one query per time zone). Whole days complete in
the roll-ups come from ``StationDailySessions`` (its ``values`` map
``<distribution>_<bucket>_n`` / ``_sum`` to numbers); the rest is counted from
the sessions. A distribution is a ``Distribution`` registered here: billing
registers the idle-time one, whose values live on its CDRs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Sum
from django.db.models.functions import TruncDate

from accounts.http import AnyUser
from sessions_app.models import ChargingSession, SessionStatus
from stations.models import Station
from stations.reports.filters import (
    ReportFilters,
    report_stations_for_user,
    station_ids_by_range,
    stations_by_zone,
)
from stations.reports.models import ReportRollupState, StationDailySessions
from stations.reports.registry import (
    Chart,
    Column,
    DayRollups,
    Report,
    extra_columns,
    report_register,
)
from stations.reports.rows import ReportRow, table_row
from stations.reports.tallies import rollups_complete_until

Buckets = list[tuple[str, int | None]]  # (label, exclusive upper bound or None)

DURATION_BUCKETS: Buckets = [
    ("< 15 min", 15 * 60),
    ("15-30 min", 30 * 60),
    ("30-60 min", 60 * 60),
    ("1-2 h", 2 * 3600),
    ("2-4 h", 4 * 3600),
    ("4-8 h", 8 * 3600),
    (">= 8 h", None),
]
ENERGY_BUCKETS: Buckets = [
    ("< 5 kWh", 5000),
    ("5-10 kWh", 10000),
    ("10-20 kWh", 20000),
    ("20-40 kWh", 40000),
    ("40-60 kWh", 60000),
    (">= 60 kWh", None),
]


def _seconds(value: int) -> timedelta:
    return timedelta(seconds=value)


def _same(value: int) -> int:
    return value


@dataclass(frozen=True)
class Distribution:
    """One histogram over the sessions.

    ``column`` is a lookup from ``ChargingSession`` (``duration_s`` is
    annotated); ``unit`` divides the sums for the "total" column; ``bound``
    turns a bucket bound into the column's type.
    """

    name: str
    column: str
    buckets: Buckets
    unit: int
    bound: Callable[[int], Any] = _same


_DISTRIBUTIONS: dict[str, Distribution] = {}


def session_distribution_register(distribution: Distribution) -> None:
    """Add a histogram to the report and its day roll-ups (a re-import replaces it)."""
    _DISTRIBUTIONS[distribution.name] = distribution


session_distribution_register(
    Distribution("duration", "duration_s", DURATION_BUCKETS, 3600, _seconds)
)
session_distribution_register(Distribution("energy", "energy_wh", ENERGY_BUCKETS, 1000))


def _bucket_ranges(buckets: Buckets) -> list[tuple[str, int, int | None]]:
    ranges = []
    lower = 0
    for label, upper in buckets:
        ranges.append((label, lower, upper))
        lower = upper or lower
    return ranges


def _distribution_aggregates() -> dict[str, Any]:
    aggregates: dict[str, Any] = {}
    for item in _DISTRIBUTIONS.values():
        known = Q(**{f"{item.column}__isnull": False})
        for index, (_, lower, upper) in enumerate(_bucket_ranges(item.buckets)):
            where = known & Q(**{f"{item.column}__gte": item.bound(lower)})
            if upper is not None:
                where &= Q(**{f"{item.column}__lt": item.bound(upper)})
            aggregates[f"{item.name}_{index}_n"] = Count("id", filter=where)
            aggregates[f"{item.name}_{index}_sum"] = Sum(item.column, filter=where)
    return aggregates


def distribution_sums(
    *, station_ids: list[int], start: datetime, end: datetime, zone: str
) -> dict[tuple[int, date], dict[str, float]]:
    """Histogram counts and sums per (station, local start day), in one SQL query."""
    rows = (
        ChargingSession.objects.filter(
            charge_point__station_id__in=station_ids,
            started_at__gte=start,
            started_at__lt=end,
            stopped_at__isnull=False,
        )
        .exclude(status=SessionStatus.REJECTED)
        .annotate(
            duration_s=ExpressionWrapper(
                F("stopped_at") - F("started_at"), output_field=DurationField()
            ),
            station=F("charge_point__station_id"),
            day=TruncDate("started_at", tzinfo=ZoneInfo(zone or "UTC")),
        )
        .values("station", "day")
        .annotate(**_distribution_aggregates())
        .order_by()
    )
    sums: dict[tuple[int, date], dict[str, float]] = {}
    for row in rows:
        values = {}
        fields: dict[str, Any] = dict(row)
        for key, value in fields.items():
            if key in ("station", "day"):
                continue
            if isinstance(value, timedelta):
                value = value.total_seconds()
            values[key] = float(value or 0)
        sums[(row["station"], row["day"])] = values
    return sums


def _complete_days(first: date, last: date, zone: str) -> date | None:
    """The last day of ``first``..``last`` complete in the roll-ups, if any."""
    complete_until = rollups_complete_until()
    if complete_until is None:
        return None
    tz = ZoneInfo(zone or "UTC")
    day = min(last, complete_until.astimezone(tz).date() - timedelta(days=1))
    return day if day >= first else None


def sessions_distribution_report(
    *, user: AnyUser, filters: ReportFilters
) -> list[ReportRow]:
    """Histograms of session duration, energy and idle time (CDRs).

    Whole days complete in the roll-ups come from ``StationDailySessions``, the
    rest is counted in SQL from the sessions.
    """
    stations = report_stations_for_user(user=user, filters=filters)
    totals: dict[str, float] = defaultdict(float)
    for (start, end, zone), ids in station_ids_by_range(stations, filters).items():
        complete = _complete_days(filters.date_from, filters.date_to, zone)
        if complete is not None:
            for values in StationDailySessions.objects.filter(
                station_id__in=ids, day__gte=filters.date_from, day__lte=complete
            ).values_list("values", flat=True):
                for key, value in values.items():
                    totals[key] += value
            start = datetime.combine(
                complete + timedelta(days=1), time(0), ZoneInfo(zone)
            )
        if start >= end:
            continue
        for values in distribution_sums(
            station_ids=ids, start=start, end=end, zone=zone
        ).values():
            for key, value in values.items():
                totals[key] += value
    rows: list[ReportRow] = []
    for item in _DISTRIBUTIONS.values():
        ranges = _bucket_ranges(item.buckets)
        count_all = int(sum(totals[f"{item.name}_{i}_n"] for i in range(len(ranges))))
        sum_all = sum(totals[f"{item.name}_{i}_sum"] for i in range(len(ranges)))
        for index, (label, _, _) in enumerate(ranges):
            n = int(totals[f"{item.name}_{index}_n"])
            rows.append(
                table_row(
                    item.name,
                    label,
                    sessions=n,
                    share_pct=f"{n * 100 / count_all:.2f}" if count_all else "",
                    total=f"{totals[f'{item.name}_{index}_sum'] / item.unit:.3f}",
                )
            )
        rows.append(
            table_row(
                item.name,
                "all",
                sessions=count_all,
                share_pct="100.00" if count_all else "",
                total=f"{sum_all / item.unit:.3f}",
            )
        )
    return rows


def sessions_rollups_rebuild(
    *, stations: list[Station], first: date, last: date
) -> int:
    """Recompute the ``StationDailySessions`` rows of local days ``first``..``last``."""
    written = 0
    for zone, members in stations_by_zone(stations).items():
        ids = [station.pk for station in members]
        tz = ZoneInfo(zone)
        start = datetime.combine(first, time(0), tz)
        end = datetime.combine(last + timedelta(days=1), time(0), tz)
        sums = distribution_sums(station_ids=ids, start=start, end=end, zone=zone)
        with transaction.atomic():
            StationDailySessions.objects.filter(
                station_id__in=ids, day__gte=first, day__lte=last
            ).delete()
            StationDailySessions.objects.bulk_create(
                [
                    StationDailySessions(station_id=station_id, day=day, values=values)
                    for (station_id, day), values in sums.items()
                ],
                batch_size=1000,
            )
        written += len(sums)
    return written


def station_days_rebuild(*, days: dict[int, tuple[date, date]]) -> None:
    """Rebuild the ``StationDailySessions`` of each station id's (first, last) days.

    Stations with the same span are rebuilt together (one query per zone).
    """
    if not days:
        return
    stations = Station.objects.in_bulk(list(days))
    by_span: dict[tuple[date, date], list[Station]] = defaultdict(list)
    for station_id, span in days.items():
        by_span[span].append(stations[station_id])
    for (first, last), members in by_span.items():
        sessions_rollups_rebuild(stations=members, first=first, last=last)


def widen(days: dict[Any, tuple[date, date]], key: Any, day: date) -> None:
    """Grow ``days[key]`` (a first, last span) to hold ``day``."""
    first, last = days.get(key, (day, day))
    days[key] = (min(first, day), max(last, day))


def local_day(moment: datetime, zone: str) -> date:
    return moment.astimezone(ZoneInfo(zone or "UTC")).date()


def _rollups_build(*, state: ReportRollupState, now: datetime) -> None:
    """Every station's day rows, from a day before the oldest session to tomorrow."""
    oldest = ChargingSession.objects.aggregate(first=Min("started_at"))["first"]
    first = min(oldest or now, now).date() - timedelta(days=1)
    last = now.date() + timedelta(days=1)
    sessions_rollups_rebuild(
        stations=list(Station.objects.all()), first=first, last=last
    )


def _rollups_update(*, state: ReportRollupState, since: datetime) -> None:
    """Day rows of the sessions updated since the last run (stopped, late values)."""
    zones = dict(Station.objects.values_list("pk", "time_zone"))
    days: dict[int, tuple[date, date]] = {}
    for station_id, started_at in ChargingSession.objects.filter(
        updated_at__gte=since, charge_point__station__isnull=False
    ).values_list("charge_point__station_id", "started_at"):
        widen(days, station_id, local_day(started_at, zones[station_id]))
    station_days_rebuild(days=days)


def _chart(rows: list[ReportRow]) -> Chart:
    picked = [r for r in rows if r.label != "all"]
    return {
        "type": "bar",
        "labels": [f"{r.level}: {r.label}" for r in picked],
        "series": {"Sessions": [r.extra["sessions"] for r in picked]},
    }


REPORT = report_register(
    Report(
        key="sessions",
        title="Session duration, energy and idle time",
        rows=sessions_distribution_report,
        columns=(
            Column("distribution", lambda r: r.level),
            Column("bucket", lambda r: r.label),
            *extra_columns("sessions", "share_pct", "total"),
        ),
        chart=_chart,
        note=(
            "Stopped sessions by station-local start day. Total: hours (duration, "
            "idle) or kWh (energy). Idle time from the sessions' CDRs only."
        ),
        day_rollups=DayRollups(build=_rollups_build, update=_rollups_update),
    )
)
