"""Template filters for money and durations on billing pages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template

from billing.rating import lines_from_json, round_money

register = template.Library()


@register.filter
def money(amount: Any, currency: str = "") -> str:
    """``396.0000`` + ``INR`` -> ``INR 396.00`` (the currency's minor unit)."""
    if amount is None or amount == "":
        return "—"
    value = round_money(Decimal(str(amount)), currency or "EUR")
    return f"{currency} {value:,}".strip()


@register.filter
def duration(seconds: Any) -> str:
    """Seconds -> ``1:05:09``."""
    if seconds is None or seconds == "":
        return "—"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


@register.filter
def kwh(energy_wh: Any) -> str:
    if energy_wh is None or energy_wh == "":
        return "—"
    return f"{(Decimal(int(energy_wh)) / 1000).quantize(Decimal('0.001'))} kWh"


@register.filter
def unit_price(line: Any, currency: str) -> str:
    """A stored CDR line (``line_items`` entry) -> ``EUR 0.10/min``."""
    return lines_from_json([line])[0].unit_price_text(currency)
