"""Fleet API: firmware campaigns (``/api/v1/fleet/campaigns/``: list, create,
progress, verbs) and desired configuration (``/api/v1/fleet/configuration/``).

Token or session auth; the same role (``stations.manage_firmware``) and network
scope as the portal. Errors name the field (``CampaignInputError.field``).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from stations.fleet.configuration import DesiredInputError, desired_declare
from stations.fleet.models import FirmwareCampaign
from stations.fleet.selectors import (
    ScopeInputError,
    campaign_get_for_user,
    campaign_list_for_user,
    desired_list_for_user,
    drift_list_for_user,
    scope_resolve_for_user,
)
from stations.fleet.services import (
    CAMPAIGN_ACTIONS,
    CampaignInputError,
    TargetFilter,
    campaign_create,
    campaign_progress,
)


@extend_schema_serializer(component_name="FirmwareCampaign")
class CampaignSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    network = serializers.IntegerField(source="network_id")
    name = serializers.CharField()
    location = serializers.CharField()
    version = serializers.CharField()
    checksum = serializers.CharField()
    signing_certificate = serializers.CharField()
    signature = serializers.CharField()
    rollback_location = serializers.CharField()
    rollback_version = serializers.CharField()
    rollback_on_failure = serializers.BooleanField()
    rollback_on_halt = serializers.BooleanField()
    status = serializers.CharField()
    current_batch = serializers.IntegerField()
    halt_reason = serializers.CharField()
    canary_percent = serializers.IntegerField()
    batch_size = serializers.IntegerField()
    pause_s = serializers.IntegerField()
    allowed_from_hour = serializers.IntegerField(allow_null=True)
    allowed_to_hour = serializers.IntegerField(allow_null=True)
    only_when_idle = serializers.BooleanField()
    max_attempts = serializers.IntegerField()
    halt_failure_percent = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    progress = serializers.DictField(child=serializers.IntegerField())


def _payload(campaign: FirmwareCampaign) -> dict[str, Any]:
    return CampaignSerializer(
        {
            **{
                str(name): getattr(campaign, str(name))
                for name in CampaignSerializer().fields
                if name not in ("network", "progress")
            },
            "network_id": campaign.network_id,
            "progress": campaign_progress(campaign),
        }
    ).data


def _input_error(error: CampaignInputError) -> ValidationError:
    return ValidationError({error.field: [str(error)]})


class CampaignListApi(APIView):
    """Campaigns of the caller's networks; POST creates one (not started)."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="FirmwareCampaignInput")
    class InputSerializer(serializers.Serializer):
        network = serializers.IntegerField()
        name = serializers.CharField(max_length=120, required=False, default="")
        location = serializers.URLField(max_length=512)
        version = serializers.CharField(max_length=50)
        checksum = serializers.CharField(
            max_length=128, required=False, default="", allow_blank=True
        )
        signing_certificate = serializers.CharField(
            max_length=5500, required=False, default="", allow_blank=True
        )
        signature = serializers.CharField(
            max_length=800, required=False, default="", allow_blank=True
        )
        rollback_location = serializers.URLField(
            max_length=512, required=False, default="", allow_blank=True
        )
        rollback_version = serializers.CharField(
            max_length=50, required=False, default="", allow_blank=True
        )
        rollback_on_failure = serializers.BooleanField(default=False)
        rollback_on_halt = serializers.BooleanField(default=False)
        station = serializers.IntegerField(required=False, allow_null=True)
        vendor = serializers.CharField(required=False, default="", allow_blank=True)
        model = serializers.CharField(required=False, default="", allow_blank=True)
        from_version = serializers.CharField(
            required=False, default="", allow_blank=True
        )
        tag = serializers.CharField(required=False, default="", allow_blank=True)
        canary_percent = serializers.IntegerField(
            min_value=0, max_value=100, default=10
        )
        batch_size = serializers.IntegerField(min_value=1, default=10)
        pause_s = serializers.IntegerField(min_value=0, default=600)
        allowed_from_hour = serializers.IntegerField(
            min_value=0, max_value=23, required=False, allow_null=True, default=None
        )
        allowed_to_hour = serializers.IntegerField(
            min_value=0, max_value=24, required=False, allow_null=True, default=None
        )
        only_when_idle = serializers.BooleanField(default=True)
        max_attempts = serializers.IntegerField(min_value=1, max_value=10, default=2)
        halt_failure_percent = serializers.IntegerField(
            min_value=0, max_value=100, default=20
        )

    @extend_schema(responses=CampaignSerializer(many=True))
    def get(self, request: Request) -> Response:
        campaigns = campaign_list_for_user(user=request.user)[:200]
        return Response([_payload(campaign) for campaign in campaigns])

    @extend_schema(request=InputSerializer, responses={201: CampaignSerializer})
    def post(self, request: Request) -> Response:
        campaign_list_for_user(user=request.user)  # the role check first
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        try:
            network, station, tag = scope_resolve_for_user(
                user=request.user,
                network=data.pop("network"),
                station=data.pop("station", None),
                tag=data.pop("tag"),
            )
        except ScopeInputError as error:
            raise ValidationError({error.field: [str(error)]}) from None
        target = TargetFilter(
            station=station,
            vendor=data.pop("vendor"),
            model=data.pop("model"),
            from_version=data.pop("from_version"),
            tag=tag,
        )
        try:
            campaign = campaign_create(
                network=network, target=target, created_by=request.user, **data
            )
        except CampaignInputError as error:
            raise _input_error(error) from None
        return Response(_payload(campaign), status=status.HTTP_201_CREATED)


class CampaignDetailApi(APIView):
    """One campaign with its counts per target state."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=CampaignSerializer)
    def get(self, request: Request, pk: int) -> Response:
        campaign = campaign_get_for_user(user=request.user, pk=pk)
        return Response(_payload(campaign))


class CampaignActionApi(APIView):
    """POST start, pause, resume or abort; 409 when the status does not allow it."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(
        operation_id="api_v1_fleet_campaigns_action",
        request=None,
        responses=CampaignSerializer,
    )
    def post(self, request: Request, pk: int, verb: str) -> Response:
        campaign = campaign_get_for_user(user=request.user, pk=pk)
        action = CAMPAIGN_ACTIONS.get(verb)
        if action is None:
            raise NotFound(f"Unknown action “{verb}”: start, pause, resume or abort.")
        try:
            campaign = action(campaign=campaign, actor=request.user)
        except CampaignInputError as error:
            return Response(
                {"errors": [{"field": error.field, "message": str(error)}]},
                status=status.HTTP_409_CONFLICT,
            )
        return Response(_payload(campaign))


@extend_schema_serializer(component_name="DesiredConfiguration")
class DesiredSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    network = serializers.IntegerField(source="network_id")
    key = serializers.CharField()
    value = serializers.CharField()
    station = serializers.IntegerField(source="station_id", allow_null=True)
    tag = serializers.CharField(source="tag.name", allow_null=True, default=None)
    vendor = serializers.CharField()
    model = serializers.CharField()
    scope = serializers.CharField(source="scope_label")
    precedence = serializers.IntegerField()
    updated_at = serializers.DateTimeField()


class DesiredConfigurationApi(APIView):
    """Declared keys of the caller's networks; POST declares one (role: configuration)."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema_serializer(component_name="DesiredConfigurationInput")
    class InputSerializer(serializers.Serializer):
        network = serializers.IntegerField()
        key = serializers.CharField(max_length=50)
        value = serializers.CharField(max_length=500)
        station = serializers.IntegerField(required=False, allow_null=True)
        tag = serializers.CharField(required=False, default="", allow_blank=True)
        vendor = serializers.CharField(required=False, default="", allow_blank=True)
        model = serializers.CharField(required=False, default="", allow_blank=True)

    @extend_schema(responses=DesiredSerializer(many=True))
    def get(self, request: Request) -> Response:
        rows = desired_list_for_user(user=request.user)[:1000]
        return Response(DesiredSerializer(rows, many=True).data)

    @extend_schema(request=InputSerializer, responses={201: DesiredSerializer})
    def post(self, request: Request) -> Response:
        desired_list_for_user(user=request.user)  # the role check first
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        try:
            network, station, tag = scope_resolve_for_user(
                user=request.user,
                network=data["network"],
                station=data.get("station"),
                tag=data["tag"],
            )
        except ScopeInputError as error:
            raise ValidationError({error.field: [str(error)]}) from None
        try:
            desired = desired_declare(
                network=network,
                key=data["key"],
                value=data["value"],
                station=station,
                tag=tag,
                vendor=data["vendor"],
                model=data["model"],
                actor=request.user,
            )
        except DesiredInputError as error:
            raise ValidationError({error.field: [str(error)]}) from None
        return Response(DesiredSerializer(desired).data, status=status.HTTP_201_CREATED)


@extend_schema_serializer(component_name="ConfigurationDrift")
class DriftSerializer(serializers.Serializer):
    charge_point = serializers.CharField(source="charge_point.ocpp_id")
    key = serializers.CharField()
    desired_value = serializers.CharField()
    scope = serializers.CharField(source="desired.scope_label", default=None)
    actual_value = serializers.CharField(allow_null=True)
    state = serializers.CharField()
    charger_answer = serializers.CharField()
    changes_sent = serializers.IntegerField()
    reverts = serializers.IntegerField()
    checked_at = serializers.DateTimeField()


class DriftApi(APIView):
    """Declared against actual per charger and key; ``?state=drift`` filters."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=DriftSerializer(many=True))
    def get(self, request: Request) -> Response:
        rows = drift_list_for_user(user=request.user).order_by(
            "charge_point__ocpp_id", "key"
        )
        state = request.query_params.get("state")
        if state:
            rows = rows.filter(state=state)
        return Response(DriftSerializer(rows[:1000], many=True).data)
