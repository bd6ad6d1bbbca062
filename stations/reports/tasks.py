"""Maintenance of the report roll-ups (hourly and daily per connector).

First build (backfill): every connector's hours over the last
``REPORT_ROLLUP_BACKFILL_DAYS`` are computed in batches of connectors, in id
order, with the cursor saved after each batch, so a run that stops (time budget
of the Celery task, a restart) is continued by the next one; the portal shows
"backfilling: N %" meanwhile and reports read the raw history.

Then each run rolls up the closed hours since the last complete one and
recomputes the hours late data touched: status notifications stored since the
previous run (by id, above a watermark) but timestamped in rolled-up hours
(offline queues, clock skew), connection events written during the previous
run, and sessions updated since then (stopped later, late meter values). Rows
are recomputed whole for a (connector, range) and replaced in one transaction.

Runs never overlap: a PostgreSQL advisory lock (released by the server if the
worker dies), or a lease on the state row elsewhere (SQLite). A second run
started meanwhile (Celery beat and a manual run) returns at once.

Raw meter values older than ``METER_VALUE_RETENTION_DAYS`` are purged in
batches by ``meter_values_purge``; the roll-ups keep their energy (hours older
than the retention keep their energy and session counts when recomputed).
"""

from __future__ import annotations

import time as monotonic_time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from celery import shared_task
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from sessions_app.models import ChargingSession, MeterValue
from stations.models import (
    ChargePoint,
    ConnectionEvent,
    Connector,
    StatusChange,
)
from stations.reports.history import (
    ENERGY_INDEX,
    SECONDS_FIELDS,
    SESSIONS_INDEX,
    UNKNOWN_INDEX,
    ConnectorsHistory,
    from_us,
)
from stations.reports.models import (
    ConnectorDailyRollup,
    ConnectorHourlyRollup,
    ConnectorMonthlyRollup,
    ReportRollupState,
)
from stations.reports.registry import day_rollups_build, day_rollups_update
from stations.reports.tallies import HOUR, floor_to

STATE_KEY = "hourly"
CHUNK = 100  # connectors per batch (one set of history queries, one COPY)
TASK_BUDGET_S = 180.0  # below CELERY_TASK_SOFT_TIME_LIMIT; the backfill resumes
LEASE = timedelta(minutes=30)  # SQLite guard: a dead run's lease expires
LATE_ID_MARGIN = 1000  # re-read the newest ids: transactions commit out of order
LATE_RECEIVED_MARGIN = timedelta(minutes=5)
ADVISORY_LOCK_KEY = 0x52_45_50_31  # "REP1"
HOURLY_COLUMNS = (*SECONDS_FIELDS, "sessions_started", "energy_wh")
PURGE_BATCH = 5000


# --- guard ------------------------------------------------------------------------


def _state() -> ReportRollupState:
    state, _ = ReportRollupState.objects.get_or_create(key=STATE_KEY)
    return state


@contextmanager
def rollup_run_guard(*, now: datetime | None = None) -> Iterator[bool]:
    """Yield True when this run may proceed (no other run holds the guard)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
            acquired = bool(cursor.fetchone()[0])
        try:
            yield acquired
        finally:
            if acquired:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])
        return
    now = now or timezone.now()
    token = uuid.uuid4().hex
    _state()
    acquired = bool(
        ReportRollupState.objects.filter(key=STATE_KEY)
        .filter(Q(running_token="") | Q(running_since__lt=timezone.now() - LEASE))
        .update(running_token=token, running_since=timezone.now())
    )
    try:
        yield acquired
    finally:
        if acquired:
            ReportRollupState.objects.filter(key=STATE_KEY, running_token=token).update(
                running_token="", running_since=None
            )


# --- rebuilding ---------------------------------------------------------------------


def _zone(connector: Connector) -> ZoneInfo:
    station = connector.charge_point.station
    return ZoneInfo((station.time_zone if station else "") or "UTC")


def _retention_cutoff(now: datetime) -> datetime | None:
    days = settings.METER_VALUE_RETENTION_DAYS
    return now - timedelta(days=days) if days else None


def _write_hourly(rows: list[tuple[Any, ...]]) -> None:
    if not rows:
        return
    if connection.vendor == "postgresql":
        table = ConnectorHourlyRollup._meta.db_table
        columns = ", ".join(
            ("connector_id", "hour_start", *HOURLY_COLUMNS, "computed_at")
        )
        sql = f"COPY {table} ({columns}) FROM STDIN"
        stamps: dict[datetime, str] = {}

        def stamp(moment: datetime) -> str:
            text = stamps.get(moment)
            if text is None:
                text = stamps[moment] = moment.isoformat()
            return text

        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for start in range(0, len(rows), 20000):
                copy.write(
                    "".join(
                        f"{row[0]}\t{stamp(row[1])}\t"
                        + "\t".join(map(str, row[2:-1]))
                        + f"\t{stamp(row[-1])}\n"
                        for row in rows[start : start + 20000]
                    )
                )
        return
    ConnectorHourlyRollup.objects.bulk_create(
        [
            ConnectorHourlyRollup(
                connector_id=row[0],
                hour_start=row[1],
                computed_at=row[-1],
                **dict(zip(HOURLY_COLUMNS, row[2:-1], strict=True)),
            )
            for row in rows
        ],
        batch_size=500,
    )


# Daily rows of every local day touching [start, end), from the hourly rows.
_DAILY_DELETE_SQL = """
DELETE FROM stations_connectordailyrollup d
USING (SELECT c.id, COALESCE(NULLIF(s.time_zone, ''), 'UTC') AS tz
      FROM stations_connector c
      JOIN stations_chargepoint cp ON cp.id = c.charge_point_id
      LEFT JOIN stations_station s ON s.id = cp.station_id
      WHERE c.id = ANY(%(ids)s)) z
WHERE d.connector_id = z.id AND d.day BETWEEN (%(start)s::timestamptz AT TIME ZONE z.tz)::date AND ((%(end)s::timestamptz - interval '1 microsecond') AT TIME ZONE z.tz)::date
"""
_DAILY_INSERT_SQL = """
INSERT INTO stations_connectordailyrollup (connector_id, day, available_s, preparing_s, charging_s, suspended_ev_s, suspended_evse_s, finishing_s, reserved_s, unavailable_s, faulted_s, offline_s, unknown_s, sessions_started, energy_wh)
SELECT h.connector_id, (h.hour_start AT TIME ZONE z.tz)::date, SUM(h.available_s), SUM(h.preparing_s), SUM(h.charging_s), SUM(h.suspended_ev_s), SUM(h.suspended_evse_s), SUM(h.finishing_s), SUM(h.reserved_s), SUM(h.unavailable_s), SUM(h.faulted_s), SUM(h.offline_s), SUM(h.unknown_s), SUM(h.sessions_started), SUM(h.energy_wh)
FROM stations_connectorhourlyrollup h
JOIN (SELECT c.id, COALESCE(NULLIF(s.time_zone, ''), 'UTC') AS tz
      FROM stations_connector c
      JOIN stations_chargepoint cp ON cp.id = c.charge_point_id
      LEFT JOIN stations_station s ON s.id = cp.station_id
      WHERE c.id = ANY(%(ids)s)) z ON z.id = h.connector_id
WHERE h.connector_id = ANY(%(ids)s)
  AND h.hour_start >= %(start)s::timestamptz - interval '1 day'
  AND h.hour_start < %(end)s::timestamptz + interval '1 day'
  AND (h.hour_start AT TIME ZONE z.tz)::date BETWEEN (%(start)s::timestamptz AT TIME ZONE z.tz)::date AND ((%(end)s::timestamptz - interval '1 microsecond') AT TIME ZONE z.tz)::date
GROUP BY h.connector_id, (h.hour_start AT TIME ZONE z.tz)::date
"""


# Monthly rows of every local month touching [start, end), from the daily rows.
_MONTHLY_DELETE_SQL = """
DELETE FROM stations_connectormonthlyrollup m
USING (SELECT c.id, COALESCE(NULLIF(s.time_zone, ''), 'UTC') AS tz
      FROM stations_connector c
      JOIN stations_chargepoint cp ON cp.id = c.charge_point_id
      LEFT JOIN stations_station s ON s.id = cp.station_id
      WHERE c.id = ANY(%(ids)s)) z
WHERE m.connector_id = z.id AND m.month BETWEEN date_trunc('month', (%(start)s::timestamptz AT TIME ZONE z.tz))::date AND date_trunc('month', ((%(end)s::timestamptz - interval '1 microsecond') AT TIME ZONE z.tz))::date
"""
_MONTHLY_INSERT_SQL = """
INSERT INTO stations_connectormonthlyrollup (connector_id, month, available_s, preparing_s, charging_s, suspended_ev_s, suspended_evse_s, finishing_s, reserved_s, unavailable_s, faulted_s, offline_s, unknown_s, sessions_started, energy_wh)
SELECT d.connector_id, date_trunc('month', d.day)::date, SUM(d.available_s), SUM(d.preparing_s), SUM(d.charging_s), SUM(d.suspended_ev_s), SUM(d.suspended_evse_s), SUM(d.finishing_s), SUM(d.reserved_s), SUM(d.unavailable_s), SUM(d.faulted_s), SUM(d.offline_s), SUM(d.unknown_s), SUM(d.sessions_started), SUM(d.energy_wh)
FROM stations_connectordailyrollup d
JOIN (SELECT c.id, COALESCE(NULLIF(s.time_zone, ''), 'UTC') AS tz
      FROM stations_connector c
      JOIN stations_chargepoint cp ON cp.id = c.charge_point_id
      LEFT JOIN stations_station s ON s.id = cp.station_id
      WHERE c.id = ANY(%(ids)s)) z ON z.id = d.connector_id
WHERE d.connector_id = ANY(%(ids)s)
  AND d.day >= date_trunc('month', (%(start)s::timestamptz AT TIME ZONE z.tz))::date
  AND d.day < (date_trunc('month', ((%(end)s::timestamptz - interval '1 microsecond') AT TIME ZONE z.tz))::date + interval '1 month')::date
GROUP BY d.connector_id, date_trunc('month', d.day)::date
"""
_MONTHLY_ALL_SQL = """
INSERT INTO stations_connectormonthlyrollup (connector_id, month, available_s, preparing_s, charging_s, suspended_ev_s, suspended_evse_s, finishing_s, reserved_s, unavailable_s, faulted_s, offline_s, unknown_s, sessions_started, energy_wh)
SELECT d.connector_id, date_trunc('month', d.day)::date, SUM(d.available_s), SUM(d.preparing_s), SUM(d.charging_s), SUM(d.suspended_ev_s), SUM(d.suspended_evse_s), SUM(d.finishing_s), SUM(d.reserved_s), SUM(d.unavailable_s), SUM(d.faulted_s), SUM(d.offline_s), SUM(d.unknown_s), SUM(d.sessions_started), SUM(d.energy_wh)
FROM stations_connectordailyrollup d
GROUP BY d.connector_id, date_trunc('month', d.day)::date
"""


def _rebuild_daily(connectors: list[Connector], start: datetime, end: datetime) -> None:
    """Recompute the daily rows of every local day touching ``[start, end)``."""
    ids = [c.pk for c in connectors]
    if connection.vendor == "postgresql":
        params: dict[str, Any] = {"ids": ids, "start": start, "end": end}
        with connection.cursor() as cursor:
            cursor.execute(_DAILY_DELETE_SQL, params)
            cursor.execute(_DAILY_INSERT_SQL, params)
            cursor.execute(_MONTHLY_DELETE_SQL, params)
            cursor.execute(_MONTHLY_INSERT_SQL, params)
        return
    zones = {c.pk: _zone(c) for c in connectors}
    last = end - timedelta(microseconds=1)
    days = {
        pk: (start.astimezone(zone).date(), last.astimezone(zone).date())
        for pk, zone in zones.items()
    }
    sums: dict[tuple[int, Any], list[int]] = defaultdict(
        lambda: [0] * len(HOURLY_COLUMNS)
    )
    for row in ConnectorHourlyRollup.objects.filter(
        connector_id__in=ids,
        hour_start__gte=start - timedelta(days=1),
        hour_start__lt=end + timedelta(days=1),
    ).values_list("connector_id", "hour_start", *HOURLY_COLUMNS):
        day = row[1].astimezone(zones[row[0]]).date()
        first_day, last_day = days[row[0]]
        if first_day <= day <= last_day:
            total = sums[(row[0], day)]
            for index, value in enumerate(row[2:]):
                total[index] += value
    for pk, (first_day, last_day) in days.items():
        ConnectorDailyRollup.objects.filter(
            connector_id=pk, day__gte=first_day, day__lte=last_day
        ).delete()
    ConnectorDailyRollup.objects.bulk_create(
        [
            ConnectorDailyRollup(
                connector_id=pk,
                day=day,
                **dict(zip(HOURLY_COLUMNS, values, strict=True)),
            )
            for (pk, day), values in sums.items()
        ],
        batch_size=500,
    )
    _rebuild_monthly(
        {
            pk: (first.replace(day=1), last.replace(day=1))
            for pk, (first, last) in days.items()
        }
    )


def _rebuild_monthly(months: dict[int, tuple[Any, Any]]) -> None:
    """Monthly rows of connectors from their daily rows (non-PostgreSQL path)."""
    sums: dict[tuple[int, Any], list[int]] = defaultdict(
        lambda: [0] * len(HOURLY_COLUMNS)
    )
    for pk, (first, last) in months.items():
        ConnectorMonthlyRollup.objects.filter(
            connector_id=pk, month__gte=first, month__lte=last
        ).delete()
        for row in ConnectorDailyRollup.objects.filter(
            connector_id=pk,
            day__gte=first,
            day__lt=(last + timedelta(days=32)).replace(day=1),
        ).values_list("day", *HOURLY_COLUMNS):
            total = sums[(pk, row[0].replace(day=1))]
            for index, value in enumerate(row[1:]):
                total[index] += value
    ConnectorMonthlyRollup.objects.bulk_create(
        [
            ConnectorMonthlyRollup(
                connector_id=pk,
                month=month,
                **dict(zip(HOURLY_COLUMNS, values, strict=True)),
            )
            for (pk, month), values in sums.items()
        ],
        batch_size=500,
    )


def _monthly_rollups_full() -> None:
    """All monthly rows from the daily rows (after an upgrade)."""
    with transaction.atomic():
        ConnectorMonthlyRollup.objects.all().delete()
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(_MONTHLY_ALL_SQL)
            return
        spans: dict[int, list[Any]] = {}
        for pk, day in ConnectorDailyRollup.objects.values_list("connector_id", "day"):
            span = spans.setdefault(pk, [day, day])
            span[0], span[1] = min(span[0], day), max(span[1], day)
        _rebuild_monthly(
            {pk: (a.replace(day=1), b.replace(day=1)) for pk, (a, b) in spans.items()}
        )


def connectors_rollups_rebuild(
    *, connectors: list[Connector], start: datetime, end: datetime, now: datetime
) -> int:
    """Recompute and replace the closed hours ``[start, end)`` of ``connectors``.

    Hours older than the meter-value retention keep their stored energy and
    session counts (their readings may be gone). Returns the rows written.
    """
    start, end = floor_to(start, HOUR), floor_to(end, HOUR)
    if end <= start or not connectors:
        return 0
    ids = [c.pk for c in connectors]
    history = ConnectorsHistory(connectors, start, end)
    cutoff = _retention_cutoff(now)
    kept: dict[tuple[int, datetime], tuple[int, int]] = {}
    if cutoff is not None and start < cutoff:
        kept = {
            (pk, hour): (sessions, energy)
            for pk, hour, sessions, energy in ConnectorHourlyRollup.objects.filter(
                connector_id__in=ids, hour_start__gte=start, hour_start__lt=cutoff
            ).values_list("connector_id", "hour_start", "sessions_started", "energy_wh")
        }
    rows: list[tuple[Any, ...]] = []
    for connector in connectors:
        for hour_us, values in sorted(history.buckets(connector.pk).items()):
            hour = from_us(hour_us)
            seconds = [round(value / 1_000_000) for value in values[:SESSIONS_INDEX]]
            sessions, energy = values[SESSIONS_INDEX], values[ENERGY_INDEX]
            if cutoff is not None and hour < cutoff:
                sessions, energy = kept.get((connector.pk, hour), (0, 0))
            if seconds[UNKNOWN_INDEX] >= 3600 and not (sessions or energy):
                continue
            rows.append((connector.pk, hour, *seconds, sessions, energy, now))
    with transaction.atomic():
        ConnectorHourlyRollup.objects.filter(
            connector_id__in=ids, hour_start__gte=start, hour_start__lt=end
        ).delete()
        _write_hourly(rows)
        _rebuild_daily(connectors, start, end)
    return len(rows)


def connector_rollups_rebuild(
    *, connector: Connector, start: datetime, end: datetime, now: datetime
) -> int:
    """Recompute and replace the closed hours ``[start, end)`` of one connector."""
    return connectors_rollups_rebuild(
        connectors=[connector], start=start, end=end, now=now
    )


def _connectors() -> Any:
    return Connector.objects.select_related("charge_point__station").order_by("pk")


def _chunks(items: list[Connector]) -> Iterator[list[Connector]]:
    for index in range(0, len(items), CHUNK):
        yield items[index : index + CHUNK]


# --- late data -------------------------------------------------------------------------


def _late_starts(
    *, since: datetime, watermark: int, complete_until: datetime
) -> dict[int, datetime]:
    """Per connector id, the earliest rolled-up hour touched by late data."""
    touched: dict[int, datetime] = {}
    by_charger: dict[int, list[int]] | None = None

    def connectors_of(cp_id: int) -> list[int]:
        nonlocal by_charger
        if by_charger is None:
            by_charger = defaultdict(list)
        if cp_id not in by_charger:
            by_charger[cp_id] = list(
                Connector.objects.filter(charge_point_id=cp_id).values_list(
                    "pk", flat=True
                )
            )
        return by_charger[cp_id]

    def mark(connector_id: int, at: datetime) -> None:
        if at < complete_until:
            touched[connector_id] = min(at, touched.get(connector_id, at))

    rows = StatusChange.objects.filter(
        Q(at__lt=complete_until) | Q(received_at__lt=complete_until),
        id__gt=watermark - LATE_ID_MARGIN,
        # The margin re-reads rows the previous run saw; only those stored
        # around or after it can be new to this run.
        received_at__gte=since - LATE_RECEIVED_MARGIN,
    ).values_list("connector_id", "charge_point_id", "at", "received_at")
    for connector_id, cp_id, at, received_at in rows:
        # A status received late also ends a silent spell at its receive time.
        moment = min(at, received_at)
        if connector_id is not None:
            mark(connector_id, moment)
        elif cp_id is not None:
            for pk in connectors_of(cp_id):
                mark(pk, moment)
    # Connection events are written as they happen; only a run that overlapped
    # the write can have missed one.
    for cp_id, at in ConnectionEvent.objects.filter(
        at__gte=since - HOUR, at__lt=complete_until
    ).values_list("charge_point_id", "at"):
        for pk in connectors_of(cp_id):
            mark(pk, at)
    for connector_id, cp_id, number, started_at in ChargingSession.objects.filter(
        updated_at__gte=since, started_at__lt=complete_until
    ).values_list("connector_id", "charge_point_id", "connector_number", "started_at"):
        if connector_id is not None:
            mark(connector_id, started_at)
            continue
        for pk in Connector.objects.filter(
            charge_point_id=cp_id, connector_id=number
        ).values_list("pk", flat=True):
            mark(pk, started_at)
    return touched


def _max_status_id() -> int:
    return StatusChange.objects.aggregate(top=Max("id"))["top"] or 0


# --- the run ---------------------------------------------------------------------------


def _backfill(
    state: ReportRollupState, now: datetime, deadline: float | None
) -> tuple[int, bool]:
    """Continue the first build; (rows written, finished)."""
    start, end = state.backfill_from, state.backfill_until
    if start is None or end is None:
        raise ValueError("the first build's range is planned before it runs")
    written = 0
    pending = list(_connectors().filter(pk__gt=state.backfill_cursor))
    for index, chunk in enumerate(_chunks(pending)):
        written += connectors_rollups_rebuild(
            connectors=chunk,
            start=start,
            end=end,
            now=now,
        )
        state.backfill_cursor = chunk[-1].pk
        state.backfill_done += len(chunk)
        ReportRollupState.objects.filter(pk=state.pk).update(
            backfill_cursor=state.backfill_cursor, backfill_done=state.backfill_done
        )
        more = (index + 1) * CHUNK < len(pending)
        if more and deadline is not None and monotonic_time.monotonic() > deadline:
            return written, False
    return written, True


def report_rollups_update(
    *, now: datetime | None = None, budget_s: float | None = None
) -> int:
    """Bring the roll-ups up to the last closed hour; return rows written.

    ``budget_s`` bounds a first build: it stops after the batch that crosses it
    and the next run continues. Returns 0 at once when another run is going on.
    """
    now = now or timezone.now()
    with rollup_run_guard(now=now) as acquired:
        if not acquired:
            return 0
        return _update(now, budget_s)


def _update(now: datetime, budget_s: float | None) -> int:
    deadline = None if budget_s is None else monotonic_time.monotonic() + budget_s
    target = floor_to(now, HOUR)
    state = _state()
    written = 0
    if state.complete_until is None:
        if state.backfill_until is None:
            state.status_change_watermark = _max_status_id()
            state.backfill_until = target
            state.backfill_from = target - timedelta(
                days=settings.REPORT_ROLLUP_BACKFILL_DAYS
            )
            state.backfill_cursor = 0
            state.backfill_done = 0
            state.backfill_total = Connector.objects.count()
            state.month_rows_built = True  # the backfill writes them
            state.last_run_started_at = now
            state.save()
        written, finished = _backfill(state, now, deadline)
        if not finished:
            return written
        state.complete_until = state.backfill_until
        ReportRollupState.objects.filter(pk=state.pk).update(
            complete_until=state.complete_until,
            backfill_done=state.backfill_total,
        )
    if not state.day_rows_built:  # after the backfill, or after an upgrade
        _day_rollups_full(state, now)
    if not state.month_rows_built:  # after an upgrade: from the daily rows
        _monthly_rollups_full()
        ReportRollupState.objects.filter(pk=state.pk).update(month_rows_built=True)
    complete_until = state.complete_until
    since = state.last_run_started_at or complete_until
    day_rollups_update(state=state, since=since)
    watermark = _max_status_id()
    late = _late_starts(
        since=since,
        watermark=state.status_change_watermark,
        complete_until=complete_until,
    )
    groups: dict[datetime, list[Connector]] = defaultdict(list)
    for connector in _connectors():
        begin = complete_until
        if connector.pk in late:
            begin = min(begin, floor_to(late[connector.pk], HOUR))
        if begin < target:
            groups[begin].append(connector)
    for begin, connectors in sorted(groups.items(), key=lambda item: item[0]):
        for chunk in _chunks(connectors):
            written += connectors_rollups_rebuild(
                connectors=chunk, start=begin, end=target, now=now
            )
    ReportRollupState.objects.filter(pk=state.pk).update(
        complete_until=max(target, complete_until),
        last_run_started_at=now,
        status_change_watermark=watermark,
    )
    return written


def _day_rollups_full(state: ReportRollupState, now: datetime) -> None:
    """First build of the reports' day rows (session histograms, revenue...)."""
    with transaction.atomic():
        day_rollups_build(state=state, now=now)
        ReportRollupState.objects.filter(pk=state.pk).update(day_rows_built=True)
    state.day_rows_built = True


def rollup_freshness() -> dict[str, Any]:
    """What the report pages say about the roll-ups: complete until / backfill %."""
    state = ReportRollupState.objects.filter(key=STATE_KEY).first()
    if state is None:
        return {"complete_until": None, "backfill_percent": None}
    percent = None
    if state.complete_until is None and state.backfill_until is not None:
        total = max(state.backfill_total, 1)
        percent = min(99, int(state.backfill_done * 100 / total))
    return {"complete_until": state.complete_until, "backfill_percent": percent}


# --- retention ---------------------------------------------------------------------------


def meter_values_purge(*, now: datetime | None = None) -> int:
    """Delete raw meter values past ``METER_VALUE_RETENTION_DAYS``; keeps roll-ups.

    Only readings of hours already rolled up go (never newer than the roll-ups'
    ``complete_until``), charger by charger in batches of ``PURGE_BATCH``.
    Returns the rows deleted; 0 when the retention is 0 (keep forever).
    """
    now = now or timezone.now()
    cutoff = _retention_cutoff(now)
    state = ReportRollupState.objects.filter(key=STATE_KEY).first()
    if cutoff is None or state is None or state.complete_until is None:
        return 0
    cutoff = min(cutoff, state.complete_until)
    deleted = 0
    for cp_id in ChargePoint.objects.order_by("pk").values_list("pk", flat=True):
        while True:
            ids = list(
                MeterValue.objects.filter(charge_point_id=cp_id, timestamp__lt=cutoff)
                .order_by()
                .values_list("id", flat=True)[:PURGE_BATCH]
            )
            if not ids:
                break
            deleted += MeterValue.objects.filter(id__in=ids).delete()[0]
    return deleted


@shared_task(acks_late=True)
def report_rollups_update_task() -> None:
    """Roll up closed hours for the reports; safe to run twice, even at once."""
    report_rollups_update(budget_s=TASK_BUDGET_S)


@shared_task(acks_late=True)
def meter_values_purge_task() -> None:
    """Purge raw meter values past the retention; safe to run twice."""
    meter_values_purge()
