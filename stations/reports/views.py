"""Report pages and their CSV exports (``/reports/``).

Every report needs ``stations.view_station`` (operations, support, finance and
administrators hold it; support sees these operational reports too because
they answer "is this charger down"), and covers only the user's networks.
The revenue report additionally needs ``billing.view_cdr`` (finance and
administrators); the CDR list and exports stay in ``billing:revenue``.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from stations.reports.core import (
    REPORT_PERMISSION,
    ReportFilters,
    ReportInputError,
    ReportRow,
    availability_report,
    availability_windows,
    energy_report,
    parse_filters,
    peak_hours_report,
    utilization_report,
)
from stations.reports.extra import (
    REVENUE_PERMISSION,
    faults_report,
    revenue_report,
    sessions_distribution_report,
)
from stations.reports.tasks import rollup_freshness
from stations.selectors import network_list_for_user, station_list_for_user

Columns = list[tuple[str, Callable[[ReportRow], Any]]]

REPORTS: dict[str, tuple[str, Callable[..., list[ReportRow]], Columns]] = {
    "availability": (
        "Availability SLA",
        availability_report,
        [
            ("level", lambda r: r.level),
            ("name", lambda r: r.label),
            ("availability_pct", lambda r: r.availability_pct),
            ("known_hours", lambda r: r.known_hours),
            ("downtime_hours", lambda r: r.downtime_hours),
        ],
    ),
    "utilization": (
        "Utilization",
        utilization_report,
        [
            ("level", lambda r: r.level),
            ("name", lambda r: r.label),
            ("occupied_pct", lambda r: r.occupied_pct),
            ("charging_pct", lambda r: r.charging_pct),
            ("known_hours", lambda r: r.known_hours),
        ],
    ),
    "energy": (
        "Energy and sessions",
        energy_report,
        [
            ("day", lambda r: r.extra["day"].isoformat()),
            ("station", lambda r: r.label),
            ("sessions_started", lambda r: r.tally.sessions_started),
            ("energy_kwh", lambda r: r.energy_kwh),
        ],
    ),
    "peak": (
        "Peak hours",
        peak_hours_report,
        [
            ("weekday", lambda r: r.label),
            ("hour", lambda r: r.extra["hour"]),
            ("sessions_started", lambda r: r.tally.sessions_started),
            ("energy_kwh", lambda r: r.energy_kwh),
        ],
    ),
    "faults": (
        "Fault rates and downtime",
        faults_report,
        [
            ("level", lambda r: r.level),
            ("name", lambda r: r.label),
            ("vendor", lambda r: r.extra["vendor"]),
            ("model", lambda r: r.extra["model"]),
            ("firmware", lambda r: r.extra["firmware"]),
            ("chargers", lambda r: r.extra["chargers"]),
            ("faults", lambda r: r.extra["faults"]),
            ("charger_days", lambda r: r.extra["charger_days"]),
            ("faults_per_charger_day", lambda r: r.extra["faults_per_charger_day"]),
            ("downtime_hours", lambda r: r.extra["downtime_hours"]),
        ],
    ),
    "sessions": (
        "Session duration, energy and idle time",
        sessions_distribution_report,
        [
            ("distribution", lambda r: r.level),
            ("bucket", lambda r: r.label),
            ("sessions", lambda r: r.extra["sessions"]),
            ("share_pct", lambda r: r.extra["share_pct"]),
            ("total", lambda r: r.extra["total"]),
        ],
    ),
    "revenue": (
        "Revenue",
        revenue_report,
        [
            ("level", lambda r: r.level),
            ("name", lambda r: r.label),
            ("day", lambda r: r.extra["day"].isoformat() if r.extra["day"] else ""),
            ("currency", lambda r: r.extra["currency"]),
            ("sessions", lambda r: r.extra["sessions"]),
            ("energy_kwh", lambda r: r.extra["energy_kwh"]),
            ("net", lambda r: r.extra["net"]),
            ("tax", lambda r: r.extra["tax"]),
            ("total", lambda r: r.extra["total"]),
        ],
    ),
}
EXTRA_KINDS = frozenset({"faults", "sessions", "revenue"})


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


class _Echo:
    def write(self, value: str) -> str:
        return value


def _require_reports(request: HttpRequest) -> None:
    user: Any = request.user
    if getattr(user, "is_driver", False) or not user.has_perm(REPORT_PERMISSION):
        raise PermissionDenied("Your role does not allow reports.")


def _today(request: HttpRequest) -> date:
    return timezone.localdate()


def _chart(kind: str, rows: list[ReportRow]) -> dict[str, Any]:
    if kind == "faults":
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
    if kind == "sessions":
        picked = [r for r in rows if r.label != "all"]
        return {
            "type": "bar",
            "labels": [f"{r.level}: {r.label}" for r in picked],
            "series": {"Sessions": [r.extra["sessions"] for r in picked]},
        }
    if kind == "revenue":
        picked = [r for r in rows if r.level == "station day"]
        return {
            "type": "bar",
            "labels": [
                f"{r.extra['day']} {r.label} ({r.extra['currency']})" for r in picked
            ],
            "series": {"Total": [str(r.extra["total"]) for r in picked]},
        }
    if kind == "energy":
        return {
            "type": "bar",
            "labels": [f"{r.extra['day']} {r.label}" for r in rows],
            "series": {"kWh": [r.tally.energy_wh / 1000 for r in rows]},
        }
    level = "station"
    picked = [r for r in rows if r.level == level]
    if kind == "availability":
        return {
            "type": "bar",
            "labels": [r.label for r in picked],
            "series": {"Availability %": [r.availability_pct or None for r in picked]},
        }
    return {
        "type": "bar",
        "labels": [r.label for r in picked],
        "series": {
            "Occupied %": [r.occupied_pct or None for r in picked],
            "Charging %": [r.charging_pct or None for r in picked],
        },
    }


def _run(request: HttpRequest, kind: str) -> tuple[ReportFilters | None, Any]:
    _require_reports(request)
    if kind not in REPORTS:
        raise Http404("No such report.")
    try:
        filters = parse_filters(request.GET, today=_today(request))
    except ReportInputError as error:
        return None, error
    _, compute, _ = REPORTS[kind]
    return filters, compute(user=request.user, filters=filters)


def _freshness(filters: ReportFilters | None, stations: Any) -> dict[str, Any]:
    """How fresh the roll-ups are, in the zone of the stations shown.

    One zone among the selected stations: that one; else the selected network's
    zone; else UTC.
    """
    fresh = rollup_freshness()
    chosen = stations
    if filters is not None and filters.station_id is not None:
        chosen = stations.filter(pk=filters.station_id)
    elif filters is not None and filters.network_id is not None:
        chosen = stations.filter(network_id=filters.network_id)
    zones = set(chosen.values_list("time_zone", flat=True).distinct())
    zone = zones.pop() if len(zones) == 1 else "UTC"
    if len(zones) > 1 and filters is not None and filters.network_id is not None:
        network = chosen.select_related("network").first()
        zone = network.network.time_zone if network else zone
    until = fresh["complete_until"]
    return {
        # Formatted here: the template would show it in the request's zone.
        "until": (
            f"{until.astimezone(ZoneInfo(zone or 'UTC')):%Y-%m-%d %H:%M}"
            if until
            else None
        ),
        "zone": zone or "UTC",
        "backfill_percent": fresh["backfill_percent"],
    }


@require_GET
@login_required
def report_index(request: HttpRequest) -> HttpResponse:
    _require_reports(request)
    return render(
        request,
        "stations/reports/index.html",
        {
            "reports": [
                (kind, spec[0])
                for kind, spec in REPORTS.items()
                if kind != "revenue" or request.user.has_perm(REVENUE_PERMISSION)
            ]
        },
    )


@require_GET
@login_required
def report_page(request: HttpRequest, kind: str) -> HttpResponse:
    filters, result = _run(request, kind)
    title, _, columns = REPORTS[kind]
    context: dict[str, Any] = {
        "kind": kind,
        "title": title,
        "query": request.GET.urlencode(),
        "networks": network_list_for_user(user=request.user),
        "stations": station_list_for_user(user=request.user).order_by("name"),
        "params": request.GET,
        "columns": [name for name, _ in columns],
        "filters": None,
    }
    if filters is None:
        context["error"] = result
        return render(request, "stations/reports/report.html", context, status=400)
    context.update(
        filters=filters,
        freshness=_freshness(filters, context["stations"]),
        table=[[value(row) for _, value in columns] for row in result],
        chart=_chart(kind, result) if kind != "peak" else {},
        heatmap=_heatmap(result) if kind == "peak" else None,
        hours=range(24),
    )
    return render(request, "stations/reports/report.html", context)


@require_GET
@login_required
def report_csv(request: HttpRequest, kind: str) -> HttpResponse:
    filters, result = _run(request, kind)
    if filters is None:
        return HttpResponse(
            f"{result.field}: {result}", status=400, content_type="text/plain"
        )
    _, _, columns = REPORTS[kind]
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow([name for name, _ in columns])
        for row in result:
            yield writer.writerow([value(row) for _, value in columns])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{kind}_{filters.date_from}_{filters.date_to}.csv"'
    )
    return response


@require_GET
@login_required
def availability_day(request: HttpRequest, pk: int) -> HttpResponse:
    """Availability of one station in 5-minute windows over one local day."""
    _require_reports(request)
    raw = (request.GET.get("day") or "").strip()
    try:
        day = date.fromisoformat(raw) if raw else _today(request)
    except ValueError:
        return render(
            request,
            "stations/reports/day.html",
            {
                "error": "day: Enter a date as YYYY-MM-DD.",
                "station_id": pk,
                "day": None,
            },
            status=400,
        )
    windows = availability_windows(user=request.user, station_id=pk, day=day)
    return render(
        request,
        "stations/reports/day.html",
        {
            "station_id": pk,
            "day": day,
            "rows": [
                (
                    start.strftime("%H:%M"),
                    None if share is None else f"{share * 100:.2f}",
                )
                for start, share in windows
            ],
            "chart": {
                "labels": [start.strftime("%H:%M") for start, _ in windows],
                "values": [
                    None if share is None else round(share * 100, 2)
                    for _, share in windows
                ],
            },
        },
    )
