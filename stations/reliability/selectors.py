"""Which outages a user may see: those of ports in the user's networks."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from accounts.http import AnyUser
from stations.reliability.models import Outage
from stations.selectors import connector_list_for_user

VIEW_OUTAGE = "stations.view_outage"
CLASSIFY_OUTAGE = "stations.classify_outage"


def outages_require(*, user: AnyUser, perm: str = VIEW_OUTAGE) -> None:
    if (
        not getattr(user, "is_authenticated", False)
        or getattr(user, "is_driver", False)
        or not user.has_perm(perm)
    ):
        raise PermissionDenied(f"Your role does not allow this ({perm}).")


def outage_list_for_user(*, user: AnyUser) -> QuerySet[Outage]:
    outages_require(user=user)
    return Outage.objects.filter(
        connector__in=connector_list_for_user(user=user)
    ).select_related("connector__charge_point__station__network", "classified_by")


def outage_get_for_user(*, user: AnyUser, pk: int, perm: str = VIEW_OUTAGE) -> Outage:
    """The outage ``pk`` in the user's scope: 404 outside it, 403 without ``perm``."""
    outage = outage_list_for_user(user=user).filter(pk=pk).first()
    if outage is None:
        raise Http404("No such outage.")
    outages_require(user=user, perm=perm)
    return outage
