"""The pure allocator: limits, minimums, priorities, offline reservations."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from stations.smart.allocator import (
    Demand,
    ScheduleWindow,
    ac_current_a,
    ac_power_w,
    allocate,
    draw_cap_w,
    profile_changes,
    retry_delay,
    schedule_limit_w,
)

AC_MIN_W = ac_power_w(6, 3)  # 4140 W


@st.composite
def demands(draw: st.DrawFn) -> list[Demand]:
    count = draw(st.integers(min_value=0, max_value=8))
    result = []
    for key in range(1, count + 1):
        max_w = draw(st.integers(min_value=0, max_value=150_000))
        min_w = draw(st.integers(min_value=0, max_value=12_000))
        offline = draw(st.one_of(st.none(), st.integers(0, 22_000)))
        result.append(
            Demand(
                key=key,
                min_w=min_w,
                max_w=max_w,
                priority=draw(st.integers(min_value=0, max_value=3)),
                order=draw(st.integers(min_value=0, max_value=100)),
                draw_cap_w=draw(st.one_of(st.none(), st.integers(0, 50_000))),
                offline_w=offline if draw(st.integers(0, 4)) == 0 else None,
            )
        )
    return result


limits = st.integers(min_value=0, max_value=300_000)


@settings(max_examples=300, deadline=None)
@given(limit_w=limits, wanted=demands())
def test_allocation_never_exceeds_the_limit_beyond_offline_draw(limit_w, wanted):
    result = allocate(limit_w=limit_w, demands=wanted)
    offline = sum(d.offline_w or 0 for d in wanted if d.is_offline)
    online = sum(a.allocated_w for a in result.values() if not a.is_offline)
    assert online <= max(0, limit_w - offline)
    assert set(result) == {d.key for d in wanted}


@settings(max_examples=300, deadline=None)
@given(limit_w=limits, wanted=demands())
def test_each_session_gets_zero_or_between_its_minimum_and_maximum(limit_w, wanted):
    result = allocate(limit_w=limit_w, demands=wanted)
    for demand in wanted:
        allocated = result[demand.key].allocated_w
        if demand.is_offline:
            continue
        assert allocated == 0 or demand.floor_w <= allocated <= demand.cap_w
        assert allocated <= demand.max_w
        assert result[demand.key].is_paused == (allocated == 0)


@settings(max_examples=300, deadline=None)
@given(limit_w=limits, wanted=demands())
def test_no_session_is_powered_while_a_more_important_one_is_paused(limit_w, wanted):
    result = allocate(limit_w=limit_w, demands=wanted)
    online = [d for d in wanted if not d.is_offline and d.cap_w > 0]
    for paused in (d for d in online if result[d.key].allocated_w == 0):
        for other in online:
            if (other.priority, -other.order, -other.key) < (
                paused.priority,
                -paused.order,
                -paused.key,
            ):
                assert result[other.key].allocated_w == 0


@settings(max_examples=200, deadline=None)
@given(limit_w=limits, wanted=demands())
def test_equal_priority_sessions_share_equally_unless_capped(limit_w, wanted):
    result = allocate(limit_w=limit_w, demands=wanted)
    online = [d for d in wanted if not d.is_offline and result[d.key].allocated_w > 0]
    for a in online:
        for b in online:
            if a.priority != b.priority:
                continue
            # b may only get more than a if a is at its cap (or b is held at its minimum).
            if result[b.key].allocated_w > result[a.key].allocated_w:
                assert (
                    result[a.key].allocated_w == a.cap_w
                    or result[b.key].allocated_w == b.floor_w
                )


def test_four_ac_sessions_share_22_kw_equally():
    wanted = [Demand(key=k, min_w=AC_MIN_W, max_w=22_000) for k in range(1, 5)]
    result = allocate(limit_w=22_000, demands=wanted)
    assert [result[k].allocated_w for k in range(1, 5)] == [5500] * 4


def test_sessions_below_minimum_are_paused_not_starved():
    wanted = [Demand(key=k, min_w=AC_MIN_W, max_w=22_000, order=k) for k in range(1, 7)]
    result = allocate(limit_w=11_000, demands=wanted)
    allocated = [result[k].allocated_w for k in range(1, 7)]
    assert allocated == [5500, 5500, 0, 0, 0, 0]
    assert result[3].is_paused


def test_priority_session_is_served_first():
    wanted = [
        Demand(key=1, min_w=AC_MIN_W, max_w=22_000, order=1),
        Demand(key=2, min_w=AC_MIN_W, max_w=22_000, order=2, priority=1),
    ]
    result = allocate(limit_w=20_000, demands=wanted)
    assert result[2].allocated_w == 20_000 - AC_MIN_W
    assert result[1].allocated_w == AC_MIN_W


def test_unused_share_of_a_slow_ev_goes_to_the_others():
    wanted = [
        Demand(key=1, min_w=AC_MIN_W, max_w=22_000, draw_cap_w=5000),
        Demand(key=2, min_w=AC_MIN_W, max_w=22_000),
    ]
    result = allocate(limit_w=22_000, demands=wanted)
    assert result[1].allocated_w == 5000
    assert result[2].allocated_w == 17_000


def test_an_offline_charger_keeps_its_last_share():
    wanted = [
        Demand(key=1, min_w=AC_MIN_W, max_w=22_000, offline_w=11_000),
        Demand(key=2, min_w=AC_MIN_W, max_w=22_000),
    ]
    result = allocate(limit_w=16_000, demands=wanted)
    assert result[1].allocated_w == 11_000
    assert result[1].is_offline
    assert result[2].allocated_w == 5000


def test_draw_cap_only_for_clear_underuse():
    assert draw_cap_w(allocated_w=10_000, measured_w=9_500) is None
    assert draw_cap_w(allocated_w=10_000, measured_w=3_000) == 4_500
    assert draw_cap_w(allocated_w=None, measured_w=3_000) is None


def test_hysteresis_holds_back_small_changes_and_sends_pauses():
    decreases, increases = profile_changes(
        planned={"a": 5400, "b": 0, "c": 7000},
        sent={"a": 5500, "b": 4200, "c": 5000},
        hysteresis_w=500,
        limit_w=22_000,
    )
    assert decreases == ["b"]
    assert increases == ["c"]


def test_hysteresis_never_leaves_the_sent_limits_above_the_site_limit():
    decreases, increases = profile_changes(
        planned={"a": 5400, "b": 5400, "c": 5400, "d": 5400},
        sent={"a": 5600, "b": 5600, "c": 5600, "d": 5600},
        hysteresis_w=500,
        limit_w=21_600,
    )
    assert sorted(decreases) == ["a", "b", "c", "d"]
    assert increases == []


def test_new_and_forced_slots_are_sent():
    decreases, increases = profile_changes(
        planned={"a": 5000, "b": 5000},
        sent={"b": 5000},
        hysteresis_w=500,
        limit_w=22_000,
        must_send=["b"],
    )
    assert decreases == []
    assert increases == ["a", "b"]


def test_amps_round_down_to_stay_within_power():
    amps = ac_current_a(5500, 3)
    assert amps == Decimal("7.9")
    assert ac_power_w(amps, 3) <= 5500


def test_schedule_window_past_midnight_belongs_to_its_start_day():
    friday_only = ScheduleWindow(
        weekdays=1 << 4, start=time(22), end=time(6), limit_w=5000
    )
    friday_night = datetime(2026, 1, 2, 23, 0, tzinfo=UTC)  # a Friday
    saturday_morning = friday_night + timedelta(hours=4)
    saturday_night = friday_night + timedelta(days=1)
    assert schedule_limit_w([friday_only], friday_night) == 5000
    assert schedule_limit_w([friday_only], saturday_morning) == 5000
    assert schedule_limit_w([friday_only], saturday_night) is None


def test_retry_backoff_grows_and_is_bounded():
    assert retry_delay(1) == timedelta(seconds=2)
    assert retry_delay(3) == timedelta(seconds=8)
    assert retry_delay(50) == timedelta(seconds=300)
