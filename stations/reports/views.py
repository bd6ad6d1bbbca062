"""Report pages and their CSV exports (``/reports/``), one pair per registered report.

Every report needs ``stations.view_station`` and covers only the user's
networks; a report's own ``permission`` (revenue: ``billing.view_cdr``) hides
it from the index and answers 403 on its page and export. The pages iterate
``stations.reports.registry``: nothing here names a report.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.decorators import login_required
from django.http import (
    FileResponse,
    HttpRequest,
    HttpResponse,
    StreamingHttpResponse,
)
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET
from openpyxl import Workbook

from stations.reports.availability import availability_windows
from stations.reports.filters import (
    ReportFilters,
    ReportInputError,
    parse_filters,
    reports_require,
)
from stations.reports.registry import (
    Report,
    report_get_for_user,
    report_list_for_user,
)
from stations.reports.rows import ReportRow
from stations.reports.tasks import rollup_freshness
from stations.selectors import network_list_for_user, station_list_for_user


class _Echo:
    def write(self, value: str) -> str:
        return value


def _today(request: HttpRequest) -> date:
    return timezone.localdate()


def _run(
    request: HttpRequest, report: Report
) -> tuple[ReportFilters, list[ReportRow]] | ReportInputError:
    try:
        filters = parse_filters(request.GET, today=_today(request))
        # A report may refuse a range of its own (e.g. too long for its rows).
        return filters, report.rows(user=request.user, filters=filters)
    except ReportInputError as error:
        return error


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
    reports_require(user=request.user)
    return render(
        request,
        "stations/reports/index.html",
        {
            "reports": [
                (report.key, report.title)
                for report in report_list_for_user(user=request.user)
            ]
        },
    )


@require_GET
@login_required
def report_page(request: HttpRequest, kind: str) -> HttpResponse:
    report = report_get_for_user(user=request.user, key=kind)
    result = _run(request, report)
    context: dict[str, Any] = {
        "kind": kind,
        "report": report,
        "title": report.title,
        "query": request.GET.urlencode(),
        "networks": network_list_for_user(user=request.user),
        "stations": station_list_for_user(user=request.user).order_by("name"),
        "params": request.GET,
        "columns": report.column_names,
        "filters": None,
    }
    if isinstance(result, ReportInputError):
        context["error"] = result
        return render(request, "stations/reports/report.html", context, status=400)
    filters, rows = result
    context.update(
        filters=filters,
        freshness=_freshness(filters, context["stations"]),
        table=[report.values(row) for row in rows],
        chart=report.chart(rows) if report.chart else {},
        heatmap=report.heatmap(rows) if report.heatmap else None,
        hours=range(24),
    )
    return render(request, "stations/reports/report.html", context)


def _refusal(error: ReportInputError) -> HttpResponse:
    """An export's answer to a bad filter: 400 naming the field."""
    return HttpResponse(
        f"{error.field}: {error}", status=400, content_type="text/plain"
    )


@require_GET
@login_required
def report_csv(request: HttpRequest, kind: str) -> HttpResponse | StreamingHttpResponse:
    report = report_get_for_user(user=request.user, key=kind)
    result = _run(request, report)
    if isinstance(result, ReportInputError):
        return _refusal(result)
    filters, rows = result
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        yield writer.writerow(report.column_names)
        for row in rows:
            yield writer.writerow(report.values(row))

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="{kind}_{filters.date_from}_{filters.date_to}.csv"'
    )
    return response


@require_GET
@login_required
def report_xlsx(request: HttpRequest, kind: str) -> HttpResponse | FileResponse:
    """The report's CSV columns and rows as a spreadsheet (numbers stay numbers)."""
    report = report_get_for_user(user=request.user, key=kind)
    result = _run(request, report)
    if isinstance(result, ReportInputError):
        return _refusal(result)
    filters, rows = result
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(kind[:31])
    sheet.append(report.column_names)
    for row in rows:
        sheet.append([_xlsx_cell(value) for value in report.values(row)])
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed by FileResponse
    workbook.save(handle)
    handle.seek(0)
    return FileResponse(
        handle,
        as_attachment=True,
        filename=f"{kind}_{filters.date_from}_{filters.date_to}.xlsx",
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )


def _xlsx_cell(value: Any) -> Any:
    if isinstance(value, (bool, int, float, Decimal)) or value is None:
        return value
    return str(value)


@require_GET
@login_required
def availability_day(request: HttpRequest, pk: int) -> HttpResponse:
    """Availability of one station in 5-minute windows over one local day."""
    reports_require(user=request.user)
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
            # The windows are the station's, in its zone (ZoneInfo prints its key).
            "time_zone": str(windows[0][0].tzinfo) if windows else "UTC",
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
