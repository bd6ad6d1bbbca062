"""The EV power curve: constant power, taper above 80 %, nothing when full."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from stations.simulator.ev import charge, dc_voltage_v, ev_acceptance_w, random_ev

socs = st.floats(min_value=0, max_value=100)
powers = st.floats(min_value=1_000, max_value=350_000)


def test_battery_takes_full_power_until_80_percent_then_tapers_to_nothing():
    assert ev_acceptance_w(soc_percent=20, max_power_w=11_000) == 11_000
    assert ev_acceptance_w(soc_percent=79.9, max_power_w=11_000) == 11_000
    assert ev_acceptance_w(soc_percent=90, max_power_w=11_000) == 5_500
    assert 0 < ev_acceptance_w(soc_percent=99.9, max_power_w=11_000) < 1_000
    assert ev_acceptance_w(soc_percent=100, max_power_w=11_000) == 0


@given(low=socs, high=socs, max_power_w=powers)
def test_acceptance_never_rises_with_state_of_charge(low, high, max_power_w):
    low, high = sorted((low, high))
    assert ev_acceptance_w(
        soc_percent=high, max_power_w=max_power_w
    ) <= ev_acceptance_w(soc_percent=low, max_power_w=max_power_w)


@given(
    soc=socs,
    capacity_kwh=st.floats(min_value=20, max_value=120),
    max_power_w=powers,
    limit_w=st.floats(min_value=0, max_value=350_000),
    seconds=st.floats(min_value=0, max_value=7_200),
)
def test_charging_respects_limit_capacity_and_only_fills_the_battery(
    soc, capacity_kwh, max_power_w, limit_w, seconds
):
    capacity_wh = capacity_kwh * 1000
    result = charge(
        soc_percent=soc,
        capacity_wh=capacity_wh,
        max_power_w=max_power_w,
        limit_w=limit_w,
        seconds=seconds,
    )
    assert 0 <= result.energy_wh <= min(limit_w, max_power_w) * seconds / 3600 + 1e-6
    assert soc - 1e-9 <= result.soc_percent <= 100
    assert result.energy_wh <= (100 - soc) / 100 * capacity_wh + 1e-6
    assert result.power_w <= min(limit_w, max_power_w)


def test_a_long_session_ends_with_a_full_battery_and_no_power():
    result = charge(
        soc_percent=30,
        capacity_wh=60_000,
        max_power_w=50_000,
        limit_w=50_000,
        seconds=6 * 3600,
    )
    assert result.soc_percent == 100
    assert result.power_w == 0
    assert round(result.energy_wh) == 42_000


def test_limit_caps_the_power_curve():
    result = charge(
        soc_percent=30,
        capacity_wh=60_000,
        max_power_w=50_000,
        limit_w=10_000,
        seconds=3600,
    )
    assert result.power_w == 10_000
    assert round(result.energy_wh) == 10_000


def test_random_cars_are_plausible():
    rng = random.Random(1)
    for _ in range(50):
        ev = random_ev(rng, is_dc=True)
        assert 40_000 <= ev.capacity_wh <= 100_000
        assert 0 < ev.soc_percent < 80
        assert ev.ac_phases in (1, 3)
    assert dc_voltage_v(soc_percent=100) > dc_voltage_v(soc_percent=0)
