"""Tariffs module, CPO side, Sender interface (OCPI 2.2.1 mod_tariffs).

Our tariffs are already OCPI-shaped (billing.TariffElement: price components
and restrictions), so each maps field for field. Two of our rules have no
OCPI field: the free idle minutes and the idle-fee cap; they are stated in
``tariff_alt_text`` so the eMSP can show them.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db.models import Q, QuerySet
from django.http import HttpRequest

from billing.models import Tariff, TariffElement
from roaming.models import Partner, TariffPublication
from roaming.transport import (
    OcpiResult,
    OcpiView,
    object_by_id,
    ocpi_timestamp,
    our_party,
    paginated,
)
from stations.models import Network


def published_tariffs(partner: Partner | None = None) -> QuerySet[Tariff]:
    """Active tariffs of networks with anything published, as ``partner`` sees them.

    Where a tariff is published to the partner for a network
    (``TariffPublication``), that one is the partner's only tariff there.
    """
    networks = Network.objects.filter(
        Q(roaming_publication__is_published=True)
        | Q(stations__roaming_publication__is_published=True)
    )
    tariffs = Tariff.objects.filter(is_active=True, network__in=networks)
    if partner is not None:
        chosen = TariffPublication.objects.filter(partner=partner)
        tariffs = tariffs.filter(
            ~Q(network__in=chosen.values("network")) | Q(pk__in=chosen.values("tariff"))
        )
    return tariffs.distinct().prefetch_related("elements")


def _number(value: Decimal) -> float:
    return float(value)


def _component(kind: str, price: Decimal, vat: Decimal, step: int) -> dict[str, Any]:
    # mod_tariffs "PriceComponent class": price excl. VAT, vat in percent,
    # step_size in Wh (ENERGY) or seconds (TIME, PARKING_TIME); 1 for FLAT.
    return {
        "type": kind,
        "price": _number(price),
        "vat": _number(vat),
        "step_size": step,
    }


def _element(element: TariffElement, vat: Decimal) -> dict[str, Any]:
    components = []
    if element.energy_price_per_kwh is not None:
        components.append(
            _component(
                "ENERGY", element.energy_price_per_kwh, vat, element.energy_step_wh
            )
        )
    if element.flat_price is not None:
        components.append(_component("FLAT", element.flat_price, vat, 1))
    if element.idle_price_per_minute is not None:
        # PARKING_TIME is priced per hour in OCPI; ours is per minute.
        components.append(
            _component(
                "PARKING_TIME",
                element.idle_price_per_minute * 60,
                vat,
                element.idle_step_s,
            )
        )
    if element.time_price_per_hour is not None:
        components.append(
            _component("TIME", element.time_price_per_hour, vat, element.time_step_s)
        )
    restrictions: dict[str, Any] = {}
    if element.start_time is not None:
        restrictions["start_time"] = element.start_time.strftime("%H:%M")
    if element.end_time is not None:
        restrictions["end_time"] = element.end_time.strftime("%H:%M")
    if element.start_date is not None:
        restrictions["start_date"] = element.start_date.isoformat()
    if element.end_date is not None:
        restrictions["end_date"] = element.end_date.isoformat()  # exclusive in both
    for ours, theirs in (
        ("min_kwh", "min_kwh"),
        ("max_kwh", "max_kwh"),
        ("min_power_kw", "min_power"),
        ("max_power_kw", "max_power"),
    ):
        value = getattr(element, ours)
        if value is not None:
            restrictions[theirs] = _number(value)
    # mod_tariffs "TariffRestrictions class": durations in seconds.
    if element.min_duration_minutes is not None:
        restrictions["min_duration"] = element.min_duration_minutes * 60
    if element.max_duration_minutes is not None:
        restrictions["max_duration"] = element.max_duration_minutes * 60
    if element.days_of_week:
        restrictions["day_of_week"] = list(element.days_of_week)
    body: dict[str, Any] = {"price_components": components}
    if restrictions:
        body["restrictions"] = restrictions
    return body


def _price(amount: Decimal, vat: Decimal) -> dict[str, float]:
    # types "Price class": excl_vat and incl_vat.
    incl = (amount * (1 + vat / 100)).quantize(Decimal("0.0001"))
    return {"excl_vat": _number(amount), "incl_vat": _number(incl)}


def tariff_object(tariff: Tariff) -> dict[str, Any]:
    country_code, party_id = our_party()
    vat = tariff.vat_percent
    body: dict[str, Any] = {
        "country_code": country_code,
        "party_id": party_id,
        "id": str(tariff.pk),
        "currency": tariff.currency,
        "elements": [_element(element, vat) for element in tariff.elements.all()],
        "last_updated": ocpi_timestamp(tariff.updated_at),
    }
    if tariff.min_price is not None:
        body["min_price"] = _price(tariff.min_price, vat)
    if tariff.max_price is not None:
        body["max_price"] = _price(tariff.max_price, vat)
    notes = []
    if tariff.idle_grace_minutes:
        notes.append(
            f"The first {tariff.idle_grace_minutes} idle minutes after charging are free."
        )
    if tariff.idle_fee_cap is not None:
        notes.append(
            f"Idle fees are capped at {tariff.idle_fee_cap} {tariff.currency} excl. VAT."
        )
    if notes:
        body["tariff_alt_text"] = [{"language": "en", "text": " ".join(notes)}]
    return body


def _tariffs(tariffs: Iterable[Tariff]) -> list[dict[str, Any]]:
    return [tariff_object(tariff) for tariff in tariffs]


class TariffListView(OcpiView):
    module = "tariffs"
    partner_role = "EMSP"

    def get(self, request: HttpRequest) -> OcpiResult:
        return paginated(
            request,
            published_tariffs(self.caller.partner),
            _tariffs,
            updated_field="updated_at",
        )


class TariffObjectView(OcpiView):
    module = "tariffs"
    partner_role = "EMSP"

    def get(self, request: HttpRequest, tariff_id: str) -> OcpiResult:
        tariff = object_by_id(
            published_tariffs(self.caller.partner),
            tariff_id,
            message=f"Unknown tariff {tariff_id}",
        )
        return OcpiResult(data=tariff_object(tariff))
