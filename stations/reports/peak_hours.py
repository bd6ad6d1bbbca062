"""Peak hours: sessions started and energy by station-local weekday and hour."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from accounts.http import AnyUser
from stations.reports.filters import (
    ReportFilters,
    connectors_by_station,
    local_range,
    report_stations_for_user,
    stations_by_zone,
)
from stations.reports.registry import Column, Report, report_register
from stations.reports.rows import ReportRow
from stations.reports.tallies import Tally, hourly_totals

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def peak_hours_report(*, user: AnyUser, filters: ReportFilters) -> list[ReportRow]:
    """Sessions started and energy by station-local weekday and hour of day.

    Roll-up hours are UTC; in a zone with a half-hour offset an hour counts
    under the local hour it starts in.
    """
    stations = report_stations_for_user(user=user, filters=filters)
    connectors = connectors_by_station(stations)
    grid = {(day, hour): Tally() for day in range(7) for hour in range(24)}
    for zone_name, members in stations_by_zone(stations).items():
        zone = ZoneInfo(zone_name)
        start, end = local_range(members[0], filters.date_from, filters.date_to)
        for hour_start, tally in hourly_totals(
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


def _heatmap(rows: list[ReportRow]) -> list[tuple[str, list[dict[str, Any]]]]:
    """Weekday rows of 24 cells, shaded by sessions relative to the busiest hour."""
    busiest = max((r.tally.sessions_started for r in rows), default=0) or 1
    grid: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        share = row.tally.sessions_started / busiest
        grid.setdefault(row.label, []).append(
            {
                "sessions": row.tally.sessions_started,
                "energy_kwh": row.energy_kwh,
                "alpha": f"{share * 0.85:.2f}",
                "dark": share > 0.5,
            }
        )
    return list(grid.items())


REPORT = report_register(
    Report(
        key="peak",
        title="Peak hours",
        rows=peak_hours_report,
        columns=(
            Column("weekday", lambda r: r.label),
            Column("hour", lambda r: r.extra["hour"]),
            Column("sessions_started", lambda r: r.tally.sessions_started),
            Column("energy_kwh", lambda r: r.energy_kwh),
        ),
        api_kind="tally",
        heatmap=_heatmap,
    )
)
