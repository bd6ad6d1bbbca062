"""Who is an administrator: the one role that sees every network."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser

from accounts.models import Role, User


def is_administrator(user: User | AnonymousUser | None) -> bool:
    if not isinstance(user, User):
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_is_administrator", None)
    if cached is None:
        cached = user.groups.filter(name=Role.ADMINISTRATOR).exists()
        user._is_administrator = cached  # type: ignore[attr-defined]  # a memo on the instance, not a field
    return bool(cached)
