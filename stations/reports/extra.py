"""Fault rates, session distributions and revenue reports (issue 8).

Same scope, filters and row type as ``stations.reports.core``; the values of a row
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
from django.db import transaction
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
    ConnectorStatus,
    Network,
    Station,
    StatusChange,
)
from stations.reports.core import (
    ReportFilters,
    ReportRow,
    Tally,
    _by_zone,
    _connectors,
    local_range,
    range_totals,
    report_stations_for_user,
    rollups_complete_until,
)
from stations.reports.models import (
    ReportRollupState,
    StationDailyRevenue,
    StationDailySessions,
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


_NO_TALLY = Tally()  # rows of these reports carry their values in ``extra``


def _row(level: str, label: str, **values: Any) -> ReportRow:
    return ReportRow(level, label, _NO_TALLY, values)


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
    # Before in (at, id) order, written so that the (connector, at) index is
    # walked backwards from ``at`` and the first match is taken.
    previous = StatusChange.objects.filter(
        is_applied=True, at__lte=OuterRef("at")
    ).exclude(at=OuterRef("at"), id__gte=OuterRef("id"))

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
    charger_of = {c.pk: c.charge_point_id for cs in connectors.values() for c in cs}
    for zone, members in _by_zone(stations).items():
        for (pk, _), tally in range_totals(
            connectors=[c for station in members for c in connectors[station.pk]],
            first=filters.date_from,
            last=filters.date_to,
            zone=zone,
        ).items():
            downtime[charger_of[pk]] += tally.downtime_s
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


def _distribution_aggregates() -> dict[str, Any]:
    aggregates: dict[str, Any] = {}
    for name, column, buckets, _ in _DISTRIBUTIONS:
        known = Q(**{f"{column}__isnull": False})
        for index, (_, lower, upper) in enumerate(_bucket_ranges(buckets)):
            where = known & Q(**{f"{column}__gte": _bound(name, lower)})
            if upper is not None:
                where &= Q(**{f"{column}__lt": _bound(name, upper)})
            aggregates[f"{name}_{index}_n"] = Count("id", filter=where)
            aggregates[f"{name}_{index}_sum"] = Sum(column, filter=where)
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
        for key, value in row.items():
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
    *, user: Any, filters: ReportFilters
) -> list[ReportRow]:
    """Histograms of session duration, energy and idle time (CDRs).

    Whole days complete in the roll-ups come from ``StationDailySessions``, the
    rest is counted in SQL from the sessions.
    """
    stations = report_stations_for_user(user=user, filters=filters)
    totals: dict[str, float] = defaultdict(float)
    for (start, end, zone), ids in _zone_groups(stations, filters).items():
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


def sessions_rollups_rebuild(
    *, stations: list[Station], first: date, last: date
) -> int:
    """Recompute the ``StationDailySessions`` rows of local days ``first``..``last``."""
    written = 0
    for zone, members in _by_zone(stations).items():
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
    queryset: QuerySet[Cdr], start: datetime | None, end: datetime | None, zone: str
) -> list[dict[str, Any]]:
    """CDR sums per network, station, local stop day, currency and tariff (in SQL)."""
    if start is not None:
        queryset = queryset.filter(stopped_at__gte=start)
    if end is not None:
        queryset = queryset.filter(stopped_at__lt=end)
    return list(
        queryset.annotate(
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


def _cdr_watermark() -> int:
    state = ReportRollupState.objects.filter(key="hourly").first()
    return state.cdr_watermark if state else 0


_REVENUE_COLUMNS = (
    "network_id",
    "station_id",
    "day",
    "currency",
    "tariff_id",
    "tariff_name",
)


def _revenue_rollup_groups(
    queryset: QuerySet[StationDailyRevenue], filters: ReportFilters
) -> list[dict[str, Any]]:
    """Roll-up rows of the range in the shape of ``_cdr_groups``."""
    return [
        {
            **row,
            "station__name": row.pop("station__name"),
            "sessions": row.pop("n"),
            "energy": row.pop("e"),
            "net": row.pop("nt"),
            "tax": row.pop("tx"),
            "total": row.pop("tt"),
        }
        for row in queryset.filter(day__gte=filters.date_from, day__lte=filters.date_to)
        .values(*_REVENUE_COLUMNS, "station__name")
        .annotate(
            n=Sum("sessions"),
            e=Sum("energy_wh"),
            nt=Sum("net"),
            tx=Sum("tax"),
            tt=Sum("total"),
        )
        .order_by()
    ]


def revenue_rollups_rebuild(
    *,
    max_id: int,
    stations: list[Station] = (),  # type: ignore[assignment]
    networks: list[Network] = (),  # type: ignore[assignment]
    first: date | None = None,
    last: date | None = None,
) -> int:
    """Recompute ``StationDailyRevenue`` from the CDRs with an id up to ``max_id``.

    For ``stations`` (their CDRs) and ``networks`` (their CDRs without a
    station), over the local days ``first``..``last`` (None: every day).
    """
    scopes: list[tuple[str, QuerySet[Cdr], QuerySet[StationDailyRevenue]]] = []
    for zone, members in _by_zone(list(stations)).items():
        ids = [station.pk for station in members]
        scopes.append(
            (
                zone,
                Cdr.objects.filter(station_id__in=ids),
                StationDailyRevenue.objects.filter(station_id__in=ids),
            )
        )
    for network in networks:
        scopes.append(
            (
                network.time_zone or "UTC",
                Cdr.objects.filter(network=network, station__isnull=True),
                StationDailyRevenue.objects.filter(
                    network=network, station__isnull=True
                ),
            )
        )
    written = 0
    for zone, cdrs, rollups in scopes:
        tz = ZoneInfo(zone)
        start = datetime.combine(first, time(0), tz) if first else None
        end = datetime.combine(last + timedelta(days=1), time(0), tz) if last else None
        groups = _cdr_groups(cdrs.filter(id__lte=max_id), start, end, zone)
        if first is not None:
            rollups = rollups.filter(day__gte=first)
        if last is not None:
            rollups = rollups.filter(day__lte=last)
        with transaction.atomic():
            rollups.delete()
            StationDailyRevenue.objects.bulk_create(
                [
                    StationDailyRevenue(
                        network_id=group["network_id"],
                        station_id=group["station_id"],
                        day=group["day"],
                        currency=group["currency"],
                        tariff_id=group["tariff_id"],
                        tariff_name=group["tariff_name"],
                        sessions=group["sessions"],
                        energy_wh=group["energy"] or 0,
                        net=group["net"] or Decimal(0),
                        tax=group["tax"] or Decimal(0),
                        total=group["total"] or Decimal(0),
                    )
                    for group in groups
                ],
                batch_size=1000,
            )
        written += len(groups)
    return written


def revenue_report(*, user: Any, filters: ReportFilters) -> list[ReportRow]:
    """Revenue per network, station, station-local day and tariff, per currency."""
    if getattr(user, "is_driver", False) or not user.has_perm(REVENUE_PERMISSION):
        raise PermissionDenied("Your role does not allow revenue reports.")
    stations = report_stations_for_user(user=user, filters=filters)
    allowed = network_ids_for_user(user=user)
    networks = Network.objects.in_bulk(allowed)
    groups: list[dict[str, Any]] = []
    # Roll-up rows hold the CDRs up to the watermark; newer CDRs are read here.
    watermark = _cdr_watermark()
    cdrs = Cdr.objects.filter(id__gt=watermark)
    for (start, end, zone), ids in _zone_groups(stations, filters).items():
        groups += _revenue_rollup_groups(
            StationDailyRevenue.objects.filter(
                station_id__in=ids, network_id__in=allowed
            ),
            filters,
        )
        queryset = cdrs.filter(station_id__in=ids, network_id__in=allowed)
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
            groups += _revenue_rollup_groups(
                StationDailyRevenue.objects.filter(
                    network=network, station__isnull=True
                ),
                filters,
            )
            queryset = cdrs.filter(network=network, station__isnull=True)
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
