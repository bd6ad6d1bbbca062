"""Partner CPOs' locations in the driver's "stations near me" (billing's finder).

Registered in ``RoamingConfig.ready()`` with
``billing.driver_stations.partner_station_finders_register``: published
locations of registered partners, each connector with its EVSE's live status
and the partner's tariff as a price (``roaming.emsp.tariffs.driver_price``).
REMOVED EVSEs are left out.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch

from billing.driver_stations import StationQuery, bounding_box, haversine_km
from roaming.cpo.locations import _STANDARD
from roaming.emsp.locations import REMOVED
from roaming.emsp.tariffs import driver_price
from roaming.models import (
    PartnerConnector,
    PartnerEvse,
    PartnerLocation,
    PartnerStatus,
    PartnerTariff,
)
from stations.models import ConnectorStatus

# mod_locations "ConnectorType enum" -> our connector types (the CPO side's map, reversed).
_OUR_TYPE = {standard: ours for ours, (standard, _f, _p) in _STANDARD.items()}
_STANDARD_OF: dict[str, str] = {
    str(ours): standard for standard, ours in _OUR_TYPE.items()
}
# mod_locations "Status enum" -> the status words our own connectors use.
_STATUS = {
    "AVAILABLE": ConnectorStatus.AVAILABLE,
    "CHARGING": ConnectorStatus.CHARGING,
    "RESERVED": ConnectorStatus.RESERVED,
    "BLOCKED": ConnectorStatus.UNAVAILABLE,
    "INOPERATIVE": ConnectorStatus.UNAVAILABLE,
    "OUTOFORDER": ConnectorStatus.FAULTED,
    "PLANNED": ConnectorStatus.UNAVAILABLE,
    "UNKNOWN": ConnectorStatus.UNKNOWN,
}


def _tariffs_of(
    locations: list[PartnerLocation],
) -> dict[tuple[str, str, str], PartnerTariff]:
    parties = {(loc.country_code, loc.party_id) for loc in locations}
    found = PartnerTariff.objects.filter(
        country_code__in={c for c, _p in parties}, party_id__in={p for _c, p in parties}
    )
    return {(t.country_code, t.party_id, t.tariff_id): t for t in found}


def partner_stations_find(query: StationQuery) -> list[dict[str, Any]]:
    """Partner locations within the circle, as the driver finder's rows."""
    connectors = PartnerConnector.objects.order_by("connector_id")
    if query.connector_type:
        standard = _STANDARD_OF.get(query.connector_type)
        connectors = connectors.filter(standard=standard or "")
    if query.min_power_kw is not None:
        connectors = connectors.filter(max_power_kw__gte=query.min_power_kw)
    evses = (
        PartnerEvse.objects.exclude(status=REMOVED)
        .order_by("uid")
        .prefetch_related(Prefetch("connectors", queryset=connectors))
    )
    locations = list(
        PartnerLocation.objects.filter(
            bounding_box(query.latitude, query.longitude, query.radius_km),
            publish=True,
            partner__status=PartnerStatus.REGISTERED,
        )
        .select_related("partner")
        .prefetch_related(Prefetch("evses", queryset=evses))
    )
    tariffs = _tariffs_of(locations)
    rows = []
    for location in locations:
        distance = haversine_km(
            query.latitude,
            query.longitude,
            float(location.latitude),
            float(location.longitude),
        )
        if distance > query.radius_km:
            continue
        row = _location_row(location, distance, tariffs)
        if not row["connectors"]:
            continue
        if query.available_only and not row["available_connectors"]:
            continue
        rows.append(row)
    return rows


def _location_row(
    location: PartnerLocation,
    distance: float,
    tariffs: dict[tuple[str, str, str], PartnerTariff],
) -> dict[str, Any]:
    party = (location.country_code, location.party_id)
    prices: dict[str, Any] = {}
    connectors = []
    for evse in location.evses.all():
        state = _STATUS.get(evse.status, ConnectorStatus.UNKNOWN)
        for connector in evse.connectors.all():
            price = None
            for tariff_id in connector.tariff_ids:
                tariff = tariffs.get((*party, tariff_id))
                if tariff is not None:
                    if tariff_id not in prices:
                        prices[tariff_id] = driver_price(
                            tariff, time_zone=location.time_zone
                        )
                    price = prices[tariff_id]
                    break
            connectors.append(
                {
                    "id": None,
                    "connector_number": None,
                    "charge_point_id": None,
                    "charge_point_name": evse.evse_id or evse.uid,
                    "connector_type": _OUR_TYPE.get(connector.standard),
                    "max_power_kw": connector.max_power_kw,
                    "status": state,
                    "is_available": evse.status == "AVAILABLE",
                    "price": None,
                    "evse_uid": evse.uid,
                    "standard": connector.standard,
                    "partner_price": price,
                }
            )
    operator = location.operator_name or location.partner.name or str(location.partner)
    return {
        "id": None,
        "name": location.name or location.address,
        "network": location.partner.name or f"{party[0]}*{party[1]}",
        "operator": operator,
        "is_partner": True,
        "partner_location": {
            "country_code": location.country_code,
            "party_id": location.party_id,
            "location_id": location.location_id,
        },
        "address": location.address,
        "city": location.city,
        "postal_code": location.postal_code,
        "country": location.country,
        "latitude": location.latitude,
        "longitude": location.longitude,
        "time_zone": location.time_zone,
        "distance_km": round(distance, 3),
        "available_connectors": sum(1 for row in connectors if row["is_available"]),
        "connectors": connectors,
    }
