"""Tallies of status time, sessions and energy, from the roll-ups and the raw history.

Time model: every connector has, at each instant, one *effective state*:

- ``Offline`` while its charger is disconnected (``ConnectionEvent`` disconnected
  or went_silent until the next connected or back_online event; history written
  before back_online events existed falls back to the next status notification);
- else ``Faulted``/``Unavailable`` while the charger as a whole (connector 0)
  reports that status (OCPP 1.6 §4.9: connector 0 stands for the charge point);
- else the connector's last applied status by the charger's timestamp ``at``
  (late, non-applied notifications are ignored, as for the live state);
- ``Unknown`` before any status is known: excluded from every share.

Availability SLA: Available, Preparing, Charging, SuspendedEV, SuspendedEVSE,
Finishing and Reserved count as *available* (the connector works; a reservation
or a car that pauses charging is a customer's choice, not an outage). Faulted,
Unavailable and Offline count as *not available*.

Utilization: *occupied* is Preparing..Finishing including both Suspended states;
*charging* is Charging only. Shares are of the known (non-Unknown) time.

Energy is split across hours by linear interpolation of the session's energy
register readings (start, meter values, stop), so a session crossing midnight
lands on both station-local days. Totals read roll-ups for the closed part of a
range (``ConnectorMonthlyRollup`` for whole local months, ``ConnectorDailyRollup``
for whole local days, ``ConnectorHourlyRollup`` for hours; ``range_sources``
decides which) and the raw history, loaded for all connectors at once
(``stations.reports.history``), for the current hour and the edges; both give
the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from stations.models import ChargePoint, Connector
from stations.reports.history import (
    ENERGY_INDEX,
    EPOCH,
    SECONDS_FIELDS,
    SESSIONS_INDEX,
    US,
    ConnectorsHistory,
    from_us,
)
from stations.reports.models import (
    ConnectorDailyRollup,
    ConnectorHourlyRollup,
    ConnectorMonthlyRollup,
    ReportRollupState,
)

HOUR = timedelta(hours=1)
Period = Literal["all", "day", "month"]
Group = Literal["connector", "station"]

AVAILABLE_FIELDS = (
    "available_s",
    "preparing_s",
    "charging_s",
    "suspended_ev_s",
    "suspended_evse_s",
    "finishing_s",
    "reserved_s",
)
OCCUPIED_FIELDS = (
    "preparing_s",
    "charging_s",
    "suspended_ev_s",
    "suspended_evse_s",
    "finishing_s",
)


@dataclass
class Tally:
    """Seconds per status, sessions started and energy over some period."""

    seconds: dict[str, float] = field(
        default_factory=lambda: dict.fromkeys(SECONDS_FIELDS, 0.0)
    )
    sessions_started: int = 0
    energy_wh: int = 0

    def add(self, other: Tally) -> None:
        for name, value in other.seconds.items():
            self.seconds[name] += value
        self.sessions_started += other.sessions_started
        self.energy_wh += other.energy_wh

    @property
    def known_s(self) -> float:
        return sum(v for k, v in self.seconds.items() if k != "unknown_s")

    def _share(self, names: Iterable[str]) -> float | None:
        known = self.known_s
        if not known:
            return None
        return sum(self.seconds[n] for n in names) / known

    @property
    def availability(self) -> float | None:
        return self._share(AVAILABLE_FIELDS)

    @property
    def occupied_share(self) -> float | None:
        return self._share(OCCUPIED_FIELDS)

    @property
    def charging_share(self) -> float | None:
        return self._share(("charging_s",))

    @property
    def downtime_s(self) -> float:
        return sum(self.seconds[n] for n in ("unavailable_s", "faulted_s", "offline_s"))


def floor_to(moment: datetime, bucket: timedelta) -> datetime:
    """The start of the UTC-aligned ``bucket`` holding ``moment``."""
    return moment - (moment - EPOCH) % bucket


def ceil_to(moment: datetime, bucket: timedelta) -> datetime:
    floored = floor_to(moment, bucket)
    return floored if floored == moment else floored + bucket


def next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


# --- raw history ----------------------------------------------------------------


def _tally(values: list[int]) -> Tally:
    return Tally(
        seconds={
            name: values[index] / 1_000_000 for index, name in enumerate(SECONDS_FIELDS)
        },
        sessions_started=values[SESSIONS_INDEX],
        energy_wh=values[ENERGY_INDEX],
    )


def connectors_buckets_raw(
    *,
    connectors: list[Connector],
    start: datetime,
    end: datetime,
    bucket: timedelta = HOUR,
) -> dict[int, dict[datetime, Tally]]:
    """Per connector id, tallies per UTC-aligned bucket from the raw history.

    One batch of queries for all ``connectors`` (``ConnectorsHistory``).
    """
    if end <= start:
        return {c.pk: {} for c in connectors}
    history = ConnectorsHistory(connectors, start, end)
    bucket_us = bucket // US
    return {
        c.pk: {
            from_us(at): _tally(values)
            for at, values in sorted(history.buckets(c.pk, bucket_us=bucket_us).items())
        }
        for c in connectors
    }


def connector_buckets_raw(
    *, connector: Connector, start: datetime, end: datetime, bucket: timedelta = HOUR
) -> dict[datetime, Tally]:
    """Tallies per UTC-aligned bucket (hour, 5 minutes...) from the raw history."""
    return connectors_buckets_raw(
        connectors=[connector], start=start, end=end, bucket=bucket
    )[connector.pk]


def rollup_values(tally: Tally) -> dict[str, int]:
    """Whole-second column values of an hourly roll-up row."""
    values = {name: round(seconds) for name, seconds in tally.seconds.items()}
    values["sessions_started"] = tally.sessions_started
    values["energy_wh"] = tally.energy_wh
    return values


def _rounded(tally: Tally) -> Tally:
    """The tally as an hourly roll-up row would store it (whole seconds)."""
    values = rollup_values(tally)
    return Tally(
        seconds={name: float(values[name]) for name in SECONDS_FIELDS},
        sessions_started=tally.sessions_started,
        energy_wh=tally.energy_wh,
    )


def raw_end(end: datetime) -> datetime:
    """Raw history is known up to now: time after it is not counted."""
    return min(end, timezone.now())


def rollups_complete_until() -> datetime | None:
    state = ReportRollupState.objects.filter(key="hourly").first()
    return state.complete_until if state else None


# --- which rows cover a range (pure) ------------------------------------------------


@dataclass(frozen=True)
class RangeSources:
    """Which stored rows cover which part of a range of local days.

    ``months`` and ``day_spans`` are half-open ranges of local dates read from the
    monthly and daily roll-ups; ``hours`` a half-open UTC range read from the
    hourly roll-ups; ``raw`` the UTC ranges read from the raw history (up to now).
    Together they cover the range once, without overlap.
    """

    months: tuple[date, date] | None
    day_spans: tuple[tuple[date, date], ...]
    hours: tuple[datetime, datetime] | None
    raw: tuple[tuple[datetime, datetime], ...]


def range_sources(
    *,
    first: date,
    last: date,
    zone: ZoneInfo,
    complete_until: datetime | None,
    now: datetime,
    period: Period = "all",
) -> RangeSources:
    """Split the local days ``first``..``last`` in ``zone`` over the stored rows.

    Whole local months complete in the roll-ups (before ``complete_until``) come
    from the monthly roll-ups (not for ``period="day"``: a month row has no
    days), other complete days from the daily roll-ups, further complete hours
    from the hourly roll-ups and the rest (the current hour, the edges of a
    zone whose days do not start on a UTC hour) from the raw history.
    """
    start = datetime.combine(first, time(0), zone).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), zone).astimezone(UTC)
    hourly_from = ceil_to(start, HOUR)
    if complete_until is None or complete_until <= hourly_from:
        return RangeSources(None, (), None, _clipped([(start, end)], now))
    raw = [(start, min(hourly_from, end))]
    hourly_to = min(floor_to(end, HOUR), complete_until)
    months: tuple[date, date] | None = None
    day_spans: list[tuple[date, date]] = []
    days_to = first
    while days_to <= last and (
        datetime.combine(days_to + timedelta(days=1), time(0), zone) <= complete_until
    ):
        days_to += timedelta(days=1)
    # Day rows sum UTC hours: only a zone whose days start on a UTC hour has them.
    if hourly_from == start and days_to > first:
        months_from = first if first.day == 1 else next_month(first)
        months_to = months_from
        while period != "day" and next_month(months_to) <= days_to:
            months_to = next_month(months_to)
        day_spans = [(first, days_to)]
        if months_to > months_from:
            months = (months_from, months_to)
            day_spans = [(first, months_from), (months_to, days_to)]
        day_spans = [(a, b) for a, b in day_spans if b > a]
        hourly_from = max(
            hourly_from, datetime.combine(days_to, time(0), zone).astimezone(UTC)
        )
    hours = (hourly_from, hourly_to) if hourly_to > hourly_from else None
    raw.append((max(hourly_to, hourly_from, start), end))
    return RangeSources(months, tuple(day_spans), hours, _clipped(raw, now))


def _clipped(
    ranges: list[tuple[datetime, datetime]], now: datetime
) -> tuple[tuple[datetime, datetime], ...]:
    return tuple(
        (begin, min(finish, now))
        for begin, finish in ranges
        if min(finish, now) > begin
    )


def period_key(moment: datetime, *, zone: ZoneInfo, period: Period) -> date | None:
    """The period ``moment`` counts under: None, its local day or its month's first."""
    if period == "all":
        return None
    day = moment.astimezone(zone).date()
    return day if period == "day" else day.replace(day=1)


# --- roll-up aware totals ------------------------------------------------------------

_TALLY_SUMS = {
    **{name: Sum(name) for name in SECONDS_FIELDS},
    "sessions": Sum("sessions_started"),
    "energy": Sum("energy_wh"),
}
_ENERGY_SUMS = {"sessions": Sum("sessions_started"), "energy": Sum("energy_wh")}
GROUP_FIELDS = {
    "connector": "connector_id",
    "station": "connector__charge_point__station_id",
}


def station_id_of(charge_point: ChargePoint) -> int:
    """The station of a charger a report covers (reports select chargers by station)."""
    if charge_point.station_id is None:
        raise ValueError(f"charger {charge_point.ocpp_id} has no station")
    return charge_point.station_id


Totals = dict[tuple[int, date | None], Tally]


def _add_row(tally: Tally, row: Mapping[str, Any]) -> None:
    for name in SECONDS_FIELDS:
        tally.seconds[name] += row.get(name) or 0
    tally.sessions_started += row["sessions"] or 0
    tally.energy_wh += row["energy"] or 0


def _add_grouped(
    totals: Totals, rows: QuerySet[Any], names: list[str], sums: dict[str, Sum]
) -> None:
    """Sum ``rows`` per ``names`` (the group column, then an optional period)."""
    for row in rows.values(*names).annotate(**sums).order_by():
        period = row[names[1]] if len(names) > 1 else None
        _add_row(totals[(row[names[0]], period)], row)


def range_totals(
    *,
    connectors: list[Connector],
    first: date,
    last: date,
    zone: str,
    group: Group = "connector",
    period: Period = "all",
    use_rollups: bool = True,
    energy_only: bool = False,
) -> Totals:
    """Tallies over the local days ``first``..``last`` in ``zone``.

    Keyed by (connector id or station id per ``group``, period) where period is
    ``None`` (``period="all"``), the local day (``"day"``) or the first day of its
    month (``"month"``). ``range_sources`` picks the rows; the raw part is read
    for all connectors in one batch. ``energy_only``: sessions and energy (the
    seconds stay 0).
    """
    totals: Totals = defaultdict(Tally)
    if not connectors:
        return totals
    tz = ZoneInfo(zone or "UTC")
    sources = range_sources(
        first=first,
        last=last,
        zone=tz,
        complete_until=rollups_complete_until() if use_rollups else None,
        now=timezone.now(),
        period=period,
    )
    sums = _ENERGY_SUMS if energy_only else _TALLY_SUMS
    ids = [c.pk for c in connectors]
    column = GROUP_FIELDS[group]
    if sources.months is not None:
        months = ConnectorMonthlyRollup.objects.filter(
            connector_id__in=ids,
            month__gte=sources.months[0],
            month__lt=sources.months[1],
        )
        names = [column] + (["month"] if period == "month" else [])
        _add_grouped(totals, months, names, sums)
    for span_from, span_to in sources.day_spans:
        days: QuerySet[Any] = ConnectorDailyRollup.objects.filter(
            connector_id__in=ids, day__gte=span_from, day__lt=span_to
        )
        names = [column]
        if period == "day":
            names.append("day")
        elif period == "month":
            days = days.annotate(month=TruncMonth("day"))
            names.append("month")
        _add_grouped(totals, days, names, sums)
    if sources.hours is not None:
        _add_hours(totals, ids, sources.hours, column, tz, period, sums)
    key_of = {
        c.pk: c.pk if group == "connector" else station_id_of(c.charge_point)
        for c in connectors
    }
    for range_start, pk, hour_start, tally in _raw_hours(connectors, sources.raw):
        key = period_key(max(hour_start, range_start), zone=tz, period=period)
        totals[(key_of[pk], key)].add(_rounded(tally))
    return totals


def _add_hours(
    totals: Totals,
    ids: list[int],
    hours: tuple[datetime, datetime],
    column: str,
    zone: ZoneInfo,
    period: Period,
    sums: dict[str, Sum],
) -> None:
    """Hourly roll-ups of ``[hours)``; within one period (the usual tail of today)
    they are summed per key only."""
    hourly_from, hourly_to = hours
    one_period = period_key(hourly_from, zone=zone, period=period) == period_key(
        hourly_to - HOUR, zone=zone, period=period
    )
    names = [column] + ([] if one_period else ["hour_start"])
    rows = (
        ConnectorHourlyRollup.objects.filter(
            connector_id__in=ids, hour_start__gte=hourly_from, hour_start__lt=hourly_to
        )
        .values(*names)
        .annotate(**sums)
        .order_by()
    )
    for row in rows:
        moment = hourly_from if one_period else row["hour_start"]
        _add_row(
            totals[(row[names[0]], period_key(moment, zone=zone, period=period))], row
        )


def hour_split(
    *, start: datetime, end: datetime, complete_until: datetime | None, now: datetime
) -> tuple[tuple[datetime, datetime] | None, tuple[tuple[datetime, datetime], ...]]:
    """The whole hourly roll-up hours of ``[start, end)`` and the raw edges (to now)."""
    middle_start = ceil_to(start, HOUR)
    middle_end = min(floor_to(end, HOUR), complete_until) if complete_until else None
    if middle_end is None or middle_end <= middle_start:
        return None, _clipped([(start, end)], now)
    return (middle_start, middle_end), _clipped(
        [(start, middle_start), (middle_end, end)], now
    )


def _raw_hours(
    connectors: list[Connector], ranges: Iterable[tuple[datetime, datetime]]
) -> Iterable[tuple[datetime, int, datetime, Tally]]:
    """(range start, connector id, hour start, tally) of every raw hour in ``ranges``."""
    for range_start, range_end in ranges:
        raw = connectors_buckets_raw(
            connectors=connectors, start=range_start, end=range_end
        )
        for connector in connectors:
            for hour_start, tally in raw[connector.pk].items():
                yield range_start, connector.pk, hour_start, tally


def connector_totals(
    *,
    connectors: list[Connector],
    start: datetime,
    end: datetime,
    use_rollups: bool = True,
) -> dict[int, Tally]:
    """Total tally per connector id over ``[start, end)``: roll-ups plus raw edges."""
    middle, raw_ranges = hour_split(
        start=start,
        end=end,
        complete_until=rollups_complete_until() if use_rollups else None,
        now=timezone.now(),
    )
    totals: dict[int, Tally] = {c.pk: Tally() for c in connectors}
    if middle is not None:
        rows = (
            ConnectorHourlyRollup.objects.filter(
                connector_id__in=[c.pk for c in connectors],
                hour_start__gte=middle[0],
                hour_start__lt=middle[1],
            )
            .values("connector_id")
            .annotate(**_TALLY_SUMS)
            .order_by()
        )
        for row in rows:
            _add_row(totals[row["connector_id"]], row)
    for _, pk, _, tally in _raw_hours(connectors, raw_ranges):
        totals[pk].add(_rounded(tally))
    return totals


def hourly_totals(
    *, connectors: list[Connector], start: datetime, end: datetime
) -> dict[datetime, Tally]:
    """Sessions and energy per UTC hour over all ``connectors``: roll-ups + raw edges.

    Reads only the roll-up hours with sessions or energy (a partial index).
    """
    middle, raw_ranges = hour_split(
        start=start,
        end=end,
        complete_until=rollups_complete_until(),
        now=timezone.now(),
    )
    hours: dict[datetime, Tally] = defaultdict(Tally)
    if middle is not None:
        rows = (
            ConnectorHourlyRollup.objects.filter(
                Q(sessions_started__gt=0) | Q(energy_wh__gt=0),
                connector_id__in=[c.pk for c in connectors],
                hour_start__gte=middle[0],
                hour_start__lt=middle[1],
            )
            .values("hour_start")
            .annotate(sessions=Sum("sessions_started"), energy=Sum("energy_wh"))
            .order_by()
        )
        for row in rows:
            hours[row["hour_start"]].sessions_started += row["sessions"] or 0
            hours[row["hour_start"]].energy_wh += row["energy"] or 0
    for _, _, hour_start, tally in _raw_hours(connectors, raw_ranges):
        hours[hour_start].add(tally)
    return hours
