"""Reads for the roaming portal pages: partners (administrators only) and what is
published to them (``roaming.publish_location``, within the user's networks)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.models import User
from accounts.scope import is_administrator
from billing.models import Tariff
from roaming.cpo.locations import evse_uid
from roaming.models import (
    EvsePublication,
    LocationPublication,
    Partner,
    PartnerStatus,
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
