"""Display helpers: station-local times with the zone, labelled units, pretty JSON."""

from __future__ import annotations

import datetime as dt
import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import template
from django.utils.formats import date_format, number_format
from django.utils.http import urlencode

from stations.live.selectors import zone

register = template.Library()


@register.filter
def local_time(value: dt.datetime | None, time_zone: str | None = None) -> str:
    """``2026-03-01 14:02:11 CET`` in the given IANA zone (the date as the active
    language writes it: ``01.03.2026 14:02:11 CET`` in German); a dash when empty."""
    if not value:
        return "—"
    local = value.astimezone(zone(time_zone))
    return f"{date_format(local, 'DATETIME_FORMAT')} {local.tzname()}"


def _thousandths(value: float | int) -> Decimal:
    return (Decimal(str(value)) / 1000).quantize(Decimal("0.01"), ROUND_HALF_UP)


@register.filter
def kw_from_w(value: float | int | None) -> str:
    """Watts as ``12.34 kW``."""
    if value is None:
        return "—"
    return f"{number_format(_thousandths(value), 2)} kW"


@register.filter
def kwh_from_wh(value: float | int | None) -> str:
    """Watt-hours as ``12.34 kWh``."""
    if value is None:
        return "—"
    return f"{number_format(_thousandths(value), 2)} kWh"


@register.filter
def pretty_json(value: Any) -> str:
    if value is None:
        return ""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


@register.simple_tag(takes_context=True)
def query_with(context: template.Context, key: str, value: Any) -> str:
    """The current query string with ``key`` set to ``value`` (for paging links)."""
    params = context["request"].GET.copy()
    if value in (None, ""):
        params.pop(key, None)
    else:
        params[key] = value
    return "?" + urlencode(sorted(params.lists()), doseq=True)


@register.simple_tag
def connector_row(row: Any, board_columns: bool = False) -> str:
    """The connector row (``stations.live.rows``), as the live socket renders it."""
    from stations.live.rows import connector_row_html  # it uses this module's filters

    return connector_row_html(row, board_columns=bool(board_columns))


@register.filter
def json_summary(value: Any, width: int = 72) -> str:
    """A payload on one line, cut to ``width`` characters: the summary of a
    collapsed ``<details>`` that holds the whole, indented payload."""
    if value is None:
        return ""
    text = json.dumps(
        value, sort_keys=True, ensure_ascii=False, separators=(", ", ": ")
    )
    return text if len(text) <= width else text[: width - 1] + "…"
