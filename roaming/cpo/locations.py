"""Locations module, CPO side, Sender interface (OCPI 2.2.1 mod_locations).

A station is a Location, each connector of its charge points an EVSE with one
Connector: an OCPP 1.6 connector is the unit that charges one car at a time,
which is what OCPI calls an EVSE. Only published stations appear
(``LocationPublication``), without their withdrawn EVSEs (``EvsePublication``);
each connector names the tariff the calling partner's drivers pay.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.db.models import (
    DateTimeField,
    F,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, Greatest
from django.http import HttpRequest

from billing.pricing import tariff_for_connector
from roaming.countries import ALPHA_3
from roaming.models import LocationPublication, Partner, TariffPublication
from roaming.transport import (
    UNKNOWN_LOCATION,
    NotFound,
    OcpiResult,
    OcpiView,
    object_by_id,
    ocpi_timestamp,
    our_party,
    paginated,
)
from stations.models import (
    ChargePoint,
    Connector,
    ConnectorStatus,
    ConnectorType,
    Station,
)

# mod_locations "Status enum". A connector of an offline charger is UNKNOWN.
_STATUS = {
    ConnectorStatus.AVAILABLE: "AVAILABLE",
    # Preparing .. Finishing: a car is plugged in, the EVSE is in use.
    ConnectorStatus.PREPARING: "CHARGING",
    ConnectorStatus.CHARGING: "CHARGING",
    ConnectorStatus.SUSPENDED_EV: "CHARGING",
    ConnectorStatus.SUSPENDED_EVSE: "CHARGING",
    ConnectorStatus.FINISHING: "CHARGING",
    ConnectorStatus.RESERVED: "RESERVED",
    ConnectorStatus.UNAVAILABLE: "INOPERATIVE",
    ConnectorStatus.FAULTED: "OUTOFORDER",
    ConnectorStatus.UNKNOWN: "UNKNOWN",
}
# mod_locations "ConnectorType enum", "ConnectorFormat enum", "PowerType enum".
_STANDARD = {
    ConnectorType.CCS2: ("IEC_62196_T2_COMBO", "CABLE", "DC"),
    ConnectorType.CCS1: ("IEC_62196_T1_COMBO", "CABLE", "DC"),
    ConnectorType.CHADEMO: ("CHADEMO", "CABLE", "DC"),
    ConnectorType.TYPE2: ("IEC_62196_T2", "SOCKET", "AC_3_PHASE"),
    ConnectorType.TYPE1: ("IEC_62196_T1", "CABLE", "AC_1_PHASE"),
    ConnectorType.GBT: ("GBT_DC", "CABLE", "DC"),
    ConnectorType.NACS: ("TESLA_S", "CABLE", "DC"),
    ConnectorType.SCHUKO: ("DOMESTIC_F", "SOCKET", "AC_1_PHASE"),
}
# Nominal voltages: 230 V phase-to-neutral (400 V three-phase, reported per
# phase as mod_locations "Connector object" max_voltage asks), 400 V DC... 920 V DC
# chargers report their own limit; without one the DC default is 500 V.
_VOLTAGE = {"AC_1_PHASE": 230, "AC_3_PHASE": 230, "DC": 500}
# What our remote operations can do at every charger (mod_locations "Capability enum").
_CAPABILITIES = [
    "REMOTE_START_STOP_CAPABLE",
    "RESERVABLE",
    "RFID_READER",
    "UNLOCK_CAPABLE",
]
_TWENTY_FOUR_SEVEN = {"twentyfourseven": True}


def published_stations() -> QuerySet[Station]:
    """Stations partners may see, with ``last_updated`` annotated."""
    newest_status = (
        Connector.objects.filter(charge_point__station=OuterRef("pk"))
        .values("charge_point__station")
        .annotate(newest=Max(Coalesce("status_received_at", "status_at")))
        .values("newest")
    )
    epoch = Value(datetime(1970, 1, 1, tzinfo=UTC), output_field=DateTimeField())
    return (
        Station.objects.filter(
            Q(roaming_publication__is_published=True)
            | Q(
                roaming_publication__isnull=True,
                network__roaming_publication__is_published=True,
            )
        )
        .select_related("roaming_publication", "network__roaming_publication")
        .annotate(
            last_updated=Greatest(
                F("created_at"),
                Coalesce(F("roaming_publication__updated_at"), epoch),
                Coalesce(F("network__roaming_publication__updated_at"), epoch),
                Coalesce(Subquery(newest_status), epoch),
            )
        )
        .prefetch_related(
            Prefetch(
                "charge_points",
                queryset=ChargePoint.objects.prefetch_related(
                    Prefetch(
                        "connectors",
                        queryset=Connector.objects.exclude(
                            roaming_publication__is_published=False
                        ),
                    )
                ),
            )
        )
    )


def _coordinate(value: Decimal | None) -> str:
    # mod_locations "GeoLocation class": a decimal string, up to 7 digits after
    # the point; a station without coordinates cannot be published usefully,
    # the spec's "#NA" marks the missing value (transport_and_format "No data").
    return "#NA" if value is None else f"{value:.6f}"


def _connector_time(connector: Connector, fallback: datetime) -> datetime:
    return connector.status_received_at or connector.status_at or fallback


def evse_uid(connector: Connector) -> str:
    return f"{connector.charge_point.ocpp_id}-{connector.connector_id}"[:36]


def connector_standard(connector: Connector | None) -> tuple[str, str, str]:
    """(ConnectorType, ConnectorFormat, PowerType) of one of our connectors."""
    default = ("IEC_62196_T2", "SOCKET", "AC_3_PHASE")
    if connector is None:
        return default
    return _STANDARD.get(ConnectorType(connector.connector_type), default)


def _connector_object(
    connector: Connector, updated: datetime, tariff_ids: list[str]
) -> dict[str, Any]:
    standard, form, power_type = connector_standard(connector)
    voltage = _VOLTAGE[power_type]
    power_w = int(connector.max_power_kw * 1000)
    phases = 3 if power_type == "AC_3_PHASE" else 1
    # mod_locations "Connector object" tariff_ids: the tariffs valid now, "can
    # be eMSP specific"; omitted when none is published for the connector.
    tariffs = {"tariff_ids": tariff_ids} if tariff_ids else {}
    return {
        "id": "1",
        "standard": standard,
        "format": form,
        "power_type": power_type,
        "max_voltage": voltage,
        "max_amperage": round(power_w / voltage / phases),
        "max_electric_power": power_w,
        **tariffs,
        "last_updated": ocpi_timestamp(updated),
    }


def connector_tariff_ids(
    connector: Connector, station: Station, partner: Partner | None
) -> list[str]:
    """The id of the tariff ``partner``'s drivers pay on ``connector``, if any."""
    publication = None
    if partner is not None:
        publication = (
            TariffPublication.objects.filter(
                partner=partner, network_id=station.network_id, tariff__is_active=True
            )
            .values_list("tariff_id", flat=True)
            .first()
        )
    if publication is not None:
        return [str(publication)]
    tariff = tariff_for_connector(connector=connector)
    return [str(tariff.pk)] if tariff is not None else []


def _evse_object(
    connector: Connector,
    station: Station,
    fallback: datetime,
    partner: Partner | None,
) -> dict[str, Any]:
    charge_point = connector.charge_point
    updated = _connector_time(connector, fallback)
    status = _STATUS.get(ConnectorStatus(connector.status), "UNKNOWN")
    if not charge_point.is_online:
        status = "UNKNOWN"
    evse: dict[str, Any] = {
        "uid": evse_uid(connector),
        "status": status,
        "capabilities": list(_CAPABILITIES),
        "connectors": [
            _connector_object(
                connector, updated, connector_tariff_ids(connector, station, partner)
            )
        ],
        "last_updated": ocpi_timestamp(updated),
    }
    if station.latitude is not None and station.longitude is not None:
        evse["coordinates"] = {
            "latitude": _coordinate(station.latitude),
            "longitude": _coordinate(station.longitude),
        }
    return evse


def _connectors(station: Station) -> list[Connector]:
    return sorted(
        (
            connector
            for charge_point in station.charge_points.all()
            for connector in charge_point.connectors.all()
        ),
        key=lambda connector: (connector.charge_point.ocpp_id, connector.connector_id),
    )


def _opening_times(station: Station) -> dict[str, Any]:
    for publication in (
        getattr(station, "roaming_publication", None),
        getattr(station.network, "roaming_publication", None),
    ):
        if isinstance(publication, LocationPublication) and publication.opening_times:
            return dict(publication.opening_times)
    return dict(_TWENTY_FOUR_SEVEN)


def location_object(station: Station, partner: Partner | None = None) -> dict[str, Any]:
    """A station as an OCPI Location (mod_locations "Location object") for ``partner``."""
    country_code, party_id = our_party()
    last_updated: datetime = station.last_updated  # type: ignore[attr-defined]
    return {
        "country_code": country_code,
        "party_id": party_id,
        "id": str(station.pk),
        "publish": True,
        "name": station.name,
        "address": (station.address or "#NA")[:45],
        "city": (station.city or "#NA")[:45],
        **({"postal_code": station.postal_code[:10]} if station.postal_code else {}),
        "country": ALPHA_3.get(station.country, station.country),
        "coordinates": {
            "latitude": _coordinate(station.latitude),
            "longitude": _coordinate(station.longitude),
        },
        "evses": [
            _evse_object(connector, station, last_updated, partner)
            for connector in _connectors(station)
        ],
        "operator": {"name": station.network.name},
        "time_zone": station.time_zone,
        "opening_times": _opening_times(station),
        "last_updated": ocpi_timestamp(last_updated),
    }


def evse_object_of(connector: Connector, partner: Partner) -> dict[str, Any] | None:
    """One EVSE as ``partner`` sees it; None when its station is not published."""
    station_id = connector.charge_point.station_id
    station = (
        published_stations().filter(pk=station_id).first()
        if station_id is not None
        else None
    )
    if station is None:
        return None
    uid = evse_uid(connector)
    location = location_object(station, partner)
    return next((evse for evse in location["evses"] if evse["uid"] == uid), None)


class LocationListView(OcpiView):
    module = "locations"
    partner_role = "EMSP"

    def get(self, request: HttpRequest) -> OcpiResult:
        partner = self.caller.partner

        def serialize(stations: Iterable[Station]) -> list[dict[str, Any]]:
            return [location_object(station, partner) for station in stations]

        return paginated(
            request, published_stations(), serialize, updated_field="last_updated"
        )


class LocationObjectView(OcpiView):
    """GET one Location, EVSE or Connector (mod_locations "Sender GET Object")."""

    module = "locations"
    partner_role = "EMSP"

    def get(
        self,
        request: HttpRequest,
        location_id: str,
        evse_uid_: str | None = None,
        connector_id: str | None = None,
    ) -> OcpiResult:
        station = object_by_id(
            published_stations(),
            location_id,
            message=f"Unknown location {location_id}",
            status_code=UNKNOWN_LOCATION,
        )
        location = location_object(station, self.caller.partner)
        if evse_uid_ is None:
            return OcpiResult(data=location)
        evse = next((e for e in location["evses"] if e["uid"] == evse_uid_), None)
        if evse is None:
            raise NotFound(f"Unknown EVSE {evse_uid_} at location {location_id}")
        if connector_id is None:
            return OcpiResult(data=evse)
        connector = next(
            (c for c in evse["connectors"] if c["id"] == connector_id), None
        )
        if connector is None:
            raise NotFound(f"Unknown connector {connector_id} of EVSE {evse_uid_}")
        return OcpiResult(data=connector)
