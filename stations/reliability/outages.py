"""Reading outages from the history, and keeping the ``Outage`` records up to date.

``port_outages`` reads many ports' history at once and returns their outage
spans (``stations.reliability.spans``) and the excluded parts of their
classified outages; the reports and the alert compute from these. The records
(``outages_refresh``, run periodically) are what people see and classify; the
reports read the spans straight from the history, so a record refreshed late
never changes a report.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from stations.models import Connector
from stations.reliability.models import Outage
from stations.reliability.spans import Span, outage_spans
from stations.reports.history import ConnectorsHistory, from_us, to_us

CHUNK = 500


@dataclass
class PortHistory:
    """One port's effective states, outage spans and excluded parts over a range."""

    segments: list[tuple[int, int, str]] = field(default_factory=list)
    outages: list[Span] = field(default_factory=list)
    excluded: list[Span] = field(default_factory=list)


def _grace_us() -> int:
    return int(settings.OCPP_OFFLINE_GRACE_SECONDS) * 1_000_000


def excluded_spans(
    *, connectors: list[Connector], start: datetime, end: datetime, now: datetime
) -> dict[int, list[Span]]:
    """The excluded parts of the classified outages of ``connectors`` over a range."""
    found: dict[int, list[Span]] = defaultdict(list)
    rows = Outage.objects.filter(
        Q(ended_at__isnull=True) | Q(ended_at__gt=start),
        connector__in=connectors,
        is_excluded=True,
        started_at__lt=end,
    ).values_list(
        "connector_id", "started_at", "ended_at", "excluded_from", "excluded_until"
    )
    for connector_id, started_at, ended_at, excluded_from, excluded_until in rows:
        low = excluded_from or started_at
        high = excluded_until or ended_at or now
        if high > low:
            found[connector_id].append(Span(to_us(low), to_us(high), "excluded"))
    return found


def port_outages(
    *, connectors: list[Connector], start: datetime, end: datetime, now: datetime
) -> dict[int, PortHistory]:
    """Per connector pk: states, outage spans and excluded parts over ``[start, end)``."""
    result: dict[int, PortHistory] = {}
    grace_us = _grace_us()
    for index in range(0, len(connectors), CHUNK):
        chunk = connectors[index : index + CHUNK]
        history = ConnectorsHistory(chunk, start, end, with_sessions=False)
        excluded = excluded_spans(connectors=chunk, start=start, end=end, now=now)
        for connector in chunk:
            segments = history.segments_us(connector.pk)
            charge_point_id = connector.charge_point_id
            result[connector.pk] = PortHistory(
                segments=segments,
                outages=outage_spans(
                    segments,
                    offline_kind=partial(history.offline_kind, charge_point_id),
                    grace_us=grace_us,
                ),
                excluded=excluded.get(connector.pk, []),
            )
    return result


def outages_refresh(
    *, connectors: list[Connector], now: datetime, lookback: timedelta
) -> int:
    """Write the outage records of ``connectors`` from ``now - lookback`` on; safe twice.

    The range starts earlier when an outage is still open, so its start is
    known. An outage the history no longer shows (a late status replaced it)
    is deleted unless someone classified it. Returns the records written.
    """
    written = 0
    for index in range(0, len(connectors), CHUNK):
        chunk = connectors[index : index + CHUNK]
        open_since = (
            Outage.objects.filter(connector__in=chunk, ended_at__isnull=True)
            .order_by("started_at")
            .values_list("started_at", flat=True)
            .first()
        )
        since = now - lookback
        if open_since is not None and open_since < since:
            since = open_since
        histories = port_outages(connectors=chunk, start=since, end=now, now=now)
        with transaction.atomic():
            for connector in chunk:
                written += _refresh_one(
                    connector=connector,
                    spans=histories[connector.pk].outages,
                    since=since,
                    now=now,
                )
    return written


def _refresh_one(
    *, connector: Connector, spans: list[Span], since: datetime, now: datetime
) -> int:
    existing = {
        row.started_at: row
        for row in Outage.objects.select_for_update().filter(
            Q(ended_at__isnull=True) | Q(ended_at__gte=since), connector=connector
        )
    }
    kept: set[int] = set()
    written = 0
    now_us = to_us(now)
    for span in spans:
        started_at = from_us(span.start_us)
        ended_at = None if span.end_us >= now_us else from_us(span.end_us)
        row = existing.get(started_at)
        if row is None and span.start_us == to_us(since):
            # The range cut into an outage that began earlier: continue it.
            row = next(
                (
                    r
                    for r in existing.values()
                    if r.started_at < since and r.cause == span.cause
                ),
                None,
            )
        if row is None:
            row = Outage.objects.create(
                connector=connector,
                started_at=started_at,
                ended_at=ended_at,
                cause=span.cause,
            )
            written += 1
        elif row.ended_at != ended_at or row.cause != span.cause:
            row.ended_at, row.cause = ended_at, span.cause
            row.save(update_fields=["ended_at", "cause"])
            written += 1
        kept.add(row.pk)
    for row in existing.values():
        if row.pk in kept or row.started_at < since:
            continue
        if row.is_classified:
            if row.ended_at is None:  # it ended; keep the classification
                row.ended_at = max(now, row.started_at + timedelta(microseconds=1))
                row.save(update_fields=["ended_at"])
            continue
        row.delete()
        written += 1
    return written
