"""Quirks and faults per model: which vendor / model / firmware misbehaves.

Per vendor, model and firmware version: the chargers, their fault rate (the
faults report's definition: moves into Faulted per charger-day) and the quirks
seen in their traffic over the range (``stations.fleet.QuirkTally``, counted in
memory by the gateway and written with the group commit: sampled values of an
undefined unit or measurand, frames accepted without their odd parts, connector
reports kept aside, statuses older than the one applied, late answers,
vendor-profile quirks applied). Quirks are counted per network and UTC day;
a station filter narrows the chargers and faults, not the quirks.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Sum

from accounts.http import AnyUser
from stations.fleet.models import QuirkKind, QuirkTally
from stations.models import ChargePoint
from stations.reports.faults import fault_counts
from stations.reports.filters import ReportFilters, report_stations_for_user
from stations.reports.registry import (
    LEVEL_AND_NAME,
    Chart,
    Report,
    extra_columns,
    report_register,
)
from stations.reports.rows import ReportRow, table_row

Model = tuple[str, str, str]
KINDS = [kind.value for kind in QuirkKind]


def quirks_report(*, user: AnyUser, filters: ReportFilters) -> list[ReportRow]:
    stations = report_stations_for_user(user=user, filters=filters)
    faults = fault_counts(stations, filters)
    chargers: dict[Model, list[int]] = defaultdict(list)
    for pk, vendor, model, firmware in ChargePoint.objects.filter(
        station__in=stations
    ).values_list("pk", "vendor", "model", "firmware_version"):
        chargers[(vendor, model, firmware)].append(pk)
    quirks: dict[Model, dict[str, int]] = defaultdict(lambda: dict.fromkeys(KINDS, 0))
    tallies = (
        QuirkTally.objects.filter(
            network_id__in={station.network_id for station in stations},
            day__gte=filters.date_from,
            day__lte=filters.date_to,
        )
        .values("vendor", "model", "firmware_version", "kind")
        .annotate(n=Sum("count"))
        .order_by()
    )
    for row in tallies:
        key = (row["vendor"], row["model"], row["firmware_version"])
        quirks[key][row["kind"]] += row["n"]
    rows: list[ReportRow] = []
    for key in sorted(set(chargers) | set(quirks)):
        vendor, model, firmware = key
        members = chargers.get(key, [])
        fault_count = sum(faults[pk] for pk in members)
        charger_days = len(members) * filters.days
        counts = quirks[key]
        total = sum(counts.values())
        rows.append(
            table_row(
                "model",
                " / ".join(part or "—" for part in key),
                vendor=vendor,
                model=model,
                firmware=firmware,
                chargers=len(members),
                faults=fault_count,
                faults_per_charger_day=(
                    f"{fault_count / charger_days:.3f}" if charger_days else ""
                ),
                quirks=total,
                quirks_per_charger_day=(
                    f"{total / charger_days:.3f}" if charger_days else ""
                ),
                **counts,
            )
        )
    return rows


def _chart(rows: list[ReportRow]) -> Chart:
    return {
        "type": "bar",
        "labels": [row.label for row in rows],
        "series": {"Quirks": [row.extra["quirks"] for row in rows]},
    }


REPORT = report_register(
    Report(
        key="quirks",
        title="Quirks and faults per model",
        rows=quirks_report,
        # Which firmware misbehaves is the fleet operators' question.
        permission="stations.manage_firmware",
        columns=(
            *LEVEL_AND_NAME,
            *extra_columns(
                "vendor",
                "model",
                "firmware",
                "chargers",
                "faults",
                "faults_per_charger_day",
                "quirks",
                "quirks_per_charger_day",
                *KINDS,
            ),
        ),
        chart=_chart,
        note=(
            "Per vendor / model / firmware: faults (moves into Faulted) per "
            "charger-day, and the quirks seen in the chargers' traffic: "
            + "; ".join(f"{kind.value} = {kind.label.lower()}" for kind in QuirkKind)
            + ". Quirks are counted per network and UTC day."
        ),
    )
)
