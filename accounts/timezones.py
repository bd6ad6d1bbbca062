"""Which zone a user's network-wide lists are shown in.

A user's own choice (``User.time_zone``) wins; otherwise the zone of the first
network the user may see. Networks live in ``stations``, which registers the
lookup (``default_time_zone_register``) from its ``ready()``.
"""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.conf import settings

from accounts.models import User

_default_lookup: Callable[[User], str | None] | None = None


def default_time_zone_register(lookup: Callable[[User], str | None]) -> None:
    """Install the lookup of a user's default zone (the first network's)."""
    global _default_lookup  # one registry slot, set once at start-up
    _default_lookup = lookup


def user_time_zone_name(user: User) -> str:
    """The IANA name of the zone the user's network-wide lists are shown in."""
    if user.time_zone:
        return user.time_zone
    if _default_lookup is not None:
        name = _default_lookup(user)
        if name:
            return name
    return str(settings.TIME_ZONE)


def user_time_zone(user: User) -> ZoneInfo:
    return ZoneInfo(user_time_zone_name(user))
