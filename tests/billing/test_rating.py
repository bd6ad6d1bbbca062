"""The pure rating engine: reference example, idle rules, splits and properties."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.rating import (
    Element,
    MeterSample,
    PriceComponent,
    Restrictions,
    SessionTimeline,
    StatusEvent,
    TariffSpec,
    rate_session,
    round_money,
)

T0 = datetime(2025, 1, 10, 8, 0, tzinfo=UTC)


def inr(*, grace_s: int = 0, cap: Decimal | None = None, vat: str = "0") -> TariffSpec:
    return TariffSpec(
        currency="INR",
        vat_percent=Decimal(vat),
        idle_grace_s=grace_s,
        idle_fee_cap=cap,
        elements=(
            Element(
                components=(
                    PriceComponent("ENERGY", Decimal("18")),
                    PriceComponent("PARKING_TIME", Decimal("180"), 60),  # ₹3/min
                )
            ),
        ),
    )


def timeline(
    *,
    energy_wh: int = 22000,
    charging: timedelta = timedelta(hours=1),
    idle: timedelta | None = timedelta(0),
    stop_after_complete: timedelta = timedelta(0),
    zone: str = "Asia/Kolkata",
    start: datetime = T0,
) -> SessionTimeline:
    complete = start + charging
    stop = complete + stop_after_complete
    statuses = [StatusEvent(start, "Charging"), StatusEvent(complete, "SuspendedEV")]
    if idle is not None:
        statuses.append(StatusEvent(complete + idle, "Available"))
    return SessionTimeline(
        started_at=start,
        stopped_at=stop,
        meter_start_wh=5000,
        meter_stop_wh=5000 + energy_wh,
        as_of=stop + timedelta(days=2),
        time_zone=zone,
        samples=(MeterSample(complete, energy_wh=5000 + energy_wh),),
        statuses=tuple(statuses),
    )


def amounts(rated: object) -> dict[str, Decimal]:
    return {line.kind: line.amount for line in rated.lines}  # type: ignore[attr-defined]


def test_reference_example_22_kwh_at_18_rupees_is_396():
    rated = rate_session(timeline(energy_wh=22000), inr())

    assert amounts(rated) == {"energy": Decimal("396.00")}
    assert rated.total == Decimal("396.00")
    assert rated.currency == "INR"


def test_reference_example_adds_3_rupees_per_idle_minute_after_completion():
    rated = rate_session(timeline(energy_wh=22000, idle=timedelta(minutes=25)), inr())

    assert amounts(rated) == {"energy": Decimal("396.00"), "idle": Decimal("75.00")}
    assert rated.total == Decimal("471.00")
    assert rated.idle_seconds == 25 * 60


def test_idle_starts_on_suspended_ev_even_before_stop_transaction():
    """The car is full at 09:00 but the driver stops the session at 09:20."""
    rated = rate_session(
        timeline(idle=timedelta(minutes=30), stop_after_complete=timedelta(minutes=20)),
        inr(),
    )

    assert rated.completed_at == T0 + timedelta(hours=1)
    assert amounts(rated)["idle"] == Decimal("90.00")


def test_idle_ends_when_connector_reports_available_after_stop():
    rated = rate_session(timeline(idle=timedelta(minutes=12)), inr())

    assert rated.idle_ended_at == T0 + timedelta(hours=1, minutes=12)
    assert amounts(rated)["idle"] == Decimal("36.00")


def test_idle_grace_period_is_free():
    rated = rate_session(timeline(idle=timedelta(minutes=25)), inr(grace_s=10 * 60))

    assert amounts(rated)["idle"] == Decimal("45.00")  # 15 billed minutes
    assert rated.billed_idle_seconds == 15 * 60


def test_idle_within_grace_costs_nothing():
    rated = rate_session(timeline(idle=timedelta(minutes=8)), inr(grace_s=10 * 60))

    assert "idle" not in amounts(rated)
    assert rated.total == Decimal("396.00")


def test_idle_fee_cap_limits_the_idle_fee():
    rated = rate_session(timeline(idle=timedelta(hours=5)), inr(cap=Decimal("200")))

    assert rated.idle_fee == Decimal("200.00")
    assert rated.idle_fee_capped
    assert rated.total == Decimal("596.00")


def test_idle_step_bills_each_started_minute():
    rated = rate_session(timeline(idle=timedelta(minutes=4, seconds=1)), inr())

    assert amounts(rated)["idle"] == Decimal("15.00")


def test_low_power_for_the_window_marks_charging_complete():
    """Power falls below the threshold at 09:00 and stays there while open."""
    samples = (
        MeterSample(T0 + timedelta(minutes=30), power_w=11000),
        MeterSample(T0 + timedelta(minutes=60), power_w=20),
        MeterSample(T0 + timedelta(minutes=65), power_w=10),
        MeterSample(T0 + timedelta(minutes=70), power_w=0),
    )
    line = SessionTimeline(
        started_at=T0,
        stopped_at=T0 + timedelta(minutes=80),
        meter_start_wh=0,
        meter_stop_wh=10000,
        as_of=T0 + timedelta(hours=5),
        samples=samples,
        statuses=(StatusEvent(T0 + timedelta(minutes=90), "Available"),),
    )

    rated = rate_session(line, inr())

    assert rated.completed_at == T0 + timedelta(minutes=60)
    assert amounts(rated)["idle"] == Decimal("90.00")  # 30 minutes


def test_a_short_power_dip_does_not_end_charging():
    samples = (
        MeterSample(T0 + timedelta(minutes=30), power_w=50),
        MeterSample(T0 + timedelta(minutes=32), power_w=11000),
    )
    line = SessionTimeline(
        started_at=T0,
        stopped_at=T0 + timedelta(minutes=60),
        meter_start_wh=0,
        meter_stop_wh=10000,
        as_of=T0 + timedelta(hours=5),
        samples=samples,
        statuses=(StatusEvent(T0 + timedelta(minutes=60), "Available"),),
    )

    rated = rate_session(line, inr())

    assert rated.completed_at == T0 + timedelta(minutes=60)
    assert "idle" not in amounts(rated)


def test_charging_again_after_suspended_ev_resets_completion():
    line = SessionTimeline(
        started_at=T0,
        stopped_at=T0 + timedelta(minutes=90),
        meter_start_wh=0,
        meter_stop_wh=10000,
        as_of=T0 + timedelta(hours=5),
        statuses=(
            StatusEvent(T0 + timedelta(minutes=20), "SuspendedEV"),
            StatusEvent(T0 + timedelta(minutes=25), "Charging"),
            StatusEvent(T0 + timedelta(minutes=80), "SuspendedEV"),
            StatusEvent(T0 + timedelta(minutes=100), "Available"),
        ),
    )

    rated = rate_session(line, inr())

    assert rated.completed_at == T0 + timedelta(minutes=80)
    assert amounts(rated)["idle"] == Decimal("60.00")


def test_open_idle_is_counted_until_as_of():
    line = timeline(idle=None)
    rated = rate_session(
        SessionTimeline(
            **{**line.__dict__, "as_of": T0 + timedelta(hours=1, minutes=7)}
        ),
        inr(),
    )

    assert rated.is_idle_open
    assert amounts(rated)["idle"] == Decimal("21.00")


def test_tax_is_computed_on_the_rounded_net_sum():
    spec = TariffSpec(
        currency="EUR",
        vat_percent=Decimal("19"),
        elements=(Element(components=(PriceComponent("ENERGY", Decimal("0.333")),)),),
    )

    rated = rate_session(timeline(energy_wh=10001, zone="Europe/Berlin"), spec)

    # 10.001 kWh × 0.333 = 3.330333 -> 3.33; 19 % of 3.33 = 0.6327 -> 0.63
    assert rated.net == Decimal("3.33")
    assert rated.tax == Decimal("0.63")
    assert rated.total == Decimal("3.96")


def test_minimum_and_maximum_price_adjust_the_net():
    cheap = TariffSpec(
        currency="EUR",
        min_price=Decimal("5"),
        elements=(Element(components=(PriceComponent("ENERGY", Decimal("0.10")),)),),
    )
    dear = TariffSpec(
        currency="EUR",
        max_price=Decimal("5"),
        elements=(Element(components=(PriceComponent("ENERGY", Decimal("1")),)),),
    )

    assert rate_session(timeline(energy_wh=1000), cheap).net == Decimal("5.00")
    assert rate_session(timeline(energy_wh=30000), dear).net == Decimal("5.00")


def test_flat_fee_and_time_fee():
    spec = TariffSpec(
        currency="EUR",
        elements=(
            Element(
                components=(
                    PriceComponent("FLAT", Decimal("1.50")),
                    PriceComponent("TIME", Decimal("2.40"), 60),
                )
            ),
        ),
    )

    rated = rate_session(timeline(charging=timedelta(minutes=30)), spec)

    assert amounts(rated) == {"flat": Decimal("1.50"), "time": Decimal("1.20")}


BERLIN_NIGHT = TariffSpec(
    currency="EUR",
    elements=(
        Element(
            components=(PriceComponent("ENERGY", Decimal("0.30")),),
            restrictions=Restrictions(start_time=time(22, 0), end_time=time(6, 0)),
        ),
        Element(components=(PriceComponent("ENERGY", Decimal("0.50")),)),
    ),
)


def test_time_of_day_split_across_the_spring_dst_change_in_berlin():
    """20:00 CET to 08:00 CEST on 2024-03-30/31 is 11 real hours at 1 kWh/h:
    2 h day, 7 h night (the 02:00-03:00 hour does not exist), 2 h day."""
    start = datetime(2024, 3, 30, 19, 0, tzinfo=UTC)  # 20:00 CET
    stop = datetime(2024, 3, 31, 6, 0, tzinfo=UTC)  # 08:00 CEST
    line = SessionTimeline(
        started_at=start,
        stopped_at=stop,
        meter_start_wh=0,
        meter_stop_wh=11000,
        as_of=stop,
        time_zone="Europe/Berlin",
        statuses=(StatusEvent(stop, "Available"),),
    )

    rated = rate_session(line, BERLIN_NIGHT)

    energy = {line.element: line.volume for line in rated.lines}
    assert energy == {1: Decimal(4000), 0: Decimal(7000)}
    assert rated.net == Decimal("4.10")  # 7 × 0.30 + 4 × 0.50
    assert sum(p.energy_wh for p in rated.periods) == 11000


def test_time_of_day_split_across_the_autumn_dst_change_in_berlin():
    """The night of 2024-10-26/27 has 9 real hours between 22:00 and 06:00."""
    start = datetime(2024, 10, 26, 18, 0, tzinfo=UTC)  # 20:00 CEST
    stop = datetime(2024, 10, 27, 7, 0, tzinfo=UTC)  # 08:00 CET
    line = SessionTimeline(
        started_at=start,
        stopped_at=stop,
        meter_start_wh=0,
        meter_stop_wh=13000,
        as_of=stop,
        time_zone="Europe/Berlin",
        statuses=(StatusEvent(stop, "Available"),),
    )

    rated = rate_session(line, BERLIN_NIGHT)

    energy = {line.element: line.volume for line in rated.lines}
    assert energy == {1: Decimal(4000), 0: Decimal(9000)}


def test_day_of_week_restriction_uses_the_station_time_zone():
    weekend = TariffSpec(
        currency="EUR",
        elements=(
            Element(
                components=(PriceComponent("ENERGY", Decimal("0.20")),),
                restrictions=Restrictions(days_of_week=frozenset({"SATURDAY"})),
            ),
            Element(components=(PriceComponent("ENERGY", Decimal("0.40")),)),
        ),
    )
    # Friday 23:30 UTC is already Saturday 00:30 in Berlin (CET, UTC+1).
    start = datetime(2025, 1, 10, 23, 30, tzinfo=UTC)
    line = timeline(start=start, zone="Europe/Berlin", energy_wh=10000)

    rated = rate_session(line, weekend)

    assert [li.element for li in rated.lines] == [0]


# --- Properties ---------------------------------------------------------------------

prices = st.decimals(min_value=0, max_value=100, places=4, allow_nan=False)
optional_prices = st.none() | prices


@st.composite
def tariffs(draw: st.DrawFn) -> TariffSpec:
    hour = draw(st.integers(0, 23))
    night = Element(
        components=(
            PriceComponent(
                "ENERGY", draw(prices), draw(st.sampled_from([1, 100, 1000]))
            ),
            PriceComponent(
                "PARKING_TIME", draw(prices) * 60, draw(st.sampled_from([1, 60, 300]))
            ),
        ),
        restrictions=Restrictions(
            start_time=time(hour, 0),
            end_time=time((hour + draw(st.integers(1, 12))) % 24, 30),
        ),
    )
    base_components = [
        PriceComponent("ENERGY", draw(prices)),
        PriceComponent("TIME", draw(prices), draw(st.sampled_from([1, 60, 900]))),
        PriceComponent("PARKING_TIME", draw(prices) * 60, 60),
    ]
    flat = draw(optional_prices)
    if flat is not None:
        base_components.append(PriceComponent("FLAT", flat))
    low = draw(optional_prices)
    high = draw(optional_prices)
    if low is not None and high is not None and low > high:
        low, high = high, low
    return TariffSpec(
        currency=draw(st.sampled_from(["EUR", "INR", "JPY", "KWD"])),
        vat_percent=draw(st.decimals(min_value=0, max_value=30, places=2)),
        min_price=low,
        max_price=high,
        idle_grace_s=draw(st.integers(0, 3600)),
        idle_fee_cap=draw(optional_prices),
        elements=(night, Element(components=tuple(base_components))),
    )


sessions = st.fixed_dictionaries(
    {
        "energy_wh": st.integers(0, 150_000),
        "charging_s": st.integers(1, 12 * 3600),
        "idle_s": st.integers(0, 10 * 3600),
        "start_offset_s": st.integers(0, 366 * 86400),
        "zone": st.sampled_from(["Europe/Berlin", "Asia/Kolkata", "America/New_York"]),
    }
)


def build(
    s: dict, *, energy_wh: int | None = None, idle_s: int | None = None
) -> SessionTimeline:
    start = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=s["start_offset_s"])
    return timeline(
        energy_wh=s["energy_wh"] if energy_wh is None else energy_wh,
        charging=timedelta(seconds=s["charging_s"]),
        idle=timedelta(seconds=s["idle_s"] if idle_s is None else idle_s),
        zone=s["zone"],
        start=start,
    )


@settings(max_examples=150, deadline=None)
@given(spec=tariffs(), s=sessions)
def test_price_is_never_negative_and_total_is_lines_plus_tax(spec, s):
    rated = rate_session(build(s), spec)

    assert rated.total >= 0
    assert rated.net >= 0
    assert rated.tax >= 0
    assert all(
        li.amount >= 0
        for li in rated.lines
        if li.kind in {"energy", "time", "idle", "flat"}
    )
    assert sum(li.amount for li in rated.lines) == rated.net
    assert rated.total == rated.net + rated.tax


@settings(max_examples=100, deadline=None)
@given(spec=tariffs(), s=sessions, more=st.integers(1, 50_000))
def test_price_is_monotone_in_energy(spec, s, more):
    less = rate_session(build(s), spec)
    greater = rate_session(build(s, energy_wh=s["energy_wh"] + more), spec)

    assert greater.total >= less.total


@settings(max_examples=100, deadline=None)
@given(spec=tariffs(), s=sessions, more=st.integers(1, 5 * 3600))
def test_price_is_monotone_in_idle_minutes(spec, s, more):
    less = rate_session(build(s), spec)
    greater = rate_session(build(s, idle_s=s["idle_s"] + more), spec)

    assert greater.total >= less.total
    assert greater.idle_fee >= less.idle_fee


@settings(max_examples=100, deadline=None)
@given(spec=tariffs(), s=sessions)
def test_idle_fee_cap_is_respected(spec, s):
    rated = rate_session(build(s), spec)

    if spec.idle_fee_cap is not None:
        assert rated.idle_fee <= round_money(spec.idle_fee_cap, spec.currency)
        idle_lines = sum(
            li.amount for li in rated.lines if li.kind in {"idle", "idle_cap"}
        )
        assert idle_lines == rated.idle_fee


@settings(max_examples=100, deadline=None)
@given(spec=tariffs(), s=sessions)
def test_time_of_day_splits_add_up_to_the_whole_session(spec, s):
    line = build(s)
    rated = rate_session(line, spec)

    periods = rated.periods
    assert periods[0].start == line.started_at
    assert all(a.end == b.start for a, b in itertools.pairwise(periods))
    assert periods[-1].end == line.started_at + timedelta(
        seconds=s["charging_s"] + s["idle_s"]
    )
    assert sum(p.energy_wh for p in periods) == s["energy_wh"]
    assert sum(li.volume for li in rated.lines if li.kind == "energy") == s["energy_wh"]
    charged = sum(li.volume for li in rated.lines if li.kind == "time")
    assert charged == s["charging_s"]
