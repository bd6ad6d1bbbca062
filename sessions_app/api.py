"""REST API of charging sessions: operator reads and the driver's own charging."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from accounts.http import AuthenticatedRequest
from accounts.models import User
from cms.api import (
    PAGINATION_PARAMETERS,
    ApiView,
    Conflict,
    DriverApiView,
    IdField,
    Pagination,
    accepted,
    body_input,
    ordered,
    ordering_parameter,
    paginated,
    query_input,
    responses,
)
from sessions_app.models import (
    ChargingSession,
    IdToken,
    MeterValue,
    SessionStatus,
    TokenStatus,
)
from sessions_app.pricing import session_cost_estimate
from sessions_app.selectors import (
    session_get_for_user,
    session_list_for_user,
    session_meter_values,
)
from stations.models import Connector, RegistrationStatus
from stations.ocpp.commands import RemoteStop
from stations.remote.dispatch import gateway_unreachable
from stations.remote.models import RemoteStartRequest, RemoteStartStatus
from stations.remote.services import command_submit, remote_start_request

SESSION_ORDERING = {
    "started_at": "started_at",
    "stopped_at": "stopped_at",
    "energy_wh": "energy_wh",
}


class SessionOutputSerializer(serializers.ModelSerializer):
    transaction_id = serializers.IntegerField(source="pk")
    station = IdField(source="charge_point.station_id", allow_null=True)
    charge_point_ocpp_id = serializers.CharField(source="charge_point.ocpp_id")

    class Meta:
        model = ChargingSession
        fields = [
            "id", "transaction_id", "charge_point", "charge_point_ocpp_id", "station",
            "connector", "connector_number", "id_tag", "auth_status", "status",
            "meter_start_wh", "meter_stop_wh", "energy_wh", "power_w", "soc_percent",
            "started_at", "stopped_at", "stop_reason", "last_meter_at",
        ]  # fmt: skip


class SessionListApi(ApiView):
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=SessionStatus.choices, required=False)
        network = IdField(required=False)
        station = IdField(required=False)
        charge_point = IdField(required=False)
        id_tag = serializers.CharField(required=False, max_length=20)
        started_after = serializers.DateTimeField(required=False)
        started_before = serializers.DateTimeField(required=False)

    @extend_schema(
        operation_id="sessions_list",
        parameters=[
            FilterSerializer,
            ordering_parameter(SESSION_ORDERING, "-started_at"),
            *PAGINATION_PARAMETERS,
        ],
        responses=responses(SessionOutputSerializer(many=True), 400),
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        if not request.user.has_perm("charging.view_chargingsession"):
            raise exceptions.PermissionDenied("Your role does not allow this.")
        filters = query_input(self.FilterSerializer, request)
        sessions = session_list_for_user(user=request.user)
        lookups = {
            "status": "status",
            "network": "charge_point__station__network_id",
            "station": "charge_point__station_id",
            "charge_point": "charge_point_id",
            "id_tag": "id_tag__iexact",
            "started_after": "started_at__gte",
            "started_before": "started_at__lt",
        }
        for key, lookup in lookups.items():
            if key in filters:
                sessions = sessions.filter(**{lookup: filters[key]})
        sessions = ordered(sessions, request, SESSION_ORDERING, "-started_at")
        return paginated(self, sessions, SessionOutputSerializer)


class SessionDetailApi(ApiView):
    @extend_schema(
        operation_id="sessions_retrieve", responses=responses(SessionOutputSerializer)
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        session = session_get_for_user(
            user=request.user, pk=pk, perm="charging.view_chargingsession"
        )
        return Response(SessionOutputSerializer(session).data)


class MeterValueOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = MeterValue
        fields = [
            "timestamp", "measurand", "phase", "location", "unit", "context",
            "raw_value", "value", "received_at",
        ]  # fmt: skip


class SessionMeterValuesApi(ApiView):
    class FilterSerializer(serializers.Serializer):
        measurand = serializers.CharField(required=False, max_length=60)

    @extend_schema(
        operation_id="sessions_meter_values_list",
        summary="Meter values of a session (value normalized: Wh, W)",
        parameters=[FilterSerializer, *PAGINATION_PARAMETERS],
        responses=responses(MeterValueOutputSerializer(many=True), 400),
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        session = session_get_for_user(
            user=request.user, pk=pk, perm="charging.view_metervalue"
        )
        filters = query_input(self.FilterSerializer, request)
        values = session_meter_values(session=session)
        if filters.get("measurand"):
            values = values.filter(measurand=filters["measurand"])
        return paginated(self, values, MeterValueOutputSerializer)


# --- Driver ----------------------------------------------------------------------------


def driver_session_list(*, user: User) -> QuerySet[ChargingSession]:
    """The driver's own sessions: those started with a token the driver owns."""
    return ChargingSession.objects.filter(id_token__owner=user).select_related(
        "charge_point",
        "charge_point__station",
        "charge_point__station__network",
        "connector",
        "id_token",
    )


def _driver_session(user: User, pk: int) -> ChargingSession:
    session = driver_session_list(user=user).filter(pk=pk).first()
    if session is None:
        raise exceptions.NotFound("No such session.")
    return session


class DriverTokenOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = IdToken
        fields = ["id", "token", "kind", "label", "status", "expires_at"]


class DriverTokenListApi(DriverApiView):
    @extend_schema(
        operation_id="driver_tokens_list",
        parameters=PAGINATION_PARAMETERS,
        responses=responses(DriverTokenOutputSerializer(many=True), 429),
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        tokens = IdToken.objects.filter(owner=request.user).order_by("token", "pk")
        return paginated(self, tokens, DriverTokenOutputSerializer)


class DriverSessionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The OCPP transaction id.")
    status = serializers.ChoiceField(choices=SessionStatus.choices)
    station_id = serializers.IntegerField(allow_null=True)
    station_name = serializers.CharField()
    connector_id = serializers.IntegerField(allow_null=True)
    connector_number = serializers.IntegerField()
    id_token = serializers.CharField()
    started_at = serializers.DateTimeField()
    stopped_at = serializers.DateTimeField(allow_null=True)
    time_zone = serializers.CharField(help_text="Station zone, to show local times.")
    energy_wh = serializers.IntegerField()
    power_w = serializers.FloatField(allow_null=True)
    soc_percent = serializers.FloatField(allow_null=True)
    cost = serializers.DecimalField(
        max_digits=14, decimal_places=4, allow_null=True,
        help_text="Incl. tax: the receipt total, or the estimate so far; null without tariff.",
    )  # fmt: skip
    currency = serializers.CharField(allow_blank=True)
    receipt_id = serializers.IntegerField(allow_null=True)


def driver_session_row(session: ChargingSession, *, with_cost: bool) -> dict[str, Any]:
    station = session.charge_point.station
    cost, currency = None, station.network.currency if station else ""
    cdr = getattr(session, "cdr", None)
    if cdr is not None:
        cost, currency = cdr.total_amount, cdr.currency
    elif with_cost:
        estimate = session_cost_estimate(session)
        if estimate is not None:
            cost, currency = estimate
    return {
        "id": session.pk,
        "status": session.status,
        "station_id": station.pk if station else None,
        "station_name": station.name if station else str(session.charge_point),
        "connector_id": session.connector_id,
        "connector_number": session.connector_number,
        "id_token": session.id_tag,
        "started_at": session.started_at,
        "stopped_at": session.stopped_at,
        "time_zone": station.time_zone if station else "UTC",
        "energy_wh": session.energy_wh,
        "power_w": session.power_w,
        "soc_percent": session.soc_percent,
        "cost": cost,
        "currency": currency,
        "receipt_id": cdr.pk if cdr is not None else None,
    }


def _with_cdr(sessions: QuerySet[ChargingSession]) -> QuerySet[ChargingSession]:
    return sessions.select_related("cdr")


class DriverSessionListApi(DriverApiView):
    class FilterSerializer(serializers.Serializer):
        status = serializers.ChoiceField(choices=SessionStatus.choices, required=False)

    @extend_schema(
        operation_id="driver_sessions_list",
        summary="My charging history, newest first",
        parameters=[FilterSerializer, *PAGINATION_PARAMETERS],
        responses=responses(DriverSessionOutputSerializer(many=True), 400, 429),
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        filters = query_input(self.FilterSerializer, request)
        sessions = _with_cdr(driver_session_list(user=request.user))
        if "status" in filters:
            sessions = sessions.filter(status=filters["status"])
        sessions = sessions.order_by("-started_at", "-pk")
        paginator = Pagination()
        page = paginator.paginate_queryset(sessions, request, view=self) or []
        rows = [driver_session_row(s, with_cost=False) for s in page]
        return paginator.get_paginated_response(
            DriverSessionOutputSerializer(rows, many=True).data
        )


class DriverActiveSessionListApi(DriverApiView):
    @extend_schema(
        operation_id="driver_sessions_active",
        summary="My active sessions with live energy, power and cost so far",
        responses=responses(DriverSessionOutputSerializer(many=True), 429),
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        sessions = _with_cdr(driver_session_list(user=request.user)).filter(
            status=SessionStatus.ACTIVE
        )
        rows = [
            driver_session_row(s, with_cost=True)
            for s in sessions.order_by("-started_at", "-pk")[:20]
        ]
        return Response(DriverSessionOutputSerializer(rows, many=True).data)


class DriverSessionDetailApi(DriverApiView):
    @extend_schema(
        operation_id="driver_sessions_retrieve",
        responses=responses(DriverSessionOutputSerializer, 429),
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        session = _driver_session(request.user, pk)
        return Response(
            DriverSessionOutputSerializer(
                driver_session_row(session, with_cost=True)
            ).data
        )


class DriverStopOutputSerializer(serializers.Serializer):
    session_id = serializers.IntegerField()
    command_status = serializers.CharField(
        help_text="pending, accepted, rejected, offline, timeout or error."
    )
    url = serializers.CharField(
        help_text="The session: it turns completed once stopped."
    )


class DriverSessionStopApi(DriverApiView):
    @extend_schema(
        operation_id="driver_sessions_stop",
        summary="Stop my active session (RemoteStopTransaction)",
        request=None,
        responses=responses({202: DriverStopOutputSerializer}, 409, 429),
    )
    def post(self, request: AuthenticatedRequest, pk: int) -> Response:
        session = _driver_session(request.user, pk)
        if session.status != SessionStatus.ACTIVE:
            raise Conflict("session", "This session is not active.")
        command = command_submit(
            charge_point=session.charge_point,
            command=RemoteStop(transaction_id=session.pk),
            requested_by=request.user,
        )
        return accepted(
            unreachable=gateway_unreachable(command),
            data=DriverStopOutputSerializer(
                {
                    "session_id": session.pk,
                    "command_status": command.status,
                    "url": f"/api/v1/driver/sessions/{session.pk}/",
                }
            ).data,
        )


class RemoteStartOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField(help_text="Poll this until status is not pending.")
    status = serializers.ChoiceField(choices=RemoteStartStatus.choices)
    transaction_id = serializers.IntegerField(
        allow_null=True, help_text="Set once started."
    )
    failure_reason = serializers.CharField(
        allow_blank=True, help_text="rejected, offline, timeout, error or no_start."
    )
    detail = serializers.CharField(allow_blank=True)
    connector_id = serializers.IntegerField(allow_null=True)
    requested_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(allow_null=True)


def driver_start_token(*, user: User, token_id: int) -> IdToken:
    """The driver's own token to start with; a 400 naming id_token otherwise."""
    token = IdToken.objects.filter(pk=token_id, owner=user).first()
    if token is None:
        raise exceptions.ValidationError({"id_token": ["No such token of yours."]})
    if token.status != TokenStatus.ACCEPTED:
        raise exceptions.ValidationError(
            {"id_token": [f"This token is {token.status.lower()}."]}
        )
    return token


def remote_start_row(
    handle: RemoteStartRequest, connector_id: int | None
) -> dict[str, Any]:
    return {
        "id": handle.pk,
        "url": f"/api/v1/driver/starts/{handle.pk}/",
        "status": handle.status,
        "transaction_id": handle.session_id,
        "failure_reason": handle.failure_reason,
        "detail": handle.detail,
        "connector_id": connector_id,
        "requested_at": handle.requested_at,
        "resolved_at": handle.resolved_at,
    }


class DriverStartApi(DriverApiView):
    throttle_scope = "driver_start"

    @extend_schema_serializer(component_name="DriverStartInput")
    class InputSerializer(serializers.Serializer):
        connector = IdField(help_text="Connector id (from the station search).")
        id_token = IdField(help_text="One of your token ids.")

    @extend_schema(
        operation_id="driver_starts_create",
        summary="Start charging; returns a handle resolving to a transaction id",
        request=InputSerializer,
        responses=responses({202: RemoteStartOutputSerializer}, 400, 409, 429),
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        data = body_input(self.InputSerializer, request)
        token = driver_start_token(user=request.user, token_id=data["id_token"])
        connector = (
            Connector.objects.filter(
                pk=data["connector"],
                charge_point__station__isnull=False,
                charge_point__registration_status=RegistrationStatus.ACCEPTED,
            )
            .select_related("charge_point__station")
            .first()
        )
        if connector is None:
            raise exceptions.ValidationError({"connector": ["No such connector."]})
        station = connector.charge_point.station
        if token.network_id is not None and (
            station is None or token.network_id != station.network_id
        ):
            raise exceptions.ValidationError(
                {"id_token": ["This token is not valid on this network."]}
            )
        if ChargingSession.objects.filter(
            charge_point_id=connector.charge_point_id,
            connector_number=connector.connector_id,
            status=SessionStatus.ACTIVE,
        ).exists():
            raise Conflict("connector", "This connector is already charging.")
        handle = remote_start_request(
            charge_point=connector.charge_point,
            id_tag=token.token,
            connector_number=connector.connector_id,
            requested_by=request.user,
        )
        return accepted(
            RemoteStartOutputSerializer(remote_start_row(handle, connector.pk)).data,
            unreachable=gateway_unreachable(handle.command),
        )


class DriverStartDetailApi(DriverApiView):
    @extend_schema(
        operation_id="driver_starts_retrieve",
        summary="The outcome of a start: pending, started (transaction id) or failed",
        responses=responses(RemoteStartOutputSerializer, 429),
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        handle = RemoteStartRequest.objects.filter(
            pk=pk, requested_by=request.user
        ).first()
        if handle is None:
            raise exceptions.NotFound("No such start request.")
        connector = (
            Connector.objects.filter(
                charge_point_id=handle.charge_point_id,
                connector_id=handle.connector_number,
            )
            .values_list("pk", flat=True)
            .first()
            if handle.connector_number is not None
            else None
        )
        return Response(
            RemoteStartOutputSerializer(remote_start_row(handle, connector)).data
        )
