"""REST API of alerts: the scoped inbox and acknowledging."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers
from rest_framework.response import Response

from accounts.http import AuthenticatedRequest
from alerts.models import Alert, AlertStatus, Severity
from alerts.selectors import alert_get_for_user, alert_list_for_user, require_perm
from alerts.services import alert_acknowledge
from cms.api import (
    PAGINATION_PARAMETERS,
    ApiView,
    Conflict,
    IdField,
    body_input,
    ordered,
    ordering_parameter,
    paginated,
    query_input,
    responses,
)

ALERT_ORDERING = {"opened_at": "opened_at", "severity": "severity"}


class AlertOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Alert
        fields = [
            "id", "rule", "severity", "status", "title", "detail", "network",
            "station", "charge_point", "connector", "session", "opened_at",
            "acknowledged_at", "acknowledged_by", "resolved_at",
        ]  # fmt: skip


class AlertListApi(ApiView):
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=AlertStatus.choices, required=False)
        severity = serializers.ChoiceField(choices=Severity.choices, required=False)
        network = IdField(required=False)
        station = IdField(required=False)
        charge_point = IdField(required=False)

    @extend_schema(
        operation_id="alerts_list",
        parameters=[
            FilterSerializer,
            ordering_parameter(ALERT_ORDERING, "-opened_at"),
            *PAGINATION_PARAMETERS,
        ],
        responses=responses(AlertOutputSerializer(many=True), 400),
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        require_perm(request.user, "alerts.view_alert")
        filters = query_input(self.FilterSerializer, request)
        alerts = alert_list_for_user(user=request.user)
        for key, field in (
            ("status", "status"),
            ("severity", "severity"),
            ("network", "network_id"),
            ("station", "station_id"),
            ("charge_point", "charge_point_id"),
        ):
            if key in filters:
                alerts = alerts.filter(**{field: filters[key]})
        alerts = ordered(alerts, request, ALERT_ORDERING, "-opened_at")
        return paginated(self, alerts, AlertOutputSerializer)


class AlertDetailApi(ApiView):
    @extend_schema(
        operation_id="alerts_retrieve", responses=responses(AlertOutputSerializer)
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        alert = alert_get_for_user(user=request.user, pk=pk, perm="alerts.view_alert")
        return Response(AlertOutputSerializer(alert).data)


class AlertAcknowledgeApi(ApiView):
    @extend_schema_serializer(component_name="AlertAcknowledgeInput")
    class InputSerializer(serializers.Serializer):
        note = serializers.CharField(
            required=False, allow_blank=True, max_length=2000, default=""
        )

    @extend_schema(
        operation_id="alerts_acknowledge",
        summary="Acknowledge an open alert (someone is on it)",
        request=InputSerializer,
        responses=responses(AlertOutputSerializer, 400, 409),
    )
    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        alert = alert_get_for_user(
            user=request.user, pk=pk, perm="alerts.acknowledge_alert"
        )
        data = body_input(self.InputSerializer, request)
        if not alert_acknowledge(alert=alert, user=request.user, note=data["note"]):
            raise Conflict("status", f"The alert is {alert.status}, not open.")
        return Response(
            AlertOutputSerializer(alert_get_for_user(user=request.user, pk=pk)).data
        )
