"""Availability, utilization and energy reports from status and session history.

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
lands on both station-local days. Reports read roll-ups for the closed part of
the range (``ConnectorMonthlyRollup`` for whole local months,
``ConnectorDailyRollup`` for whole local days, ``ConnectorHourlyRollup`` for
hours; see ``range_totals``) and the raw history, loaded for all connectors at
once (``stations.reports.history``), for the current hour and the edges; both
give the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.db.models import Q, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from stations.models import Connector, Station
from stations.reports.history import (
    ENERGY_INDEX,
    EPOCH,
    OFFLINE,  # noqa: F401  (re-exported)
    SECONDS_FIELDS,
    SESSIONS_INDEX,
    STATUS_FIELDS,  # noqa: F401  (re-exported)
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
from stations.selectors import station_get_for_user, station_list_for_user

REPORT_PERMISSION = "stations.view_station"
HOUR = timedelta(hours=1)
MAX_WINDOW_RANGE = timedelta(days=7)

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


class ReportInputError(ValueError):
    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


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


# --- Raw computation -----------------------------------------------------------


def _floor(moment: datetime, bucket: timedelta) -> datetime:
    return moment - (moment - EPOCH) % bucket


def _ceil(moment: datetime, bucket: timedelta) -> datetime:
    floored = _floor(moment, bucket)
    return floored if floored == moment else floored + bucket


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


def _segments(
    connector: Connector, start: datetime, end: datetime
) -> list[tuple[datetime, datetime, str]]:
    """Effective states of the connector as ``(from, to, state)`` covering the range."""
    history = ConnectorsHistory([connector], start, end)
    return [
        (from_us(begin), from_us(finish), state)
        for begin, finish, state in history.segments_us(connector.pk)
    ]


def rollup_values(tally: Tally) -> dict[str, int]:
    """Whole-second column values of an hourly roll-up row."""
    values = {name: round(seconds) for name, seconds in tally.seconds.items()}
    values["sessions_started"] = tally.sessions_started
    values["energy_wh"] = tally.energy_wh
    return values


def _rounded(tally: Tally) -> Tally:
    values = rollup_values(tally)
    return Tally(
        seconds={name: float(values[name]) for name in SECONDS_FIELDS},
        sessions_started=tally.sessions_started,
        energy_wh=tally.energy_wh,
    )


# --- Roll-up aware totals -------------------------------------------------------


def rollups_complete_until() -> datetime | None:
    state = ReportRollupState.objects.filter(key="hourly").first()
    return state.complete_until if state else None


def _raw_end(end: datetime) -> datetime:
    """Raw history is known up to now: time after it is not counted."""
    return min(end, timezone.now())


_TALLY_SUMS = {
    **{name: Sum(name) for name in SECONDS_FIELDS},
    "sessions": Sum("sessions_started"),
    "energy": Sum("energy_wh"),
}


_ENERGY_SUMS = {"sessions": Sum("sessions_started"), "energy": Sum("energy_wh")}


def _next_month(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _add_row(tally: Tally, row: dict[str, Any]) -> None:
    for name in SECONDS_FIELDS:
        tally.seconds[name] += row.get(name) or 0
    tally.sessions_started += row["sessions"] or 0
    tally.energy_wh += row["energy"] or 0


GROUP_FIELDS = {
    "connector": "connector_id",
    "station": "connector__charge_point__station_id",
}


def range_totals(
    *,
    connectors: list[Connector],
    first: date,
    last: date,
    zone: str,
    group: str = "connector",
    period: str = "all",
    use_rollups: bool = True,
    energy_only: bool = False,
) -> dict[tuple[int, date | None], Tally]:
    """Tallies over the local days ``first``..``last`` in ``zone``.

    Keyed by (connector id or station id per ``group``, period) where period is
    ``None`` (``period="all"``), the local day (``"day"``) or the first day of its
    month (``"month"``). Whole local months complete in the roll-ups come from
    the monthly roll-ups (not for ``period="day"``), other complete days from the
    daily roll-ups, further complete hours from the hourly roll-ups and the rest
    (the current hour, edges of half-hour zones) from the raw history, batched.
    """
    tz = ZoneInfo(zone or "UTC")
    start = datetime.combine(first, time(0), tz).astimezone(UTC)
    end = datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(UTC)
    totals: dict[tuple[int, date | None], Tally] = defaultdict(Tally)
    # ``energy_only``: sessions and energy (the other sums stay 0).
    sums = _ENERGY_SUMS if energy_only else _TALLY_SUMS
    if not connectors:
        return totals
    key_of = {
        c.pk: c.pk if group == "connector" else c.charge_point.station_id
        for c in connectors
    }

    def period_of(moment: datetime) -> date | None:
        if period == "all":
            return None
        day = moment.astimezone(tz).date()
        return day if period == "day" else day.replace(day=1)

    complete_until = rollups_complete_until() if use_rollups else None
    hourly_from = _ceil(start, HOUR)
    raw_ranges = [(start, min(hourly_from, end))]
    if complete_until is None or complete_until <= hourly_from:
        raw_ranges = [(start, end)]
    else:
        hourly_to = min(_floor(end, HOUR), complete_until)
        aligned = hourly_from == start
        # Whole local days before ``complete_until``: the daily roll-ups.
        days_to = first
        while days_to <= last and (
            datetime.combine(days_to + timedelta(days=1), time(0), tz) <= complete_until
        ):
            days_to += timedelta(days=1)
        if aligned and days_to > first:
            # Whole local months inside: the monthly roll-ups (not per day).
            months_from = first if first.day == 1 else _next_month(first)
            months_to = months_from
            while period != "day" and _next_month(months_to) <= days_to:
                months_to = _next_month(months_to)
            day_spans = [(first, days_to)]
            if months_to > months_from:
                day_spans = [(first, months_from), (months_to, days_to)]
                rows = ConnectorMonthlyRollup.objects.filter(
                    connector_id__in=[c.pk for c in connectors],
                    month__gte=months_from,
                    month__lt=months_to,
                )
                names = [GROUP_FIELDS[group]] + (["month"] if period == "month" else [])
                for row in rows.values(*names).annotate(**sums).order_by():
                    key = (row[names[0]], row["month"] if period == "month" else None)
                    _add_row(totals[key], row)
            for span_from, span_to in day_spans:
                if span_to <= span_from:
                    continue
                rows = ConnectorDailyRollup.objects.filter(
                    connector_id__in=[c.pk for c in connectors],
                    day__gte=span_from,
                    day__lt=span_to,
                )
                names = [GROUP_FIELDS[group]]
                if period == "day":
                    names.append("day")
                elif period == "month":
                    rows = rows.annotate(month=TruncMonth("day"))
                    names.append("month")
                for row in rows.values(*names).annotate(**sums).order_by():
                    key = row[names[0]]
                    _add_row(
                        totals[(key, row[names[1]] if period != "all" else None)], row
                    )
            hourly_from = max(
                hourly_from,
                datetime.combine(days_to, time(0), tz).astimezone(UTC),
            )
        if hourly_to > hourly_from:
            # Hours within one period (the usual tail of today) sum per key only.
            one_period = period_of(hourly_from) == period_of(hourly_to - HOUR)
            names = [GROUP_FIELDS[group]] + ([] if one_period else ["hour_start"])
            rows = (
                ConnectorHourlyRollup.objects.filter(
                    connector_id__in=[c.pk for c in connectors],
                    hour_start__gte=hourly_from,
                    hour_start__lt=hourly_to,
                )
                .values(*names)
                .annotate(**sums)
                .order_by()
            )
            for row in rows:
                moment = hourly_from if one_period else row["hour_start"]
                _add_row(totals[(row[names[0]], period_of(moment))], row)
        raw_ranges.append((max(hourly_to, hourly_from, start), end))
    for range_start, range_end in raw_ranges:
        range_end = _raw_end(range_end)
        if range_end <= range_start:
            continue
        raw = connectors_buckets_raw(
            connectors=connectors, start=range_start, end=range_end
        )
        for connector in connectors:
            for hour_start, tally in raw[connector.pk].items():
                moment = max(hour_start, range_start)
                totals[(key_of[connector.pk], period_of(moment))].add(_rounded(tally))
    return totals


def connector_totals(
    *,
    connectors: list[Connector],
    start: datetime,
    end: datetime,
    use_rollups: bool = True,
) -> dict[int, Tally]:
    """Total tally per connector id over ``[start, end)``: roll-ups plus raw edges."""
    complete_until = rollups_complete_until() if use_rollups else None
    middle_start = _ceil(start, HOUR)
    middle_end = min(_floor(end, HOUR), complete_until) if complete_until else None
    totals: dict[int, Tally] = {c.pk: Tally() for c in connectors}
    if middle_end is None or middle_end <= middle_start:
        raw_ranges = [(start, end)]
    else:
        raw_ranges = [(start, middle_start), (middle_end, end)]
        rows = (
            ConnectorHourlyRollup.objects.filter(
                connector_id__in=[c.pk for c in connectors],
                hour_start__gte=middle_start,
                hour_start__lt=middle_end,
            )
            .values("connector_id")
            .annotate(**_TALLY_SUMS)
            .order_by()
        )
        for row in rows:
            _add_row(totals[row["connector_id"]], row)
    for range_start, range_end in raw_ranges:
        range_end = _raw_end(range_end)
        if range_end <= range_start:
            continue
        raw = connectors_buckets_raw(
            connectors=connectors, start=range_start, end=range_end
        )
        for connector in connectors:
            for tally in raw[connector.pk].values():
                totals[connector.pk].add(_rounded(tally))
    return totals


# --- Scoped reports ---------------------------------------------------------------


@dataclass(frozen=True)
class ReportFilters:
    date_from: date
    date_to: date
    network_id: int | None = None
    station_id: int | None = None


def parse_filters(params: Any, *, today: date) -> ReportFilters:
    """Filters from query parameters; a bad value raises ``ReportInputError``."""

    def _date(name: str, default: date) -> date:
        raw = (params.get(name) or "").strip()
        if not raw:
            return default
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise ReportInputError(name, "Enter a date as YYYY-MM-DD.") from None

    def _id(name: str) -> int | None:
        raw = (params.get(name) or "").strip()
        if not raw:
            return None
        if not raw.isdigit() or not 0 < int(raw) < 2**63:
            raise ReportInputError(name, "Enter a valid id.")
        return int(raw)

    date_to = _date("date_to", today)
    date_from = _date("date_from", date_to - timedelta(days=6))
    if date_from > date_to:
        raise ReportInputError("date_from", "The start must not be after the end.")
    if (date_to - date_from).days > 366:
        raise ReportInputError("date_to", "Choose a range of at most 367 days.")
    return ReportFilters(date_from, date_to, _id("network"), _id("station"))


def _require_reports(user: Any) -> None:
    if getattr(user, "is_driver", False) or not user.has_perm(REPORT_PERMISSION):
        raise PermissionDenied("Your role does not allow reports.")


def report_stations_for_user(*, user: Any, filters: ReportFilters) -> list[Station]:
    """Stations the report covers; 404 for a station or network outside the scope."""
    _require_reports(user)
    stations = station_list_for_user(user=user).order_by("network__name", "name")
    if filters.station_id is not None:
        station = station_get_for_user(
            user=user, pk=filters.station_id, perm=REPORT_PERMISSION
        )
        stations = stations.filter(pk=station.pk)
    if filters.network_id is not None:
        from stations.selectors import network_get_for_user

        network_get_for_user(user=user, pk=filters.network_id)
        stations = stations.filter(network_id=filters.network_id)
    return list(stations)


def local_range(station: Station, first: date, last: date) -> tuple[datetime, datetime]:
    """UTC bounds of the station-local days ``first``..``last`` (a DST day is 23/25 h)."""
    zone = ZoneInfo(station.time_zone or "UTC")
    begin = datetime.combine(first, time(0), zone).astimezone(UTC)
    finish = datetime.combine(last + timedelta(days=1), time(0), zone).astimezone(UTC)
    return begin, finish


def _connectors(stations: list[Station]) -> dict[int, list[Connector]]:
    by_station: dict[int, list[Connector]] = defaultdict(list)
    for connector in Connector.objects.filter(
        charge_point__station__in=stations
    ).select_related("charge_point"):
        by_station[connector.charge_point.station_id].append(connector)
    return by_station


def _pct(share: float | None) -> str:
    return "" if share is None else f"{share * 100:.2f}"


@dataclass
class ReportRow:
    level: str
    label: str
    tally: Tally
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def availability_pct(self) -> str:
        return _pct(self.tally.availability)

    @property
    def occupied_pct(self) -> str:
        return _pct(self.tally.occupied_share)

    @property
    def charging_pct(self) -> str:
        return _pct(self.tally.charging_share)

    @property
    def known_hours(self) -> str:
        return f"{self.tally.known_s / 3600:.2f}"

    @property
    def downtime_hours(self) -> str:
        return f"{self.tally.downtime_s / 3600:.2f}"

    @property
    def energy_kwh(self) -> str:
        return f"{self.tally.energy_wh / 1000:.3f}"


def _month_spans(first: date, last: date) -> list[tuple[date, date]]:
    spans = []
    cursor = first
    while cursor <= last:
        next_month = (cursor.replace(day=1) + timedelta(days=32)).replace(day=1)
        spans.append((cursor, min(last, next_month - timedelta(days=1))))
        cursor = next_month
    return spans


def _by_zone(stations: list[Station]) -> dict[str, list[Station]]:
    zones: dict[str, list[Station]] = defaultdict(list)
    for station in stations:
        zones[station.time_zone or "UTC"].append(station)
    return zones


def availability_report(*, user: Any, filters: ReportFilters) -> list[ReportRow]:
    """Availability per connector, station, region and station-local month."""
    stations = report_stations_for_user(user=user, filters=filters)
    connectors = _connectors(stations)
    per_connector: dict[int, Tally] = defaultdict(Tally)
    per_month: dict[tuple[int, date | None], Tally] = defaultdict(Tally)
    for zone, members in _by_zone(stations).items():
        chosen = [c for station in members for c in connectors[station.pk]]
        common = {
            "connectors": chosen,
            "first": filters.date_from,
            "last": filters.date_to,
            "zone": zone,
        }
        # One pass: per connector and local month; stations and totals add up.
        station_of = {c.pk: c.charge_point.station_id for c in chosen}
        for (pk, month), tally in range_totals(**common, period="month").items():
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
    *, user: Any, station_id: int, day: date, minutes: int = 5
) -> list[tuple[datetime, float | None]]:
    """Station availability per ``minutes`` window of one station-local day."""
    _require_reports(user)
    station = station_get_for_user(user=user, pk=station_id, perm=REPORT_PERMISSION)
    start, end = local_range(station, day, day)
    window = timedelta(minutes=minutes)
    merged: dict[datetime, Tally] = defaultdict(Tally)
    raw = connectors_buckets_raw(
        connectors=list(Connector.objects.filter(charge_point__station=station)),
        start=start,
        end=_raw_end(end),
        bucket=window,
    )
    for per_window in raw.values():
        for bucket_start, tally in per_window.items():
            merged[bucket_start].add(tally)
    zone = ZoneInfo(station.time_zone or "UTC")
    result = []
    moment = start
    while moment < end:
        tally = merged.get(moment)
        result.append((moment.astimezone(zone), tally.availability if tally else None))
        moment += window
    return result


def utilization_report(*, user: Any, filters: ReportFilters) -> list[ReportRow]:
    """Occupied and charging shares per connector, charge point and station."""
    stations = report_stations_for_user(user=user, filters=filters)
    connectors = _connectors(stations)
    totals: dict[int, Tally] = defaultdict(Tally)
    for zone, members in _by_zone(stations).items():
        for (pk, _), tally in range_totals(
            connectors=[c for station in members for c in connectors[station.pk]],
            first=filters.date_from,
            last=filters.date_to,
            zone=zone,
        ).items():
            totals[pk].add(tally)
    rows: list[ReportRow] = []
    for station in stations:
        by_charger: dict[str, Tally] = defaultdict(Tally)
        station_tally = Tally()
        for connector in connectors[station.pk]:
            tally = totals[connector.pk]
            rows.append(ReportRow("connector", f"{station.name} / {connector}", tally))
            by_charger[connector.charge_point.ocpp_id].add(tally)
            station_tally.add(tally)
        rows += [
            ReportRow("charge point", f"{station.name} / {ocpp_id}", tally)
            for ocpp_id, tally in sorted(by_charger.items())
        ]
        rows.append(ReportRow("station", station.name, station_tally))
    return rows


def energy_report(*, user: Any, filters: ReportFilters) -> list[ReportRow]:
    """Energy and sessions started per station and station-local day."""
    stations = report_stations_for_user(user=user, filters=filters)
    connectors = _connectors(stations)
    per_day: dict[tuple[int, date | None], Tally] = {}
    for zone, members in _by_zone(stations).items():
        per_day.update(
            range_totals(
                connectors=[c for station in members for c in connectors[station.pk]],
                first=filters.date_from,
                last=filters.date_to,
                zone=zone,
                group="station",
                period="day",
                energy_only=True,
            )
        )
    rows: list[ReportRow] = []
    hours: dict[tuple[str, date], float] = {}  # per zone and day (23/24/25)
    for station in stations:
        day = filters.date_from
        while day <= filters.date_to:
            key = (station.time_zone, day)
            if key not in hours:
                start, end = local_range(station, day, day)
                hours[key] = (end - start) / HOUR
            rows.append(
                ReportRow(
                    "station day",
                    station.name,
                    per_day.get((station.pk, day)) or Tally(),
                    {"day": day, "hours": hours[key]},
                )
            )
            day += timedelta(days=1)
    return rows


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _hourly_totals(
    *, connectors: list[Connector], start: datetime, end: datetime
) -> dict[datetime, Tally]:
    """Sessions and energy per UTC hour over all ``connectors``: roll-ups + raw edges.

    Reads only the roll-up hours with sessions or energy (a partial index).
    """
    complete_until = rollups_complete_until()
    middle_start = _ceil(start, HOUR)
    middle_end = min(_floor(end, HOUR), complete_until) if complete_until else None
    hours: dict[datetime, Tally] = defaultdict(Tally)
    raw_ranges = [(start, end)]
    if middle_end is not None and middle_end > middle_start:
        raw_ranges = [(start, middle_start), (middle_end, end)]
        rows = (
            ConnectorHourlyRollup.objects.filter(
                Q(sessions_started__gt=0) | Q(energy_wh__gt=0),
                connector_id__in=[c.pk for c in connectors],
                hour_start__gte=middle_start,
                hour_start__lt=middle_end,
            )
            .values("hour_start")
            .annotate(sessions=Sum("sessions_started"), energy=Sum("energy_wh"))
            .order_by()
        )
        for row in rows:
            hours[row["hour_start"]].sessions_started += row["sessions"] or 0
            hours[row["hour_start"]].energy_wh += row["energy"] or 0
    for range_start, range_end in raw_ranges:
        range_end = _raw_end(range_end)
        if range_end <= range_start:
            continue
        raw = connectors_buckets_raw(
            connectors=connectors, start=range_start, end=range_end
        )
        for per_hour in raw.values():
            for hour_start, tally in per_hour.items():
                hours[hour_start].add(tally)
    return hours


def peak_hours_report(*, user: Any, filters: ReportFilters) -> list[ReportRow]:
    """Sessions started and energy by station-local weekday and hour of day.

    Roll-up hours are UTC; in a zone with a half-hour offset an hour counts
    under the local hour it starts in.
    """
    stations = report_stations_for_user(user=user, filters=filters)
    connectors = _connectors(stations)
    grid = {(day, hour): Tally() for day in range(7) for hour in range(24)}
    for zone_name, members in _by_zone(stations).items():
        zone = ZoneInfo(zone_name)
        start, end = local_range(members[0], filters.date_from, filters.date_to)
        for hour_start, tally in _hourly_totals(
            connectors=[c for station in members for c in connectors[station.pk]],
            start=start,
            end=end,
        ).items():
            local = max(hour_start, start).astimezone(zone)
            cell = grid[(local.weekday(), local.hour)]
            cell.sessions_started += tally.sessions_started
            cell.energy_wh += tally.energy_wh
    return [
        ReportRow("hour", WEEKDAYS[day], tally, {"weekday": day, "hour": hour})
        for (day, hour), tally in sorted(grid.items())
    ]
