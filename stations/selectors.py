"""Reads of the charging network, always filtered by the user's scope.

Scope: administrators see every network; everyone else sees the networks granted
to them with the guardian object permission ``stations.access_network``. What a
user may *do* comes from their role's model permissions. A ``*_get_for_user``
selector raises ``Http404`` outside the scope and ``PermissionDenied`` when the
role lacks ``perm``: a user never learns that another network's object exists.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from guardian.shortcuts import get_objects_for_user

from accounts.http import AnyUser
from accounts.models import User
from accounts.scope import is_administrator
from stations.models import (
    ChargePoint,
    ConnectionAttempt,
    Connector,
    DeviceVariable,
    Network,
    Station,
)


def network_list_for_user(*, user: AnyUser) -> QuerySet[Network]:
    if not getattr(user, "is_authenticated", False) or getattr(
        user, "is_driver", False
    ):
        return Network.objects.none()
    if is_administrator(user):
        return Network.objects.all()
    return get_objects_for_user(
        user, "stations.access_network", klass=Network, accept_global_perms=False
    )


def network_time_zone_for_user(user: User) -> str | None:
    """The zone of the first network (by name) the user may see, if any."""
    return (
        network_list_for_user(user=user)
        .order_by("name")
        .values_list("time_zone", flat=True)
        .first()
    )


def network_ids_for_user(*, user: AnyUser) -> list[int]:
    cached = getattr(user, "_network_ids", None)
    if cached is None:
        cached = list(network_list_for_user(user=user).values_list("pk", flat=True))
        if getattr(user, "is_authenticated", False):
            user._network_ids = cached  # type: ignore[union-attr]  # a per-request cache
    return cached


def _require(user: AnyUser, perm: str | None) -> None:
    if perm is not None and not user.has_perm(perm):
        raise PermissionDenied(f"Your role does not allow this ({perm}).")


def network_get_for_user(*, user: AnyUser, pk: int, perm: str | None = None) -> Network:
    network = network_list_for_user(user=user).filter(pk=pk).first()
    if network is None:
        raise Http404("No such network.")
    _require(user, perm)
    return network


def station_list_for_user(*, user: AnyUser) -> QuerySet[Station]:
    return Station.objects.filter(
        network_id__in=network_ids_for_user(user=user)
    ).select_related("network")


def station_get_for_user(*, user: AnyUser, pk: int, perm: str | None = None) -> Station:
    station = station_list_for_user(user=user).filter(pk=pk).first()
    if station is None:
        raise Http404("No such station.")
    _require(user, perm)
    return station


def can_see_unassigned(user: AnyUser) -> bool:
    return bool(
        getattr(user, "is_authenticated", False)
        and user.has_perm("stations.manage_unassigned")
    )


def charge_point_list_for_user(
    *, user: AnyUser, include_unassigned: bool = True
) -> QuerySet[ChargePoint]:
    scope = Q(station__network_id__in=network_ids_for_user(user=user))
    if include_unassigned and can_see_unassigned(user):
        scope |= Q(station__isnull=True)
    return ChargePoint.objects.filter(scope).select_related(
        "station", "station__network"
    )


def charge_point_get_for_user(
    *, user: AnyUser, pk: int, perm: str | None = None
) -> ChargePoint:
    charge_point = charge_point_list_for_user(user=user).filter(pk=pk).first()
    if charge_point is None:
        raise Http404("No such charge point.")
    _require(user, perm)
    return charge_point


def connector_list_for_user(*, user: AnyUser) -> QuerySet[Connector]:
    scope = Q(charge_point__station__network_id__in=network_ids_for_user(user=user))
    if can_see_unassigned(user):
        scope |= Q(charge_point__station__isnull=True)
    return Connector.objects.filter(scope).select_related(
        "charge_point", "charge_point__station", "charge_point__station__network"
    )


def connector_get_for_user(
    *, user: AnyUser, pk: int, perm: str | None = None
) -> Connector:
    connector = connector_list_for_user(user=user).filter(pk=pk).first()
    if connector is None:
        raise Http404("No such connector.")
    _require(user, perm)
    return connector


def device_variables_across(
    *, charge_points: QuerySet[ChargePoint], component: str, variable: str
) -> QuerySet[DeviceVariable]:
    """One device model variable's Actual value on each of ``charge_points`` (2.0.1)."""
    if not component or not variable:
        return DeviceVariable.objects.none()
    return (
        DeviceVariable.objects.filter(
            charge_point__in=charge_points,
            component=component,
            variable=variable,
            attribute_type="Actual",
        )
        .select_related("charge_point", "charge_point__station")
        .order_by("charge_point__ocpp_id", "evse", "connector", "component_instance")
    )


def device_variable_names(
    *, charge_points: QuerySet[ChargePoint]
) -> list[tuple[str, str]]:
    """The (component, variable) pairs the chargers have reported, for a picker."""
    pairs = (
        DeviceVariable.objects.filter(charge_point__in=charge_points)
        .values_list("component", "variable")
        .distinct()
        .order_by("component", "variable")
    )
    return [(component, variable) for component, variable in pairs]


def can_register_unknown(user: AnyUser) -> bool:
    """Whether the user sees refused handshakes of unknown ids (and may register them)."""
    return bool(
        getattr(user, "is_authenticated", False)
        and user.has_perm("stations.view_connectionattempt")
        and user.has_perm("stations.add_chargepoint")
    )


def connection_attempt_list_for_user(*, user: AnyUser) -> QuerySet[ConnectionAttempt]:
    """Refused handshakes the user may see, newest first.

    Those of chargers in the user's networks; of unassigned chargers with
    ``stations.manage_unassigned``; of ids no charger has (unknown, or ``*``)
    only with the permission to register chargers (``stations.add_chargepoint``),
    since they belong to no network yet. A charger registered later moves its
    rows into its network's scope. Annotated: ``charge_point_pk`` (None when
    the id is unknown).
    """
    if not (
        getattr(user, "is_authenticated", False)
        and user.has_perm("stations.view_connectionattempt")
    ):
        return ConnectionAttempt.objects.none()
    known = ChargePoint.objects.filter(ocpp_id=OuterRef("ocpp_id"))
    in_scope = ChargePoint.objects.filter(
        station__network_id__in=network_ids_for_user(user=user)
    )
    if can_see_unassigned(user):
        in_scope = in_scope | ChargePoint.objects.filter(station__isnull=True)
    scope = Q(ocpp_id__in=in_scope.values("ocpp_id"))
    if can_register_unknown(user):
        scope |= Q(registered=False)
    return (
        ConnectionAttempt.objects.annotate(
            registered=Exists(known),
            charge_point_pk=Subquery(known.values("pk")[:1]),
        )
        .filter(scope)
        .order_by("-last_seen_at", "-id")
    )
