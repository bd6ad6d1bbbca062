"""Display helpers for charging pages: station-local times and labelled units."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

from django import template
from django.utils.formats import date_format, number_format

register = template.Library()


@register.filter
def local_time(value: datetime | None, tz_name: str | None) -> str:
    """Format an aware datetime in the zone ``tz_name`` with the zone's abbreviation."""
    if value is None:
        return "—"
    try:
        zone = zoneinfo.ZoneInfo(tz_name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        zone = zoneinfo.ZoneInfo("UTC")
    local = value.astimezone(zone)
    return f"{date_format(local, 'DATETIME_FORMAT')} {local.tzname()}"


@register.filter
def kwh(value_wh: float | None) -> str:
    """Watt-hours as kWh with two decimals (no unit: the column or label carries it)."""
    if value_wh is None:
        return "—"
    return number_format(round(value_wh / 1000, 2), 2)


@register.filter
def kw(value_w: float | None) -> str:
    """Watts as kW with two decimals."""
    if value_w is None:
        return "—"
    return number_format(round(value_w / 1000, 2), 2)


@register.filter
def duration(seconds: float | None) -> str:
    """Seconds as ``1 h 05 min`` (or ``12 min 30 s`` under an hour)."""
    if seconds is None:
        return "—"
    total = int(seconds)
    sign = "−" if total < 0 else ""
    total = abs(total)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{sign}{hours} h {minutes:02d} min"
    return f"{sign}{minutes} min {secs:02d} s"
