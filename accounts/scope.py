"""Who is an administrator: the one role that sees every network."""

from __future__ import annotations

from typing import Any

from accounts.models import Role


def is_administrator(user: Any) -> bool:
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_is_administrator", None)
    if cached is None:
        cached = user.groups.filter(name=Role.ADMINISTRATOR).exists()
        user._is_administrator = cached
    return bool(cached)
