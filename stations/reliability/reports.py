"""Regulatory reliability reports: NEVI uptime per port, 15-minute reliability records.

Both read the outage spans straight from the status and connection history
(``stations.reliability.outages.port_outages``) and the excluded parts of the
classified outages; docs/reliability.md documents every column. Both need
``stations.view_outage`` (operations, finance, administrators) on top of the
reports' own permission, and cover the caller's networks only.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from zoneinfo import ZoneInfo

from django.utils import timezone

from accounts.http import AnyUser
from stations.models import Connector, Station
from stations.reliability.outages import PortHistory, port_outages
from stations.reliability.spans import MINUTE_US, Uptime, clip, overlap, port_uptime
from stations.reports.filters import (
    ReportFilters,
    ReportInputError,
    connectors_by_station,
    report_stations_for_user,
    stations_by_zone,
    zone_range,
)
from stations.reports.history import from_us, to_us
from stations.reports.registry import (
    Chart,
    Column,
    Report,
    extra_columns,
    report_register,
)
from stations.reports.rows import ReportRow, table_row

OUTAGE_PERMISSION = "stations.view_outage"
NEVI_THRESHOLD_PCT = Decimal("97")
INTERVAL = timedelta(minutes=15)
MAX_INTERVAL_DAYS = 31


def port_id(connector: Connector) -> str:
    """The charging port's identifier in the reports: charger id and connector number."""
    return f"{connector.charge_point.ocpp_id}*{connector.connector_id}"


def _local(moment_us: int, zone: ZoneInfo) -> str:
    return from_us(moment_us).astimezone(zone).isoformat()


def month_add(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def trailing_year(month: date) -> list[date]:
    """The first days of the 12 months ending with ``month``'s month, oldest first."""
    first = month.replace(day=1)
    return [month_add(first, offset) for offset in range(-11, 1)]


def _uptime_values(uptime: Uptime) -> dict[str, object]:
    with_exclusions = uptime.uptime_pct
    return {
        "t_period_min": uptime.period_minutes,
        "t_outage_min": uptime.outage_minutes,
        "t_excluded_min": uptime.excluded_minutes,
        "uptime_pct": "" if with_exclusions is None else with_exclusions,
        "uptime_without_exclusions_pct": (
            ""
            if uptime.uptime_without_exclusions_pct is None
            else uptime.uptime_without_exclusions_pct
        ),
        "meets_97_pct": (
            "" if with_exclusions is None else with_exclusions > NEVI_THRESHOLD_PCT
        ),
    }


def nevi_port_uptimes(
    *,
    connectors: list[Connector],
    zone: str,
    month: date,
    now: datetime,
) -> tuple[dict[int, Uptime], dict[int, list[Uptime]]]:
    """Per port: the trailing-12-month uptime ending with ``month``, and each month's.

    Months are station-local; a month not over yet ends ``now``.
    """
    months = trailing_year(month)
    last_day = month_add(months[-1], 1) - timedelta(days=1)
    start, end = zone_range(zone, months[0], last_day)
    end = min(end, now)
    if end <= start:
        return {}, {}
    histories = port_outages(connectors=connectors, start=start, end=end, now=now)
    edges = [to_us(zone_range(zone, first, first)[0]) for first in months]
    edges.append(to_us(end))
    trailing: dict[int, Uptime] = {}
    monthly: dict[int, list[Uptime]] = {}
    for connector in connectors:
        history = histories[connector.pk]
        trailing[connector.pk] = _uptime(history, to_us(start), to_us(end))
        monthly[connector.pk] = [
            _uptime(history, low, min(high, to_us(end)))
            for low, high in pairwise(edges)
        ]
    return trailing, monthly


@dataclass(frozen=True)
class MonthToDate:
    """A port's uptime so far in the station-local month, and the month's full length."""

    month: date
    uptime: Uptime
    month_end_us: int


def month_to_date_uptimes(
    *, connectors: list[Connector], zone: str, now: datetime
) -> dict[int, MonthToDate]:
    """Per port: the uptime from the start of ``now``'s local month until ``now``."""
    first = now.astimezone(ZoneInfo(zone)).date().replace(day=1)
    start, month_end = zone_range(zone, first, month_add(first, 1) - timedelta(days=1))
    histories = port_outages(connectors=connectors, start=start, end=now, now=now)
    return {
        connector.pk: MonthToDate(
            month=first,
            uptime=_uptime(histories[connector.pk], to_us(start), to_us(now)),
            month_end_us=to_us(month_end),
        )
        for connector in connectors
    }


def _uptime(history: PortHistory, start_us: int, end_us: int) -> Uptime:
    return port_uptime(
        segments=[s for s in history.segments if s[1] > start_us and s[0] < end_us],
        outages=history.outages,
        excluded=history.excluded,
        start_us=start_us,
        end_us=end_us,
    )


def nevi_uptime_report(*, user: AnyUser, filters: ReportFilters) -> list[ReportRow]:
    """NEVI uptime per port for the local month of ``date_to``, trailing 12 months."""
    stations = report_stations_for_user(user=user, filters=filters)
    by_station = connectors_by_station(stations)
    now = timezone.now()
    port_rows: list[ReportRow] = []
    month_rows: list[ReportRow] = []
    for zone_name, members in stations_by_zone(stations).items():
        zone = ZoneInfo(zone_name)
        ports = [c for station in members for c in by_station[station.pk]]
        trailing, monthly = nevi_port_uptimes(
            connectors=ports, zone=zone_name, month=filters.date_to, now=now
        )
        months = trailing_year(filters.date_to)
        for station in members:
            for connector in by_station[station.pk]:
                if connector.pk not in trailing:
                    continue
                uptime = trailing[connector.pk]
                common = _port_columns(station, connector, zone_name)
                port_rows.append(
                    table_row(
                        "port",
                        f"{station.name} / {connector}",
                        **common,
                        month=f"{filters.date_to:%Y-%m}",
                        period_start=_local(uptime.period_start_us, zone),
                        period_end=_local(uptime.period_end_us, zone),
                        **_uptime_values(uptime),
                    )
                )
                for first, one in zip(months, monthly[connector.pk], strict=True):
                    month_rows.append(
                        table_row(
                            "month",
                            f"{station.name} / {connector} {first:%Y-%m}",
                            **common,
                            month=f"{first:%Y-%m}",
                            period_start=_local(one.period_start_us, zone),
                            period_end=_local(one.period_end_us, zone),
                            **_uptime_values(one),
                        )
                    )
    return port_rows + month_rows


def _port_columns(
    station: Station, connector: Connector, zone: str
) -> dict[str, object]:
    return {
        "station_id": station.pk,
        "station_name": station.name,
        "charging_port_id": port_id(connector),
        "time_zone": zone,
    }


def _nevi_chart(rows: list[ReportRow]) -> Chart:
    ports = [r for r in rows if r.level == "port"]

    def number(value: object) -> float | None:
        return float(value) if isinstance(value, Decimal) else None

    return {
        "type": "bar",
        "labels": [r.label for r in ports],
        "series": {
            "Uptime % (with exclusions)": [
                number(r.extra["uptime_pct"]) for r in ports
            ],
            "Uptime % (without exclusions)": [
                number(r.extra["uptime_without_exclusions_pct"]) for r in ports
            ],
        },
    }


LEVEL = Column("level", lambda row: row.level)
UPTIME_COLUMNS = (
    "t_period_min",
    "t_outage_min",
    "t_excluded_min",
    "uptime_pct",
    "uptime_without_exclusions_pct",
    "meets_97_pct",
)

NEVI_REPORT = report_register(
    Report(
        key="nevi_uptime",
        title="NEVI uptime per port (23 CFR 680.116(b))",
        rows=nevi_uptime_report,
        columns=(
            LEVEL,
            *extra_columns(
                "station_id",
                "station_name",
                "charging_port_id",
                "month",
                "period_start",
                "period_end",
                "time_zone",
                *UPTIME_COLUMNS,
            ),
        ),
        permission=OUTAGE_PERMISSION,
        chart=_nevi_chart,
        note=(
            "The month of 'To' (station-local), trailing 12 months: "
            "μ = ((T − (T_outage − T_excluded)) / T) × 100, T = the period's "
            "minutes (525,600 for a 365-day year; a port added during the "
            "period counts from its first status). Outages: Faulted, Unavailable, "
            "offline beyond the grace, unanswered. Port rows first, then each "
            "port's months. Fields: docs/reliability.md."
        ),
    )
)


def interval_records(
    *, history: PortHistory, start_us: int, end_us: int
) -> list[dict[str, object]]:
    """One port's 15-minute records over ``[start_us, end_us)``."""
    records = []
    step = int(INTERVAL.total_seconds()) * 1_000_000
    moment = start_us
    while moment < end_us:
        stop = min(moment + step, end_us)
        outage = clip(history.outages, moment, stop)
        outage_us = sum(s.length_us for s in outage)
        excluded_us = overlap(outage, clip(history.excluded, moment, stop))
        unknown_us = sum(
            min(seg_end, stop) - max(seg_start, moment)
            for seg_start, seg_end, state in history.segments
            if state == "Unknown" and seg_end > moment and seg_start < stop
        )
        if unknown_us == stop - moment:
            state = "unknown"
        elif outage_us > excluded_us:
            state = "down"
        elif outage_us:
            state = "excluded"
        else:
            state = "up"
        records.append(
            {
                "start_us": moment,
                "end_us": stop,
                "operative_min": _min(stop - moment - outage_us - unknown_us),
                "outage_min": _min(outage_us),
                "excluded_min": _min(excluded_us),
                "unknown_min": _min(unknown_us),
                "state": state,
            }
        )
        moment = stop
    return records


def _min(value_us: int) -> Decimal:
    return (Decimal(value_us) / MINUTE_US).quantize(Decimal("0.01"))


def reliability_intervals_report(
    *, user: AnyUser, filters: ReportFilters
) -> list[ReportRow]:
    """15-minute reliability records per port over the station-local days chosen."""
    if filters.days > MAX_INTERVAL_DAYS:
        raise ReportInputError(
            "date_from",
            f"Choose at most {MAX_INTERVAL_DAYS} days of 15-minute records.",
        )
    stations = report_stations_for_user(user=user, filters=filters)
    by_station = connectors_by_station(stations)
    now = timezone.now()
    rows: list[ReportRow] = []
    for zone_name, members in stations_by_zone(stations).items():
        zone = ZoneInfo(zone_name)
        start, end = zone_range(zone_name, filters.date_from, filters.date_to)
        end = min(end, now.astimezone(UTC))
        if end <= start:
            continue
        ports = [c for station in members for c in by_station[station.pk]]
        histories = port_outages(connectors=ports, start=start, end=end, now=now)
        for station in members:
            for connector in by_station[station.pk]:
                common = _port_columns(station, connector, zone_name)
                for record in interval_records(
                    history=histories[connector.pk],
                    start_us=to_us(start),
                    end_us=to_us(end),
                ):
                    begin = _local(int(str(record.pop("start_us"))), zone)
                    rows.append(
                        table_row(
                            "interval",
                            f"{station.name} / {connector} {begin}",
                            **common,
                            interval_start=begin,
                            interval_end=_local(int(str(record.pop("end_us"))), zone),
                            **record,
                        )
                    )
    return rows


def _intervals_chart(rows: list[ReportRow]) -> Chart:
    """Share of the ports operative per interval (the whole selection)."""
    up: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        if row.extra["state"] == "unknown":
            continue
        cell = up[str(row.extra["interval_start"])[:16]]
        cell[0] += row.extra["state"] != "down"
        cell[1] += 1
    labels = sorted(up)
    return {
        "type": "bar",
        "labels": labels,
        "series": {
            "Ports operative %": [
                round(up[label][0] * 100 / up[label][1], 2) for label in labels
            ]
        },
    }


INTERVALS_REPORT = report_register(
    Report(
        key="reliability_intervals",
        title="Reliability records in 15-minute intervals",
        rows=reliability_intervals_report,
        columns=(
            LEVEL,
            *extra_columns(
                "station_id",
                "station_name",
                "charging_port_id",
                "time_zone",
                "interval_start",
                "interval_end",
                "operative_min",
                "outage_min",
                "excluded_min",
                "unknown_min",
                "state",
            ),
        ),
        permission=OUTAGE_PERMISSION,
        chart=_intervals_chart,
        note=(
            "One record per port and station-local quarter hour (a DST day has "
            "92 or 100). state: up, down (outage not excluded), excluded (all "
            "outage time excluded), unknown (no status known yet). At most "
            f"{MAX_INTERVAL_DAYS} days. Fields: docs/reliability.md."
        ),
    )
)
