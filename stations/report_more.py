"""Fault rates, session distributions and revenue reports (issue 8).

Same scope, filters and row type as ``stations.reports``; the values of a row
live in ``ReportRow.extra`` under the names of the CSV columns.

Fault rate: a *fault* is an applied status notification that moves a connector
(or the charger as a whole, connector 0) into ``Faulted`` from any other status;
repeated ``Faulted`` notifications are one fault. The rate is faults per
*charger-day*: chargers of the group times the station-local days of the range.
Downtime is Faulted + Unavailable + Offline time summed over the charger's
connectors (connector-hours), from the same roll-ups as the availability report.

Distributions count sessions (not rejected, stopped) by their station-local start
day, bucketed and summed in SQL (one query per time zone). Idle time comes from the CDRs' ``idle_seconds`` (sessions without a CDR are
left out of the idle rows).

Revenue sums the issued CDRs (``billing.Cdr``) by the station-local day their
session stopped; amounts are SQL sums of the CDR columns (exact NUMERIC on
PostgreSQL; brought back to the four CDR decimals on SQLite), one row per currency,
so every level adds up to exactly the CDRs it covers. CDRs without a
station count under their network (network time zone). Needs ``billing.view_cdr``.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.db.models import (
    CharField,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.fields.json import KT
from django.db.models.functions import TruncDate

from billing.models import Cdr
from sessions_app.models import ChargingSession, SessionStatus
from stations.models import (
    ChargePoint,
    Connector,
    ConnectorStatus,
    Network,
    Station,
    StatusChange,
)
from stations.report_models import ConnectorHourlyRollup
from stations.reports import (
    HOUR,
    OFFLINE,
    ReportFilters,
    ReportRow,
    Tally,
    _ceil,
    _connectors,
    _floor,
    _segments,
    local_range,
    report_stations_for_user,
    rollups_complete_until,
)
from stations.selectors import network_get_for_user, network_ids_for_user

REVENUE_PERMISSION = "billing.view_cdr"
TOP_CHARGERS = 10

DURATION_BUCKETS: list[tuple[str, int | None]] = [
    ("< 15 min", 15 * 60),
    ("15-30 min", 30 * 60),
    ("30-60 min", 60 * 60),
    ("1-2 h", 2 * 3600),
    ("2-4 h", 4 * 3600),
    ("4-8 h", 8 * 3600),
    (">= 8 h", None),
]
ENERGY_BUCKETS: list[tuple[str, int | None]] = [
    ("< 5 kWh", 5000),
    ("5-10 kWh", 10000),
    ("10-20 kWh", 20000),
    ("20-40 kWh", 40000),
    ("40-60 kWh", 60000),
    (">= 60 kWh", None),
]
IDLE_BUCKETS: list[tuple[str, int | None]] = [
    ("none", 1),
    ("< 10 min", 10 * 60),
    ("10-30 min", 30 * 60),
    ("30-60 min", 60 * 60),
    (">= 1 h", None),
]


def _days(filters: ReportFilters) -> int:
    return (filters.date_to - filters.date_from).days + 1


def _row(level: str, label: str, **values: Any) -> ReportRow:
    return ReportRow(level, label, Tally(), values)


# --- Fault rates -----------------------------------------------------------------


def _zone_groups(
    stations: list[Station], filters: ReportFilters
) -> dict[tuple[datetime, datetime, str], list[int]]:
    """Station ids per (UTC range of the local dates, zone): one query per zone."""
    groups: dict[tuple[datetime, datetime, str], list[int]] = defaultdict(list)
    for station in stations:
        start, end = local_range(station, filters.date_from, filters.date_to)
        groups[(start, end, station.time_zone or "UTC")].append(station.pk)
    return groups


def _fault_counts(stations: list[Station], filters: ReportFilters) -> dict[int, int]:
    """Transitions into Faulted per charge point id inside its station's range."""
    previous = StatusChange.objects.filter(is_applied=True).filter(
        Q(at__lt=OuterRef("at")) | Q(at=OuterRef("at"), id__lt=OuterRef("id"))
    )

    def last_before(**key: Any) -> Subquery:
        return Subquery(
            previous.filter(**key).order_by("-at", "-id").values("status")[:1],
            output_field=CharField(),
        )

    counts: dict[int, int] = defaultdict(int)
    for (start, end, _), ids in _zone_groups(stations, filters).items():
        faulted = StatusChange.objects.filter(
            is_applied=True, status=ConnectorStatus.FAULTED, at__gte=start, at__lt=end
        )
        own = (
            faulted.filter(connector__charge_point__station_id__in=ids)
            .annotate(previous=last_before(connector_id=OuterRef("connector_id")))
            .annotate(cp=F("connector__charge_point_id"))
        )
        whole = (
            faulted.filter(connector__isnull=True, charge_point__station_id__in=ids)
            .annotate(
                previous=last_before(
                    connector__isnull=True,
                    charge_point_id=OuterRef("charge_point_id"),
                )
            )
            .annotate(cp=F("charge_point_id"))
        )
        for queryset in (own, whole):
            new = queryset.filter(
                Q(previous__isnull=True) | ~Q(previous=ConnectorStatus.FAULTED)
            )
            for row in new.values("cp").annotate(n=Count("id")).order_by():
                counts[row["cp"]] += row["n"]
    return counts


_DOWN_STATES = {ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE, OFFLINE}


def _downtime_seconds(
    *, connectors: list[Connector], start: datetime, end: datetime
) -> dict[int, float]:
    """Faulted + Unavailable + Offline seconds per connector id over ``[start, end)``.

    Same split as ``connector_totals`` (roll-ups for complete hours, raw status
    history for the edges) without the session energy work it does not need.
    """
    complete_until = rollups_complete_until()
    middle_start = _ceil(start, HOUR)
    middle_end = min(_floor(end, HOUR), complete_until) if complete_until else None
    seconds: dict[int, float] = {c.pk: 0.0 for c in connectors}
    raw_ranges = [(start, end)]
    if middle_end is not None and middle_end > middle_start:
        raw_ranges = [(start, middle_start), (middle_end, end)]
        rows = (
            ConnectorHourlyRollup.objects.filter(
                connector__in=connectors,
                hour_start__gte=middle_start,
                hour_start__lt=middle_end,
            )
            .values("connector_id")
            .annotate(down=Sum(F("faulted_s") + F("unavailable_s") + F("offline_s")))
            .order_by()
        )
        for row in rows:
            seconds[row["connector_id"]] += row["down"] or 0
    for connector in connectors:
        for range_start, range_end in raw_ranges:
            if range_end <= range_start:
                continue
            for begin, finish, state in _segments(connector, range_start, range_end):
                if state in _DOWN_STATES:
                    # Whole seconds per hour, as the roll-ups store them.
                    moment = begin
                    while moment < finish:
                        stop = min(finish, _floor(moment, HOUR) + HOUR)
                        seconds[connector.pk] += round((stop - moment).total_seconds())
                        moment = stop
    return seconds


def faults_report(*, user: Any, filters: ReportFilters) -> list[ReportRow]:
    """Fault rate per vendor/model/firmware; top chargers by faults and downtime."""
    stations = report_stations_for_user(user=user, filters=filters)
    connectors = _connectors(stations)
    charge_points = list(
        ChargePoint.objects.filter(station__in=stations)
        .select_related("station")
        .order_by("station__name", "ocpp_id")
    )
    faults = _fault_counts(stations, filters)
    downtime: dict[int, float] = defaultdict(float)
    for station in stations:
        start, end = local_range(station, filters.date_from, filters.date_to)
        totals = _downtime_seconds(
            connectors=connectors[station.pk], start=start, end=end
        )
        for connector in connectors[station.pk]:
            downtime[connector.charge_point_id] += totals[connector.pk]
    days = _days(filters)
    groups: dict[tuple[str, str, str], list[ChargePoint]] = defaultdict(list)
    for cp in charge_points:
        groups[(cp.vendor, cp.model, cp.firmware_version)].append(cp)
    rows: list[ReportRow] = []
    for (vendor, model, firmware), members in sorted(groups.items()):
        count = sum(faults[cp.pk] for cp in members)
        charger_days = len(members) * days
        rows.append(
            _row(
                "model",
                " / ".join(part or "—" for part in (vendor, model, firmware)),
                vendor=vendor,
                model=model,
                firmware=firmware,
                chargers=len(members),
                faults=count,
                charger_days=charger_days,
                faults_per_charger_day=f"{count / charger_days:.3f}",
                downtime_hours=f"{sum(downtime[cp.pk] for cp in members) / 3600:.2f}",
            )
        )

    def charger_row(level: str, cp: ChargePoint) -> ReportRow:
        return _row(
            level,
            f"{cp.station.name} / {cp.ocpp_id}",
            vendor=cp.vendor,
            model=cp.model,
            firmware=cp.firmware_version,
            chargers=1,
            faults=faults[cp.pk],
            charger_days=days,
            faults_per_charger_day=f"{faults[cp.pk] / days:.3f}",
            downtime_hours=f"{downtime[cp.pk] / 3600:.2f}",
        )

    by_faults = sorted(
        (cp for cp in charge_points if faults[cp.pk]),
        key=lambda cp: (-faults[cp.pk], -downtime[cp.pk], cp.ocpp_id),
    )
    by_downtime = sorted(
        (cp for cp in charge_points if downtime[cp.pk] > 0),
        key=lambda cp: (-downtime[cp.pk], -faults[cp.pk], cp.ocpp_id),
    )
    rows += [charger_row("top by faults", cp) for cp in by_faults[:TOP_CHARGERS]]
    rows += [charger_row("top by downtime", cp) for cp in by_downtime[:TOP_CHARGERS]]
    return rows


# --- Session distributions -----------------------------------------------------------


def _bucket_ranges(
    buckets: list[tuple[str, int | None]],
) -> list[tuple[str, int, int | None]]:
    ranges = []
    lower = 0
    for label, upper in buckets:
        ranges.append((label, lower, upper))
        lower = upper or lower
    return ranges


_DISTRIBUTIONS: list[tuple[str, str, list[tuple[str, int | None]], int]] = [
    # (name, value expression alias, buckets, unit of the "total" column)
    ("duration", "duration_s", DURATION_BUCKETS, 3600),
    ("energy", "energy_wh", ENERGY_BUCKETS, 1000),
    ("idle", "cdr__idle_seconds", IDLE_BUCKETS, 3600),
]


def _bound(name: str, value: int) -> int | timedelta:
    return timedelta(seconds=value) if name == "duration" else value


def sessions_distribution_report(
    *, user: Any, filters: ReportFilters
) -> list[ReportRow]:
    """Histograms of session duration, energy and idle time (CDRs), counted in SQL."""
    stations = report_stations_for_user(user=user, filters=filters)
    aggregates: dict[str, Any] = {}
    for name, column, buckets, _ in _DISTRIBUTIONS:
        known = Q(**{f"{column}__isnull": False})
        for index, (_, lower, upper) in enumerate(_bucket_ranges(buckets)):
            where = known & Q(**{f"{column}__gte": _bound(name, lower)})
            if upper is not None:
                where &= Q(**{f"{column}__lt": _bound(name, upper)})
            aggregates[f"{name}_{index}_n"] = Count("id", filter=where)
            aggregates[f"{name}_{index}_sum"] = Sum(column, filter=where)
    totals: dict[str, float] = defaultdict(float)
    for (start, end, _), ids in _zone_groups(stations, filters).items():
        result = (
            ChargingSession.objects.filter(
                charge_point__station_id__in=ids,
                started_at__gte=start,
                started_at__lt=end,
                stopped_at__isnull=False,
            )
            .exclude(status=SessionStatus.REJECTED)
            .annotate(
                duration_s=ExpressionWrapper(
                    F("stopped_at") - F("started_at"), output_field=DurationField()
                )
            )
            .aggregate(**aggregates)
        )
        for key, value in result.items():
            if isinstance(value, timedelta):
                value = value.total_seconds()
            totals[key] += float(value or 0)
    rows: list[ReportRow] = []
    for name, _, buckets, unit in _DISTRIBUTIONS:
        ranges = _bucket_ranges(buckets)
        count_all = int(sum(totals[f"{name}_{i}_n"] for i in range(len(ranges))))
        sum_all = sum(totals[f"{name}_{i}_sum"] for i in range(len(ranges)))
        for index, (label, _, _) in enumerate(ranges):
            n = int(totals[f"{name}_{index}_n"])
            rows.append(
                _row(
                    name,
                    label,
                    sessions=n,
                    share_pct=f"{n * 100 / count_all:.2f}" if count_all else "",
                    total=f"{totals[f'{name}_{index}_sum'] / unit:.3f}",
                )
            )
        rows.append(
            _row(
                name,
                "all",
                sessions=count_all,
                share_pct="100.00" if count_all else "",
                total=f"{sum_all / unit:.3f}",
            )
        )
    return rows


# --- Revenue ---------------------------------------------------------------------------


# CDR amounts have four decimals (``billing.models.MONEY``); SQLite's SUM comes
# back as a float-derived Decimal and is brought back to them.
_CENTI_CENTS = Decimal("0.0001")


class _Sum:
    def __init__(self) -> None:
        self.sessions = 0
        self.energy_wh = 0
        self.net = Decimal(0)
        self.tax = Decimal(0)
        self.total = Decimal(0)

    def add(self, group: dict[str, Any]) -> None:
        self.sessions += group["sessions"]
        self.energy_wh += group["energy"] or 0
        self.net += group["net"] or Decimal(0)
        self.tax += group["tax"] or Decimal(0)
        self.total += group["total"] or Decimal(0)

    def values(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "energy_kwh": f"{Decimal(self.energy_wh) / 1000:.3f}",
            "net": self.net.quantize(_CENTI_CENTS),
            "tax": self.tax.quantize(_CENTI_CENTS),
            "total": self.total.quantize(_CENTI_CENTS),
        }


def _cdr_groups(
    queryset: QuerySet[Cdr], start: datetime, end: datetime, zone: str
) -> list[dict[str, Any]]:
    """CDR sums per network, station, local stop day, currency and tariff (in SQL)."""
    return list(
        queryset.filter(stopped_at__gte=start, stopped_at__lt=end)
        .annotate(
            day=TruncDate("stopped_at", tzinfo=ZoneInfo(zone)),
            tariff_id=KT("tariff_snapshot__tariff_id"),
            tariff_name=KT("tariff_snapshot__name"),
        )
        .values(
            "network_id",
            "station_id",
            "station__name",
            "day",
            "currency",
            "tariff_id",
            "tariff_name",
        )
        .annotate(
            sessions=Count("id"),
            energy=Sum("energy_wh"),
            net=Sum("net_amount"),
            tax=Sum("tax_amount"),
            total=Sum("total_amount"),
        )
        .order_by()
    )


def revenue_report(*, user: Any, filters: ReportFilters) -> list[ReportRow]:
    """Revenue per network, station, station-local day and tariff, per currency."""
    if getattr(user, "is_driver", False) or not user.has_perm(REVENUE_PERMISSION):
        raise PermissionDenied("Your role does not allow revenue reports.")
    stations = report_stations_for_user(user=user, filters=filters)
    allowed = network_ids_for_user(user=user)
    networks = Network.objects.in_bulk(allowed)
    groups: list[dict[str, Any]] = []
    for (start, end, zone), ids in _zone_groups(stations, filters).items():
        queryset = Cdr.objects.filter(station_id__in=ids, network_id__in=allowed)
        groups += _cdr_groups(queryset, start, end, zone)
    if filters.station_id is None:
        if filters.network_id is not None:
            network_get_for_user(user=user, pk=filters.network_id)
        for network in networks.values():
            if filters.network_id not in (None, network.pk):
                continue
            zone = network.time_zone or "UTC"
            start = datetime.combine(filters.date_from, time(0), ZoneInfo(zone))
            end = datetime.combine(
                filters.date_to + timedelta(days=1), time(0), ZoneInfo(zone)
            )
            queryset = Cdr.objects.filter(network=network, station__isnull=True)
            groups += _cdr_groups(queryset, start, end, zone)
    # Keys start with names (for sorting) and carry ids (same names stay apart).
    by_network: dict[tuple[str, int, str], _Sum] = defaultdict(_Sum)
    by_station: dict[tuple[str, int, str, int, str], _Sum] = defaultdict(_Sum)
    by_day: dict[tuple[str, int, str, int, date, str], _Sum] = defaultdict(_Sum)
    by_tariff: dict[tuple[str, int, str, str], _Sum] = defaultdict(_Sum)
    for group in groups:
        network = (networks[group["network_id"]].name, group["network_id"])
        station = (
            group["station__name"] or "(no station)",
            group["station_id"] or 0,
        )
        currency = group["currency"]
        tariff = (
            f"{group['tariff_name'] or '—'} (#{group['tariff_id']})"
            if group["tariff_id"] is not None
            else "(no tariff)"
        )
        by_network[(*network, currency)].add(group)
        by_station[(*network, *station, currency)].add(group)
        by_day[(*network, *station, group["day"], currency)].add(group)
        by_tariff[(*network, tariff, currency)].add(group)
    rows: list[ReportRow] = []
    for (name, _, currency), total in sorted(by_network.items()):
        rows.append(
            _row("network", name, day=None, currency=currency, **total.values())
        )
    for (name, _, station, _, currency), total in sorted(by_station.items()):
        rows.append(
            _row(
                "station",
                f"{name} / {station}",
                day=None,
                currency=currency,
                **total.values(),
            )
        )
    for (name, _, station, _, day, currency), total in sorted(by_day.items()):
        rows.append(
            _row(
                "station day",
                f"{name} / {station}",
                day=day,
                currency=currency,
                **total.values(),
            )
        )
    for (name, _, tariff, currency), total in sorted(by_tariff.items()):
        rows.append(
            _row(
                "tariff",
                f"{name} / {tariff}",
                day=None,
                currency=currency,
                **total.values(),
            )
        )
    return rows
