"""Quirks seen in chargers' traffic, counted per vendor / model / firmware.

What the gateway accepts leniently (a sampledValue of a unit or measurand the
protocol does not define, a frame validated without its odd parts, a report
kept aside by the connector checks, a status older than the one applied, an
answer sent late) and each vendor-profile quirk applied is counted here, in
memory: ``quirk_count`` is a dict increment under a lock. The counts are
written by ``quirk_counts_flush`` into one ``QuirkTally`` row per day, network,
model and kind (an upsert adding to the stored count), at most every
``QUIRK_COUNT_FLUSH_SECONDS``, inside the group commit's transaction; a row per
frame is never written. Counts of a process that dies before its flush are
lost (at most that many seconds' worth).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from stations.fleet.models import QuirkKind, QuirkTally
from stations.models import ChargePoint

_lock = threading.Lock()
_counts: Counter[tuple[int, str]] = Counter()
_flushed_at = time.monotonic()


def quirk_count(charge_point_id: int | None, kind: str, n: int = 1) -> None:
    """Count ``n`` quirks of ``kind`` (a ``QuirkKind``) seen from a charger."""
    if charge_point_id is None or n <= 0:
        return
    with _lock:
        _counts[(charge_point_id, kind)] += n


def quirk_counts_flush(*, now: datetime | None = None, force: bool = False) -> int:
    """Write the counts gathered since the last flush; returns how many.

    Cheap when there is nothing to write or the last flush is recent: no query.
    Runs inside the caller's transaction.
    """
    global _flushed_at
    monotonic = time.monotonic()
    if not _counts or (
        not force and monotonic - _flushed_at < settings.QUIRK_COUNT_FLUSH_SECONDS
    ):
        return 0
    with _lock:
        counts = dict(_counts)
        _counts.clear()
        _flushed_at = monotonic
    models = {
        pk: (network_id, vendor, model, firmware)
        for pk, network_id, vendor, model, firmware in ChargePoint.objects.filter(
            pk__in={pk for pk, _ in counts}
        ).values_list(
            "pk", "station__network_id", "vendor", "model", "firmware_version"
        )
    }
    per_model: Counter[tuple[int | None, str, str, str, str]] = Counter()
    for (pk, kind), n in counts.items():
        if pk in models:
            per_model[(*models[pk], kind)] += n
    day = (now or timezone.now()).date()
    for (network_id, vendor, model, firmware, kind), n in per_model.items():
        key = {
            "day": day,
            "network_id": network_id,
            "vendor": vendor,
            "model": model,
            "firmware_version": firmware,
            "kind": kind,
        }
        if not QuirkTally.objects.filter(**key).update(count=F("count") + n):
            _, created = QuirkTally.objects.get_or_create(**key, defaults={"count": n})
            if not created:
                QuirkTally.objects.filter(**key).update(count=F("count") + n)
    return sum(counts.values())


__all__ = ["QuirkKind", "quirk_count", "quirk_counts_flush"]
