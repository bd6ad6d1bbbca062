"""Reads of firmware campaigns and charger tags, filtered by the user's scope.

Campaigns belong to one network: a user sees those of the networks granted to
them (``stations.selectors``) and needs ``stations.manage_firmware`` for any of
it (operations and administrators; support and finance are refused).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from accounts.http import AnyUser
from stations.fleet.models import (
    ChargerTag,
    ConfigurationDrift,
    DesiredConfiguration,
    FirmwareCampaign,
)
from stations.models import Network, OcppMessage, Station
from stations.selectors import (
    network_ids_for_user,
    network_list_for_user,
    station_list_for_user,
)

CAMPAIGN_PERMISSION = "stations.manage_firmware"


def _require(user: AnyUser) -> None:
    if not user.has_perm(CAMPAIGN_PERMISSION):
        raise PermissionDenied("Your role does not allow firmware campaigns.")


def campaign_list_for_user(*, user: AnyUser) -> QuerySet[FirmwareCampaign]:
    """Campaigns of the user's networks; PermissionDenied without the role."""
    _require(user)
    return FirmwareCampaign.objects.filter(
        network_id__in=network_ids_for_user(user=user)
    ).select_related("network", "station", "tag", "created_by")


def campaign_get_for_user(*, user: AnyUser, pk: int) -> FirmwareCampaign:
    """One campaign: Http404 outside the scope, PermissionDenied without the role."""
    campaign = (
        FirmwareCampaign.objects.filter(
            pk=pk, network_id__in=network_ids_for_user(user=user)
        )
        .select_related("network", "station", "tag", "created_by", "started_by")
        .first()
    )
    if campaign is None:
        raise Http404("No such campaign.")
    _require(user)
    return campaign


def tag_list_for_user(*, user: AnyUser) -> QuerySet[ChargerTag]:
    return ChargerTag.objects.filter(
        network_id__in=network_ids_for_user(user=user)
    ).select_related("network")


def last_frames(*, charge_point_id: int, limit: int = 5) -> list[OcppMessage]:
    """The charger's newest OCPP frames, newest first (for a failed update)."""
    return list(
        OcppMessage.objects.filter(charge_point_id=charge_point_id).order_by(
            "-at", "-id"
        )[:limit]
    )


CONFIGURATION_PERMISSION = "stations.configure_chargepoint"


def _require_configuration(user: AnyUser) -> None:
    if not user.has_perm(CONFIGURATION_PERMISSION):
        raise PermissionDenied("Your role does not allow charger configuration.")


def desired_list_for_user(*, user: AnyUser) -> QuerySet[DesiredConfiguration]:
    """Declarations of the user's networks; PermissionDenied without the role."""
    _require_configuration(user)
    return DesiredConfiguration.objects.filter(
        network_id__in=network_ids_for_user(user=user)
    ).select_related("network", "station", "tag")


def desired_get_for_user(*, user: AnyUser, pk: int) -> DesiredConfiguration:
    desired = desired_list_for_user(user=user).filter(pk=pk).first()
    if desired is None:
        raise Http404("No such declaration.")
    return desired


def drift_list_for_user(*, user: AnyUser) -> QuerySet[ConfigurationDrift]:
    """Drift rows of the chargers in the user's networks."""
    _require_configuration(user)
    return ConfigurationDrift.objects.filter(
        charge_point__station__network_id__in=network_ids_for_user(user=user)
    ).select_related(
        "charge_point",
        "charge_point__station",
        "desired",
        "desired__station",
        "desired__tag",
        "desired__network",
    )


class ScopeInputError(ValueError):
    """A network, station or tag the user named is not one they may use."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def scope_resolve_for_user(
    *,
    user: AnyUser,
    network: int | str,
    station: int | None = None,
    tag: str = "",
) -> tuple[Network, Station | None, ChargerTag | None]:
    """The network (by id or name), station (id) and tag (name) named by a request."""
    networks = network_list_for_user(user=user)
    found = (
        networks.filter(pk=network)
        if isinstance(network, int)
        else networks.filter(name=network)
    ).first()
    if found is None:
        raise ScopeInputError(f"No network “{network}” for you.", field="network")
    chosen_station = None
    if station is not None:
        chosen_station = (
            station_list_for_user(user=user).filter(pk=station, network=found).first()
        )
        if chosen_station is None:
            raise ScopeInputError(f"No station {station} in {found}.", field="station")
    chosen_tag = None
    if tag:
        chosen_tag = ChargerTag.objects.filter(network=found, name=tag).first()
        if chosen_tag is None:
            raise ScopeInputError(f"No tag “{tag}” in {found}.", field="tag")
    return found, chosen_station, chosen_tag
