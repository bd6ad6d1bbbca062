"""The car at the plug: battery, on-board charger and the charging power curve.

Pure functions, no I/O, so the curve can be property-tested. Power in W,
energy in Wh, state of charge in percent.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# Lithium-ion packs charge at constant power up to roughly 80 % and then taper
# (constant-voltage phase); the last few percent still go in, slowly.
TAPER_FROM_PERCENT = 80.0
MIN_TAPER_FRACTION = 0.05
FULL_PERCENT = 100.0
# Below this a charger cannot deliver AC at all (IEC 61851: 6 A minimum).
MIN_AC_CURRENT_A = 6.0
NOMINAL_AC_VOLTAGE_V = 230.0


@dataclass
class ElectricVehicle:
    """One car: what it can take and how full it is."""

    capacity_wh: float
    soc_percent: float
    max_ac_power_w: float
    ac_phases: int
    max_dc_power_w: float
    model: str = "EV"

    def max_power_w(self, *, is_dc: bool) -> float:
        return self.max_dc_power_w if is_dc else self.max_ac_power_w

    @property
    def is_full(self) -> bool:
        return self.soc_percent >= FULL_PERCENT


@dataclass(frozen=True)
class ChargeResult:
    energy_wh: float
    soc_percent: float
    power_w: float


_EV_MODELS: tuple[tuple[str, float, float, int, float], ...] = (
    # model, usable capacity kWh, on-board AC kW, AC phases, DC peak kW
    ("Compact hatchback", 40.0, 7.4, 1, 50.0),
    ("City EV", 52.0, 11.0, 3, 100.0),
    ("Family SUV", 77.0, 11.0, 3, 175.0),
    ("Sedan long range", 82.0, 11.0, 3, 250.0),
    ("Crossover", 64.0, 7.4, 1, 80.0),
    ("Executive saloon", 100.0, 22.0, 3, 270.0),
    ("Van", 58.0, 11.0, 3, 120.0),
)


def ev_acceptance_w(*, soc_percent: float, max_power_w: float) -> float:
    """Return the power the battery accepts at this state of charge."""
    if soc_percent >= FULL_PERCENT or max_power_w <= 0:
        return 0.0
    if soc_percent < TAPER_FROM_PERCENT:
        return max_power_w
    remaining = (FULL_PERCENT - soc_percent) / (FULL_PERCENT - TAPER_FROM_PERCENT)
    return max_power_w * max(remaining, MIN_TAPER_FRACTION)


def charge(
    *,
    soc_percent: float,
    capacity_wh: float,
    max_power_w: float,
    limit_w: float,
    seconds: float,
    substep_s: float = 5.0,
) -> ChargeResult:
    """Charge for ``seconds`` under ``limit_w``; return energy, new SoC, end power.

    Integrates in small steps because the acceptance falls as the SoC rises.
    """
    energy_wh = 0.0
    soc = min(max(soc_percent, 0.0), FULL_PERCENT)
    power_w = 0.0
    remaining_s = max(seconds, 0.0)
    while True:
        power_w = max(
            0.0,
            min(limit_w, ev_acceptance_w(soc_percent=soc, max_power_w=max_power_w)),
        )
        if remaining_s <= 0 or power_w <= 0:
            break
        step_s = min(substep_s, remaining_s)
        room_wh = (FULL_PERCENT - soc) / 100.0 * capacity_wh
        step_wh = min(power_w * step_s / 3600.0, room_wh)
        energy_wh += step_wh
        soc = min(FULL_PERCENT, soc + step_wh / capacity_wh * 100.0)
        remaining_s -= step_s
    return ChargeResult(energy_wh=energy_wh, soc_percent=soc, power_w=power_w)


def random_ev(rng: random.Random, *, is_dc: bool) -> ElectricVehicle:
    """Pick a plausible car; fast-charger visitors arrive emptier."""
    model, capacity_kwh, ac_kw, phases, dc_kw = rng.choice(_EV_MODELS)
    soc = rng.uniform(5.0, 40.0) if is_dc else rng.uniform(15.0, 70.0)
    return ElectricVehicle(
        capacity_wh=capacity_kwh * 1000.0,
        soc_percent=round(soc, 1),
        max_ac_power_w=ac_kw * 1000.0,
        ac_phases=phases,
        max_dc_power_w=dc_kw * 1000.0,
        model=model,
    )


def dc_voltage_v(*, soc_percent: float, nominal_v: float = 400.0) -> float:
    """Battery voltage seen by a DC charger: rises with the state of charge."""
    return nominal_v * (0.9 + 0.15 * min(max(soc_percent, 0.0), FULL_PERCENT) / 100)
