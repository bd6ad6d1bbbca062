"""Utilization: occupied and charging shares per connector, charge point and station.

Occupied is Preparing to Finishing including both Suspended states; charging is
Charging only; shares are of the time with a known status.
"""

from __future__ import annotations

from collections import defaultdict

from accounts.http import AnyUser
from stations.reports.filters import (
    ReportFilters,
    connectors_by_station,
    report_stations_for_user,
    stations_by_zone,
)
from stations.reports.registry import (
    LEVEL_AND_NAME,
    Chart,
    Column,
    Report,
    report_register,
)
from stations.reports.rows import ReportRow
from stations.reports.tallies import Tally, range_totals


def utilization_report(*, user: AnyUser, filters: ReportFilters) -> list[ReportRow]:
    """Occupied and charging shares per connector, charge point and station."""
    stations = report_stations_for_user(user=user, filters=filters)
    connectors = connectors_by_station(stations)
    totals: dict[int, Tally] = defaultdict(Tally)
    for zone, members in stations_by_zone(stations).items():
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


def _chart(rows: list[ReportRow]) -> Chart:
    picked = [r for r in rows if r.level == "station"]
    return {
        "type": "bar",
        "labels": [r.label for r in picked],
        "series": {
            "Occupied %": [r.occupied_pct or None for r in picked],
            "Charging %": [r.charging_pct or None for r in picked],
        },
    }


REPORT = report_register(
    Report(
        key="utilization",
        title="Utilization",
        rows=utilization_report,
        columns=(
            *LEVEL_AND_NAME,
            Column("occupied_pct", lambda r: r.occupied_pct),
            Column("charging_pct", lambda r: r.charging_pct),
            Column("known_hours", lambda r: r.known_hours),
        ),
        api_kind="tally",
        chart=_chart,
        note=(
            "Occupied: Preparing to Finishing, including suspended. Shares of the "
            "time with a known status."
        ),
    )
)
