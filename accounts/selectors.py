"""Reads for the user administration and the audit log, checked for role and scope.

User administration is for administrators only (``accounts.view_user`` and the
Administrator role): everyone else gets ``PermissionDenied``. The audit log needs
``accounts.view_audit_log``; administrators see every entry, everyone else only
the entries recorded against one of their networks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from rest_framework.authtoken.models import Token

from accounts.models import AuditLog, User
from accounts.scope import is_administrator
from stations.models import Network, NetworkUserObjectPermission
from stations.selectors import network_ids_for_user

AUDIT_LOG_PERMISSION = "accounts.view_audit_log"


def require_user_administration(
    *, user: User | AnonymousUser, perm: str = "accounts.view_user"
) -> None:
    """Raise ``PermissionDenied`` unless ``user`` is an administrator holding ``perm``."""
    if not (is_administrator(user) and user.has_perm(perm)):
        raise PermissionDenied("Only administrators manage users.")


def user_list_for_user(*, user: User | AnonymousUser) -> QuerySet[User]:
    require_user_administration(user=user)
    return User.objects.prefetch_related("groups").order_by("username")


def user_get_for_user(
    *, user: User | AnonymousUser, pk: int, perm: str = "accounts.view_user"
) -> User:
    require_user_administration(user=user, perm=perm)
    target = User.objects.prefetch_related("groups").filter(pk=pk).first()
    if target is None:
        raise Http404("No such user.")
    return target


def granted_networks_by_user(*, users: Iterable[User]) -> dict[int, list[Network]]:
    """Map user id to the networks granted to them, in one query for a page of users."""
    grants = (
        NetworkUserObjectPermission.objects.filter(
            user__in=list(users), permission__codename="access_network"
        )
        .select_related("content_object")
        .order_by("content_object__name")
    )
    result: dict[int, list[Network]] = defaultdict(list)
    for grant in grants:
        result[grant.user_id].append(grant.content_object)
    return result


def api_token_for(*, user: User) -> Token | None:
    return Token.objects.filter(user=user).first()


def audit_log_list_for_user(*, user: User | AnonymousUser) -> QuerySet[AuditLog]:
    """Entries ``user`` may read: all for administrators, else their networks' only."""
    if not getattr(user, "is_authenticated", False) or not user.has_perm(
        AUDIT_LOG_PERMISSION
    ):
        raise PermissionDenied("Your role does not allow reading the audit log.")
    entries = AuditLog.objects.select_related("network", "actor")
    if is_administrator(user):
        return entries
    return entries.filter(network_id__in=network_ids_for_user(user=user))
