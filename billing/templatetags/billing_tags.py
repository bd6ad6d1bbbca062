"""Template filters for money and durations on billing pages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import template
from django.utils.formats import number_format

from billing.rating import lines_from_json, round_money

register = template.Library()


@register.filter
def money(amount: Any, currency: str = "") -> str:
    """``396.0000`` + ``INR`` -> ``INR 396.00`` (the currency's minor unit)."""
    if amount is None or amount == "":
        return "—"
    value = round_money(Decimal(str(amount)), currency or "EUR")
    places = max(0, -int(value.as_tuple().exponent))
    # Grouped as the active language writes numbers (1,234.50 / 1.234,50).
    return f"{currency} {number_format(value, places, force_grouping=True)}".strip()


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
    energy_kwh = (Decimal(int(energy_wh)) / 1000).quantize(Decimal("0.001"))
    return f"{number_format(energy_kwh, 3)} kWh"


@register.filter
def unit_price(line: Any, currency: str) -> str:
    """A stored CDR line (``line_items`` entry) -> ``EUR 0.10/min``."""
    return lines_from_json([line])[0].unit_price_text(currency)
