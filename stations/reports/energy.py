"""Energy delivered and sessions started per station and station-local day.

A session's energy is split across hours by its energy register readings, so a
session crossing midnight lands on both local days (``stations.reports.tallies``).
"""

from __future__ import annotations

from datetime import date, timedelta

from accounts.http import AnyUser
from stations.reports.filters import (
    ReportFilters,
    connectors_by_station,
    local_range,
    report_stations_for_user,
    stations_by_zone,
)
from stations.reports.registry import Chart, Column, Report, report_register
from stations.reports.rows import ReportRow
from stations.reports.tallies import HOUR, Tally, range_totals


def energy_report(*, user: AnyUser, filters: ReportFilters) -> list[ReportRow]:
    """Energy and sessions started per station and station-local day."""
    stations = report_stations_for_user(user=user, filters=filters)
    connectors = connectors_by_station(stations)
    per_day: dict[tuple[int, date | None], Tally] = {}
    for zone, members in stations_by_zone(stations).items():
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


def _chart(rows: list[ReportRow]) -> Chart:
    return {
        "type": "bar",
        "labels": [f"{r.extra['day']} {r.label}" for r in rows],
        "series": {"kWh": [r.tally.energy_wh / 1000 for r in rows]},
    }


REPORT = report_register(
    Report(
        key="energy",
        title="Energy and sessions",
        rows=energy_report,
        columns=(
            Column("day", lambda r: r.extra["day"].isoformat()),
            Column("station", lambda r: r.label),
            Column("sessions_started", lambda r: r.tally.sessions_started),
            Column("energy_kwh", lambda r: r.energy_kwh),
        ),
        api_kind="tally",
        chart=_chart,
    )
)
