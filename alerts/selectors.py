"""Reads of alerts, tickets and webhooks, always filtered by the user's network scope.

``*_get_for_user`` raises ``Http404`` outside the scope (a user never learns that
another network's alert exists) and ``PermissionDenied`` when the role lacks
``perm``.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.models import User
from alerts.models import (
    Alert,
    AlertStatus,
    MaintenanceTicket,
    WebhookDelivery,
    WebhookEndpoint,
)
from stations.selectors import can_see_unassigned, network_ids_for_user


def require_perm(user: User | AnonymousUser, perm: str) -> None:
    if not getattr(user, "is_authenticated", False) or not user.has_perm(perm):
        raise PermissionDenied(f"Your role does not allow this ({perm}).")


def _network_scope(user: User | AnonymousUser, field: str = "network_id") -> Q:
    scope = Q(**{f"{field}__in": network_ids_for_user(user=user)})
    if can_see_unassigned(user):
        scope |= Q(**{f"{field.removesuffix('_id')}__isnull": True})
    return scope


def alert_list_for_user(*, user: User | AnonymousUser) -> QuerySet[Alert]:
    return Alert.objects.filter(_network_scope(user)).select_related(
        "network", "station", "charge_point", "connector"
    )


def alert_get_for_user(
    *, user: User | AnonymousUser, pk: int, perm: str | None = None
) -> Alert:
    alert = alert_list_for_user(user=user).filter(pk=pk).first()
    if alert is None:
        raise Http404("No such alert.")
    if perm is not None:
        require_perm(user, perm)
    return alert


def alert_badge_count_for_user(*, user: User | AnonymousUser) -> int:
    """Open (unacknowledged) alerts the user would see at the top of the inbox."""
    if not getattr(user, "is_authenticated", False) or not user.has_perm(
        "alerts.view_alert"
    ):
        return 0
    return (
        Alert.objects.filter(_network_scope(user))
        .filter(status=AlertStatus.OPEN, is_suppressed=False)
        .count()
    )


def ticket_list_for_user(*, user: User | AnonymousUser) -> QuerySet[MaintenanceTicket]:
    return MaintenanceTicket.objects.filter(_network_scope(user)).select_related(
        "network", "charge_point", "charge_point__station", "assignee"
    )


def ticket_get_for_user(
    *, user: User | AnonymousUser, pk: int, perm: str | None = None
) -> MaintenanceTicket:
    ticket = ticket_list_for_user(user=user).filter(pk=pk).first()
    if ticket is None:
        raise Http404("No such ticket.")
    if perm is not None:
        require_perm(user, perm)
    return ticket


def webhook_endpoint_list_for_user(
    *, user: User | AnonymousUser
) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(
        network_id__in=network_ids_for_user(user=user)
    ).select_related("network")


def webhook_endpoint_get_for_user(
    *, user: User | AnonymousUser, pk: int, perm: str | None = None
) -> WebhookEndpoint:
    endpoint = webhook_endpoint_list_for_user(user=user).filter(pk=pk).first()
    if endpoint is None:
        raise Http404("No such webhook endpoint.")
    if perm is not None:
        require_perm(user, perm)
    return endpoint


def webhook_delivery_list_for_endpoint(
    *, endpoint: WebhookEndpoint
) -> QuerySet[WebhookDelivery]:
    return endpoint.deliveries.select_related("alert")


def alert_open_count(*, network_ids: Sequence[int]) -> int:
    """Alerts of ``network_ids`` not yet resolved (the overview's figure)."""
    return (
        Alert.objects.filter(network_id__in=network_ids)
        .exclude(status=AlertStatus.RESOLVED)
        .count()
    )
