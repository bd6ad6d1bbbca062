"""The demo's tariffs: AC at the network default and DC fast charging above
50 kW, both with idle fees, and the second network's standard tariff.
Registered into ``cms.demo``."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from billing.models import Tariff
from billing.services import tariff_assignment_add, tariff_create
from cms.demo import DemoLoad, DemoTally
from stations.demo import DEMO_NETWORK, SECOND_NETWORK
from stations.models import Network


def _tariff(
    network: Network,
    name: str,
    tally: DemoTally,
    *,
    data: dict[str, Any],
    element: dict[str, Any],
    connector_type: str = "",
    min_power_kw: Decimal | None = None,
) -> None:
    """A tariff and its assignment, created once (the name identifies it)."""
    if Tariff.objects.filter(network=network, name=name).exists():
        return
    tariff = tariff_create(
        actor=None, network=network, data={"name": name, **data}, elements=[element]
    )
    tariff_assignment_add(
        actor=None,
        tariff=tariff,
        connector_type=connector_type,
        min_power_kw=min_power_kw,
    )
    tally.add("tariffs", True)


def _tariffs(demo: Network, northside: Network, tally: DemoTally) -> None:
    """AC at the network default, DC fast charging above 50 kW, both with idle fees."""
    idle = {"idle_grace_minutes": 15, "idle_fee_cap": Decimal("12.00")}
    _tariff(
        demo,
        "Demo AC",
        tally,
        data={"currency": "EUR", "vat_percent": Decimal("19"), **idle},
        element={
            "energy_price_per_kwh": Decimal("0.49"),
            "idle_price_per_minute": Decimal("0.10"),
        },
    )
    _tariff(
        demo,
        "Demo DC fast",
        tally,
        data={"currency": "EUR", "vat_percent": Decimal("19"), **idle},
        element={
            "energy_price_per_kwh": Decimal("0.69"),
            "idle_price_per_minute": Decimal("0.20"),
        },
        min_power_kw=Decimal("50"),
    )
    _tariff(
        northside,
        "Northside standard",
        tally,
        data={"currency": "DKK", "vat_percent": Decimal("25")},
        element={"energy_price_per_kwh": Decimal("3.95")},
    )


def billing_demo_load(load: DemoLoad) -> None:
    _tariffs(
        Network.objects.get(name=DEMO_NETWORK),
        Network.objects.get(name=SECOND_NETWORK),
        load.tally,
    )
