"""Classifying outages: excluded from the uptime or not, with a note and evidence.

Every classification is written to the audit log with the state before and
after. A bulk classification names a known event (a utility's grid outage) and
its time window: every outage of the chosen ports that overlaps the window is
excluded for the overlapping part only, so an offline spell longer than the
grid event keeps its own time outside the event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record, model_snapshot
from cms.errors import InputError
from stations.models import Connector
from stations.reliability.models import ExclusionReason, Outage

_CLASSIFICATION_FIELDS = [
    "is_excluded",
    "exclusion_reason",
    "excluded_from",
    "excluded_until",
    "note",
    "evidence",
    "event_label",
    "classified_by",
    "classified_at",
]


def _network_of(outage: Outage) -> object:
    station = outage.connector.charge_point.station
    return station.network if station is not None else None


def _check_reason(*, is_excluded: bool, reason: str) -> str:
    if not is_excluded:
        return ""
    if reason not in ExclusionReason.values:
        raise InputError(
            "Choose a cause the rule lets you exclude.", field="exclusion_reason"
        )
    return reason


@transaction.atomic
def outage_classify(
    *,
    outage: Outage,
    actor: User,
    is_excluded: bool,
    exclusion_reason: str = "",
    note: str = "",
    evidence: str = "",
) -> Outage:
    """Classify one outage as a whole; audited."""
    reason = _check_reason(is_excluded=is_excluded, reason=exclusion_reason)
    if is_excluded and not note.strip():
        raise InputError("Say why the outage is excluded.", field="note")
    locked = Outage.objects.select_for_update().get(pk=outage.pk)
    _classification_save(
        locked,
        actor=actor,
        action="outage.classify",
        is_excluded=is_excluded,
        reason=reason,
        excluded=(None, None),
        note=note,
        evidence=evidence,
        event_label="",
        at=timezone.now(),
    )
    return locked


def _classification_save(
    outage: Outage,
    *,
    actor: User,
    action: str,
    is_excluded: bool,
    reason: str,
    excluded: tuple[datetime | None, datetime | None],
    note: str,
    evidence: str,
    event_label: str,
    at: datetime,
) -> None:
    before = model_snapshot(outage)
    outage.is_excluded, outage.exclusion_reason = is_excluded, reason
    outage.excluded_from, outage.excluded_until = excluded
    outage.note, outage.evidence = note.strip(), evidence.strip()
    outage.event_label = event_label
    outage.classified_by, outage.classified_at = actor, at
    outage.save(update_fields=_CLASSIFICATION_FIELDS)
    audit_record(
        actor=actor,
        action=action,
        target=outage,
        network=_network_of(outage),
        before=before,
        after=model_snapshot(outage),
        detail=event_label,
    )


@dataclass(frozen=True)
class BulkResult:
    outages: int
    ports: int


@transaction.atomic
def outages_classify_event(
    *,
    connectors: list[Connector],
    actor: User,
    window_start: datetime,
    window_end: datetime,
    exclusion_reason: str,
    event_label: str,
    note: str = "",
    evidence: str = "",
) -> BulkResult:
    """Exclude, for a known event's window, the outages of many ports; audited."""
    reason = _check_reason(is_excluded=True, reason=exclusion_reason)
    if window_end <= window_start:
        raise InputError("The end must be after the start.", field="window_end")
    if not event_label.strip():
        raise InputError(
            "Name the event (e.g. the utility's ticket).", field="event_label"
        )
    if not connectors:
        raise InputError("Choose at least one port.", field="connectors")
    now = timezone.now()
    outages = list(
        Outage.objects.select_for_update(of=("self",))
        .filter(
            Q(ended_at__isnull=True) | Q(ended_at__gt=window_start),
            connector__in=connectors,
            started_at__lt=window_end,
        )
        .select_related("connector__charge_point__station__network")
        .order_by("connector_id", "started_at")
    )
    for outage in outages:
        until = (
            window_end if outage.ended_at is None else min(window_end, outage.ended_at)
        )
        _classification_save(
            outage,
            actor=actor,
            action="outage.classify_event",
            is_excluded=True,
            reason=reason,
            excluded=(max(window_start, outage.started_at), until),
            note=note,
            evidence=evidence,
            event_label=event_label.strip(),
            at=now,
        )
    return BulkResult(
        outages=len(outages), ports=len({outage.connector_id for outage in outages})
    )
