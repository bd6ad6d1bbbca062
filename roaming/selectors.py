"""Reads of partners for the portal: administrators only."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from accounts.models import User
from accounts.scope import is_administrator
from roaming.models import Partner


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
