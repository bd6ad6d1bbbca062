"""The load-management arithmetic: pure functions on integers (W), no ORM.

``allocate`` divides a site's power among its sessions:

1. Offline chargers keep drawing what they were last given (they cannot be told
   otherwise), so their share is reserved first.
2. Sessions are admitted in priority order (then arrival order) while their
   minimum still fits; the rest are paused (0 W) rather than starved below the
   minimum current an EV accepts (IEC 61851-1: 6 A on AC).
3. The remainder is water-filled tier by tier: the highest priority first, equal
   shares within a tier, each session capped by its maximum and, when its EV was
   measured drawing clearly less than it was given, by that draw plus headroom.

The result never exceeds the limit. ``profile_changes`` decides which changes are
worth sending (hysteresis) without letting the sent limits add up above it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal

NOMINAL_AC_VOLTAGE_V = 230
DEFAULT_MIN_CURRENT_A = Decimal("6")
# A measured draw below this share of the allocation means the EV takes less
# (full, slow, or single-phase on a three-phase charger).
UNDERUSE_RATIO = 0.9
DRAW_HEADROOM_RATIO = 1.25
DRAW_HEADROOM_W = 1500


@dataclass(frozen=True)
class Demand:
    """One active session as the allocator sees it (all in W)."""

    key: int
    min_w: int
    max_w: int
    priority: int = 0
    order: int = 0
    draw_cap_w: int | None = None
    offline_w: int | None = None

    @property
    def is_offline(self) -> bool:
        return self.offline_w is not None

    @property
    def floor_w(self) -> int:
        """The least a running session gets (at least 1 W: 0 W means paused)."""
        return min(max(1, self.min_w), max(0, self.max_w))

    @property
    def cap_w(self) -> int:
        """The most worth giving: the hardware maximum, or the observed draw."""
        cap = max(0, self.max_w)
        if self.draw_cap_w is not None:
            cap = min(cap, max(self.draw_cap_w, self.floor_w))
        return cap


@dataclass(frozen=True)
class Allocation:
    key: int
    allocated_w: int
    is_paused: bool
    is_offline: bool = False


def ac_power_w(current_a: Decimal | float | int, phases: int) -> int:
    """Power of an AC current per phase at the nominal 230 V."""
    return int(Decimal(str(current_a)) * phases * NOMINAL_AC_VOLTAGE_V)


def ac_current_a(power_w: int, phases: int) -> Decimal:
    """The current per phase (0.1 A steps, rounded down) that stays within ``power_w``."""
    amps = Decimal(power_w) / (phases * NOMINAL_AC_VOLTAGE_V)
    return amps.quantize(Decimal("0.1"), rounding=ROUND_FLOOR)


def draw_cap_w(*, allocated_w: int | None, measured_w: float | None) -> int | None:
    """A cap for a session measured drawing clearly less than it was given, else None."""
    if allocated_w is None or measured_w is None or allocated_w <= 0:
        return None
    measured = max(0.0, float(measured_w))
    if measured >= allocated_w * UNDERUSE_RATIO:
        return None  # it uses its share: it may want more
    return int(max(measured * DRAW_HEADROOM_RATIO, measured + DRAW_HEADROOM_W))


def _fill_level(
    members: Sequence[Demand], start: Mapping[int, int], budget: int
) -> int:
    """The highest level L with sum(clamp(L, start, cap)) - sum(start) <= budget."""

    def extra(level: int) -> int:
        return sum(
            max(0, min(level, member.cap_w) - start[member.key]) for member in members
        )

    low, high = 0, max((member.cap_w for member in members), default=0)
    if extra(high) <= budget:
        return high
    while low < high:
        middle = (low + high + 1) // 2
        if extra(middle) <= budget:
            low = middle
        else:
            high = middle - 1
    return low


def allocate(*, limit_w: int, demands: Iterable[Demand]) -> dict[int, Allocation]:
    """Divide ``limit_w`` among ``demands``; the sum never exceeds the limit."""
    demands = list(demands)
    result: dict[int, Allocation] = {}
    remaining = max(0, int(limit_w))
    # 1. Offline chargers: what they were last given is drawn regardless.
    for demand in demands:
        if demand.is_offline:
            reserved = max(0, int(demand.offline_w or 0))
            result[demand.key] = Allocation(
                demand.key, reserved, is_paused=reserved == 0, is_offline=True
            )
            remaining -= reserved
    remaining = max(0, remaining)
    online = sorted(
        (demand for demand in demands if not demand.is_offline),
        key=lambda demand: (-demand.priority, demand.order, demand.key),
    )
    # 2. Admission: strictly in priority order, so no session gets power while a
    # more important one is paused.
    admitted: list[Demand] = []
    for demand in online:
        if demand.cap_w <= 0:
            continue  # it cannot take power at all; nothing to hold back for it
        if demand.floor_w > remaining:
            break
        admitted.append(demand)
        remaining -= demand.floor_w
    given = {demand.key: demand.floor_w for demand in admitted}
    # 3. Water-fill the rest, tier by tier.
    for priority in sorted({demand.priority for demand in admitted}, reverse=True):
        tier = [demand for demand in admitted if demand.priority == priority]
        level = _fill_level(tier, given, remaining)
        for demand in tier:
            raised = max(given[demand.key], min(level, demand.cap_w))
            remaining -= raised - given[demand.key]
            given[demand.key] = raised
    for demand in online:
        allocated = given.get(demand.key, 0)
        result[demand.key] = Allocation(demand.key, allocated, is_paused=allocated == 0)
    return result


def profile_changes(
    *,
    planned: Mapping[object, int],
    sent: Mapping[object, int],
    hysteresis_w: int,
    limit_w: int,
    must_send: Iterable[object] = (),
) -> tuple[list[object], list[object]]:
    """Return (decreases, increases) worth sending to chargers.

    A change smaller than ``hysteresis_w`` is kept back, except pausing or
    resuming (to or from 0 W), unknown slots and ``must_send``. If the limits the
    chargers would then hold still add up above ``limit_w``, every decrease is
    sent anyway: hysteresis never buys quiet with an overload.
    """
    forced = set(must_send)
    decreases: list[object] = []
    increases: list[object] = []
    held_back: list[object] = []
    for key, new_w in planned.items():
        old_w = sent.get(key)
        if old_w is not None and old_w == new_w and key not in forced:
            continue
        is_significant = (
            old_w is None
            or key in forced
            or abs(new_w - old_w) >= hysteresis_w
            or (new_w == 0) != (old_w == 0)
        )
        if is_significant:
            (decreases if old_w is not None and new_w < old_w else increases).append(
                key
            )
        else:
            held_back.append(key)
    holding = {key: planned[key] for key in decreases + increases}
    holding.update({key: sent[key] for key in held_back})
    if sum(holding.values()) > limit_w:
        decreases += [key for key in held_back if planned[key] < sent[key]]
    return decreases, increases


@dataclass(frozen=True)
class ScheduleWindow:
    """A schedule entry: weekday bits (bit 0 = Monday), local times, the limit."""

    weekdays: int
    start: time
    end: time
    limit_w: int

    def applies(self, local: datetime) -> bool:
        moment = local.time().replace(tzinfo=None)
        weekday = local.weekday()
        if self.start < self.end:
            return (
                bool(self.weekdays >> weekday & 1) and self.start <= moment < self.end
            )
        # Past midnight: the entry belongs to the weekday it starts on.
        if moment >= self.start:
            return bool(self.weekdays >> weekday & 1)
        if moment < self.end:
            return bool(self.weekdays >> ((weekday - 1) % 7) & 1)
        return False


def schedule_limit_w(windows: Iterable[ScheduleWindow], local: datetime) -> int | None:
    """The lowest limit of the schedule entries in force at ``local``, if any."""
    limits = [window.limit_w for window in windows if window.applies(local)]
    return min(limits) if limits else None


def retry_delay(attempts: int, *, base_s: int = 2, max_s: int = 300) -> timedelta:
    """Exponential backoff for a refused or undelivered profile."""
    exponent = max(0, attempts - 1)
    return timedelta(seconds=min(max_s, base_s * math.pow(2, min(exponent, 16))))
