"""REST API of the charging network: operator CRUD and commands.

The driver's station finder prices stations with billing's tariffs, so it
lives in ``billing.driver_stations``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
    extend_schema_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.http import AnyUser
from cms.api import (
    PAGINATION_PARAMETERS,
    ApiView,
    IdField,
    accepted,
    body_input,
    ordered,
    ordering_parameter,
    paginated,
    query_input,
    responses,
)
from stations import inventory as services
from stations.live.selectors import OFFLINE, effective_status
from stations.models import (
    ChargePoint,
    ChargePointCommand,
    Connector,
    ConnectorStatus,
    ConnectorType,
    Network,
    Station,
)
from stations.remote.dispatch import CommandPayloadError, gateway_unreachable
from stations.remote.services import (
    ACTION_PERMISSIONS,
    command_request,
    permission_for_action,
)
from stations.selectors import (
    charge_point_get_for_user,
    charge_point_list_for_user,
    connector_get_for_user,
    connector_list_for_user,
    network_get_for_user,
    network_list_for_user,
    station_get_for_user,
    station_list_for_user,
)


def _require(request: Request, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise exceptions.PermissionDenied(f"Your role does not allow this ({perm}).")


def _scoped(queryset: QuerySet[Any], pk: int, field: str, what: str) -> Any:
    """An object referenced by input, or a 400 naming the field outside the scope."""
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise exceptions.ValidationError({field: [f"No such {what} in your scope."]})
    return found


# --- Operator: networks -------------------------------------------------------------


class NetworkOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Network
        fields = ["id", "name", "currency", "time_zone", "created_at"]


class NetworkListApi(ApiView):
    @extend_schema(
        operation_id="networks_list",
        parameters=[
            ordering_parameter(["name", "created_at"], "name"),
            *PAGINATION_PARAMETERS,
        ],
        responses=responses(NetworkOutputSerializer(many=True), 400),
    )
    def get(self, request: Request) -> Response:
        _require(request, "stations.view_network")
        networks = ordered(
            network_list_for_user(user=request.user),
            request,
            {"name": "name", "created_at": "created_at"},
            "name",
        )
        return paginated(self, networks, NetworkOutputSerializer)


class NetworkInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    currency = serializers.CharField(max_length=3)
    time_zone = serializers.CharField(max_length=64)


class NetworkCreateApi(ApiView):
    @extend_schema(
        operation_id="networks_create",
        request=NetworkInputSerializer,
        responses=responses({201: NetworkOutputSerializer}, 400),
    )
    def post(self, request: Request) -> Response:
        _require(request, "stations.add_network")
        data = body_input(NetworkInputSerializer, request)
        network = services.network_create(actor=request.user, fields=data)
        return Response(
            NetworkOutputSerializer(network).data, status=status.HTTP_201_CREATED
        )


class NetworkDetailApi(ApiView):
    @extend_schema(
        operation_id="networks_retrieve", responses=responses(NetworkOutputSerializer)
    )
    def get(self, request: Request, pk: int) -> Response:
        network = network_get_for_user(
            user=request.user, pk=pk, perm="stations.view_network"
        )
        return Response(NetworkOutputSerializer(network).data)


class NetworkUpdateApi(ApiView):
    @extend_schema(
        operation_id="networks_update",
        request=NetworkInputSerializer(partial=True),
        responses=responses(NetworkOutputSerializer, 400),
    )
    def patch(self, request: Request, pk: int) -> Response:
        network = network_get_for_user(
            user=request.user, pk=pk, perm="stations.change_network"
        )
        data = body_input(NetworkInputSerializer, request, partial=True)
        network = services.network_update(
            actor=request.user, network=network, fields=data
        )
        return Response(NetworkOutputSerializer(network).data)


# --- Operator: stations -------------------------------------------------------------


class StationOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = Station
        fields = [
            "id", "network", "name", "address", "city", "postal_code", "country",
            "region", "latitude", "longitude", "time_zone", "power_limit_kw", "created_at",
        ]  # fmt: skip


class StationInputSerializer(serializers.Serializer):
    network = IdField(help_text="Network id (in your scope).")
    name = serializers.CharField(max_length=120)
    address = serializers.CharField(max_length=255, required=False, allow_blank=True)
    city = serializers.CharField(max_length=120, required=False, allow_blank=True)
    postal_code = serializers.CharField(max_length=20, required=False, allow_blank=True)
    country = serializers.CharField(max_length=2, required=False)
    region = serializers.CharField(max_length=80, required=False, allow_blank=True)
    latitude = serializers.DecimalField(
        max_digits=9, decimal_places=6, min_value=Decimal(-90), max_value=Decimal(90),
        required=False, allow_null=True,
    )  # fmt: skip
    longitude = serializers.DecimalField(
        max_digits=9, decimal_places=6, min_value=Decimal(-180), max_value=Decimal(180),
        required=False, allow_null=True,
    )  # fmt: skip
    time_zone = serializers.CharField(max_length=64, required=False)
    power_limit_kw = serializers.DecimalField(
        max_digits=9,
        decimal_places=2,
        min_value=Decimal("0.01"),
        required=False,
        allow_null=True,
    )


def _station_fields(request: Request, data: dict[str, Any]) -> dict[str, Any]:
    if "network" in data:
        data["network"] = _scoped(
            network_list_for_user(user=request.user),
            data["network"],
            "network",
            "network",
        )
    return data


class StationListApi(ApiView):
    class FilterSerializer(serializers.Serializer):
        network = IdField(required=False)
        q = serializers.CharField(
            required=False, help_text="Name, address or city contains."
        )

    @extend_schema(
        operation_id="stations_list",
        parameters=[
            FilterSerializer,
            ordering_parameter(["name", "city", "created_at"], "name"),
            *PAGINATION_PARAMETERS,
        ],
        responses=responses(StationOutputSerializer(many=True), 400),
    )
    def get(self, request: Request) -> Response:
        _require(request, "stations.view_station")
        filters = query_input(self.FilterSerializer, request)
        stations = station_list_for_user(user=request.user)
        if "network" in filters:
            stations = stations.filter(network_id=filters["network"])
        if filters.get("q"):
            q = filters["q"]
            stations = stations.filter(
                Q(name__icontains=q) | Q(address__icontains=q) | Q(city__icontains=q)
            )
        stations = ordered(
            stations,
            request,
            {"name": "name", "city": "city", "created_at": "created_at"},
            "name",
        )
        return paginated(self, stations, StationOutputSerializer)


class StationCreateApi(ApiView):
    @extend_schema(
        operation_id="stations_create",
        request=StationInputSerializer,
        responses=responses({201: StationOutputSerializer}, 400),
    )
    def post(self, request: Request) -> Response:
        _require(request, "stations.add_station")
        data = _station_fields(request, body_input(StationInputSerializer, request))
        if "time_zone" not in data:
            data["time_zone"] = data["network"].time_zone
        station = services.station_create(actor=request.user, fields=data)
        return Response(
            StationOutputSerializer(station).data, status=status.HTTP_201_CREATED
        )


class StationDetailApi(ApiView):
    @extend_schema(
        operation_id="stations_retrieve", responses=responses(StationOutputSerializer)
    )
    def get(self, request: Request, pk: int) -> Response:
        station = station_get_for_user(
            user=request.user, pk=pk, perm="stations.view_station"
        )
        return Response(StationOutputSerializer(station).data)


class StationUpdateApi(ApiView):
    @extend_schema(
        operation_id="stations_update",
        request=StationInputSerializer(partial=True),
        responses=responses(StationOutputSerializer, 400),
    )
    def patch(self, request: Request, pk: int) -> Response:
        station = station_get_for_user(
            user=request.user, pk=pk, perm="stations.change_station"
        )
        data = _station_fields(
            request, body_input(StationInputSerializer, request, partial=True)
        )
        station = services.station_update(
            actor=request.user, station=station, fields=data
        )
        return Response(StationOutputSerializer(station).data)


# --- Operator: charge points --------------------------------------------------------


class ChargePointOutputSerializer(serializers.ModelSerializer):
    network = serializers.SerializerMethodField()

    class Meta:
        model = ChargePoint
        fields = [
            "id", "ocpp_id", "station", "network", "display_name", "vendor", "model",
            "serial_number", "firmware_version", "ocpp_protocol", "registration_status",
            "heartbeat_interval_s", "max_frame_bytes", "strict_payloads",
            "is_connected", "is_online",
            "last_seen_at", "last_boot_at", "status", "error_code", "created_at",
        ]  # fmt: skip

    def get_network(self, charge_point: ChargePoint) -> int | None:
        return charge_point.network_id_or_none


class ChargePointCreateInputSerializer(serializers.Serializer):
    ocpp_id = serializers.CharField(max_length=48)
    station = IdField(help_text="Station id (in your scope).")
    display_name = serializers.CharField(
        max_length=120, required=False, allow_blank=True
    )
    password = serializers.CharField(
        required=False, allow_blank=True, write_only=True, min_length=8,
        help_text="OCPP basic-auth password; stored hashed.",
    )  # fmt: skip
    heartbeat_interval_s = serializers.IntegerField(
        min_value=10, max_value=86400, required=False
    )


class ChargePointUpdateInputSerializer(serializers.Serializer):
    station = IdField(required=False)
    display_name = serializers.CharField(
        max_length=120, required=False, allow_blank=True
    )
    heartbeat_interval_s = serializers.IntegerField(
        min_value=10, max_value=86400, required=False
    )
    max_frame_bytes = serializers.IntegerField(
        min_value=1024, required=False, allow_null=True,
        help_text="Largest OCPP frame accepted from this charger (bytes); null = "
        "the server's default.",
    )  # fmt: skip
    strict_payloads = serializers.BooleanField(
        required=False,
        help_text="Refuse a whole MeterValues/StopTransaction for one sampledValue "
        "of unknown unit or measurand (default: store the rest, flag that one).",
    )
    password = serializers.CharField(required=False, write_only=True, min_length=8)
    clear_password = serializers.BooleanField(required=False, default=False)


class ChargePointListApi(ApiView):
    class FilterSerializer(serializers.Serializer):
        network = IdField(required=False)
        station = IdField(required=False)
        online = serializers.BooleanField(required=False, allow_null=True, default=None)
        q = serializers.CharField(
            required=False, help_text="OCPP id, name or serial contains."
        )

    @extend_schema(
        operation_id="charge_points_list",
        parameters=[
            FilterSerializer,
            ordering_parameter(["ocpp_id", "last_seen_at", "created_at"], "ocpp_id"),
            *PAGINATION_PARAMETERS,
        ],
        responses=responses(ChargePointOutputSerializer(many=True), 400),
    )
    def get(self, request: Request) -> Response:
        _require(request, "stations.view_chargepoint")
        filters = query_input(self.FilterSerializer, request)
        charge_points = charge_point_list_for_user(user=request.user)
        if "network" in filters:
            charge_points = charge_points.filter(station__network_id=filters["network"])
        if "station" in filters:
            charge_points = charge_points.filter(station_id=filters["station"])
        if filters.get("online") is not None:
            charge_points = charge_points.filter(is_online=filters["online"])
        if filters.get("q"):
            q = filters["q"]
            charge_points = charge_points.filter(
                Q(ocpp_id__icontains=q)
                | Q(display_name__icontains=q)
                | Q(serial_number__icontains=q)
            )
        charge_points = ordered(
            charge_points, request,
            {"ocpp_id": "ocpp_id", "last_seen_at": "last_seen_at", "created_at": "created_at"},
            "ocpp_id",
        )  # fmt: skip
        return paginated(self, charge_points, ChargePointOutputSerializer)


class ChargePointCreateApi(ApiView):
    @extend_schema(
        operation_id="charge_points_create",
        request=ChargePointCreateInputSerializer,
        responses=responses({201: ChargePointOutputSerializer}, 400),
    )
    def post(self, request: Request) -> Response:
        _require(request, "stations.add_chargepoint")
        data = body_input(ChargePointCreateInputSerializer, request)
        station = _scoped(
            station_list_for_user(user=request.user),
            data["station"],
            "station",
            "station",
        )
        charge_point = services.charge_point_register(
            actor=request.user,
            ocpp_id=data["ocpp_id"],
            station=station,
            display_name=data.get("display_name", ""),
            password=data.get("password") or None,
            heartbeat_interval_s=data.get("heartbeat_interval_s", 300),
        )
        return Response(
            ChargePointOutputSerializer(charge_point).data,
            status=status.HTTP_201_CREATED,
        )


class ChargePointDetailApi(ApiView):
    @extend_schema(
        operation_id="charge_points_retrieve",
        responses=responses(ChargePointOutputSerializer),
    )
    def get(self, request: Request, pk: int) -> Response:
        charge_point = charge_point_get_for_user(
            user=request.user, pk=pk, perm="stations.view_chargepoint"
        )
        return Response(ChargePointOutputSerializer(charge_point).data)


class ChargePointUpdateApi(ApiView):
    @extend_schema(
        operation_id="charge_points_update",
        request=ChargePointUpdateInputSerializer,
        responses=responses(ChargePointOutputSerializer, 400),
    )
    def patch(self, request: Request, pk: int) -> Response:
        charge_point = charge_point_get_for_user(
            user=request.user, pk=pk, perm="stations.change_chargepoint"
        )
        data = body_input(ChargePointUpdateInputSerializer, request, partial=True)
        fields: dict[str, Any] = {
            key: data[key]
            for key in (
                "display_name",
                "heartbeat_interval_s",
                "max_frame_bytes",
                "strict_payloads",
            )
            if key in data
        }
        if "station" in data:
            fields["station"] = _scoped(
                station_list_for_user(user=request.user),
                data["station"],
                "station",
                "station",
            )
        charge_point = services.charge_point_update(
            actor=request.user,
            charge_point=charge_point,
            fields=fields,
            password=data.get("password") or None,
            clear_password=bool(data.get("clear_password")),
        )
        return Response(ChargePointOutputSerializer(charge_point).data)


# --- Operator: connectors -----------------------------------------------------------


class ConnectorOutputSerializer(serializers.ModelSerializer):
    effective_status = serializers.SerializerMethodField(
        help_text="The reported status, or Offline while the charger is offline."
    )

    class Meta:
        model = Connector
        fields = [
            "id", "charge_point", "connector_id", "connector_type", "max_power_kw",
            "status", "effective_status", "error_code", "vendor_error_code", "info",
            "status_at",
        ]  # fmt: skip

    def get_effective_status(self, connector: Connector) -> str:
        return effective_status(connector)


class ConnectorInputSerializer(serializers.Serializer):
    connector_id = serializers.IntegerField(
        min_value=1, max_value=255, help_text="Connector number."
    )
    connector_type = serializers.ChoiceField(choices=ConnectorType.choices)
    max_power_kw = serializers.DecimalField(
        max_digits=7, decimal_places=2, min_value=Decimal("0.01")
    )


class ConnectorCreateInputSerializer(ConnectorInputSerializer):
    charge_point = IdField(help_text="Charge point id (in your scope).")


class ConnectorListApi(ApiView):
    class FilterSerializer(serializers.Serializer):
        charge_point = IdField(required=False)
        station = IdField(required=False)
        status = serializers.ChoiceField(
            choices=[*ConnectorStatus.values, OFFLINE], required=False,
            help_text="Effective status (Offline = charger offline).",
        )  # fmt: skip
        connector_type = serializers.ChoiceField(
            choices=ConnectorType.choices, required=False
        )

    @extend_schema(
        operation_id="connectors_list",
        parameters=[FilterSerializer, *PAGINATION_PARAMETERS],
        responses=responses(ConnectorOutputSerializer(many=True), 400),
    )
    def get(self, request: Request) -> Response:
        _require(request, "stations.view_connector")
        filters = query_input(self.FilterSerializer, request)
        connectors = connector_list_for_user(user=request.user)
        if "charge_point" in filters:
            connectors = connectors.filter(charge_point_id=filters["charge_point"])
        if "station" in filters:
            connectors = connectors.filter(charge_point__station_id=filters["station"])
        if "connector_type" in filters:
            connectors = connectors.filter(connector_type=filters["connector_type"])
        if filters.get("status") == OFFLINE:
            connectors = connectors.filter(charge_point__is_online=False)
        elif filters.get("status"):
            connectors = connectors.filter(
                charge_point__is_online=True, status=filters["status"]
            )
        return paginated(
            self,
            connectors.order_by("charge_point__ocpp_id", "connector_id", "pk"),
            ConnectorOutputSerializer,
        )


class ConnectorCreateApi(ApiView):
    @extend_schema(
        operation_id="connectors_create",
        request=ConnectorCreateInputSerializer,
        responses=responses({201: ConnectorOutputSerializer}, 400),
    )
    def post(self, request: Request) -> Response:
        _require(request, "stations.add_connector")
        data = body_input(ConnectorCreateInputSerializer, request)
        charge_point = _scoped(
            charge_point_list_for_user(user=request.user),
            data.pop("charge_point"),
            "charge_point",
            "charge point",
        )
        connector = services.connector_create(
            actor=request.user, charge_point=charge_point, fields=data
        )
        return Response(
            ConnectorOutputSerializer(connector).data, status=status.HTTP_201_CREATED
        )


class ConnectorDetailApi(ApiView):
    @extend_schema(
        operation_id="connectors_retrieve",
        responses=responses(ConnectorOutputSerializer),
    )
    def get(self, request: Request, pk: int) -> Response:
        connector = connector_get_for_user(
            user=request.user, pk=pk, perm="stations.view_connector"
        )
        return Response(ConnectorOutputSerializer(connector).data)


class ConnectorUpdateApi(ApiView):
    @extend_schema(
        operation_id="connectors_update",
        request=ConnectorInputSerializer(partial=True),
        responses=responses(ConnectorOutputSerializer, 400),
    )
    def patch(self, request: Request, pk: int) -> Response:
        connector = connector_get_for_user(
            user=request.user, pk=pk, perm="stations.change_connector"
        )
        data = body_input(ConnectorInputSerializer, request, partial=True)
        connector = services.connector_update(
            actor=request.user, connector=connector, fields=data
        )
        return Response(ConnectorOutputSerializer(connector).data)


class ConnectorDeleteApi(ApiView):
    @extend_schema(operation_id="connectors_destroy", responses=responses({204: None}))
    def delete(self, request: Request, pk: int) -> Response:
        connector = connector_get_for_user(
            user=request.user, pk=pk, perm="stations.delete_connector"
        )
        services.connector_delete(actor=request.user, connector=connector)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Operator: commands ----------------------------------------------------------------


class CommandOutputSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField(help_text="Poll this for the outcome.")

    class Meta:
        model = ChargePointCommand
        fields = [
            "id", "url", "charge_point", "connector_number", "action", "payload",
            "status", "requested_at", "sent_at", "finished_at", "error_code",
            "error_description", "response_payload",
        ]  # fmt: skip

    def get_url(self, command: ChargePointCommand) -> str:
        return f"/api/v1/commands/{command.pk}/"


class CommandCreateApi(ApiView):
    @extend_schema_serializer(component_name="CommandCreateInput")
    class InputSerializer(serializers.Serializer):
        action = serializers.ChoiceField(
            choices=sorted(ACTION_PERMISSIONS), help_text="OCPP 1.6 action name."
        )
        payload = serializers.DictField(
            required=False, default=dict,
            help_text="The OCPP payload (camelCase or snake_case keys). ReserveNow's "
            "reservationId is assigned by the CMS (the reservation's id): leave it out.",
        )  # fmt: skip

    @extend_schema(
        operation_id="charge_point_commands_create",
        summary="Send an OCPP command; poll the returned url for the outcome",
        request=InputSerializer,
        responses=responses(
            {
                202: CommandOutputSerializer,
                503: OpenApiResponse(
                    CommandOutputSerializer,
                    description="Recorded as failed: the gateway was unreachable "
                    "(error_code ChannelLayerError); try again after Retry-After.",
                ),
            },
            400,
        ),
    )
    def post(self, request: Request, pk: int) -> Response:
        charge_point = charge_point_get_for_user(user=request.user, pk=pk)
        data = body_input(self.InputSerializer, request)
        try:
            perm = permission_for_action(data["action"])
        except CommandPayloadError as error:
            raise exceptions.ValidationError({"action": [str(error)]}) from error
        _require(request, perm)
        command = command_request(
            charge_point=charge_point,
            action=data["action"],
            payload=data["payload"],
            requested_by=request.user,
        )
        return accepted(
            CommandOutputSerializer(command).data,
            unreachable=gateway_unreachable(command),
        )


def command_list_for_user(*, user: AnyUser) -> QuerySet[ChargePointCommand]:
    return ChargePointCommand.objects.filter(
        charge_point__in=charge_point_list_for_user(user=user)
    ).select_related("charge_point")


class CommandListApi(ApiView):
    class FilterSerializer(serializers.Serializer):
        charge_point = IdField(required=False)
        action = serializers.CharField(required=False)
        status = serializers.CharField(required=False)

    @extend_schema(
        operation_id="commands_list",
        parameters=[FilterSerializer, *PAGINATION_PARAMETERS],
        responses=responses(CommandOutputSerializer(many=True), 400),
    )
    def get(self, request: Request) -> Response:
        _require(request, "stations.view_chargepoint")
        filters = query_input(self.FilterSerializer, request)
        commands = command_list_for_user(user=request.user)
        for key, field in (
            ("charge_point", "charge_point_id"),
            ("action", "action"),
            ("status", "status"),
        ):
            if filters.get(key):
                commands = commands.filter(**{field: filters[key]})
        return paginated(
            self, commands.order_by("-requested_at", "-pk"), CommandOutputSerializer
        )


class CommandDetailApi(ApiView):
    @extend_schema(
        operation_id="commands_retrieve", responses=responses(CommandOutputSerializer)
    )
    def get(self, request: Request, pk: int) -> Response:
        command = command_list_for_user(user=request.user).filter(pk=pk).first()
        if command is None:
            raise exceptions.NotFound("No such command.")
        _require(request, "stations.view_chargepoint")
        return Response(CommandOutputSerializer(command).data)
