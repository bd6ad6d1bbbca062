"""Reads for the roaming portal pages: partners (administrators only) and what is
published to them (``roaming.publish_location``, within the user's networks)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import Http404

from accounts.models import User
from accounts.scope import is_administrator
from billing.models import Tariff
from roaming.cpo.locations import evse_uid
from roaming.models import (
    EvsePublication,
    LocationPublication,
    Partner,
    PartnerLocation,
    PartnerStatus,
    PartnerTariff,
    TariffPublication,
)
from sessions_app.origins import OWN, ROAMING
from stations.models import Connector, Network, Station
from stations.selectors import network_list_for_user, station_list_for_user


def require_partner_administration(*, user: User | AnonymousUser) -> None:
    """Raise ``PermissionDenied`` unless ``user`` is an administrator."""
    if not is_administrator(user):
        raise PermissionDenied("Only administrators manage roaming partners.")


def partner_list_for_user(*, user: User | AnonymousUser) -> QuerySet[Partner]:
    require_partner_administration(user=user)
    return Partner.objects.all()


def partner_get_for_user(*, user: User | AnonymousUser, pk: int) -> Partner:
    require_partner_administration(user=user)
    partner = Partner.objects.filter(pk=pk).first()
    if partner is None:
        raise Http404("No such partner")
    return partner


PUBLISH = "roaming.publish_location"


@dataclass(frozen=True)
class EvseRow:
    connector: Connector
    uid: str
    is_published: bool


@dataclass(frozen=True)
class StationRow:
    station: Station
    # "inherit" (the network's choice), "publish" or "withdraw".
    choice: str
    is_published: bool
    evses: list[EvseRow]


@dataclass(frozen=True)
class PartnerTariffRow:
    partner: Partner
    tariff: Tariff | None


@dataclass(frozen=True)
class NetworkPublication:
    network: Network
    is_published: bool
    stations: list[StationRow]
    partner_tariffs: list[PartnerTariffRow]
    tariffs: list[Tariff]


def require_publication_rights(*, user: User | AnonymousUser) -> None:
    if not user.has_perm(PUBLISH):
        raise PermissionDenied(f"Your role does not allow this ({PUBLISH}).")


def network_publication_for_user(
    *, user: User | AnonymousUser, network: Network
) -> NetworkPublication:
    """What partners see of ``network`` and what its partners' drivers pay."""
    require_publication_rights(user=user)
    own = LocationPublication.objects.filter(network=network).first()
    network_published = own is not None and own.is_published
    station_choices = {
        row.station_id: row
        for row in LocationPublication.objects.filter(station__network=network)
    }
    withdrawn = set(
        EvsePublication.objects.filter(
            connector__charge_point__station__network=network, is_published=False
        ).values_list("connector_id", flat=True)
    )
    stations = []
    for station in (
        station_list_for_user(user=user)
        .filter(network=network)
        .prefetch_related("charge_points__connectors")
        .order_by("name", "pk")
    ):
        choice_row = station_choices.get(station.pk)
        if choice_row is None:
            choice, published = "inherit", network_published
        else:
            published = choice_row.is_published
            choice = "publish" if published else "withdraw"
        connectors = sorted(
            (c for cp in station.charge_points.all() for c in cp.connectors.all()),
            key=lambda c: (c.charge_point.ocpp_id, c.connector_id),
        )
        evses = [
            EvseRow(
                connector=connector,
                uid=evse_uid(connector),
                is_published=connector.pk not in withdrawn,
            )
            for connector in connectors
        ]
        stations.append(
            StationRow(
                station=station, choice=choice, is_published=published, evses=evses
            )
        )
    chosen = {
        row.partner_id: row.tariff
        for row in TariffPublication.objects.filter(network=network).select_related(
            "tariff"
        )
    }
    partners = [
        PartnerTariffRow(partner=partner, tariff=chosen.get(partner.pk))
        for partner in Partner.objects.exclude(status=PartnerStatus.UNREGISTERED)
    ]
    return NetworkPublication(
        network=network,
        is_published=network_published,
        stations=stations,
        partner_tariffs=partners,
        tariffs=list(Tariff.objects.filter(network=network, is_active=True)),
    )


def publication_overview_for_user(
    *, user: User | AnonymousUser
) -> list[NetworkPublication]:
    require_publication_rights(user=user)
    return [
        network_publication_for_user(user=user, network=network)
        for network in network_list_for_user(user=user).order_by("name")
    ]


def partner_origin_choices() -> list[tuple[str, str]]:
    """One session-filter choice per partner that ever had a roaming session."""
    return [
        (f"partner:{partner.pk}", f"Partner {partner}")
        for partner in Partner.objects.filter(sessions__isnull=False).distinct()
    ]


def partner_origin_condition(choice: str, prefix: str) -> Q | None:
    """Sessions (through ``prefix``) of own drivers, of any partner, of one partner."""
    if choice == OWN:
        return Q(**{f"{prefix}roaming__isnull": True})
    if choice == ROAMING:
        return Q(**{f"{prefix}roaming__isnull": False})
    kind, _colon, pk = choice.partition(":")
    if kind == "partner" and pk.isdigit():
        return Q(**{f"{prefix}roaming__partner_id": int(pk)})
    return None


# --- Partner CPOs' locations (eMSP side), read-only ------------------------------------

VIEW_PARTNER_LOCATIONS = "roaming.view_partner_location"


def require_partner_locations_view(*, user: User | AnonymousUser) -> None:
    if not user.has_perm(VIEW_PARTNER_LOCATIONS):
        raise PermissionDenied(
            f"Your role does not allow this ({VIEW_PARTNER_LOCATIONS})."
        )


@dataclass(frozen=True)
class PartnerLocationRow:
    location: PartnerLocation
    evses: int
    available: int
    removed: int


def partner_location_list_for_user(
    *, user: User | AnonymousUser
) -> list[PartnerLocationRow]:
    """Every partner CPO's location with its EVSE counts (operations' read-only view)."""
    require_partner_locations_view(user=user)
    locations = PartnerLocation.objects.select_related("partner").annotate(
        evse_count=Count("evses", filter=~Q(evses__status="REMOVED")),
        available_count=Count("evses", filter=Q(evses__status="AVAILABLE")),
        removed_count=Count("evses", filter=Q(evses__status="REMOVED")),
    )
    return [
        PartnerLocationRow(
            location=location,
            evses=location.evse_count,
            available=location.available_count,
            removed=location.removed_count,
        )
        for location in locations
    ]


@dataclass(frozen=True)
class PartnerTariffPrice:
    tariff: PartnerTariff
    price: dict[str, Any]


def partner_location_get_for_user(
    *, user: User | AnonymousUser, pk: int
) -> tuple[PartnerLocation, list[PartnerTariffPrice]]:
    """One partner location with its EVSEs and the tariffs its connectors name."""
    from roaming.emsp.tariffs import driver_price

    require_partner_locations_view(user=user)
    location = (
        PartnerLocation.objects.select_related("partner")
        .prefetch_related("evses__connectors")
        .filter(pk=pk)
        .first()
    )
    if location is None:
        raise Http404("No such partner location")
    tariff_ids = {
        tariff_id
        for evse in location.evses.all()
        for connector in evse.connectors.all()
        for tariff_id in connector.tariff_ids
    }
    tariffs = PartnerTariff.objects.filter(
        country_code=location.country_code,
        party_id=location.party_id,
        tariff_id__in=tariff_ids,
    )
    return location, [
        PartnerTariffPrice(tariff, driver_price(tariff, time_zone=location.time_zone))
        for tariff in tariffs
    ]
