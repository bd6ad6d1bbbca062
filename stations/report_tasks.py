"""Maintenance of the hourly report roll-ups.

Each run rolls up every closed hour since the last complete one and recomputes
the hours that late data touched: status notifications, connection events and
sessions written since the previous run but timestamped before it (offline
queues, clock skew, sessions stopped later). Rows are recomputed whole and
upserted, so running twice, or concurrently with itself, changes nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Min, Q
from django.utils import timezone

from sessions_app.models import ChargingSession
from stations.models import ConnectionEvent, Connector, StatusChange
from stations.report_models import ConnectorHourlyRollup, ReportRollupState
from stations.reports import HOUR, _floor, connector_buckets_raw, rollup_values


def connector_rollups_rebuild(
    *, connector: Connector, start: datetime, end: datetime, now: datetime
) -> int:
    """Recompute and upsert the closed hours ``[start, end)`` of one connector."""
    start, end = _floor(start, HOUR), _floor(end, HOUR)
    if end <= start:
        return 0
    buckets = connector_buckets_raw(connector=connector, start=start, end=end)
    written = 0
    with transaction.atomic():
        # Hours that became all-Unknown (history deleted) lose their stale row.
        ConnectorHourlyRollup.objects.filter(
            connector=connector, hour_start__gte=start, hour_start__lt=end
        ).exclude(hour_start__in=list(buckets)).delete()
        for hour_start, tally in buckets.items():
            values = rollup_values(tally)
            if values["unknown_s"] >= 3600 and not (
                values["sessions_started"] or values["energy_wh"]
            ):
                continue
            ConnectorHourlyRollup.objects.update_or_create(
                connector=connector,
                hour_start=hour_start,
                defaults={**values, "computed_at": now},
            )
            written += 1
    return written


def _first_activity(connector: Connector) -> datetime | None:
    firsts = [
        StatusChange.objects.filter(
            Q(connector=connector)
            | Q(charge_point_id=connector.charge_point_id, connector__isnull=True)
        ).aggregate(first=Min("at"))["first"],
        ChargingSession.objects.filter(
            charge_point_id=connector.charge_point_id,
            connector_number=connector.connector_id,
        ).aggregate(first=Min("started_at"))["first"],
    ]
    found = [moment for moment in firsts if moment is not None]
    return min(found) if found else None


def _late_starts(since: datetime, complete_until: datetime) -> dict[int, datetime]:
    """Per connector, the earliest already-rolled-up hour touched by late data."""
    touched: dict[int, datetime] = {}

    def mark(connector_id: int, at: datetime) -> None:
        if at < complete_until:
            touched[connector_id] = min(at, touched.get(connector_id, at))

    for connector_id, cp_id, at in StatusChange.objects.filter(
        received_at__gte=since, at__lt=complete_until
    ).values_list("connector_id", "charge_point_id", "at"):
        if connector_id is not None:
            mark(connector_id, at)
        else:
            for pk in Connector.objects.filter(charge_point_id=cp_id).values_list(
                "pk", flat=True
            ):
                mark(pk, at)
    # Connection events are written as they happen; only a run that overlapped
    # the write can have missed one.
    for cp_id, at in ConnectionEvent.objects.filter(
        at__gte=since - HOUR, at__lt=complete_until
    ).values_list("charge_point_id", "at"):
        for pk in Connector.objects.filter(charge_point_id=cp_id).values_list(
            "pk", flat=True
        ):
            mark(pk, at)
    for session in ChargingSession.objects.filter(
        updated_at__gte=since, started_at__lt=complete_until
    ).only("charge_point_id", "connector_number", "started_at"):
        for pk in Connector.objects.filter(
            charge_point_id=session.charge_point_id,
            connector_id=session.connector_number,
        ).values_list("pk", flat=True):
            mark(pk, session.started_at)
    return touched


def report_rollups_update(*, now: datetime | None = None) -> int:
    """Bring the hourly roll-ups up to the last closed hour; return rows written."""
    now = now or timezone.now()
    target = _floor(now, HOUR)
    state, _ = ReportRollupState.objects.get_or_create(key="hourly")
    since = state.last_run_started_at
    complete_until = state.complete_until
    backfill_from = target - timedelta(days=settings.REPORT_ROLLUP_BACKFILL_DAYS)
    late = _late_starts(since, complete_until) if since and complete_until else {}
    written = 0
    for connector in Connector.objects.all().iterator():
        begin = complete_until
        if begin is None:
            first = _first_activity(connector)
            begin = max(first, backfill_from) if first else target
        if connector.pk in late:
            begin = min(begin, late[connector.pk])
        written += connector_rollups_rebuild(
            connector=connector, start=begin, end=target, now=now
        )
    ReportRollupState.objects.filter(pk=state.pk).update(
        complete_until=target, last_run_started_at=now
    )
    return written


@shared_task(acks_late=True)
def report_rollups_update_task() -> None:
    """Roll up closed hours for the reports; safe to run twice."""
    report_rollups_update()
