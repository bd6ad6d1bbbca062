"""The revenue report and its day roll-ups, registered into the stations reports.

Revenue sums the issued CDRs by the station-local day their session stopped;
amounts are SQL sums of the CDR columns (exact NUMERIC on PostgreSQL; brought
back to the four CDR decimals on SQLite), one row per currency, so every level
adds up to exactly the CDRs it covers. CDRs without a station count under their
network (network time zone). Needs ``billing.view_cdr``.

The roll-up rows (``stations.reports.models.StationDailyRevenue``, kept in the
stations app so no table moves) hold the CDRs up to
``ReportRollupState.cdr_watermark``; the report reads newer CDRs directly. The
session histograms' idle time is the CDRs' ``idle_seconds``: it is registered
here, and a new CDR rebuilds the histogram day of its session's start.

Billing sits above stations: this module imports the stations report room and
registers into it from ``BillingConfig.ready()``; stations never imports billing.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Max, QuerySet, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import TruncDate

from accounts.http import AnyUser
from billing.models import Cdr
from sessions_app.reports import (
    Distribution,
    local_day,
    session_distribution_register,
    station_days_rebuild,
    widen,
)
from stations.models import Network, Station
from stations.reports.filters import (
    ReportFilters,
    report_stations_for_user,
    station_ids_by_range,
    stations_by_zone,
)
from stations.reports.models import ReportRollupState, StationDailyRevenue
from stations.reports.registry import (
    LEVEL_AND_NAME,
    Chart,
    Column,
    DayRollups,
    Report,
    extra_columns,
    report_register,
)
from stations.reports.rows import ReportRow, table_row
from stations.reports.tasks import LATE_ID_MARGIN
from stations.selectors import network_get_for_user, network_ids_for_user

REVENUE_PERMISSION = "billing.view_cdr"

IDLE_BUCKETS: list[tuple[str, int | None]] = [
    ("none", 1),
    ("< 10 min", 10 * 60),
    ("10-30 min", 30 * 60),
    ("30-60 min", 60 * 60),
    (">= 1 h", None),
]
# Sessions without a CDR have no idle time and are left out of these rows.
session_distribution_register(
    Distribution("idle", "cdr__idle_seconds", IDLE_BUCKETS, 3600)
)


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
    return [
        dict(group)
        for group in queryset.annotate(
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
    ]


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
    for zone, members in stations_by_zone(list(stations)).items():
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


def revenue_report(*, user: AnyUser, filters: ReportFilters) -> list[ReportRow]:
    """Revenue per network, station, station-local day and tariff, per currency."""
    # Checked here too: the function is also called outside the registry's views.
    if getattr(user, "is_driver", False) or not user.has_perm(REVENUE_PERMISSION):
        raise PermissionDenied("Your role does not allow revenue reports.")
    stations = report_stations_for_user(user=user, filters=filters)
    allowed = network_ids_for_user(user=user)
    networks = Network.objects.in_bulk(allowed)
    groups: list[dict[str, Any]] = []
    # Roll-up rows hold the CDRs up to the watermark; newer CDRs are read here.
    watermark = _cdr_watermark()
    cdrs = Cdr.objects.filter(id__gt=watermark)
    for (start, end, zone), ids in station_ids_by_range(stations, filters).items():
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
        network_key = (networks[group["network_id"]].name, group["network_id"])
        station_key = (
            group["station__name"] or "(no station)",
            group["station_id"] or 0,
        )
        currency = group["currency"]
        tariff = (
            f"{group['tariff_name'] or '—'} (#{group['tariff_id']})"
            if group["tariff_id"] is not None
            else "(no tariff)"
        )
        by_network[(*network_key, currency)].add(group)
        by_station[(*network_key, *station_key, currency)].add(group)
        by_day[(*network_key, *station_key, group["day"], currency)].add(group)
        by_tariff[(*network_key, tariff, currency)].add(group)
    rows: list[ReportRow] = []
    for (name, _, currency), total in sorted(by_network.items()):
        rows.append(
            table_row("network", name, day=None, currency=currency, **total.values())
        )
    for (name, _, station_name, _, currency), total in sorted(by_station.items()):
        rows.append(
            table_row(
                "station",
                f"{name} / {station_name}",
                day=None,
                currency=currency,
                **total.values(),
            )
        )
    for (name, _, station_name, _, day, currency), total in sorted(by_day.items()):
        rows.append(
            table_row(
                "station day",
                f"{name} / {station_name}",
                day=day,
                currency=currency,
                **total.values(),
            )
        )
    for (name, _, tariff_name, currency), total in sorted(by_tariff.items()):
        rows.append(
            table_row(
                "tariff",
                f"{name} / {tariff_name}",
                day=None,
                currency=currency,
                **total.values(),
            )
        )
    return rows


# --- day roll-ups -------------------------------------------------------------------


def _cdr_max_id() -> int:
    return Cdr.objects.aggregate(top=Max("id"))["top"] or 0


def _rollups_build(*, state: ReportRollupState, now: datetime) -> None:
    """Every revenue day row from the CDRs issued so far; the watermark follows."""
    cdr_max = _cdr_max_id()
    revenue_rollups_rebuild(
        max_id=cdr_max,
        stations=list(Station.objects.all()),
        networks=list(Network.objects.all()),
    )
    ReportRollupState.objects.filter(pk=state.pk).update(cdr_watermark=cdr_max)
    state.cdr_watermark = cdr_max


def _rollups_update(*, state: ReportRollupState, since: datetime) -> None:
    """Revenue days (by stop) and histogram days (by start) of CDRs issued since."""
    stations = {station.pk: station for station in Station.objects.all()}
    networks = {network.pk: network for network in Network.objects.all()}
    cdr_max = _cdr_max_id()
    revenue_days: dict[tuple[str, int], tuple[date, date]] = {}
    session_days: dict[int, tuple[date, date]] = {}
    for station_id, network_id, stopped_at, started_at in Cdr.objects.filter(
        id__gt=state.cdr_watermark - LATE_ID_MARGIN, id__lte=cdr_max
    ).values_list("station_id", "network_id", "stopped_at", "started_at"):
        if station_id is None:
            zone = networks[network_id].time_zone
            widen(revenue_days, ("network", network_id), local_day(stopped_at, zone))
            continue
        zone = stations[station_id].time_zone
        widen(revenue_days, ("station", station_id), local_day(stopped_at, zone))
        widen(session_days, station_id, local_day(started_at, zone))
    with transaction.atomic():
        for (kind, pk), (first, last) in revenue_days.items():
            revenue_rollups_rebuild(
                max_id=cdr_max,
                stations=[stations[pk]] if kind == "station" else [],
                networks=[networks[pk]] if kind == "network" else [],
                first=first,
                last=last,
            )
        ReportRollupState.objects.filter(pk=state.pk).update(cdr_watermark=cdr_max)
    state.cdr_watermark = cdr_max
    station_days_rebuild(days=session_days)


def _chart(rows: list[ReportRow]) -> Chart:
    picked = [r for r in rows if r.level == "station day"]
    return {
        "type": "bar",
        "labels": [
            f"{r.extra['day']} {r.label} ({r.extra['currency']})" for r in picked
        ],
        "series": {"Total": [str(r.extra["total"]) for r in picked]},
    }


REPORT = report_register(
    Report(
        key="revenue",
        title="Revenue",
        rows=revenue_report,
        columns=(
            *LEVEL_AND_NAME,
            Column(
                "day", lambda r: r.extra["day"].isoformat() if r.extra["day"] else ""
            ),
            *extra_columns("currency", "sessions", "energy_kwh", "net", "tax", "total"),
        ),
        permission=REVENUE_PERMISSION,
        chart=_chart,
        note_template="billing/reports/revenue_note.html",
        day_rollups=DayRollups(build=_rollups_build, update=_rollups_update),
    )
)
