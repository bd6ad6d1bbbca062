"""Charging profile arithmetic: which limit is in force, and the composite schedule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stations.simulator.profiles import (
    ProfileError,
    composite_schedule,
    limit_at,
    parse_profile,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def profile(
    *,
    id=1,
    connector_id=1,
    stack=0,
    purpose="TxDefaultProfile",
    kind="Absolute",
    unit="W",
    periods=((0, 11_000.0),),
    start=None,
    duration=None,
    recurrency=None,
    valid_from=None,
    valid_to=None,
    transaction_id=None,
):
    schedule = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [
            {"startPeriod": s, "limit": limit} for s, limit in periods
        ],
    }
    if start is not None:
        schedule["startSchedule"] = start.isoformat()
    if duration is not None:
        schedule["duration"] = duration
    data = {
        "chargingProfileId": id,
        "stackLevel": stack,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": kind,
        "chargingSchedule": schedule,
    }
    if recurrency:
        data["recurrencyKind"] = recurrency
    if valid_from:
        data["validFrom"] = valid_from.isoformat()
    if valid_to:
        data["validTo"] = valid_to.isoformat()
    if transaction_id is not None:
        data["transactionId"] = transaction_id
    return parse_profile(
        data, connector_id=connector_id, received_at=NOW - timedelta(hours=1)
    )


def test_no_profile_means_no_limit():
    assert limit_at([], NOW) is None


def test_amps_convert_with_phases_and_230_volts():
    amps = profile(unit="A", periods=((0, 16.0),))
    assert limit_at([amps], NOW, phases=3) == 16 * 3 * 230
    assert limit_at([amps], NOW, phases=1) == 16 * 230


def test_number_phases_of_a_period_caps_the_conversion():
    single = parse_profile(
        {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "startSchedule": "2026-03-02T00:00:00Z",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 10, "numberPhases": 1}
                ],
            },
        },
        connector_id=1,
        received_at=NOW,
    )
    assert limit_at([single], NOW, phases=3) == 2_300


def test_highest_stack_level_in_force_wins():
    low = profile(
        id=1, stack=0, periods=((0, 11_000.0),), start=NOW - timedelta(hours=2)
    )
    high = profile(
        id=2,
        stack=5,
        periods=((0, 4_000.0),),
        start=NOW - timedelta(hours=2),
        duration=3600,
    )
    assert limit_at([low, high], NOW - timedelta(minutes=90)) == 4_000
    # The higher profile's duration has run out: the lower one applies again.
    assert limit_at([low, high], NOW) == 11_000


def test_tx_profile_overrides_tx_default_and_charge_point_max_caps_both():
    default = profile(id=1, purpose="TxDefaultProfile", periods=((0, 7_000.0),))
    tx = profile(id=2, purpose="TxProfile", kind="Relative", periods=((0, 20_000.0),))
    charger_max = profile(
        id=3, connector_id=0, purpose="ChargePointMaxProfile", periods=((0, 15_000.0),)
    )
    started = NOW - timedelta(minutes=5)
    assert limit_at([default], NOW, transaction_started_at=started) == 7_000
    assert limit_at([default, tx], NOW, transaction_started_at=started) == 20_000
    assert (
        limit_at([default, tx, charger_max], NOW, transaction_started_at=started)
        == 15_000
    )


def test_tx_profile_for_another_transaction_does_not_apply():
    tx = profile(
        purpose="TxProfile", kind="Relative", periods=((0, 3_000.0),), transaction_id=42
    )
    started = NOW - timedelta(minutes=1)
    assert (
        limit_at([tx], NOW, transaction_id=42, transaction_started_at=started) == 3_000
    )
    assert (
        limit_at([tx], NOW, transaction_id=43, transaction_started_at=started) is None
    )


def test_connector_default_overrides_the_charger_wide_default():
    everywhere = profile(id=1, connector_id=0, periods=((0, 11_000.0),))
    here = profile(id=2, connector_id=2, periods=((0, 3_700.0),))
    assert limit_at([everywhere, here], NOW, connector_id=2) == 3_700
    assert limit_at([everywhere, here], NOW, connector_id=1) == 11_000


def test_relative_profile_follows_the_transaction_start():
    relative = profile(kind="Relative", periods=((0, 22_000.0), (1800, 11_000.0)))
    assert (
        limit_at([relative], NOW, transaction_started_at=NOW - timedelta(minutes=10))
        == 22_000
    )
    assert (
        limit_at([relative], NOW, transaction_started_at=NOW - timedelta(minutes=40))
        == 11_000
    )


def test_daily_recurring_profile_repeats_every_day():
    evening = profile(
        kind="Recurring",
        recurrency="Daily",
        start=datetime(2026, 1, 1, 17, 0, tzinfo=UTC),
        duration=4 * 3600,
        periods=((0, 5_000.0),),
    )
    assert limit_at([evening], datetime(2026, 3, 2, 18, 30, tzinfo=UTC)) == 5_000
    assert limit_at([evening], datetime(2026, 3, 2, 22, 0, tzinfo=UTC)) is None
    assert limit_at([evening], datetime(2026, 3, 3, 17, 0, tzinfo=UTC)) == 5_000


def test_validity_window_is_respected():
    windowed = profile(valid_from=NOW, valid_to=NOW + timedelta(hours=1))
    assert limit_at([windowed], NOW - timedelta(seconds=1)) is None
    assert limit_at([windowed], NOW) == 11_000
    assert limit_at([windowed], NOW + timedelta(hours=1)) is None


@pytest.mark.parametrize(
    "change",
    [
        {"chargingSchedulePeriod": []},
        {"chargingSchedulePeriod": [{"startPeriod": 60, "limit": 10}]},
        {"chargingRateUnit": "kW"},
        {"chargingSchedulePeriod": [{"startPeriod": 0, "limit": -1}]},
    ],
)
def test_invalid_schedules_are_refused(change):
    data = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
            **change,
        },
    }
    with pytest.raises(ProfileError):
        parse_profile(data, connector_id=1, received_at=NOW)


def test_recurring_profile_needs_a_start():
    with pytest.raises(ProfileError):
        profile(kind="Recurring", recurrency="Daily")


def test_composite_schedule_merges_profiles_with_the_hardware_limit():
    stepped = profile(
        start=NOW,
        periods=((0, 20_000.0), (600, 8_000.0), (1200, 30_000.0)),
    )
    schedule = composite_schedule(
        [stepped],
        start=NOW,
        duration_s=3600,
        connector_id=1,
        unit="W",
        hardware_limit_w=22_000,
    )
    assert schedule["chargingRateUnit"] == "W"
    assert schedule["duration"] == 3600
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 20_000.0},
        {"startPeriod": 600, "limit": 8_000.0},
        {"startPeriod": 1200, "limit": 22_000.0},
    ]


def test_composite_schedule_in_amps():
    watts = profile(start=NOW, periods=((0, 6_900.0),))
    schedule = composite_schedule(
        [watts],
        start=NOW,
        duration_s=600,
        connector_id=1,
        unit="A",
        hardware_limit_w=22_080,
        phases=3,
    )
    assert schedule["chargingSchedulePeriod"] == [
        {"startPeriod": 0, "limit": 10.0, "numberPhases": 3}
    ]


@given(
    limits=st.lists(st.floats(min_value=0, max_value=50_000), min_size=1, max_size=5),
    offset_s=st.integers(min_value=0, max_value=7_200),
)
def test_limit_is_never_above_the_charge_point_maximum(limits, offset_s):
    profiles = [
        profile(id=n, stack=n, start=NOW, periods=((0, limit),))
        for n, limit in enumerate(limits)
    ]
    cap = profile(
        id=99,
        connector_id=0,
        purpose="ChargePointMaxProfile",
        start=NOW,
        periods=((0, 10_000.0),),
    )
    at = NOW + timedelta(seconds=offset_s)
    limit = limit_at([*profiles, cap], at)
    assert limit is not None
    assert limit <= 10_000
    assert limit == min(limits[-1], 10_000)
