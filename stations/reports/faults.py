"""Fault rates per vendor, model and firmware; top chargers by faults and downtime.

A *fault* is an applied status notification that moves a connector (or the
charger as a whole, connector 0; OCPP 1.6 §4.9) into ``Faulted`` from any other
status; repeated ``Faulted`` notifications are one fault. The rate is faults
per *charger-day*: chargers of the group times the station-local days of the
range. Downtime is Faulted + Unavailable + Offline time summed over the
charger's connectors (connector-hours), from the same roll-ups as the
availability report.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import CharField, Count, F, OuterRef, Q, Subquery

from accounts.http import AnyUser
from stations.models import ChargePoint, ConnectorStatus, Station, StatusChange
from stations.reports.filters import (
    ReportFilters,
    connectors_by_station,
    report_stations_for_user,
    station_ids_by_range,
    stations_by_zone,
)
from stations.reports.registry import (
    LEVEL_AND_NAME,
    Chart,
    Report,
    extra_columns,
    report_register,
)
from stations.reports.rows import ReportRow, table_row
from stations.reports.tallies import range_totals

TOP_CHARGERS = 10


def fault_counts(stations: list[Station], filters: ReportFilters) -> dict[int, int]:
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
    for (start, end, _), ids in station_ids_by_range(stations, filters).items():
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


def faults_report(*, user: AnyUser, filters: ReportFilters) -> list[ReportRow]:
    """Fault rate per vendor/model/firmware; top chargers by faults and downtime."""
    stations = report_stations_for_user(user=user, filters=filters)
    connectors = connectors_by_station(stations)
    charge_points = list(
        ChargePoint.objects.filter(station__in=stations)
        .select_related("station")
        .order_by("station__name", "ocpp_id")
    )
    faults = fault_counts(stations, filters)
    downtime: dict[int, float] = defaultdict(float)
    charger_of = {c.pk: c.charge_point_id for cs in connectors.values() for c in cs}
    for zone, zone_stations in stations_by_zone(stations).items():
        for (pk, _), tally in range_totals(
            connectors=[c for station in zone_stations for c in connectors[station.pk]],
            first=filters.date_from,
            last=filters.date_to,
            zone=zone,
        ).items():
            downtime[charger_of[pk]] += tally.downtime_s
    days = filters.days
    groups: dict[tuple[str, str, str], list[ChargePoint]] = defaultdict(list)
    for cp in charge_points:
        groups[(cp.vendor, cp.model, cp.firmware_version)].append(cp)
    rows: list[ReportRow] = []
    for (vendor, model, firmware), members in sorted(groups.items()):
        count = sum(faults[cp.pk] for cp in members)
        charger_days = len(members) * days
        rows.append(
            table_row(
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
        return table_row(
            level,
            f"{cp.station.name if cp.station else '—'} / {cp.ocpp_id}",
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


def _chart(rows: list[ReportRow]) -> Chart:
    picked = [r for r in rows if r.level == "model"]
    return {
        "type": "bar",
        "labels": [r.label for r in picked],
        "series": {
            "Faults per charger-day": [
                float(r.extra["faults_per_charger_day"]) for r in picked
            ]
        },
    }


REPORT = report_register(
    Report(
        key="faults",
        title="Fault rates and downtime",
        rows=faults_report,
        columns=(
            *LEVEL_AND_NAME,
            *extra_columns(
                "vendor",
                "model",
                "firmware",
                "chargers",
                "faults",
                "charger_days",
                "faults_per_charger_day",
                "downtime_hours",
            ),
        ),
        chart=_chart,
        note=(
            "A fault is a move into Faulted (per connector or the whole charger); "
            "repeats while faulted count once. Rate: faults per charger-day "
            "(chargers × station-local days). Downtime: Faulted + Unavailable + "
            "Offline connector-hours. Top 10 chargers by each."
        ),
    )
)
