"""Validators every room may use (cms knows no app)."""

from __future__ import annotations

import zoneinfo
from functools import cache

from django.core.exceptions import ValidationError


@cache
def time_zone_names() -> frozenset[str]:
    """The IANA zone names this machine's tz database knows."""
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    """Refuse anything but a known IANA time zone name."""
    if value not in time_zone_names():
        raise ValidationError(
            f"“{value}” is not a known IANA time zone (e.g. Europe/Berlin)."
        )
