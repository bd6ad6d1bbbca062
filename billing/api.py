"""REST API of billing: tariffs and CDRs for finance, receipts for drivers."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.http import AuthenticatedRequest
from accounts.models import User
from billing import exports, services
from billing.models import Cdr, Tariff, TariffElement, Weekday
from billing.receipts import receipt_pdf
from billing.selectors import (
    CdrFilter,
    cdr_get_for_user,
    cdr_list_for_user,
    tariff_get_for_user,
    tariff_list_for_user,
)
from cms.api import (
    PAGINATION_PARAMETERS,
    ApiView,
    DriverApiView,
    IdField,
    body_input,
    paginated,
    query_input,
    responses,
)
from stations.selectors import network_list_for_user, station_list_for_user

# --- Tariffs -------------------------------------------------------------------------


class TariffElementSerializer(serializers.ModelSerializer):
    days_of_week = serializers.ListField(
        child=serializers.ChoiceField(choices=Weekday.choices), required=False
    )

    class Meta:
        model = TariffElement
        fields = [
            "energy_price_per_kwh", "energy_step_wh", "time_price_per_hour",
            "time_step_s", "idle_price_per_minute", "idle_step_s", "flat_price",
            "start_time", "end_time", "days_of_week", "start_date", "end_date",
            "min_kwh", "max_kwh", "min_duration_minutes", "max_duration_minutes",
            "min_power_kw", "max_power_kw",
        ]  # fmt: skip


class TariffOutputSerializer(serializers.ModelSerializer):
    elements = TariffElementSerializer(many=True)

    class Meta:
        model = Tariff
        fields = [
            "id", "network", "name", "currency", "vat_percent", "min_price",
            "max_price", "idle_grace_minutes", "idle_fee_cap", "is_active",
            "revision", "created_at", "updated_at", "elements",
        ]  # fmt: skip


class TariffInputSerializer(serializers.ModelSerializer):
    network = IdField(help_text="Network id (in your scope).")
    elements = TariffElementSerializer(many=True)

    class Meta:
        model = Tariff
        fields = [
            "network", "name", "currency", "vat_percent", "min_price", "max_price",
            "idle_grace_minutes", "idle_fee_cap", "is_active", "elements",
        ]  # fmt: skip


class TariffUpdateInputSerializer(TariffInputSerializer):
    class Meta(TariffInputSerializer.Meta):
        fields = [f for f in TariffInputSerializer.Meta.fields if f != "network"]


def _tariffs(user: User) -> QuerySet[Tariff]:
    return tariff_list_for_user(user=user).prefetch_related("elements")


class TariffListApi(ApiView):
    class FilterSerializer(serializers.Serializer):
        network = IdField(required=False)
        is_active = serializers.BooleanField(
            required=False, allow_null=True, default=None
        )

    @extend_schema(
        operation_id="tariffs_list",
        parameters=[FilterSerializer, *PAGINATION_PARAMETERS],
        responses=responses(TariffOutputSerializer(many=True), 400),
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        filters = query_input(self.FilterSerializer, request)
        tariffs = _tariffs(request.user)
        if "network" in filters:
            tariffs = tariffs.filter(network_id=filters["network"])
        if filters.get("is_active") is not None:
            tariffs = tariffs.filter(is_active=filters["is_active"])
        return paginated(
            self,
            tariffs.order_by("network__name", "name", "pk"),
            TariffOutputSerializer,
        )


def _require(request: Request, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise exceptions.PermissionDenied(f"Your role does not allow this ({perm}).")


class TariffCreateApi(ApiView):
    @extend_schema(
        operation_id="tariffs_create",
        request=TariffInputSerializer,
        responses=responses({201: TariffOutputSerializer}, 400),
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        _require(request, "billing.add_tariff")
        data = body_input(TariffInputSerializer, request)
        network = (
            network_list_for_user(user=request.user)
            .filter(pk=data.pop("network"))
            .first()
        )
        if network is None:
            raise exceptions.ValidationError(
                {"network": ["No such network in your scope."]}
            )
        elements = data.pop("elements")
        tariff = services.tariff_create(
            actor=request.user, network=network, data=data, elements=elements
        )
        return Response(
            TariffOutputSerializer(_tariffs(request.user).get(pk=tariff.pk)).data,
            status=status.HTTP_201_CREATED,
        )


class TariffDetailApi(ApiView):
    @extend_schema(
        operation_id="tariffs_retrieve", responses=responses(TariffOutputSerializer)
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        tariff = tariff_get_for_user(user=request.user, pk=pk)
        return Response(TariffOutputSerializer(tariff).data)


class TariffUpdateApi(ApiView):
    @extend_schema(
        operation_id="tariffs_update",
        summary="Replace a tariff; the new revision prices sessions starting from now",
        request=TariffUpdateInputSerializer,
        responses=responses(TariffOutputSerializer, 400),
    )
    def put(self, request: AuthenticatedRequest, pk: int) -> Response:
        tariff = tariff_get_for_user(
            user=request.user, pk=pk, perm="billing.change_tariff"
        )
        data = body_input(TariffUpdateInputSerializer, request)
        elements = data.pop("elements")
        services.tariff_update(
            actor=request.user, tariff=tariff, data=data, elements=elements
        )
        return Response(
            TariffOutputSerializer(_tariffs(request.user).get(pk=tariff.pk)).data
        )


# --- CDRs ----------------------------------------------------------------------------


class CdrOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Cdr
        fields = [
            "id", "number", "session", "network", "station", "currency", "id_tag",
            "started_at", "stopped_at", "charging_completed_at", "idle_ended_at",
            "energy_wh", "charging_seconds", "idle_seconds", "billed_idle_seconds",
            "vat_percent", "net_amount", "tax_amount", "total_amount", "line_items",
            "issued_at",
        ]  # fmt: skip


class CdrFilterSerializer(serializers.Serializer):
    network = IdField(required=False)
    station = IdField(required=False)
    date_from = serializers.DateField(
        required=False, help_text="Local date (network zone)."
    )
    date_to = serializers.DateField(required=False, help_text="Inclusive.")
    q = serializers.CharField(required=False, help_text="CDR number or id tag.")


def _cdr_filters(request: Request) -> CdrFilter:
    data = query_input(CdrFilterSerializer, request)
    network = station = None
    if "network" in data:
        network = (
            network_list_for_user(user=request.user).filter(pk=data["network"]).first()
        )
        if network is None:
            raise exceptions.ValidationError(
                {"network": ["No such network in your scope."]}
            )
    if "station" in data:
        station = (
            station_list_for_user(user=request.user).filter(pk=data["station"]).first()
        )
        if station is None:
            raise exceptions.ValidationError(
                {"station": ["No such station in your scope."]}
            )
    date_from: date | None = data.get("date_from")
    date_to: date | None = data.get("date_to")
    if date_from and date_to and date_to < date_from:
        raise exceptions.ValidationError({"date_to": ["Must not be before date_from."]})
    return CdrFilter(
        network=network,
        station=station,
        date_from=date_from,
        date_to=date_to,
        search=data.get("q", ""),
    )


class CdrListApi(ApiView):
    @extend_schema(
        operation_id="cdrs_list",
        parameters=[CdrFilterSerializer, *PAGINATION_PARAMETERS],
        responses=responses(CdrOutputSerializer(many=True), 400),
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        _require(request, "billing.view_cdr")
        cdrs = cdr_list_for_user(user=request.user, filters=_cdr_filters(request))
        return paginated(self, cdrs.order_by("-issued_at", "-pk"), CdrOutputSerializer)


class CdrDetailApi(ApiView):
    @extend_schema(
        operation_id="cdrs_retrieve", responses=responses(CdrOutputSerializer)
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        return Response(
            CdrOutputSerializer(cdr_get_for_user(user=request.user, pk=pk)).data
        )


class CdrExportApi(ApiView):
    @extend_schema(
        operation_id="cdrs_export_csv",
        summary="CDRs as CSV (times in the station's zone, totals rows at the end)",
        parameters=[CdrFilterSerializer],
        responses=responses(
            {200: OpenApiResponse(OpenApiTypes.STR, description="text/csv")}, 400
        ),
    )
    def get(self, request: AuthenticatedRequest) -> Any:
        _require(request, "billing.export_cdr")
        cdrs = cdr_list_for_user(user=request.user, filters=_cdr_filters(request))
        return exports.csv_response(cdrs, f"cdrs-{timezone.now():%Y%m%d-%H%M%S}")


# --- Driver receipts -----------------------------------------------------------------


def _driver_cdrs(user: User) -> QuerySet[Cdr]:
    return Cdr.objects.filter(session__id_token__owner=user).select_related(
        "network", "station"
    )


def _driver_cdr(user: User, pk: int) -> Cdr:
    cdr = _driver_cdrs(user).filter(pk=pk).first()
    if cdr is None:
        raise exceptions.NotFound("No such receipt.")
    return cdr


class ReceiptOutputSerializer(serializers.ModelSerializer):
    station_name = serializers.CharField(
        source="station.name", allow_null=True, default=None
    )
    time_zone = serializers.SerializerMethodField()
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = Cdr
        fields = [
            "id", "number", "session", "station_name", "time_zone", "currency",
            "id_tag", "started_at", "stopped_at", "energy_wh", "charging_seconds",
            "billed_idle_seconds", "vat_percent", "net_amount", "tax_amount",
            "total_amount", "line_items", "issued_at", "pdf_url",
        ]  # fmt: skip

    def get_time_zone(self, cdr: Cdr) -> str:
        return cdr.station.time_zone if cdr.station else "UTC"

    def get_pdf_url(self, cdr: Cdr) -> str:
        return f"/api/v1/driver/receipts/{cdr.pk}/pdf/"


class DriverReceiptListApi(DriverApiView):
    @extend_schema(
        operation_id="driver_receipts_list",
        parameters=PAGINATION_PARAMETERS,
        responses=responses(ReceiptOutputSerializer(many=True), 429),
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        return paginated(
            self,
            _driver_cdrs(request.user).order_by("-issued_at", "-pk"),
            ReceiptOutputSerializer,
        )


class DriverReceiptDetailApi(DriverApiView):
    @extend_schema(
        operation_id="driver_receipts_retrieve",
        summary="A receipt as JSON (the CDR)",
        responses=responses(ReceiptOutputSerializer, 429),
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        return Response(ReceiptOutputSerializer(_driver_cdr(request.user, pk)).data)


class DriverReceiptPdfApi(DriverApiView):
    @extend_schema(
        operation_id="driver_receipts_pdf",
        summary="A receipt as PDF",
        responses=responses(
            {200: OpenApiResponse(OpenApiTypes.BINARY, description="application/pdf")},
            429,
        ),
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> HttpResponse:
        cdr = _driver_cdr(request.user, pk)
        response = HttpResponse(receipt_pdf(cdr), content_type="application/pdf")
        response["Content-Disposition"] = f'inline; filename="receipt-{cdr.number}.pdf"'
        return response
