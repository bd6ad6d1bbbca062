"""Reports API: ``GET /api/v1/reports/<kind>/`` and 5-minute availability windows.

Same scope and role as the portal pages (``stations.view_station`` and the
caller's networks); query parameters ``date_from``, ``date_to`` (station-local
dates), ``network``, ``station``. Shares are percentages with two decimals,
null when nothing is known about the period.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import (
    OpenApiParameter,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import serializers
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cms.api import IsStaffAccount, responses
from stations.reports.availability import availability_windows
from stations.reports.filters import ReportFilters, ReportInputError, parse_filters
from stations.reports.registry import Report, report_get_for_user
from stations.reports.rows import ReportRow
from stations.reports.tasks import rollup_freshness


def _share(value: str) -> str | None:
    return value or None


def _row(row: ReportRow) -> dict[str, Any]:
    return {
        "level": row.level,
        "name": row.label,
        "day": row.extra.get("day"),
        "weekday": row.extra.get("weekday"),
        "hour": row.extra.get("hour"),
        "availability_pct": _share(row.availability_pct),
        "occupied_pct": _share(row.occupied_pct),
        "charging_pct": _share(row.charging_pct),
        "known_hours": row.known_hours,
        "downtime_hours": row.downtime_hours,
        "sessions_started": row.tally.sessions_started,
        "energy_kwh": row.energy_kwh,
    }


class ReportRowSerializer(serializers.Serializer):
    level = serializers.CharField()
    name = serializers.CharField()
    day = serializers.DateField(allow_null=True)
    weekday = serializers.IntegerField(
        allow_null=True, help_text="Peak hours: 0 = Monday."
    )
    hour = serializers.IntegerField(allow_null=True, help_text="Peak hours: 0-23.")
    availability_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, allow_null=True
    )
    occupied_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, allow_null=True
    )
    charging_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, allow_null=True
    )
    known_hours = serializers.DecimalField(max_digits=12, decimal_places=2)
    downtime_hours = serializers.DecimalField(max_digits=12, decimal_places=2)
    sessions_started = serializers.IntegerField()
    energy_kwh = serializers.DecimalField(max_digits=15, decimal_places=3)


class ReportSerializer(serializers.Serializer):
    rollups_complete_until = serializers.DateTimeField(
        allow_null=True,
        help_text="Roll-ups are complete before this (UTC); later time is read raw.",
    )
    backfill_percent = serializers.IntegerField(
        allow_null=True, help_text="First roll-up build in progress: share done."
    )
    report = serializers.CharField()
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    rows = ReportRowSerializer(many=True)


class TableReportSerializer(serializers.Serializer):
    """Fault, session-distribution and revenue reports: rows keyed by the CSV columns."""

    rollups_complete_until = serializers.DateTimeField(
        allow_null=True,
        help_text="Roll-ups are complete before this (UTC); later time is read raw.",
    )
    backfill_percent = serializers.IntegerField(
        allow_null=True, help_text="First roll-up build in progress: share done."
    )
    report = serializers.CharField()
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    columns = serializers.ListField(child=serializers.CharField())
    rows = serializers.ListField(
        child=serializers.DictField(child=serializers.CharField(allow_blank=True)),
        help_text="One object per row; amounts are decimal strings.",
    )


_FILTER_PARAMETERS = [
    OpenApiParameter("date_from", str, description="First station-local day."),
    OpenApiParameter("date_to", str, description="Last station-local day."),
    OpenApiParameter("network", int, description="Only this network."),
    OpenApiParameter("station", int, description="Only this station."),
]


def _tally_body(report: Report, rows: list[ReportRow]) -> dict[str, Any]:
    return {"rows": [_row(row) for row in rows]}


def _table_body(report: Report, rows: list[ReportRow]) -> dict[str, Any]:
    return {
        "columns": report.column_names,
        "rows": [
            {column.name: str(column.value(row)) for column in report.columns}
            for row in rows
        ],
    }


# A report's ``api_kind``: how its rows are answered.
_BODIES = {
    "tally": (_tally_body, ReportSerializer),
    "table": (_table_body, TableReportSerializer),
}


class ReportApi(APIView):
    """One registered report over the caller's scope.

    Status and energy reports (availability, utilization, energy, peak) answer
    ``ReportSerializer``; table reports (faults, sessions, revenue with
    ``billing.view_cdr``, ...) answer ``TableReportSerializer``.
    """

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsStaffAccount]

    @extend_schema(
        parameters=_FILTER_PARAMETERS,
        responses=responses(
            PolymorphicProxySerializer(
                component_name="ReportResponse",
                serializers=[ReportSerializer, TableReportSerializer],
                resource_type_field_name=None,
            ),
            400,
        ),
    )
    def get(self, request: Request, kind: str) -> Response:
        report = report_get_for_user(user=request.user, key=kind)
        try:
            filters = parse_filters(request.query_params, today=timezone.localdate())
            rows = report.rows(user=request.user, filters=filters)
        except ReportInputError as error:
            raise ValidationError({error.field: [str(error)]}) from None
        body, serializer = _BODIES[report.api_kind]
        return Response(serializer(_envelope(kind, filters) | body(report, rows)).data)


def _envelope(kind: str, filters: ReportFilters) -> dict[str, Any]:
    fresh = rollup_freshness()
    return {
        "report": kind,
        "date_from": filters.date_from,
        "date_to": filters.date_to,
        "rollups_complete_until": fresh["complete_until"],
        "backfill_percent": fresh["backfill_percent"],
    }


class WindowSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    availability_pct = serializers.DecimalField(
        max_digits=5, decimal_places=2, allow_null=True
    )


class AvailabilityWindowsApi(APIView):
    """A station's availability in 5-minute windows over one station-local day."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsStaffAccount]

    @extend_schema(
        parameters=[OpenApiParameter("day", str, description="Station-local day.")],
        responses=responses(WindowSerializer(many=True), 400),
    )
    def get(self, request: Request, pk: int) -> Response:
        raw = (request.query_params.get("day") or "").strip()
        try:
            day = date.fromisoformat(raw) if raw else timezone.localdate()
        except ValueError:
            raise ValidationError({"day": ["Enter a date as YYYY-MM-DD."]}) from None
        # Scope first (404 outside it), then the role (403).
        windows = availability_windows(user=request.user, station_id=pk, day=day)
        body = [
            {
                "start": start,
                "availability_pct": None if share is None else f"{share * 100:.2f}",
            }
            for start, share in windows
        ]
        return Response(WindowSerializer(body, many=True).data)
