"""Outage spans and NEVI uptime: pure arithmetic in integer microseconds.

A port's effective states (``ConnectorsHistory.segments_us``) become *outage
spans*: Faulted and Unavailable time, Offline time while the charger was
disconnected for longer than the grace (``OCPP_OFFLINE_GRACE_SECONDS``: a socket
that comes back within it is a blip, not an outage), and Offline time after the
sweep found the charger silent past heartbeat × 2 + grace (``unanswered``; the
sweep writes that event once the grace has passed). Adjacent time of one cause
is one span, so a port's spans never overlap.

Uptime per 23 CFR 680.116(b)(2)::

    μ = ((T − (T_outage − T_excluded)) / T) × 100

with T = 525,600 minutes for a full 365-day trailing year. The period's own
length is used for T: a period that holds 29 February has 527,040 minutes, and
a port added during the period (its first known status) counts from then on
(the period is prorated), so a port without outages is always exactly 100 %.
T_excluded is the outage time inside the excluded parts of classified outages;
excluded parts that overlap count once, and excluded time outside any outage
counts nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

OUTAGE_OF_STATE = {"Faulted": "faulted", "Unavailable": "unavailable"}
OFFLINE_STATE = "Offline"
UNKNOWN_STATE = "Unknown"
SILENT_KIND = "went_silent"
MINUTE_US = 60_000_000
PERCENT = Decimal("0.001")
MINUTES = Decimal("0.01")


@dataclass(frozen=True)
class Span:
    start_us: int
    end_us: int
    cause: str = ""

    @property
    def length_us(self) -> int:
        return self.end_us - self.start_us


def outage_spans(
    segments: Iterable[tuple[int, int, str]],
    *,
    offline_kind: Callable[[int], str],
    grace_us: int,
) -> list[Span]:
    """The outage spans of one port's ``(from, to, state)`` segments, in order."""
    merged: list[Span] = []
    for begin, end, state in segments:
        if state == OFFLINE_STATE:
            cause = "unanswered" if offline_kind(begin) == SILENT_KIND else "offline"
        else:
            cause = OUTAGE_OF_STATE.get(state, "")
        if not cause:
            continue
        last = merged[-1] if merged else None
        if last is not None and last.end_us == begin and last.cause == cause:
            merged[-1] = Span(last.start_us, end, cause)
        else:
            merged.append(Span(begin, end, cause))
    return [s for s in merged if s.cause != "offline" or s.length_us > grace_us]


def union(spans: Iterable[Span]) -> list[Span]:
    """Overlapping or touching spans joined (causes dropped), in order."""
    joined: list[Span] = []
    for span in sorted(spans, key=lambda s: s.start_us):
        if span.end_us <= span.start_us:
            continue
        if joined and span.start_us <= joined[-1].end_us:
            last = joined[-1]
            joined[-1] = Span(last.start_us, max(last.end_us, span.end_us))
        else:
            joined.append(Span(span.start_us, span.end_us))
    return joined


def clip(spans: Iterable[Span], start_us: int, end_us: int) -> list[Span]:
    """The parts of ``spans`` inside ``[start_us, end_us)``."""
    return [
        Span(max(s.start_us, start_us), min(s.end_us, end_us), s.cause)
        for s in spans
        if s.end_us > start_us and s.start_us < end_us
    ]


def measure(spans: Iterable[Span]) -> int:
    """Microseconds covered by ``spans`` (overlaps once)."""
    return sum(s.length_us for s in union(spans))


def overlap(first: Iterable[Span], second: Iterable[Span]) -> int:
    """Microseconds covered by both ``first`` and ``second``."""
    a, b = union(first), union(second)
    total, i, j = 0, 0, 0
    while i < len(a) and j < len(b):
        low = max(a[i].start_us, b[j].start_us)
        high = min(a[i].end_us, b[j].end_us)
        total += max(0, high - low)
        if a[i].end_us < b[j].end_us:
            i += 1
        else:
            j += 1
    return total


def known_from(segments: Iterable[tuple[int, int, str]]) -> int | None:
    """When the port's first known state begins (its start in the period)."""
    for begin, _, state in segments:
        if state != UNKNOWN_STATE:
            return begin
    return None


@dataclass(frozen=True)
class Uptime:
    """One port's uptime over one period (minutes as ``Decimal``)."""

    period_start_us: int
    period_end_us: int
    period_us: int
    outage_us: int
    excluded_us: int

    @property
    def period_minutes(self) -> Decimal:
        return _minutes(self.period_us)

    @property
    def outage_minutes(self) -> Decimal:
        return _minutes(self.outage_us)

    @property
    def excluded_minutes(self) -> Decimal:
        return _minutes(self.excluded_us)

    @property
    def uptime_pct(self) -> Decimal | None:
        """μ with the exclusions, per 680.116(b)(2)."""
        return self._pct(self.outage_us - self.excluded_us)

    @property
    def uptime_without_exclusions_pct(self) -> Decimal | None:
        return self._pct(self.outage_us)

    def _pct(self, down_us: int) -> Decimal | None:
        if self.period_us <= 0:
            return None
        share = Decimal(self.period_us - down_us) * 100 / Decimal(self.period_us)
        return share.quantize(PERCENT, rounding=ROUND_HALF_EVEN)


def _minutes(value_us: int) -> Decimal:
    return (Decimal(value_us) / MINUTE_US).quantize(MINUTES, rounding=ROUND_HALF_EVEN)


def port_uptime(
    *,
    segments: list[tuple[int, int, str]],
    outages: list[Span],
    excluded: list[Span],
    start_us: int,
    end_us: int,
) -> Uptime:
    """Uptime over ``[start_us, end_us)``, prorated from the port's first known state."""
    first = known_from(segments)
    begin = end_us if first is None else max(start_us, first)
    inside = clip(outages, begin, end_us)
    outage_us = measure(inside)
    return Uptime(
        period_start_us=begin,
        period_end_us=end_us,
        period_us=max(0, end_us - begin),
        outage_us=outage_us,
        excluded_us=overlap(inside, clip(excluded, begin, end_us)),
    )
