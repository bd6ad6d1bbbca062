"""Writes of billing: tariffs, session rating, CDRs, credit notes, payments, receipts."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import F, Min, Q, Sum
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record, model_snapshot
from billing.models import (
    Cdr,
    CreditNote,
    NumberSequence,
    Payment,
    RatingStatus,
    SessionTariff,
    Tariff,
    TariffAssignment,
    TariffElement,
    TariffRevision,
)
from billing.payments import payment_provider
from billing.rating import (
    SNAPSHOT_VERSION,
    MeterSample,
    RatedSession,
    SessionTimeline,
    StatusEvent,
    TariffSpec,
    rate_session,
    round_money,
    tariff_from_snapshot,
)
from cms.tasks import enqueue_on_commit
from sessions_app.models import ChargingSession, MeterValue, SessionStatus
from stations.models import Connector, ConnectorStatus, Network, Station, StatusChange

logger = logging.getLogger(__name__)

ENERGY_MEASURAND = "Energy.Active.Import.Register"
POWER_MEASURAND = "Power.Active.Import"


class NoTariffAssigned(Exception):
    """No active tariff is assigned where the session took place."""


# --- Tariffs -------------------------------------------------------------------------

TARIFF_FIELDS = (
    "name",
    "currency",
    "vat_percent",
    "min_price",
    "max_price",
    "idle_grace_minutes",
    "idle_fee_cap",
    "is_active",
)
ELEMENT_FIELDS = tuple(
    f.name
    for f in TariffElement._meta.concrete_fields
    if f.name not in {"id", "tariff", "position"}
)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def tariff_snapshot(tariff: Tariff) -> dict[str, Any]:
    """Return the versioned JSON snapshot of ``tariff`` (OCPI units)."""
    elements = []
    for element in tariff.elements.all():
        components: list[dict[str, Any]] = []
        if element.flat_price is not None:
            components.append({"type": "FLAT", "price": str(element.flat_price)})
        if element.energy_price_per_kwh is not None:
            components.append(
                {
                    "type": "ENERGY",
                    "price": str(element.energy_price_per_kwh),
                    "step_size": element.energy_step_wh,
                }
            )
        if element.time_price_per_hour is not None:
            components.append(
                {
                    "type": "TIME",
                    "price": str(element.time_price_per_hour),
                    "step_size": element.time_step_s,
                }
            )
        if element.idle_price_per_minute is not None:
            components.append(
                {
                    "type": "PARKING_TIME",
                    # OCPI prices parking per hour; the form takes it per minute.
                    "price": str(element.idle_price_per_minute * 60),
                    "step_size": element.idle_step_s,
                }
            )
        elements.append(
            {
                "price_components": components,
                "restrictions": {
                    "start_time": element.start_time.strftime("%H:%M")
                    if element.start_time
                    else None,
                    "end_time": element.end_time.strftime("%H:%M")
                    if element.end_time
                    else None,
                    "day_of_week": list(element.days_of_week or []),
                    "start_date": _text(element.start_date),
                    "end_date": _text(element.end_date),
                    "min_kwh": _text(element.min_kwh),
                    "max_kwh": _text(element.max_kwh),
                    "min_duration": element.min_duration_minutes * 60
                    if element.min_duration_minutes is not None
                    else None,
                    "max_duration": element.max_duration_minutes * 60
                    if element.max_duration_minutes is not None
                    else None,
                    "min_power": _text(element.min_power_kw),
                    "max_power": _text(element.max_power_kw),
                },
            }
        )
    return {
        "version": SNAPSHOT_VERSION,
        "tariff_id": tariff.pk,
        "revision": tariff.revision,
        "name": tariff.name,
        "currency": tariff.currency,
        "vat_percent": str(tariff.vat_percent),
        "min_price": _text(tariff.min_price),
        "max_price": _text(tariff.max_price),
        "idle_grace_s": tariff.idle_grace_minutes * 60,
        "idle_fee_cap": _text(tariff.idle_fee_cap),
        "idle_detection": {
            "power_threshold_w": str(settings.BILLING_IDLE_POWER_THRESHOLD_W),
            "power_window_s": settings.BILLING_IDLE_POWER_WINDOW_SECONDS,
        },
        "elements": elements,
    }


def _tariff_state(tariff: Tariff) -> dict[str, Any]:
    state = model_snapshot(tariff, exclude=("created_at", "updated_at"))
    state["elements"] = [
        model_snapshot(e, exclude=("tariff",)) for e in tariff.elements.all()
    ]
    return state


def _revise(tariff: Tariff, actor: User | None) -> TariffRevision:
    Tariff.objects.filter(pk=tariff.pk).update(revision=F("revision") + 1)
    tariff.refresh_from_db(fields=["revision"])
    return TariffRevision.objects.create(
        tariff=tariff,
        revision=tariff.revision,
        snapshot=tariff_snapshot(tariff),
        valid_from=timezone.now(),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )


def _replace_elements(tariff: Tariff, elements: list[dict[str, Any]]) -> None:
    tariff.elements.all().delete()
    TariffElement.objects.bulk_create(
        TariffElement(
            tariff=tariff,
            position=position,
            **{k: v for k, v in data.items() if k in ELEMENT_FIELDS},
        )
        for position, data in enumerate(elements)
    )


def _validate_elements(elements: list[dict[str, Any]]) -> None:
    if not elements:
        raise ValidationError({"elements": "A tariff needs at least one element."})
    for data in elements:
        element = TariffElement(
            **{k: v for k, v in data.items() if k in ELEMENT_FIELDS}
        )
        if all(
            getattr(element, name) is None
            for name in (
                "energy_price_per_kwh",
                "time_price_per_hour",
                "idle_price_per_minute",
                "flat_price",
            )
        ):
            raise ValidationError(
                {"elements": "Each element needs at least one price."}
            )


@transaction.atomic
def tariff_create(
    *,
    actor: User | None,
    network: Network,
    data: dict[str, Any],
    elements: list[dict[str, Any]],
) -> Tariff:
    """Create a tariff with its elements and first revision; audited (``actor``
    None: a system action such as the demo data)."""
    _validate_elements(elements)
    tariff = Tariff(network=network, **{k: data[k] for k in TARIFF_FIELDS if k in data})
    tariff.full_clean()
    tariff.save()
    _replace_elements(tariff, elements)
    revision = _revise(tariff, actor)
    audit_record(
        actor=actor,
        action="tariff.create",
        target=tariff,
        network=network,
        after=_tariff_state(tariff),
        detail=f"revision {revision.revision}",
    )
    return tariff


@transaction.atomic
def tariff_update(
    *, actor: User, tariff: Tariff, data: dict[str, Any], elements: list[dict[str, Any]]
) -> Tariff:
    """Change a tariff; a new revision applies to sessions starting from now."""
    _validate_elements(elements)
    tariff = Tariff.objects.select_for_update().get(pk=tariff.pk)
    before = _tariff_state(tariff)
    for key in TARIFF_FIELDS:
        if key in data:
            setattr(tariff, key, data[key])
    tariff.full_clean()
    tariff.save()
    _replace_elements(tariff, elements)
    revision = _revise(tariff, actor)
    audit_record(
        actor=actor,
        action="tariff.update",
        target=tariff,
        network=tariff.network,
        before=before,
        after=_tariff_state(tariff),
        detail=f"revision {revision.revision}",
    )
    return tariff


@transaction.atomic
def tariff_assignment_add(
    *,
    actor: User | None,
    tariff: Tariff,
    station: Station | None = None,
    connector_type: str = "",
    min_power_kw: Decimal | None = None,
    max_power_kw: Decimal | None = None,
    token_group: Any = None,
) -> TariffAssignment:
    """Assign ``tariff`` to its network (default), a station, a connector class or group."""
    if station is not None and station.network_id != tariff.network_id:
        raise ValidationError(
            {"station": "The station is not in the tariff's network."}
        )
    if (
        min_power_kw is not None
        and max_power_kw is not None
        and min_power_kw > max_power_kw
    ):
        raise ValidationError({"max_power_kw": "Must not be below the lower bound."})
    assignment = TariffAssignment.objects.create(
        tariff=tariff,
        network_id=tariff.network_id,
        station=station,
        connector_type=connector_type or "",
        min_power_kw=min_power_kw,
        max_power_kw=max_power_kw,
        token_group=token_group,
    )
    audit_record(
        actor=actor,
        action="tariff.assign",
        target=tariff,
        network=tariff.network,
        after=model_snapshot(assignment),
        detail=str(assignment),
    )
    return assignment


@transaction.atomic
def tariff_assignment_remove(*, actor: User, assignment: TariffAssignment) -> None:
    before = model_snapshot(assignment)
    tariff = assignment.tariff
    detail = str(assignment)
    assignment.delete()
    audit_record(
        actor=actor,
        action="tariff.unassign",
        target=tariff,
        network=tariff.network,
        before=before,
        detail=detail,
    )


# --- Resolving the tariff of a session --------------------------------------------


def _session_connector(session: ChargingSession) -> Connector | None:
    if session.connector_id:
        return session.connector
    return Connector.objects.filter(
        charge_point_id=session.charge_point_id, connector_id=session.connector_number
    ).first()


# Tariffs a higher app chooses for some sessions before the assignments are
# looked at (roaming: the tariff published to the partner whose driver charges).
SessionTariffResolver = Callable[[ChargingSession], "Tariff | None"]
_session_tariff_resolvers: list[SessionTariffResolver] = []


def session_tariff_resolvers_register(resolver: SessionTariffResolver) -> None:
    """Let ``resolver(session)`` name a session's tariff; None leaves it to the assignments."""
    if resolver not in _session_tariff_resolvers:
        _session_tariff_resolvers.append(resolver)


def tariff_for_session(session: ChargingSession) -> Tariff | None:
    """The tariff a resolver names, else the most specific active assignment."""
    station = session.charge_point.station
    if station is None:
        return None
    for resolver in _session_tariff_resolvers:
        chosen = resolver(session)
        if chosen is not None:
            return chosen
    connector = _session_connector(session)
    token = session.id_token
    groups = {pk for pk in (token.pk, token.parent_id) if pk} if token else set()
    candidates = (
        TariffAssignment.objects.filter(
            network_id=station.network_id, tariff__is_active=True
        )
        .filter(Q(station__isnull=True) | Q(station=station))
        .filter(Q(token_group__isnull=True) | Q(token_group__in=groups))
        .select_related("tariff")
        .order_by("-id")
    )
    best: TariffAssignment | None = None
    for assignment in candidates:
        if assignment.connector_type and (
            connector is None or connector.connector_type != assignment.connector_type
        ):
            continue
        if assignment.min_power_kw is not None and (
            connector is None or connector.max_power_kw < assignment.min_power_kw
        ):
            continue
        if assignment.max_power_kw is not None and (
            connector is None or connector.max_power_kw > assignment.max_power_kw
        ):
            continue
        if best is None or assignment.specificity > best.specificity:
            best = assignment
    return best.tariff if best else None


def session_tariff_snapshot(session: ChargingSession) -> tuple[Tariff, dict[str, Any]]:
    """The tariff and snapshot in force when ``session`` started.

    Raises ``NoTariffAssigned``. A tariff created after the session started is
    applied in its first revision, marked ``applied_after_start`` in the snapshot.
    """
    tariff = tariff_for_session(session)
    if tariff is None:
        raise NoTariffAssigned(
            "No active tariff is assigned to this station, connector or token group."
        )
    revision = (
        tariff.revisions.filter(valid_from__lte=session.started_at)
        .order_by("-revision")
        .first()
    )
    applied_after_start = revision is None
    if revision is None:
        revision = tariff.revisions.order_by("revision").first()
    if revision is None:
        raise NoTariffAssigned(f"Tariff {tariff} has no saved revision.")
    snapshot = dict(revision.snapshot)
    snapshot["applied_after_start"] = applied_after_start
    return tariff, snapshot


# --- Timelines and estimates ---------------------------------------------------------


def session_time_zone(session: ChargingSession) -> str:
    station = session.charge_point.station
    if station is not None:
        return station.time_zone
    return "UTC"


def session_timeline(session: ChargingSession, *, as_of: datetime) -> SessionTimeline:
    """Read the session's meter samples and connector statuses for rating."""
    rows = (
        MeterValue.objects.filter(
            session=session,
            measurand__in=(ENERGY_MEASURAND, POWER_MEASURAND),
            phase="",
            value__isnull=False,
        )
        .order_by("timestamp", "id")
        .values_list("timestamp", "measurand", "value")
    )
    samples = tuple(
        MeterSample(at=at, energy_wh=value, power_w=None)
        if measurand == ENERGY_MEASURAND
        else MeterSample(at=at, energy_wh=None, power_w=value)
        for at, measurand, value in rows
    )
    statuses: list[StatusEvent] = []
    connector = _session_connector(session)
    if connector is not None:
        statuses = [
            StatusEvent(at=at, status=status)
            for at, status in StatusChange.objects.filter(
                connector=connector, at__gte=session.started_at, at__lte=as_of
            )
            .order_by("at", "id")
            .values_list("at", "status")
        ]
    # The next session on the same connector proves the car left, even when the
    # charger never reported Available in between.
    next_start = (
        ChargingSession.objects.filter(
            charge_point_id=session.charge_point_id,
            connector_number=session.connector_number,
            started_at__gt=session.started_at,
        )
        .exclude(pk=session.pk)
        .aggregate(first=Min("started_at"))["first"]
    )
    if next_start is not None and next_start <= as_of:
        statuses.append(StatusEvent(at=next_start, status=ConnectorStatus.AVAILABLE))
    return SessionTimeline(
        started_at=session.started_at,
        stopped_at=session.stopped_at,
        meter_start_wh=session.meter_start_wh,
        meter_stop_wh=session.meter_stop_wh,
        as_of=max(as_of, session.started_at),
        time_zone=session_time_zone(session),
        samples=samples,
        statuses=tuple(statuses),
    )


def session_cost_estimate(session: ChargingSession) -> Decimal:
    """Price of ``session`` so far (incl. tax), as it would be rated now.

    Raises ``NoTariffAssigned`` when no tariff applies. An issued CDR's total is
    returned as is.
    """
    return session_cost_estimate_in_currency(session)[0]


def session_cost_estimate_in_currency(session: ChargingSession) -> tuple[Decimal, str]:
    """``session_cost_estimate`` with the currency of the tariff it was rated with."""
    issued = Cdr.objects.filter(session=session).values_list("total_amount", "currency")
    if issued:
        return issued[0]
    stored = SessionTariff.objects.filter(
        session=session, snapshot__isnull=False
    ).first()
    snapshot = (
        stored.snapshot
        if stored is not None and stored.snapshot is not None
        else session_tariff_snapshot(session)[1]
    )
    spec = tariff_from_snapshot(snapshot)
    rated = rate_session(session_timeline(session, as_of=timezone.now()), spec)
    return rated.total, spec.currency


def session_cost_estimate_or_none(
    session: ChargingSession,
) -> tuple[Decimal, str] | None:
    """The estimate for the session pages and the driver API; None without a tariff."""
    try:
        return session_cost_estimate_in_currency(session)
    except NoTariffAssigned:
        return None


# --- Rating and issuing CDRs ----------------------------------------------------------


def _next_number(network_id: int, kind: str) -> tuple[int, str]:
    """Advance the network's counter; call inside the issuing transaction.

    The UPDATE row lock is held until the transaction ends, so concurrent issuers
    queue up; a rollback rolls the counter back too, so numbers have no gaps.
    """
    counter, _ = NumberSequence.objects.get_or_create(network_id=network_id, kind=kind)
    NumberSequence.objects.filter(pk=counter.pk).update(last_value=F("last_value") + 1)
    value = (
        NumberSequence.objects.select_for_update()
        .values_list("last_value", flat=True)
        .get(pk=counter.pk)
    )
    return value, f"{kind}{network_id:03d}-{value:06d}"


@dataclass(frozen=True)
class _Decision:
    as_of: datetime
    issue: bool


def _decide(
    session: ChargingSession, spec: TariffSpec, rated: RatedSession, now: datetime
) -> _Decision:
    """Whether the session's price is final, and the moment it is final at."""
    stopped_at = session.stopped_at
    assert stopped_at is not None  # noqa: S101 - only stopped sessions get here
    if not rated.is_idle_open:
        return _Decision(as_of=now, issue=True)
    if not spec.has_idle_fee:
        return _Decision(as_of=stopped_at, issue=True)
    if rated.idle_fee_capped or any(li.kind == "max_price" for li in rated.lines):
        return _Decision(as_of=now, issue=True)  # it cannot grow any more
    deadline = stopped_at + timedelta(hours=settings.BILLING_IDLE_MAX_HOURS)
    if now >= deadline:
        return _Decision(as_of=deadline, issue=True)
    return _Decision(as_of=now, issue=False)


def _record_failure(billing: SessionTariff, message: str, now: datetime) -> None:
    billing.status = RatingStatus.FAILED
    billing.error = message[:2000]
    billing.last_attempt_at = now
    billing.save(update_fields=["status", "error", "last_attempt_at", "attempts"])


def session_rate(*, session_id: int, now: datetime | None = None) -> Cdr | None:
    """Rate a finished session and issue its CDR once its price is final.

    Safe to run any number of times: the CDR is issued once (unique per session).
    Returns the CDR, or None while the car is still plugged in (idle fees can
    still accrue), when the session is not finished, or when rating failed (the
    failure is stored on the ``SessionTariff`` row and logged).
    """
    now = now or timezone.now()
    with transaction.atomic():
        session = (
            ChargingSession.objects.select_related(
                "charge_point__station__network", "connector", "id_token"
            )
            .filter(pk=session_id)
            .first()
        )
        if session is None or session.stopped_at is None:
            return None
        if session.status != SessionStatus.COMPLETED:
            return None
        SessionTariff.objects.get_or_create(session=session)
        # The row lock serializes concurrent raters of the same session.
        billing = SessionTariff.objects.select_for_update().get(session=session)
        existing = Cdr.objects.filter(session=session).first()
        if existing is not None:
            return existing
        billing.attempts = F("attempts") + 1
        billing.last_attempt_at = now
        if session.charge_point.station is None:
            _record_failure(
                billing, "The charge point is not assigned to a station.", now
            )
            return None
        try:
            if billing.snapshot is None:
                tariff, snapshot = session_tariff_snapshot(session)
                billing.tariff = tariff
                billing.revision = snapshot.get("revision")
                billing.snapshot = snapshot
            spec = tariff_from_snapshot(billing.snapshot)
            rated = rate_session(session_timeline(session, as_of=now), spec)
            decision = _decide(session, spec, rated, now)
            if decision.as_of != now:
                rated = rate_session(
                    session_timeline(session, as_of=decision.as_of), spec
                )
        except NoTariffAssigned as exc:
            _record_failure(billing, str(exc), now)
            return None
        except Exception as exc:
            # A rating bug must not be lost silently nor block the sweep: keep the
            # error on the session's billing row for finance, and log it.
            logger.exception("rating session %s failed", session_id)
            _record_failure(billing, f"{type(exc).__name__}: {exc}", now)
            return None
        billing.error = ""
        if not decision.issue:
            billing.status = RatingStatus.AWAITING_IDLE_END
            billing.save()
            return None
        billing.status = RatingStatus.RATED
        billing.save()
        cdr = _cdr_issue(session=session, billing=billing, rated=rated, now=now)
    return cdr


def session_awaiting_unplug_id(
    *, charge_point_id: int, connector_number: int
) -> int | None:
    """The stopped session on this connector whose CDR waits for the car to leave."""
    return (
        SessionTariff.objects.filter(
            status=RatingStatus.AWAITING_IDLE_END,
            session__charge_point_id=charge_point_id,
            session__connector_number=connector_number,
        )
        .order_by("-session__stopped_at")
        .values_list("session_id", flat=True)
        .first()
    )


def session_idle_finalize(session_id: int) -> Cdr | None:
    """Issue the CDR of a stopped session whose idle time may have ended.

    Called when the connector becomes Available, and by the periodic sweep for
    sessions still waiting (idle cap reached, or the idle window is over).
    """
    return session_rate(session_id=session_id)


def _cdr_issue(
    *,
    session: ChargingSession,
    billing: SessionTariff,
    rated: RatedSession,
    now: datetime,
) -> Cdr:
    station = session.charge_point.station
    assert station is not None  # noqa: S101 - checked by session_rate
    sequence, number = _next_number(station.network_id, NumberSequence.Kind.RECEIPT)
    cdr = Cdr.objects.create(
        session=session,
        network_id=station.network_id,
        station=station,
        number=number,
        sequence=sequence,
        currency=rated.currency,
        id_tag=session.id_tag,
        started_at=rated.started_at,
        stopped_at=rated.ended_at,
        charging_completed_at=rated.completed_at,
        idle_ended_at=rated.idle_ended_at,
        energy_wh=rated.energy_wh,
        charging_seconds=rated.charging_seconds,
        idle_seconds=rated.idle_seconds,
        billed_idle_seconds=rated.billed_idle_seconds,
        vat_percent=rated.vat_percent,
        net_amount=rated.net,
        tax_amount=rated.tax,
        total_amount=rated.total,
        line_items=[line.as_json() for line in rated.lines],
        tariff_snapshot=billing.snapshot,
        issued_at=now,
    )
    from billing.tasks import cdr_payment_collect_task, cdr_receipt_email_task

    enqueue_on_commit(cdr_payment_collect_task, cdr_id=cdr.pk)
    if settings.BILLING_RECEIPT_EMAILS:
        enqueue_on_commit(cdr_receipt_email_task, cdr_id=cdr.pk)
    return cdr


# The payment task normally runs seconds after a CDR is issued; the sweep takes
# over only from CDRs older than this.
PAYMENT_SWEEP_GRACE_MINUTES = 5


def billing_sweep(*, now: datetime | None = None, batch: int = 500) -> dict[str, int]:
    """Rate stopped sessions nobody rated, finish idle ones, retry failures, and
    collect the CDRs whose payment was never handed to the provider."""
    now = now or timezone.now()
    unrated = ChargingSession.objects.filter(
        status=SessionStatus.COMPLETED, stopped_at__isnull=False, billing__isnull=True
    ).values_list("pk", flat=True)[:batch]
    waiting = SessionTariff.objects.filter(
        status__in=(RatingStatus.AWAITING_IDLE_END, RatingStatus.PENDING)
    ).values_list("session_id", flat=True)[:batch]
    retry = SessionTariff.objects.filter(
        status=RatingStatus.FAILED,
        attempts__lt=settings.BILLING_RATING_MAX_ATTEMPTS,
        last_attempt_at__lte=now
        - timedelta(minutes=settings.BILLING_RATING_RETRY_MINUTES),
    ).values_list("session_id", flat=True)[:batch]
    counts = {"issued": 0, "waiting": 0, "failed": 0}
    for session_id in [*unrated, *waiting, *retry]:
        cdr = session_rate(session_id=session_id, now=now)
        if cdr is not None:
            counts["issued"] += 1
        elif SessionTariff.objects.filter(
            session_id=session_id, status=RatingStatus.FAILED
        ).exists():
            counts["failed"] += 1
        else:
            counts["waiting"] += 1
    # A CDR whose payment task was never queued (the broker was down when it
    # was issued) is handed to the provider here; collecting is idempotent.
    uncollected = Cdr.objects.filter(
        payment__isnull=True,
        issued_at__lte=now - timedelta(minutes=PAYMENT_SWEEP_GRACE_MINUTES),
    ).values_list("pk", flat=True)[:batch]
    counts["collected"] = 0
    for cdr_id in uncollected:
        cdr_payment_collect(cdr_id=cdr_id)
        counts["collected"] += 1
    return counts


def session_rating_retry(*, actor: User, session_id: int) -> Cdr | None:
    """Rate a session again after a failure (e.g. once a tariff is assigned)."""
    with transaction.atomic():
        billing = (
            SessionTariff.objects.select_for_update()
            .filter(session_id=session_id, status=RatingStatus.FAILED)
            .first()
        )
        if billing is not None:
            # A missing tariff may have been assigned since: look it up again.
            billing.snapshot = None
            billing.tariff = None
            billing.revision = None
            billing.status = RatingStatus.PENDING
            billing.save(update_fields=["snapshot", "tariff", "revision", "status"])
            audit_record(
                actor=actor,
                action="billing.rating_retry",
                target=billing.session,
                network=billing.session.charge_point.station.network
                if billing.session.charge_point.station
                else None,
                detail=billing.error,
            )
    return session_rate(session_id=session_id)


# --- Corrections and payments ---------------------------------------------------------


@transaction.atomic
def credit_note_issue(
    *, actor: User, cdr: Cdr, total_amount: Decimal, reason: str
) -> CreditNote:
    """Refund (part of) an issued CDR; the CDR itself never changes."""
    cdr = Cdr.objects.select_for_update().get(pk=cdr.pk)
    amount = round_money(Decimal(total_amount), cdr.currency)
    if amount <= 0:
        raise ValidationError({"total_amount": "Enter an amount above zero."})
    credited = cdr.credit_notes.aggregate(s=Sum("total_amount"))["s"] or Decimal(0)
    remaining = cdr.total_amount - credited
    if amount > remaining:
        raise ValidationError(
            {
                "total_amount": f"At most {remaining} {cdr.currency} is left to credit "
                f"on {cdr.number}."
            }
        )
    if not reason.strip():
        raise ValidationError({"reason": "Give a reason for the credit note."})
    net = round_money(amount * 100 / (100 + cdr.vat_percent), cdr.currency)
    sequence, number = _next_number(cdr.network_id, NumberSequence.Kind.CREDIT_NOTE)
    note = CreditNote.objects.create(
        cdr=cdr,
        network_id=cdr.network_id,
        number=number,
        sequence=sequence,
        net_amount=net,
        tax_amount=amount - net,
        total_amount=amount,
        reason=reason.strip(),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    audit_record(
        actor=actor,
        action="billing.credit_note",
        target=cdr,
        network=cdr.network,
        after=model_snapshot(note),
        detail=f"{note.number}: {amount} {cdr.currency} — {note.reason}",
    )
    return note


@transaction.atomic
def cdr_payment_collect(*, cdr_id: int) -> Payment | None:
    """Hand the CDR to the payment provider once; a rerun returns the same payment."""
    cdr = Cdr.objects.select_for_update().filter(pk=cdr_id).first()
    if cdr is None:
        return None
    existing = Payment.objects.filter(cdr=cdr).first()
    if existing is not None:
        return existing
    provider = payment_provider()
    outcome = provider.collect(cdr=cdr)
    return Payment.objects.create(
        cdr=cdr,
        provider=provider.code,
        status=outcome.status,
        amount=cdr.total_amount,
        currency=cdr.currency,
        reference=outcome.reference,
        settled_at=timezone.now() if outcome.status == Payment.Status.PAID else None,
    )


@transaction.atomic
def payment_mark_paid(*, actor: User, payment: Payment, reference: str = "") -> Payment:
    """Record that an invoiced amount was received."""
    payment = Payment.objects.select_for_update().get(pk=payment.pk)
    if payment.status == Payment.Status.PAID:
        return payment
    before = model_snapshot(payment)
    payment.status = Payment.Status.PAID
    payment.settled_at = timezone.now()
    payment.settled_by = actor
    if reference:
        payment.reference = reference[:120]
    payment.save(update_fields=["status", "settled_at", "settled_by", "reference"])
    audit_record(
        actor=actor,
        action="billing.payment_paid",
        target=payment.cdr,
        network=payment.cdr.network,
        before=before,
        after=model_snapshot(payment),
    )
    return payment


# --- Receipts -------------------------------------------------------------------------


def cdr_receipt_email(*, cdr_id: int) -> bool:
    """Email the receipt (HTML + PDF) to the token owner; True when sent.

    The claim (a conditional update of ``receipt_emailed_at``) makes a rerun a
    no-op; a failed send releases it so a retry can send again.
    """
    from billing.receipts import receipt_html, receipt_pdf, receipt_text

    cdr = (
        Cdr.objects.select_related(
            "session__id_token__owner", "station", "network", "session__charge_point"
        )
        .filter(pk=cdr_id)
        .first()
    )
    if cdr is None or cdr.receipt_emailed_at is not None:
        return False
    token = cdr.session.id_token
    owner = token.owner if token else None
    if owner is None or not owner.email:
        return False
    claimed = Cdr.objects.filter(pk=cdr.pk, receipt_emailed_at__isnull=True).update(
        receipt_emailed_at=timezone.now(), receipt_emailed_to=owner.email
    )
    if not claimed:
        return False
    message = EmailMultiAlternatives(
        subject=f"Your charging receipt {cdr.number}",
        body=receipt_text(cdr),
        to=[owner.email],
    )
    message.attach_alternative(receipt_html(cdr), "text/html")
    message.attach(f"receipt-{cdr.number}.pdf", receipt_pdf(cdr), "application/pdf")
    try:
        message.send()
    except (OSError, smtplib.SMTPException):
        Cdr.objects.filter(pk=cdr.pk).update(
            receipt_emailed_at=None, receipt_emailed_to=""
        )
        raise
    return True
