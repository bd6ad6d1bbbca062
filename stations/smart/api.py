"""Smart-charging API: a site's limit state and external limit signals.

A grid operator or energy manager posts "the site limit is X kW until T"
(``POST /api/v1/smart-charging/stations/<pk>/signals/``). Token or session auth;
role ``stations.manage_charging_profiles`` and the station in the caller's scope.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from stations.selectors import station_get_for_user
from stations.smart.models import SiteLimitSignal
from stations.smart.services import (
    SmartChargingInputError,
    limit_signal_submit,
    site_limit,
)

MANAGE_PERMISSION = "stations.manage_charging_profiles"
VIEW_PERMISSION = "stations.view_station"


def _kw(value_w: int | None) -> str | None:
    return None if value_w is None else f"{value_w / 1000:.2f}"


def _limit_payload(station: Any) -> dict[str, Any]:
    limit = site_limit(station=station, now=timezone.now())
    return {
        "station": station.pk,
        "limit_kw": _kw(limit.limit_w),
        "source": limit.source,
        "static_kw": _kw(limit.static_w),
        "schedule_kw": _kw(limit.schedule_w),
        "signal_kw": _kw(limit.signal_w),
        "signal_until": limit.signal.valid_until if limit.signal else None,
    }


@extend_schema_serializer(component_name="SiteLimit")
class SiteLimitSerializer(serializers.Serializer):
    station = serializers.IntegerField()
    limit_kw = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True
    )
    # An API field named like Field.source (the serializer metaclass collects it).
    source = serializers.CharField()  # type: ignore[assignment]
    static_kw = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True
    )
    schedule_kw = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True
    )
    signal_kw = serializers.DecimalField(
        max_digits=12, decimal_places=2, allow_null=True
    )
    signal_until = serializers.DateTimeField(allow_null=True)


class SiteLimitApi(APIView):
    """The effective limit of a site and where it comes from."""

    # Token first, so a missing or revoked token answers 401 with WWW-Authenticate.
    authentication_classes = [TokenAuthentication, SessionAuthentication]

    @extend_schema(responses=SiteLimitSerializer)
    def get(self, request: Request, pk: int) -> Response:
        station = station_get_for_user(user=request.user, pk=pk, perm=VIEW_PERMISSION)
        return Response(SiteLimitSerializer(_limit_payload(station)).data)


class SiteLimitSignalApi(APIView):
    """Record an external limit signal for a site; a resent ``reference`` is a no-op."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]

    @extend_schema_serializer(component_name="SiteLimitSignalInput")
    class InputSerializer(serializers.Serializer):
        limit_kw = serializers.DecimalField(
            max_digits=12, decimal_places=2, min_value=0
        )
        valid_until = serializers.DateTimeField(required=False)
        duration_s = serializers.IntegerField(
            required=False, min_value=1, max_value=366 * 86400
        )
        valid_from = serializers.DateTimeField(required=False)
        reference = serializers.CharField(
            required=False, allow_blank=True, max_length=100
        )

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            has_until = "valid_until" in attrs
            if has_until == ("duration_s" in attrs):
                raise ValidationError(
                    {"valid_until": "Give either valid_until or duration_s."}
                )
            return attrs

    @extend_schema_serializer(component_name="SiteLimitSignal")
    class OutputSerializer(serializers.Serializer):
        id = serializers.IntegerField()
        station = serializers.IntegerField(source="station_id")
        limit_kw = serializers.DecimalField(max_digits=12, decimal_places=2)
        valid_from = serializers.DateTimeField()
        valid_until = serializers.DateTimeField()
        reference = serializers.CharField()
        # An API field named like Field.source (the serializer metaclass collects it).
        source = serializers.CharField()  # type: ignore[assignment]
        effective = SiteLimitSerializer()

    @extend_schema(request=InputSerializer, responses={201: OutputSerializer})
    def post(self, request: Request, pk: int) -> Response:
        station = station_get_for_user(user=request.user, pk=pk, perm=MANAGE_PERMISSION)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        now = timezone.now()
        valid_from = data.get("valid_from")
        valid_until = data.get("valid_until") or (valid_from or now) + (
            timedelta(seconds=data["duration_s"])
        )
        try:
            signal, created = limit_signal_submit(
                station=station,
                limit_kw=data["limit_kw"],
                valid_until=valid_until,
                valid_from=valid_from,
                reference=data.get("reference", ""),
                source=SiteLimitSignal.Source.API,
                actor=request.user,
                now=now,
            )
        except SmartChargingInputError as error:
            raise ValidationError({error.field: str(error)}) from None
        payload = {
            "id": signal.pk,
            "station_id": station.pk,
            "limit_kw": signal.limit_kw,
            "valid_from": signal.valid_from,
            "valid_until": signal.valid_until,
            "reference": signal.reference,
            "source": signal.source,
            "effective": _limit_payload(station),
        }
        return Response(
            self.OutputSerializer(payload).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )
