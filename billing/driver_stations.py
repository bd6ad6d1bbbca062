"""Driver API: stations near a point and one station, with the price that applies.

The finder shows each connector's live status and the tariff that would apply
to the driver (optionally for one of the driver's id tokens), so it lives in
billing, above stations and sessions_app whose data it reads. Stations other
operators run (roaming partners) come from finders registered with
``partner_station_finders_register`` by higher apps, so billing imports none.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from accounts.http import AuthenticatedRequest
from billing.pricing import tariff_for_connector, tariff_price_summary
from cms.api import (
    PAGINATION_PARAMETERS,
    DriverApiView,
    IdField,
    paginated,
    query_input,
    responses,
)
from sessions_app.models import IdToken
from stations.live.selectors import effective_status
from stations.models import (
    Connector,
    ConnectorStatus,
    ConnectorType,
    RegistrationStatus,
    Station,
)

EARTH_RADIUS_KM = 6371.0088
KM_PER_DEGREE = math.pi * EARTH_RADIUS_KM / 180
MAX_RADIUS_KM = 100


# --- Driver: stations near a point ------------------------------------------------


def haversine_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi, d_lambda = math.radians(lat2 - lat1), math.radians(lng2 - lng1)
    a = (
        math.sin(d_phi / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(latitude: float, longitude: float, radius_km: float) -> Q:
    """A lat/lng box around the circle: an indexable prefilter on every database."""
    d_lat = radius_km / KM_PER_DEGREE
    q = Q(
        latitude__gte=max(-90.0, latitude - d_lat),
        latitude__lte=min(90.0, latitude + d_lat),
    )
    cos_lat = math.cos(math.radians(latitude))
    if cos_lat < 1e-6 or abs(latitude) + d_lat >= 90:
        return q  # the circle reaches a pole: every longitude
    d_lng = radius_km / (KM_PER_DEGREE * cos_lat)
    west, east = longitude - d_lng, longitude + d_lng
    if d_lng >= 180:
        return q
    if west < -180:  # the box crosses the antimeridian: two longitude ranges
        return q & (Q(longitude__gte=west + 360) | Q(longitude__lte=east))
    if east > 180:
        return q & (Q(longitude__gte=west) | Q(longitude__lte=east - 360))
    return q & Q(longitude__gte=west, longitude__lte=east)


@dataclass(frozen=True)
class StationQuery:
    """What a driver asks the finder: a circle and the connector filters."""

    latitude: float
    longitude: float
    radius_km: float
    connector_type: str | None
    min_power_kw: Decimal | None
    available_only: bool


# Stations of other operators near a point, as rows of DriverStationSerializer
# (``distance_km`` set, ``is_partner`` true, ``id`` None); roaming registers one.
PartnerStationFinder = Callable[[StationQuery], list[dict[str, Any]]]
_partner_finders: list[PartnerStationFinder] = []


def partner_station_finders_register(finder: PartnerStationFinder) -> None:
    if finder not in _partner_finders:
        _partner_finders.append(finder)


def partner_stations_near(query: StationQuery) -> list[dict[str, Any]]:
    return [row for finder in _partner_finders for row in finder(query)]


@dataclass
class NearbyStation:
    station: Station
    distance_km: float
    connectors: list[Connector]


def _driver_connectors() -> QuerySet[Connector]:
    return Connector.objects.filter(
        charge_point__registration_status=RegistrationStatus.ACCEPTED
    ).select_related("charge_point", "charge_point__station")


def _connector_rows(
    station: Station,
    connectors: list[Connector],
    id_token: IdToken | None,
    prices: dict[tuple[Any, ...], Any],
) -> list[dict[str, Any]]:
    rows = []
    for connector in connectors:
        key = (
            station.pk,
            connector.connector_type,
            connector.max_power_kw,
            id_token.pk if id_token else None,
        )
        if key not in prices:  # same station, type and power: same assignment
            tariff = tariff_for_connector(connector=connector, id_token=id_token)
            prices[key] = tariff_price_summary(tariff) if tariff else None
        state = effective_status(connector)
        rows.append(
            {
                "id": connector.pk,
                "connector_number": connector.connector_id,
                "charge_point_id": connector.charge_point_id,
                "charge_point_name": str(connector.charge_point),
                "connector_type": connector.connector_type,
                "max_power_kw": connector.max_power_kw,
                "status": state,
                "is_available": state == ConnectorStatus.AVAILABLE,
                "price": prices[key],
                "evse_uid": None,
                "standard": None,
                "partner_price": None,
            }
        )
    return rows


def _station_row(
    nearby: NearbyStation, id_token: IdToken | None, prices: dict[tuple[Any, ...], Any]
) -> dict[str, Any]:
    station = nearby.station
    connectors = _connector_rows(station, nearby.connectors, id_token, prices)
    return {
        "id": station.pk,
        "name": station.name,
        "network": station.network.name,
        "operator": station.network.name,
        "is_partner": False,
        "partner_location": None,
        "address": station.address,
        "city": station.city,
        "postal_code": station.postal_code,
        "country": station.country,
        "latitude": station.latitude,
        "longitude": station.longitude,
        "time_zone": station.time_zone,
        "distance_km": round(nearby.distance_km, 3),
        "available_connectors": sum(1 for row in connectors if row["is_available"]),
        "connectors": connectors,
    }


class _PriceElementSerializer(serializers.Serializer):
    energy_price_per_kwh = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True
    )
    time_price_per_hour = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True
    )
    idle_price_per_minute = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True
    )
    flat_price = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True
    )
    start_time = serializers.TimeField(allow_null=True, help_text="Station local time.")
    end_time = serializers.TimeField(allow_null=True)
    days_of_week = serializers.ListField(child=serializers.CharField())
    min_power_kw = serializers.DecimalField(
        max_digits=8, decimal_places=2, allow_null=True
    )
    max_power_kw = serializers.DecimalField(
        max_digits=8, decimal_places=2, allow_null=True
    )


class PriceSerializer(serializers.Serializer):
    """The tariff that would apply; prices exclude tax (``vat_percent`` is added)."""

    tariff_id = serializers.IntegerField()
    name = serializers.CharField()
    currency = serializers.CharField()
    vat_percent = serializers.DecimalField(max_digits=5, decimal_places=2)
    min_price = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True
    )
    max_price = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True
    )
    idle_grace_minutes = serializers.IntegerField()
    idle_fee_cap = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True
    )
    elements = _PriceElementSerializer(many=True)


class _PartnerPriceComponentSerializer(serializers.Serializer):
    dimension = serializers.ChoiceField(
        choices=[
            "energy_per_kwh",
            "flat_per_session",
            "charging_per_minute",
            "parking_per_minute",
        ]
    )
    price_excl_vat = serializers.DecimalField(max_digits=12, decimal_places=4)
    vat_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, allow_null=True, help_text="Null: no VAT."
    )
    price_incl_vat = serializers.DecimalField(max_digits=12, decimal_places=4)
    step_size = serializers.IntegerField(help_text="Wh, seconds or 1 (flat).")


class _PartnerPriceElementSerializer(serializers.Serializer):
    conditions = serializers.DictField(
        help_text="The partner's restrictions (time, weekday, kWh, power, duration)."
    )
    components = _PartnerPriceComponentSerializer(many=True)


class PartnerPriceSerializer(serializers.Serializer):
    """A roaming partner's tariff as the driver pays it: prices include VAT where
    the tariff gives one; the headline prices are the ones in force now."""

    tariff_id = serializers.CharField()
    currency = serializers.CharField()
    energy_per_kwh = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True
    )
    charging_per_minute = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True
    )
    parking_per_minute = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True
    )
    flat_per_session = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True
    )
    min_price = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True
    )
    max_price = serializers.DecimalField(
        max_digits=12, decimal_places=4, allow_null=True
    )
    description = serializers.CharField(allow_blank=True)
    elements = _PartnerPriceElementSerializer(many=True)


class _PartnerLocationSerializer(serializers.Serializer):
    country_code = serializers.CharField()
    party_id = serializers.CharField()
    location_id = serializers.CharField()


class _DriverConnectorSerializer(serializers.Serializer):
    id = serializers.IntegerField(
        allow_null=True, help_text="Connector id to start charging on (ours only)."
    )
    connector_number = serializers.IntegerField(allow_null=True)
    charge_point_id = serializers.IntegerField(allow_null=True)
    charge_point_name = serializers.CharField()
    connector_type = serializers.ChoiceField(
        choices=ConnectorType.choices,
        allow_null=True,
        help_text="Null: a partner's connector standard we have no name for.",
    )
    max_power_kw = serializers.DecimalField(max_digits=7, decimal_places=2)
    status = serializers.CharField(
        help_text="OCPP status, or Offline when the charger is not connected."
    )
    is_available = serializers.BooleanField()
    price = PriceSerializer(allow_null=True, help_text="Null: no public tariff.")
    evse_uid = serializers.CharField(allow_null=True, help_text="Partner EVSE only.")
    standard = serializers.CharField(
        allow_null=True, help_text="Partner connector: its OCPI standard."
    )
    partner_price = PartnerPriceSerializer(
        allow_null=True, help_text="Partner connector: the partner's tariff."
    )


class DriverStationSerializer(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="Null for partners.")
    name = serializers.CharField()
    network = serializers.CharField()
    operator = serializers.CharField(help_text="Who runs it (a partner's name).")
    is_partner = serializers.BooleanField(
        help_text="Run by a roaming partner, not by us."
    )
    partner_location = _PartnerLocationSerializer(allow_null=True)
    address = serializers.CharField()
    city = serializers.CharField()
    postal_code = serializers.CharField()
    country = serializers.CharField()
    latitude = serializers.DecimalField(max_digits=9, decimal_places=6)
    longitude = serializers.DecimalField(max_digits=9, decimal_places=6)
    time_zone = serializers.CharField()
    distance_km = serializers.FloatField(allow_null=True)
    available_connectors = serializers.IntegerField()
    connectors = _DriverConnectorSerializer(many=True)


class _TokenQuerySerializer(serializers.Serializer):
    id_token = IdField(
        required=False, help_text="One of your tokens: price for its group."
    )


def _driver_token(request: AuthenticatedRequest, pk: int | None) -> IdToken | None:
    if pk is None:
        return None
    token = IdToken.objects.filter(pk=pk, owner=request.user).first()
    if token is None:
        raise exceptions.ValidationError({"id_token": ["No such token of yours."]})
    return token


class DriverStationNearbyApi(DriverApiView):
    class InputSerializer(_TokenQuerySerializer):
        lat = serializers.FloatField(min_value=-90, max_value=90)
        lng = serializers.FloatField(min_value=-180, max_value=180)
        radius_km = serializers.FloatField(
            min_value=0.01, max_value=MAX_RADIUS_KM, required=False, default=5
        )
        connector_type = serializers.ChoiceField(
            choices=ConnectorType.choices, required=False
        )
        min_power_kw = serializers.DecimalField(
            max_digits=7, decimal_places=2, min_value=Decimal(0), required=False
        )
        available_only = serializers.BooleanField(required=False, default=False)

    @extend_schema(
        operation_id="driver_stations_nearby",
        summary="Stations near a point, nearest first, roaming partners' included",
        parameters=[InputSerializer, *PAGINATION_PARAMETERS],
        responses=responses(DriverStationSerializer(many=True), 400, 429),
    )
    def get(self, request: AuthenticatedRequest) -> Response:
        data = query_input(self.InputSerializer, request)
        id_token = _driver_token(request, data.get("id_token"))
        lat, lng, radius = data["lat"], data["lng"], data["radius_km"]
        connectors = _driver_connectors()
        if data.get("connector_type"):
            connectors = connectors.filter(connector_type=data["connector_type"])
        if data.get("min_power_kw") is not None:
            connectors = connectors.filter(max_power_kw__gte=data["min_power_kw"])
        stations = (
            Station.objects.filter(bounding_box(lat, lng, radius))
            .filter(latitude__isnull=False, longitude__isnull=False)
            .filter(charge_points__connectors__in=connectors)
            .distinct()
            .select_related("network")
            .prefetch_related(
                Prefetch(
                    "charge_points__connectors",
                    queryset=connectors.order_by(
                        "charge_point__ocpp_id", "connector_id"
                    ),
                    to_attr="driver_connectors",
                )
            )
        )
        found = []
        for station in stations:
            if station.latitude is None or station.longitude is None:
                continue  # the query asks for coordinates; this says so to mypy
            distance = haversine_km(
                lat, lng, float(station.latitude), float(station.longitude)
            )
            if distance > radius:
                continue
            station_connectors = [
                c
                for cp in station.charge_points.all()
                for c in cp.driver_connectors  # type: ignore[attr-defined]
            ]
            if data["available_only"] and not any(
                effective_status(c) == ConnectorStatus.AVAILABLE
                for c in station_connectors
            ):
                continue
            found.append(NearbyStation(station, distance, station_connectors))
        found.sort(key=lambda item: (item.distance_km, item.station.pk))
        prices: dict[tuple[Any, ...], Any] = {}
        rows = [_station_row(item, id_token, prices) for item in found]
        query = StationQuery(
            latitude=lat,
            longitude=lng,
            radius_km=radius,
            connector_type=data.get("connector_type"),
            min_power_kw=data.get("min_power_kw"),
            available_only=data["available_only"],
        )
        rows.extend(partner_stations_near(query))
        # Nearest first; at the same distance our own stations first.
        rows.sort(key=lambda row: (row["distance_km"], row["is_partner"]))
        return paginated(self, rows, DriverStationSerializer)


class DriverStationDetailApi(DriverApiView):
    @extend_schema(
        operation_id="driver_station_retrieve",
        summary="One station with live availability and prices",
        parameters=[_TokenQuerySerializer],
        responses=responses(DriverStationSerializer, 400, 429),
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        data = query_input(_TokenQuerySerializer, request)
        id_token = _driver_token(request, data.get("id_token"))
        station = Station.objects.select_related("network").filter(pk=pk).first()
        connectors = list(
            _driver_connectors()
            .filter(charge_point__station_id=pk)
            .order_by("charge_point__ocpp_id", "connector_id")
        )
        if station is None or not connectors:
            raise exceptions.NotFound("No such station.")
        row = _station_row(NearbyStation(station, 0.0, connectors), id_token, {})
        row["distance_km"] = None
        return Response(DriverStationSerializer(row).data)
