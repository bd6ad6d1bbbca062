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
lands on both station-local days. Reports read hourly roll-ups
(``ConnectorHourlyRollup``) for closed hours inside the range and the raw history
for the edges and the current hour; both give the same numbers.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.db.models import Q, Sum

from sessions_app.models import ChargingSession, MeterValue, SessionStatus
from stations.models import (
    ConnectionEvent,
    Connector,
    ConnectorStatus,
    Station,
    StatusChange,
)
from stations.report_models import ConnectorHourlyRollup, ReportRollupState
from stations.selectors import station_get_for_user, station_list_for_user

REPORT_PERMISSION = "stations.view_station"
OFFLINE = "Offline"
HOUR = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_WINDOW_RANGE = timedelta(days=7)

STATUS_FIELDS: dict[str, str] = {
    ConnectorStatus.AVAILABLE: "available_s",
    ConnectorStatus.PREPARING: "preparing_s",
    ConnectorStatus.CHARGING: "charging_s",
    ConnectorStatus.SUSPENDED_EV: "suspended_ev_s",
    ConnectorStatus.SUSPENDED_EVSE: "suspended_evse_s",
    ConnectorStatus.FINISHING: "finishing_s",
    ConnectorStatus.RESERVED: "reserved_s",
    ConnectorStatus.UNAVAILABLE: "unavailable_s",
    ConnectorStatus.FAULTED: "faulted_s",
    OFFLINE: "offline_s",
    ConnectorStatus.UNKNOWN: "unknown_s",
}
SECONDS_FIELDS = tuple(dict.fromkeys(STATUS_FIELDS.values()))
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
_CHARGER_WIDE = {ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE}
_ENERGY_REGISTER = "Energy.Active.Import.Register"


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


class _Step:
    """A step function of time: ``initial`` before the first change."""

    def __init__(self, initial: Any, changes: list[tuple[datetime, Any]]) -> None:
        self.initial = initial
        self.times = [at for at, _ in changes]
        self.values = [value for _, value in changes]

    def at(self, moment: datetime) -> Any:
        index = bisect.bisect_right(self.times, moment) - 1
        return self.initial if index < 0 else self.values[index]


def _status_step(query: Q, start: datetime, end: datetime) -> _Step:
    applied = StatusChange.objects.filter(query, is_applied=True)
    before = (
        applied.filter(at__lt=start)
        .order_by("-at", "-id")
        .values_list("status")
        .first()
    )
    changes = list(
        applied.filter(at__gte=start, at__lt=end)
        .order_by("at", "id")
        .values_list("at", "status")
    )
    return _Step(before[0] if before else None, changes)


def _online_step(charge_point_id: int, start: datetime, end: datetime) -> _Step:
    """True while the charger is connected (see the module docstring)."""
    events = ConnectionEvent.objects.filter(
        charge_point_id=charge_point_id,
        kind__in=[
            ConnectionEvent.Kind.CONNECTED,
            ConnectionEvent.Kind.BACK_ONLINE,
            ConnectionEvent.Kind.DISCONNECTED,
            ConnectionEvent.Kind.WENT_SILENT,
        ],
    )
    heard = StatusChange.objects.filter(
        Q(charge_point_id=charge_point_id)
        | Q(connector__charge_point_id=charge_point_id)
    )
    last = events.filter(at__lt=start).order_by("-at", "-id").first()
    since = last.at if last is not None else start
    # (time, order, kind): a status heard at the same instant as an event comes after.
    marks: list[tuple[datetime, int, str]] = [
        (at, 0, kind)
        for at, kind in events.filter(at__gte=since, at__lt=end)
        .order_by("at", "id")
        .values_list("at", "kind")
    ]
    marks += [
        (at, 1, "heard")
        for at in heard.filter(received_at__gt=since, received_at__lt=end).values_list(
            "received_at", flat=True
        )
    ]
    marks.sort(key=lambda mark: (mark[0], mark[1]))
    state = "connected"
    initial = True
    changes: list[tuple[datetime, bool]] = []
    for at, _, kind in marks:
        if kind == "heard":
            if state != ConnectionEvent.Kind.WENT_SILENT:
                continue
            kind = ConnectionEvent.Kind.CONNECTED  # a silent charger spoke again
        if kind == ConnectionEvent.Kind.BACK_ONLINE:
            kind = ConnectionEvent.Kind.CONNECTED
        state = kind
        online = kind == ConnectionEvent.Kind.CONNECTED
        if at < start:
            initial = online
        else:
            changes.append((at, online))
    return _Step(initial, changes)


def _segments(
    connector: Connector, start: datetime, end: datetime
) -> list[tuple[datetime, datetime, str]]:
    """Effective states of the connector as ``(from, to, state)`` covering the range."""
    own = _status_step(Q(connector=connector), start, end)
    charger = _status_step(
        Q(charge_point_id=connector.charge_point_id, connector__isnull=True), start, end
    )
    online = _online_step(connector.charge_point_id, start, end)
    points = sorted({start, *own.times, *charger.times, *online.times})
    points = [p for p in points if start <= p < end]
    segments = []
    for index, begin in enumerate(points):
        finish = points[index + 1] if index + 1 < len(points) else end
        if not online.at(begin):
            state = OFFLINE
        elif charger.at(begin) in _CHARGER_WIDE:
            state = charger.at(begin)
        else:
            state = own.at(begin) or ConnectorStatus.UNKNOWN
        segments.append((begin, finish, state))
    return segments


def _energy_curve(session: ChargingSession) -> _Curve:
    end_at = session.stopped_at or session.last_meter_at or session.started_at
    points = [(session.started_at, 0.0)]
    readings = MeterValue.objects.filter(
        session=session,
        measurand=_ENERGY_REGISTER,
        phase="",
        location__in=["", "Outlet"],
        value__isnull=False,
        timestamp__gt=session.started_at,
        timestamp__lt=end_at,
    ).order_by("timestamp")
    for timestamp, value in readings.values_list("timestamp", "value"):
        delivered = min(max(value - session.meter_start_wh, 0.0), session.energy_wh)
        points.append((timestamp, max(delivered, points[-1][1])))
    if end_at > session.started_at:
        points.append((end_at, float(max(session.energy_wh, points[-1][1]))))
    return _Curve(points)


class _Curve:
    """Cumulative energy (Wh) over time, linear between readings."""

    def __init__(self, points: list[tuple[datetime, float]]) -> None:
        self.times = [at for at, _ in points]
        self.values = [value for _, value in points]

    def at(self, moment: datetime) -> int:
        index = bisect.bisect_right(self.times, moment) - 1
        if index < 0:
            return 0
        if index + 1 >= len(self.times):
            return round(self.values[-1])
        t0, t1 = self.times[index], self.times[index + 1]
        v0, v1 = self.values[index], self.values[index + 1]
        ratio = (moment - t0) / (t1 - t0)
        return round(v0 + (v1 - v0) * ratio)


def connector_buckets_raw(
    *, connector: Connector, start: datetime, end: datetime, bucket: timedelta = HOUR
) -> dict[datetime, Tally]:
    """Tallies per UTC-aligned bucket (hour, 5 minutes...) from the raw history."""
    buckets: dict[datetime, Tally] = defaultdict(Tally)
    if end <= start:
        return {}
    for begin, finish, state in _segments(connector, start, end):
        name = STATUS_FIELDS.get(state, "unknown_s")
        moment = begin
        while moment < finish:
            bucket_start = _floor(moment, bucket)
            stop = min(finish, bucket_start + bucket)
            buckets[bucket_start].seconds[name] += (stop - moment).total_seconds()
            moment = stop
    sessions = ChargingSession.objects.filter(
        Q(connector=connector)
        | Q(
            connector__isnull=True,
            charge_point_id=connector.charge_point_id,
            connector_number=connector.connector_id,
        ),
        started_at__lt=end,
    ).filter(Q(stopped_at__isnull=True) | Q(stopped_at__gt=start))
    sessions = sessions.exclude(status=SessionStatus.REJECTED)
    for session in sessions:
        if start <= session.started_at < end:
            buckets[_floor(session.started_at, bucket)].sessions_started += 1
        curve = _energy_curve(session)
        moment = max(start, session.started_at)
        stop_at = min(end, curve.times[-1])
        while moment < stop_at:
            bucket_start = _floor(moment, bucket)
            stop = min(stop_at, bucket_start + bucket)
            buckets[bucket_start].energy_wh += curve.at(stop) - curve.at(moment)
            moment = stop
    return dict(buckets)


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
                connector__in=connectors,
                hour_start__gte=middle_start,
                hour_start__lt=middle_end,
            )
            .values("connector_id")
            .annotate(
                **{name: Sum(name) for name in SECONDS_FIELDS},
                sessions=Sum("sessions_started"),
                energy=Sum("energy_wh"),
            )
        )
        for row in rows:
            tally = totals[row["connector_id"]]
            for name in SECONDS_FIELDS:
                tally.seconds[name] += row[name] or 0
            tally.sessions_started += row["sessions"] or 0
            tally.energy_wh += row["energy"] or 0
    for connector in connectors:
        for range_start, range_end in raw_ranges:
            for tally in connector_buckets_raw(
                connector=connector, start=range_start, end=range_end
            ).values():
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


def availability_report(*, user: Any, filters: ReportFilters) -> list[ReportRow]:
    """Availability per connector, station, region and station-local month."""
    stations = report_stations_for_user(user=user, filters=filters)
    connectors = _connectors(stations)
    rows: list[ReportRow] = []
    regions: dict[str, Tally] = defaultdict(Tally)
    months: list[ReportRow] = []
    for station in stations:
        start, end = local_range(station, filters.date_from, filters.date_to)
        totals = connector_totals(
            connectors=connectors[station.pk], start=start, end=end
        )
        station_tally = Tally()
        for connector in connectors[station.pk]:
            station_tally.add(totals[connector.pk])
            rows.append(
                ReportRow(
                    "connector", f"{station.name} / {connector}", totals[connector.pk]
                )
            )
        rows.append(ReportRow("station", station.name, station_tally))
        regions[station.region or "—"].add(station_tally)
        for first, last in _month_spans(filters.date_from, filters.date_to):
            m_start, m_end = local_range(station, first, last)
            month_tally = Tally()
            for tally in connector_totals(
                connectors=connectors[station.pk], start=m_start, end=m_end
            ).values():
                month_tally.add(tally)
            months.append(
                ReportRow("month", f"{station.name} {first:%Y-%m}", month_tally)
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
    for connector in Connector.objects.filter(charge_point__station=station):
        for bucket_start, tally in connector_buckets_raw(
            connector=connector, start=start, end=end, bucket=window
        ).items():
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
    rows: list[ReportRow] = []
    for station in stations:
        start, end = local_range(station, filters.date_from, filters.date_to)
        totals = connector_totals(
            connectors=connectors[station.pk], start=start, end=end
        )
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
    rows: list[ReportRow] = []
    for station in stations:
        day = filters.date_from
        while day <= filters.date_to:
            start, end = local_range(station, day, day)
            tally = Tally()
            for connector_tally in connector_totals(
                connectors=connectors[station.pk], start=start, end=end
            ).values():
                tally.add(connector_tally)
            rows.append(
                ReportRow(
                    "station day",
                    station.name,
                    tally,
                    {"day": day, "hours": (end - start) / HOUR},
                )
            )
            day += timedelta(days=1)
    return rows


WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _hourly_totals(
    *, connectors: list[Connector], start: datetime, end: datetime
) -> dict[datetime, Tally]:
    """Sessions and energy per UTC hour over all ``connectors``: roll-ups + raw edges."""
    complete_until = rollups_complete_until()
    middle_start = _ceil(start, HOUR)
    middle_end = min(_floor(end, HOUR), complete_until) if complete_until else None
    hours: dict[datetime, Tally] = defaultdict(Tally)
    raw_ranges = [(start, end)]
    if middle_end is not None and middle_end > middle_start:
        raw_ranges = [(start, middle_start), (middle_end, end)]
        rows = (
            ConnectorHourlyRollup.objects.filter(
                connector__in=connectors,
                hour_start__gte=middle_start,
                hour_start__lt=middle_end,
            )
            .values("hour_start")
            .annotate(sessions=Sum("sessions_started"), energy=Sum("energy_wh"))
        )
        for row in rows:
            hours[row["hour_start"]].sessions_started += row["sessions"] or 0
            hours[row["hour_start"]].energy_wh += row["energy"] or 0
    for connector in connectors:
        for range_start, range_end in raw_ranges:
            for hour_start, tally in connector_buckets_raw(
                connector=connector, start=range_start, end=range_end
            ).items():
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
    for station in stations:
        zone = ZoneInfo(station.time_zone or "UTC")
        start, end = local_range(station, filters.date_from, filters.date_to)
        for hour_start, tally in _hourly_totals(
            connectors=connectors[station.pk], start=start, end=end
        ).items():
            local = max(hour_start, start).astimezone(zone)
            cell = grid[(local.weekday(), local.hour)]
            cell.sessions_started += tally.sessions_started
            cell.energy_wh += tally.energy_wh
    return [
        ReportRow("hour", WEEKDAYS[day], tally, {"weekday": day, "hour": hour})
        for (day, hour), tally in sorted(grid.items())
    ]
