"""Tariffs module, eMSP side, Receiver interface (OCPI 2.2.1 mod_tariffs).

A partner CPO PUTs, GETs and DELETEs its Tariffs at
``.../emsp/2.2.1/tariffs/{country_code}/{party_id}/{tariff_id}``; the pull
stores through ``tariff_store`` too. ``driver_price`` turns a stored Tariff into
the price our driver app shows: per kWh, per minute, per session, parking per
minute, with VAT where the tariff gives it.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from roaming.emsp.locations import Owner, owner_for
from roaming.models import PartnerTariff
from roaming.transport import (
    INVALID_PARAMETERS,
    NotFound,
    OcpiError,
    OcpiResult,
    OcpiView,
    ocpi_datetime_parse,
    request_json,
    require_object,
)

# mod_tariffs "TariffDimensionType enum" and "TariffType enum".
DIMENSIONS = {"ENERGY", "FLAT", "PARKING_TIME", "TIME"}
TARIFF_TYPES = {
    "AD_HOC_PAYMENT",
    "PROFILE_CHEAP",
    "PROFILE_FAST",
    "PROFILE_GREEN",
    "REGULAR",
}
_DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]


def _invalid(message: str) -> OcpiError:
    return OcpiError(INVALID_PARAMETERS, message)


def _number(value: Any, label: str, notes: list[str]) -> Decimal:
    if isinstance(value, str):
        notes.append(f"{label}: a string, not a number")
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"{label}: a number is required")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise _invalid(f"{label}: a number is required, not {value!r}") from None
    if not number.is_finite() or number < 0:
        raise _invalid(f"{label}: a non-negative number is required")
    return number


def _price(value: Any, label: str, notes: list[str]) -> None:
    """mod_tariffs "Price class": excl_vat, optional incl_vat."""
    price = require_object(value, field=label)
    if price.get("excl_vat") is None:
        raise _invalid(f"Missing required field: {label}.excl_vat")
    _number(price["excl_vat"], f"{label}.excl_vat", notes)
    if price.get("incl_vat") is not None:
        _number(price["incl_vat"], f"{label}.incl_vat", notes)


def tariff_check(obj: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Validate a mod_tariffs "Tariff object"; its columns and what was odd."""
    notes: list[str] = []
    columns: dict[str, Any] = {}
    for name, length in (("country_code", 2), ("party_id", 3), ("id", 36)):
        value = obj.get(name)
        if value is None:
            raise _invalid(f"Missing required field: {name}")
        if not isinstance(value, str) or not value:
            raise _invalid(f"{name}: a non-empty string is required")
        if len(value) > length:
            raise _invalid(f"{name}: at most {length} characters allowed")
    currency = obj.get("currency")
    if currency is None:
        raise _invalid("Missing required field: currency")
    if not isinstance(currency, str) or len(currency) != 3 or not currency.isalpha():
        raise _invalid(f"currency: an ISO 4217 code is required, not {currency!r}")
    columns["currency"] = currency.upper()
    kind = obj.get("type")
    if kind is not None and kind not in TARIFF_TYPES:
        notes.append(f"type: unknown tariff type {kind!r}")
    elements = obj.get("elements")
    if not isinstance(elements, list) or not elements:
        # mod_tariffs "Tariff object": elements, cardinality +.
        raise _invalid("elements: at least one TariffElement is required")
    for index, element in enumerate(elements):
        where = f"elements[{index}]"
        element = require_object(element, field=where)
        components = element.get("price_components")
        if not isinstance(components, list) or not components:
            raise _invalid(f"{where}.price_components: at least one is required")
        for number, component in enumerate(components):
            at = f"{where}.price_components[{number}]"
            component = require_object(component, field=at)
            if component.get("type") not in DIMENSIONS:
                raise _invalid(
                    f"{at}.type: one of {', '.join(sorted(DIMENSIONS))} is required"
                )
            if component.get("price") is None:
                raise _invalid(f"Missing required field: {at}.price")
            _number(component["price"], f"{at}.price", notes)
            if component.get("vat") is not None:
                _number(component["vat"], f"{at}.vat", notes)
            step = component.get("step_size")
            if step is None:
                raise _invalid(f"Missing required field: {at}.step_size")
            if isinstance(step, bool) or not isinstance(step, int) or step < 0:
                raise _invalid(f"{at}.step_size: a non-negative integer is required")
        restrictions = element.get("restrictions")
        if restrictions is not None:
            require_object(restrictions, field=f"{where}.restrictions")
    for name in ("min_price", "max_price"):
        if obj.get(name) is not None:
            _price(obj[name], name, notes)
    for name in ("start_date_time", "end_date_time"):
        if obj.get(name) is not None:
            if not isinstance(obj[name], str):
                raise _invalid(f"{name}: an RFC 3339 date-time string is required")
            ocpi_datetime_parse(obj[name], field=name)
    last_updated = obj.get("last_updated")
    if last_updated is None:
        raise _invalid("Missing required field: last_updated")
    if not isinstance(last_updated, str):
        raise _invalid("last_updated: an RFC 3339 date-time string is required")
    columns["last_updated"] = ocpi_datetime_parse(last_updated, field="last_updated")
    return columns, notes


def _check_key(obj: dict[str, Any], name: str, expected: str) -> None:
    value = obj.get(name)
    if value is not None and str(value).upper() != expected.upper():
        raise _invalid(f"{name}: {value!r} does not match the URL ({expected!r})")


def tariff_store(owner: Owner, tariff_id: str, obj: Any) -> bool:
    """Store a whole Tariff; False when the one we hold is newer (kept)."""
    obj = require_object(obj)
    _check_key(obj, "country_code", owner.country_code)
    _check_key(obj, "party_id", owner.party_id)
    if obj.get("id") is not None and str(obj["id"]) != tariff_id:
        raise _invalid(f"id: {obj['id']!r} does not match the URL ({tariff_id!r})")
    columns, notes = tariff_check(obj)
    with transaction.atomic():
        current = (
            PartnerTariff.objects.select_for_update()
            .filter(
                country_code=owner.country_code,
                party_id=owner.party_id,
                tariff_id=tariff_id,
            )
            .first()
        )
        if current is not None and columns["last_updated"] < current.last_updated:
            return False
        PartnerTariff.objects.update_or_create(
            country_code=owner.country_code,
            party_id=owner.party_id,
            tariff_id=tariff_id,
            defaults={
                **columns,
                "partner": owner.partner,
                "data": obj,
                "notes": notes,
            },
        )
    return True


class PartnerTariffView(OcpiView):
    """.../emsp/2.2.1/tariffs/{country_code}/{party_id}/{tariff_id} (mod_tariffs Receiver)."""

    module = "tariffs"
    partner_role = "CPO"

    def _row(self, owner: Owner, tariff_id: str) -> PartnerTariff:
        tariff = PartnerTariff.objects.filter(
            country_code=owner.country_code,
            party_id=owner.party_id,
            tariff_id=tariff_id,
        ).first()
        if tariff is None:
            raise NotFound(f"Unknown tariff {tariff_id}")
        return tariff

    def get(
        self, request: HttpRequest, country_code: str, party_id: str, tariff_id: str
    ) -> OcpiResult:
        owner = owner_for(self.caller.partner, country_code, party_id)
        return OcpiResult(data=self._row(owner, tariff_id).data)

    def put(
        self, request: HttpRequest, country_code: str, party_id: str, tariff_id: str
    ) -> OcpiResult:
        owner = owner_for(self.caller.partner, country_code, party_id)
        tariff_store(owner, tariff_id, request_json(request))
        return OcpiResult()

    def delete(
        self, request: HttpRequest, country_code: str, party_id: str, tariff_id: str
    ) -> OcpiResult:
        owner = owner_for(self.caller.partner, country_code, party_id)
        self._row(owner, tariff_id).delete()
        return OcpiResult()


# --- The price a driver understands -------------------------------------------------

_PER = {
    # dimension -> (what the driver reads, divisor from the OCPI unit)
    # mod_tariffs "TariffDimensionType enum": ENERGY per kWh, FLAT per session,
    # TIME and PARKING_TIME per hour (shown per minute).
    "ENERGY": ("energy_per_kwh", Decimal(1)),
    "FLAT": ("flat_per_session", Decimal(1)),
    "TIME": ("charging_per_minute", Decimal(60)),
    "PARKING_TIME": ("parking_per_minute", Decimal(60)),
}
_CENT = Decimal("0.0001")


def _restrictions_apply_now(restrictions: dict[str, Any], moment: datetime) -> bool:
    """Whether the element's time and weekday restrictions hold at ``moment`` (local)."""
    days = restrictions.get("day_of_week")
    if days and _DAYS[moment.weekday()] not in days:
        return False
    start, end = restrictions.get("start_time"), restrictions.get("end_time")
    now = moment.strftime("%H:%M")
    if start and end:
        # An end before the start runs past midnight (mod_tariffs "TariffRestrictions class").
        inside = start <= now < end if start <= end else (now >= start or now < end)
    else:
        inside = (not start or now >= start) and (not end or now < end)
    if not inside:
        return False
    for name, compare in (("start_date", "ge"), ("end_date", "lt")):
        value = restrictions.get(name)
        today = moment.strftime("%Y-%m-%d")
        if value and (
            (compare == "ge" and today < value) or (compare == "lt" and today >= value)
        ):
            return False
    return True


def _component_row(component: dict[str, Any]) -> dict[str, Any]:
    kind = component["type"]
    label, divisor = _PER[kind]
    excl = Decimal(str(component["price"])) / divisor
    vat = component.get("vat")
    # mod_tariffs "PriceComponent class": price excludes VAT; without vat no
    # VAT applies (which differs from 0 %).
    vat_percent = Decimal(str(vat)) if vat is not None else None
    incl = excl * (1 + (vat_percent or Decimal(0)) / 100)
    return {
        "dimension": label,
        "price_excl_vat": excl.quantize(_CENT),
        "vat_percent": vat_percent,
        "price_incl_vat": incl.quantize(_CENT),
        "step_size": int(component.get("step_size") or 0),
    }


def driver_price(
    tariff: PartnerTariff, *, time_zone: str, at: datetime | None = None
) -> dict[str, Any]:
    """The partner's tariff as the driver app shows it.

    ``elements`` keeps every TariffElement with its conditions; the headline
    prices are, per dimension, the first element whose time and weekday
    restrictions hold now in the location's zone (mod_tariffs "TariffElement
    class": the first matching element is the one that applies). Restrictions on
    energy, power or duration are listed as conditions and do not pick.
    """
    moment = at or timezone.now()
    try:
        local = moment.astimezone(zoneinfo.ZoneInfo(time_zone))
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        local = moment
    data = tariff.data
    headline: dict[str, Any] = {label: None for label, _d in _PER.values()}
    elements = []
    for element in data.get("elements", []):
        restrictions = element.get("restrictions") or {}
        rows = [_component_row(c) for c in element.get("price_components", [])]
        elements.append({"conditions": restrictions, "components": rows})
        if not _restrictions_apply_now(restrictions, local):
            continue
        for row in rows:
            if headline[row["dimension"]] is None:
                headline[row["dimension"]] = row
    description = ""
    texts = data.get("tariff_alt_text") or []
    if isinstance(texts, list) and texts:
        english = [
            t for t in texts if isinstance(t, dict) and t.get("language") == "en"
        ]
        chosen = (english or texts)[0]
        description = str(chosen.get("text", "")) if isinstance(chosen, dict) else ""

    def _bound(name: str) -> Decimal | None:
        price = data.get(name)
        if not isinstance(price, dict):
            return None
        value = price.get("incl_vat", price.get("excl_vat"))
        return Decimal(str(value)).quantize(_CENT) if value is not None else None

    return {
        "tariff_id": tariff.tariff_id,
        "currency": tariff.currency,
        **{
            label: (row["price_incl_vat"] if row else None)
            for label, row in headline.items()
        },
        "min_price": _bound("min_price"),
        "max_price": _bound("max_price"),
        "description": description,
        "elements": elements,
    }
