"""Which stored rows cover a range of local days (the pure core of range_totals)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from stations.reports.tallies import HOUR, RangeSources, hour_split, range_sources

BERLIN = ZoneInfo("Europe/Berlin")
KOLKATA = ZoneInfo("Asia/Kolkata")  # UTC+05:30: local days start mid-hour
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


def _utc(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def _intervals(
    sources: RangeSources, zone: ZoneInfo
) -> list[tuple[datetime, datetime]]:
    """Every part of ``sources`` as a UTC interval."""
    parts = [(_utc(a, zone), _utc(b, zone)) for a, b in sources.day_spans]
    if sources.months is not None:
        parts.append((_utc(sources.months[0], zone), _utc(sources.months[1], zone)))
    if sources.hours is not None:
        parts.append(sources.hours)
    parts += list(sources.raw)
    return sorted(part for part in parts if part[1] > part[0])


def test_without_rollups_everything_is_read_raw_up_to_now():
    now = datetime(2026, 3, 10, 14, 20, tzinfo=UTC)

    sources = range_sources(
        first=date(2026, 3, 9),
        last=date(2026, 3, 10),
        zone=ZoneInfo("UTC"),
        complete_until=None,
        now=now,
    )

    assert sources == RangeSources(
        None, (), None, ((datetime(2026, 3, 9, tzinfo=UTC), now),)
    )


def test_whole_months_come_from_month_rows_then_days_hours_and_raw():
    complete_until = datetime(2026, 3, 10, 13, tzinfo=UTC)  # 14:00 in Berlin
    now = complete_until + timedelta(minutes=20)

    sources = range_sources(
        first=date(2026, 1, 15),
        last=date(2026, 3, 10),
        zone=BERLIN,
        complete_until=complete_until,
        now=now,
    )

    assert sources.months == (date(2026, 2, 1), date(2026, 3, 1))
    assert sources.day_spans == (
        (date(2026, 1, 15), date(2026, 2, 1)),
        (date(2026, 3, 1), date(2026, 3, 10)),
    )
    assert sources.hours == (_utc(date(2026, 3, 10), BERLIN), complete_until)
    assert sources.raw == ((complete_until, now),)


def test_per_day_totals_never_read_month_rows():
    sources = range_sources(
        first=date(2026, 1, 1),
        last=date(2026, 3, 31),
        zone=BERLIN,
        complete_until=datetime(2026, 4, 2, tzinfo=UTC),
        now=datetime(2026, 4, 2, tzinfo=UTC),
        period="day",
    )

    assert sources.months is None
    assert sources.day_spans == ((date(2026, 1, 1), date(2026, 4, 1)),)


def test_a_half_hour_zone_reads_hours_and_raw_edges_not_day_rows():
    sources = range_sources(
        first=date(2026, 3, 1),
        last=date(2026, 3, 5),
        zone=KOLKATA,
        complete_until=datetime(2026, 3, 20, tzinfo=UTC),
        now=datetime(2026, 3, 20, tzinfo=UTC),
    )

    start, end = _utc(date(2026, 3, 1), KOLKATA), _utc(date(2026, 3, 6), KOLKATA)
    assert (sources.months, sources.day_spans) == (None, ())
    assert sources.hours == (start + HOUR / 2, end - HOUR / 2)
    assert sources.raw == ((start, start + HOUR / 2), (end - HOUR / 2, end))


@settings(max_examples=300, deadline=None)
@given(
    first=st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 12, 31)),
    length=st.integers(min_value=0, max_value=400),
    zone=st.sampled_from(
        [ZoneInfo("UTC"), BERLIN, KOLKATA, ZoneInfo("America/St_Johns")]
    ),
    complete_hours=st.integers(min_value=-48, max_value=24 * 420),
    now_after_hours=st.integers(min_value=0, max_value=24 * 30),
    period=st.sampled_from(["all", "day", "month"]),
)
def test_the_parts_cover_the_range_up_to_now_once(
    first, length, zone, complete_hours, now_after_hours, period
):
    last = first + timedelta(days=length)
    start = _utc(first, zone)
    complete_until = start.replace(minute=0) + complete_hours * HOUR
    now = complete_until + now_after_hours * HOUR

    sources = range_sources(
        first=first,
        last=last,
        zone=zone,
        complete_until=complete_until,
        now=now,
        period=period,
    )

    end = min(_utc(last + timedelta(days=1), zone), now)
    parts = _intervals(sources, zone)
    if end <= start:
        assert parts == []
        return
    assert parts[0][0] == start
    assert parts[-1][1] == end
    for (_, left_end), (right_start, _) in pairwise(parts):
        assert left_end == right_start  # no gap, no overlap
    rolled = [p for p in parts if p not in sources.raw]
    assert all(part_end <= complete_until for _, part_end in rolled)


def test_hour_split_reads_whole_complete_hours_and_raw_edges():
    start = datetime(2026, 3, 10, 9, 15, tzinfo=UTC)
    end = datetime(2026, 3, 10, 15, 40, tzinfo=UTC)

    middle, raw = hour_split(
        start=start,
        end=end,
        complete_until=datetime(2026, 3, 10, 14, tzinfo=UTC),
        now=datetime(2026, 3, 10, 15, 30, tzinfo=UTC),
    )

    assert middle == (
        datetime(2026, 3, 10, 10, tzinfo=UTC),
        datetime(2026, 3, 10, 14, tzinfo=UTC),
    )
    assert raw == (
        (start, datetime(2026, 3, 10, 10, tzinfo=UTC)),
        (
            datetime(2026, 3, 10, 14, tzinfo=UTC),
            datetime(2026, 3, 10, 15, 30, tzinfo=UTC),
        ),
    )
