"""Writes for id tokens, authorization, charging sessions and meter values.

The four ``*_ocpp`` / ``meter_values_record`` / ``id_tag_authorize`` services are
called by the OCPP gateway through ``database_sync_to_async``, one call per
charger message. Chargers resend transaction messages after a reconnect, so each
is idempotent, and none raises for input a charger could send: an unknown
StopTransaction is kept for reconciliation instead (OCPP 1.6 §4.10: the Central
System must accept it, or the charger retries it forever).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record, model_snapshot
from cms.db import insert_rows, update_rows
from cms.events import (
    EventKind,
    MeterValuesSampled,
    SessionStarted,
    SessionStopped,
    SessionUpdated,
    emit,
    is_wanted,
)
from sessions_app import metering, pricing
from sessions_app.models import (
    ChargingSession,
    IdToken,
    MeterValue,
    SessionStatus,
    TokenStatus,
    UnmatchedStop,
)
from stations.facts import Authorization, Sample, TransactionUpdate, notes_joined
from stations.fleet.quirkcounts import QuirkKind, quirk_count
from stations.live.events import groups_for
from stations.models import ChargePoint, Connector, Network, RegistrationStatus
from stations.remote.services import reservation_allows
from stations.services import (
    QUARANTINE_ODD_SAMPLES,
    QUARANTINE_UNKNOWN_CONNECTOR,
    charger_report_quarantine,
    connector_number_refusal,
)
from stations.session_port import MeterValuesReport

logger = logging.getLogger(__name__)

CONCURRENT_TX = "ConcurrentTx"
STOP_REASON_SUPERSEDED = "Superseded"
# A session the charger moved on from without a StopTransaction (its start was
# answered after the charger's timeout and never resent): closed by the sweep.
STOP_REASON_ZOMBIE = "ClosedAsZombie"
# A session its charger never stopped (a vendor profile's close_sessions_at_boot).
STOP_REASON_CLOSED_AT_BOOT = "ClosedAtBoot"
# Stops the CMS decides; the charger's own late StopTransaction still completes
# such a session with its real meter reading.
CMS_STOP_REASONS = frozenset(
    {STOP_REASON_SUPERSEDED, STOP_REASON_ZOMBIE, STOP_REASON_CLOSED_AT_BOOT}
)
# OCPP 1.6 §7.41: StopTransaction.reason "may only be omitted when the Reason is Local".
STOP_REASON_DEFAULT = "Local"


INVALID = Authorization(status=TokenStatus.INVALID)

# An authorizer for id tags that are not ours (a roaming partner's driver, for
# example): it returns the answer for the tag at the charger, or None when the
# tag is not one it knows. Higher apps register theirs from ``AppConfig.ready()``.
ExternalAuthorizer = Callable[..., Authorization | None]
_external_authorizers: list[ExternalAuthorizer] = []


def external_authorizers_register(authorizer: ExternalAuthorizer) -> None:
    """Ask ``authorizer(id_tag=, charge_point=, at=)`` about id tags we do not issue."""
    if authorizer not in _external_authorizers:
        _external_authorizers.append(authorizer)


def _external_authorization(
    id_tag: str, *, charge_point: ChargePoint, at: datetime
) -> Authorization:
    for authorizer in _external_authorizers:
        result = authorizer(id_tag=id_tag, charge_point=charge_point, at=at)
        if result is not None:
            return result
    return INVALID


# --- Lookups ------------------------------------------------------------------


def _charge_point(
    ocpp_id: str | None = None, pk: int | None = None
) -> ChargePoint | None:
    """The charger by primary key (the gateway knows it) or else by OCPP id."""
    queryset = ChargePoint.objects.select_related("station__network")
    if pk is not None:
        return queryset.filter(pk=pk).first()
    if ocpp_id is None:
        raise TypeError("charge_point_ocpp_id or charge_point_id is required")
    return queryset.filter(ocpp_id=ocpp_id).first()


def _token(id_tag: str, *, for_update: bool = False) -> IdToken | None:
    # idTag is a CiString (OCPP 1.6 §7.28); the Upper(token) unique index serves this.
    queryset = IdToken.objects.select_related("parent").filter(token__iexact=id_tag)
    if for_update:
        # Lock the token so two simultaneous starts cannot both pass the
        # concurrent-session limit (PostgreSQL; SQLite serializes writers anyway).
        queryset = queryset.select_for_update(of=("self",))
    return queryset.first()


def _charge_point_network_id(charge_point: ChargePoint) -> int | None:
    station = charge_point.station
    return station.network_id if station is not None else None


def id_token_rules_authorization(token: IdToken, *, at: datetime) -> Authorization:
    """What the token's own rules say at ``at``: its status, expiry and its parent's.

    The part of an authorization that needs no charger (roaming partners ask
    for it in real time).
    """
    parent = token.parent
    result = Authorization(
        status=token.status,
        expires_at=token.expires_at,
        group_token=parent.token if parent is not None else None,
    )
    if token.status != TokenStatus.ACCEPTED:
        return result
    if token.expires_at is not None and token.expires_at <= at:
        return result.with_status(TokenStatus.EXPIRED)
    if parent is not None:
        if parent.status != TokenStatus.ACCEPTED:
            return result.with_status(parent.status)
        if parent.expires_at is not None and parent.expires_at <= at:
            return result.with_status(TokenStatus.EXPIRED)
    return result


def _authorization_for(
    token: IdToken | None,
    *,
    charge_point: ChargePoint,
    at: datetime,
    check_concurrency: bool,
    exclude_connector_number: int | None = None,
    id_tag: str | None = None,
) -> Authorization:
    if charge_point.registration_status != RegistrationStatus.ACCEPTED:
        return (
            INVALID  # OCPP 1.6 §4.2.1: no transactions before the charger is Accepted
        )
    if token is None:
        if id_tag is None:
            return INVALID
        return _external_authorization(id_tag, charge_point=charge_point, at=at)
    if token.network_id is not None and token.network_id != _charge_point_network_id(
        charge_point
    ):
        return INVALID  # another operator's card: not ours to accept
    result = id_token_rules_authorization(token, at=at)
    if result.status != TokenStatus.ACCEPTED:
        return result
    if check_concurrency and (
        limit := concurrent_sessions_limit(token, charge_point=charge_point)
    ):
        # Race-free at a start: the caller holds the token's row lock
        # (``_token(for_update=True)``), so concurrent starts of one token on
        # other chargers (other database workers, other processes) count
        # each other's committed sessions.
        active = ChargingSession.objects.filter(
            id_token=token, status=SessionStatus.ACTIVE
        )
        if exclude_connector_number is not None:
            # The session on this very connector is about to be superseded.
            active = active.exclude(
                charge_point=charge_point, connector_number=exclude_connector_number
            )
        if active.count() >= limit:
            return result.with_status(CONCURRENT_TX)
    return result


def concurrent_sessions_limit(token: IdToken, *, charge_point: ChargePoint) -> int:
    """Sessions ``token`` may have open at once at this charger; 0 = no limit.

    The token's own limit, else its network's (the charger's network: a token
    of another network is refused before this), else
    ``SESSIONS_MAX_CONCURRENT_PER_TOKEN`` (1: a card charges one car).
    """
    if token.max_concurrent_sessions is not None:
        return int(token.max_concurrent_sessions)
    station = charge_point.station
    network = station.network if station is not None else None
    if network is not None and network.max_concurrent_sessions_per_token is not None:
        return int(network.max_concurrent_sessions_per_token)
    return int(settings.SESSIONS_MAX_CONCURRENT_PER_TOKEN)


def _session_event(session: ChargingSession, charge_point: ChargePoint) -> None:
    station = charge_point.station if charge_point.station_id else None
    emit(
        SessionUpdated(
            session_id=session.pk,
            charge_point_pk=charge_point.pk,
            station_id=station.pk if station is not None else None,
            network_id=station.network_id if station is not None else None,
            connector_number=session.connector_number,
            status=session.status,
            auth_status=session.auth_status,
            energy_wh=session.energy_wh,
            power_w=session.power_w,
            soc_percent=session.soc_percent,
            started_at=session.started_at.isoformat(),
            stopped_at=session.stopped_at.isoformat() if session.stopped_at else None,
            last_meter_at=session.last_meter_at.isoformat()
            if session.last_meter_at
            else None,
        ),
        live_groups=groups_for(
            network_id=station.network_id if station is not None else None,
            station_id=station.pk if station is not None else None,
            charge_point_pk=charge_point.pk,
        ),
    )


# --- OCPP: Authorize, StartTransaction, StopTransaction, MeterValues --------------


def id_tag_authorize(
    *,
    charge_point_ocpp_id: str | None = None,
    charge_point_id: int | None = None,
    id_tag: str,
    at: datetime,
) -> Authorization:
    """Answer an Authorize.req for ``id_tag`` at the charger (by pk or OCPP id)."""
    charge_point = _charge_point(charge_point_ocpp_id, charge_point_id)
    if charge_point is None:
        return INVALID
    return _authorization_for(
        _token(id_tag),
        charge_point=charge_point,
        at=at,
        check_concurrency=True,
        id_tag=id_tag,
    )


@transaction.atomic
def session_start_from_ocpp(
    *,
    charge_point_ocpp_id: str | None = None,
    charge_point_id: int | None = None,
    connector_id: int,
    id_tag: str,
    meter_start_wh: int,
    started_at: datetime,
    reservation_id: int | None,
    quirk: str = "",
) -> tuple[int, Authorization]:
    """Open a session for a StartTransaction.req; a resent one returns the same id.

    ``quirk``: the vendor-profile quirk the gateway applied to its facts.
    """
    charge_point = _charge_point(charge_point_ocpp_id, charge_point_id)
    if charge_point is None:
        logger.warning(
            "StartTransaction from unknown charge point %r",
            charge_point_ocpp_id or charge_point_id,
        )
        return 0, INVALID
    identity = {
        "charge_point": charge_point,
        "connector_number": connector_id,
        "id_tag": id_tag,
        "started_at": started_at,
        "meter_start_wh": meter_start_wh,
    }
    token = _token(id_tag, for_update=True)
    auth = _authorization_for(
        token,
        charge_point=charge_point,
        at=started_at,
        check_concurrency=True,
        exclude_connector_number=connector_id,
        id_tag=id_tag,
    )
    if auth.is_accepted and not reservation_allows(
        charge_point_ocpp_id=charge_point.ocpp_id,
        connector_id=connector_id,
        id_tag=id_tag,
        at=started_at,
    ):
        # OCPP 1.6 §5.13: a reserved connector takes only the reserved token.
        auth = INVALID
    connector = _session_connector(
        charge_point, connector_id, at=started_at, message="StartTransaction"
    )
    # A resent StartTransaction (or the same one on another connection at
    # once) fails the session_unique_start constraint here and is answered as
    # the first time from the stored row, changing nothing: no read before the
    # insert for the common case of a new session.
    try:
        with transaction.atomic():
            session = ChargingSession.objects.create(
                **identity,
                connector=connector,
                id_token=token,
                auth_status=auth.status,
                status=SessionStatus.ACTIVE
                if auth.is_accepted
                else SessionStatus.REJECTED,
                reservation_id=reservation_id,
                quirk=quirk[:255],
            )
    except IntegrityError:
        stored = (
            ChargingSession.objects.select_related("id_token__parent")
            .filter(**identity)
            .first()
        )
        if stored is None:  # not a resend: a real error
            raise
        return stored.pk, _stored_authorization(stored)

    _supersede_open_sessions(session=session, charge_point=charge_point)
    _session_event(session, charge_point)
    emit(SessionStarted(session_id=session.pk, charge_point_pk=charge_point.pk))
    return session.pk, auth


def _session_connector(
    charge_point: ChargePoint, number: int, *, at: datetime, message: str
) -> Connector | None:
    """The connector a starting session is on; none for 0 or a phantom number."""
    if number < 1:
        return None
    connector = Connector.objects.filter(
        charge_point=charge_point, connector_id=number
    ).first()
    if connector is not None:
        return connector
    refusal = connector_number_refusal(
        charge_point_id=charge_point.pk, connector_number=number
    )
    if refusal:
        # The session is kept (the car is charging), on no phantom connector.
        charger_report_quarantine(
            charge_point,
            what=QUARANTINE_UNKNOWN_CONNECTOR,
            detail=f"{message}: {refusal}",
            at=at,
        )
        return None
    connector, _created = Connector.objects.get_or_create(
        charge_point=charge_point, connector_id=number
    )
    return connector


def _stored_authorization(session: ChargingSession) -> Authorization:
    token = session.id_token
    if token is None:
        return Authorization(status=session.auth_status)
    return Authorization(
        status=session.auth_status,
        expires_at=token.expires_at,
        group_token=token.parent.token if token.parent is not None else None,
    )


def _supersede_open_sessions(
    *, session: ChargingSession, charge_point: ChargePoint
) -> None:
    """Close older open sessions on the connector: it runs one transaction at a time.

    Their StopTransaction was lost (or is still queued in the charger); a late
    one still completes them with the real meter reading.
    """
    open_sessions = ChargingSession.objects.filter(
        charge_point=charge_point,
        connector_number=session.connector_number,
        stopped_at__isnull=True,
        started_at__lte=session.started_at,
    ).exclude(pk=session.pk)
    superseded_ids = list(open_sessions.values_list("pk", flat=True))
    if not superseded_ids:
        return
    ChargingSession.objects.filter(pk__in=superseded_ids).update(
        status=Case(
            When(status=SessionStatus.ACTIVE, then=Value(SessionStatus.COMPLETED)),
            default=F("status"),
        ),
        stopped_at=session.started_at,
        stop_reason=STOP_REASON_SUPERSEDED,
        meter_stop_wh=Coalesce(F("meter_last_wh"), F("meter_start_wh")),
        power_w=None,
        updated_at=timezone.now(),
    )
    for superseded in ChargingSession.objects.filter(pk__in=superseded_ids):
        logger.warning(
            "Session %s on %s connector %s superseded by session %s",
            superseded.pk,
            charge_point.ocpp_id,
            session.connector_number,
            session.pk,
        )
        _session_event(superseded, charge_point)
        emit(SessionStopped(session_id=superseded.pk, charge_point_pk=charge_point.pk))


@transaction.atomic
def zombie_sessions_sweep(*, now: datetime) -> int:
    """Close open sessions whose connector the charger reports Available since.

    OCPP 1.6 §4.9: Available means no transaction runs on the connector. A
    session still open after its connector went Available (and stayed so for
    ZOMBIE_SESSION_CLOSE_MINUTES) with no meter value since is one the charger
    never ran or forgot: it is closed at that moment with the last register
    reading, flagged with stop reason ``ClosedAsZombie`` (shown in the portal).
    A late StopTransaction still completes it with the real reading.
    """
    cutoff = now - timedelta(minutes=settings.ZOMBIE_SESSION_CLOSE_MINUTES)
    candidates = (
        ChargingSession.objects.filter(
            status=SessionStatus.ACTIVE,
            stopped_at__isnull=True,
            connector__status="Available",
            connector__status_at__gt=F("started_at"),
            connector__status_at__lte=cutoff,
        )
        .filter(
            Q(last_meter_at__isnull=True)
            | Q(last_meter_at__lt=F("connector__status_at"))
        )
        .values_list("pk", flat=True)
    )
    closed = 0
    for session_id in list(candidates[:500]):
        with transaction.atomic():
            session = (
                ChargingSession.objects.select_for_update(of=("self",))
                .select_related("connector", "charge_point__station")
                .filter(pk=session_id, stopped_at__isnull=True)
                .first()
            )
            if session is None or session.connector is None:
                continue
            idle_since = session.connector.status_at
            if idle_since is None:
                continue
            session.status = SessionStatus.COMPLETED
            session.stopped_at = idle_since
            session.stop_reason = STOP_REASON_ZOMBIE
            session.meter_stop_wh = (
                session.meter_last_wh
                if session.meter_last_wh is not None
                else session.meter_start_wh
            )
            session.power_w = None
            session.save(
                update_fields=[
                    "status", "stopped_at", "stop_reason", "meter_stop_wh",
                    "power_w", "updated_at",
                ]
            )  # fmt: skip
            logger.warning(
                "Session %s on %s connector %s closed as a zombie: the connector "
                "is Available since %s without a StopTransaction",
                session.pk,
                session.charge_point.ocpp_id,
                session.connector_number,
                idle_since,
            )
            _session_event(session, session.charge_point)
            emit(
                SessionStopped(
                    session_id=session.pk, charge_point_pk=session.charge_point_id
                )
            )
            closed += 1
    return closed


@transaction.atomic
def sessions_close_at_boot(*, charge_point_id: int, quirk: str, at: datetime) -> int:
    """Close the charger's open sessions at their last meter reading (it booted).

    For chargers whose vendor profile says they lose StopTransaction on power
    loss: a session still open when the charger boots again is one it will
    never stop. It is closed at its last register reading and that reading's
    time (its start when none came), stop reason ``ClosedAtBoot`` and the
    profile's note on the session; a StopTransaction the charger did keep still
    completes it with the real reading (``CMS_STOP_REASONS``).
    """
    closed = 0
    for session in (
        ChargingSession.objects.select_for_update(of=("self",))
        .select_related("charge_point__station")
        .filter(
            charge_point_id=charge_point_id,
            status=SessionStatus.ACTIVE,
            stopped_at__isnull=True,
        )
        .order_by("pk")
    ):
        session.status = SessionStatus.COMPLETED
        session.stopped_at = session.last_meter_at or session.started_at
        session.stop_reason = STOP_REASON_CLOSED_AT_BOOT
        session.meter_stop_wh = (
            session.meter_last_wh
            if session.meter_last_wh is not None
            else session.meter_start_wh
        )
        session.energy_wh = max(0, session.meter_stop_wh - session.meter_start_wh)
        session.power_w = None
        session.quirk = notes_joined(session.quirk, quirk, limit=255)
        session.save(
            update_fields=[
                "status", "stopped_at", "stop_reason", "meter_stop_wh", "energy_wh",
                "power_w", "quirk", "updated_at",
            ]
        )  # fmt: skip
        logger.warning(
            "Session %s on %s connector %s closed at the charger's boot at %s "
            "without a StopTransaction",
            session.pk,
            session.charge_point.ocpp_id,
            session.connector_number,
            at,
        )
        _session_event(session, session.charge_point)
        emit(SessionStopped(session_id=session.pk, charge_point_pk=charge_point_id))
        closed += 1
    return closed


@transaction.atomic
def session_stop_from_ocpp(
    *,
    charge_point_ocpp_id: str | None = None,
    charge_point_id: int | None = None,
    transaction_id: int,
    meter_stop_wh: int,
    stopped_at: datetime,
    reason: str | None,
    id_tag: str | None,
    samples: list[Sample] | None,
    payload: dict,
    quirk: str = "",
) -> Authorization | None:
    """Close the session of a stopped transaction; returns the id token's authorization when one was given."""
    charge_point = _charge_point(charge_point_ocpp_id, charge_point_id)
    if charge_point is None:
        logger.warning(
            "StopTransaction from unknown charge point %r",
            charge_point_ocpp_id or charge_point_id,
        )
        return INVALID if id_tag else None
    auth = None
    if id_tag:
        auth = _authorization_for(
            _token(id_tag),
            charge_point=charge_point,
            at=stopped_at,
            check_concurrency=False,
            id_tag=id_tag,
        )
    now = timezone.now()
    session = (
        ChargingSession.objects.select_for_update()
        .filter(pk=transaction_id, charge_point=charge_point)
        .first()
    )
    if session is None:
        _, created = UnmatchedStop.objects.get_or_create(
            charge_point=charge_point,
            transaction_id=transaction_id,
            stopped_at=stopped_at,
            defaults={
                "id_tag": id_tag or "",
                "meter_stop_wh": meter_stop_wh,
                "reason": (reason or STOP_REASON_DEFAULT)[:30],
                "payload": payload,
                "received_at": now,
            },
        )
        if created:
            logger.warning(
                "StopTransaction for unknown transaction %s from %s kept for reconciliation",
                transaction_id,
                charge_point.ocpp_id,
            )
        return auth
    if session.stopped_at is not None and session.stop_reason not in CMS_STOP_REASONS:
        return auth  # resent: the first stop stands

    if samples:
        _store_samples(
            charge_point=charge_point,
            session=session,
            connector_number=session.connector_number,
            samples=samples,
            received_at=now,
        )
    _session_close(
        session, meter_stop_wh=meter_stop_wh, stopped_at=stopped_at, reason=reason
    )
    session.stop_id_tag = id_tag or ""
    if quirk and quirk not in session.quirk:
        session.quirk = notes_joined(session.quirk, quirk, limit=255)
    session.save(
        update_fields=[
            "quirk",
            "meter_stop_wh",
            "meter_last_wh",
            "stopped_at",
            "stop_reason",
            "stop_id_tag",
            "power_w",
            "energy_wh",
            "has_register_regression",
            "status",
            "updated_at",
        ]
    )
    _session_event(session, charge_point)
    emit(SessionStopped(session_id=session.pk, charge_point_pk=charge_point.pk))
    return auth


def _session_close(
    session: ChargingSession,
    *,
    meter_stop_wh: int,
    stopped_at: datetime,
    reason: str | None,
) -> None:
    """Close a session at its final register reading (not saved)."""
    is_inconsistent = (
        meter_stop_wh < session.meter_start_wh or stopped_at < session.started_at
    )
    session.meter_stop_wh = meter_stop_wh
    session.meter_last_wh = meter_stop_wh
    session.stopped_at = stopped_at
    session.stop_reason = (reason or STOP_REASON_DEFAULT)[:30]
    session.power_w = None
    if meter_stop_wh >= session.meter_start_wh:
        session.energy_wh = meter_stop_wh - session.meter_start_wh
    if is_inconsistent:
        session.has_register_regression = True
    if session.status == SessionStatus.ACTIVE:
        session.status = SessionStatus.COMPLETED


SAMPLE_FIELDS = (
    "charge_point",
    "session",
    "connector_number",
    "timestamp",
    "measurand",
    "phase",
    "location",
    "unit",
    "context",
    "value_format",
    "raw_value",
    "value",
    "received_at",
    "flag",
    "quirk",
)


def _sample_rows(
    *,
    charge_point_id: int,
    session: ChargingSession | None,
    connector_number: int,
    samples: list[Sample],
    received_at: datetime,
) -> list[tuple[object, ...]]:
    """MeterValue rows in ``SAMPLE_FIELDS`` order (``cms.db.insert_rows``)."""
    session_id = session.pk if session is not None else None
    return [
        (
            charge_point_id,
            session_id,
            connector_number,
            sample.timestamp,
            sample.measurand,
            sample.phase,
            sample.location,
            sample.unit,
            sample.context,
            sample.value_format,
            sample.raw_value,
            sample.value,
            received_at,
            sample.flag,
            sample.quirk,
        )
        for sample in samples
    ]


def _odd_samples_quarantine(
    charge_point_id: int, samples: list[Sample], *, at: datetime
) -> None:
    """Samples stored flagged (an unknown unit or measurand): alert per model."""
    flagged = [sample for sample in samples if sample.flag]
    if not flagged:
        return
    quirk_count(charge_point_id, QuirkKind.ODD_SAMPLE, len(flagged))
    charger_report_quarantine(
        ChargePoint.objects.select_related("station").get(pk=charge_point_id),
        what=QUARANTINE_ODD_SAMPLES,
        detail=f"{len(flagged)} sampled value(s) kept flagged: {flagged[0].flag}",
        at=at,
    )


def _store_samples(
    *,
    charge_point: ChargePoint | None = None,
    charge_point_id: int | None = None,
    session: ChargingSession | None,
    connector_number: int,
    samples: list[Sample],
    received_at: datetime,
) -> None:
    owner_id: int = (
        charge_point.pk if charge_point is not None else charge_point_id  # type: ignore[assignment]  # callers give one of the two
    )
    insert_rows(
        MeterValue,
        SAMPLE_FIELDS,
        _sample_rows(
            charge_point_id=owner_id,
            session=session,
            connector_number=connector_number,
            samples=samples,
            received_at=received_at,
        ),
        ignore_conflicts=True,
    )
    _odd_samples_quarantine(owner_id, samples, at=received_at)


def _apply_samples(session: ChargingSession, samples: list[Sample]) -> bool:
    """Move the session's live state forward; return whether anything changed.

    A charger's timestamps order its state: instants not newer than the last
    applied one (resent or offline-queued older messages) are stored but not applied.
    """
    changed = False
    for instant, group in metering.samples_by_instant(samples):
        if session.last_meter_at is not None and instant <= session.last_meter_at:
            continue
        register = metering.pick_quantity(group, metering.ENERGY_REGISTER)
        if register is not None:
            register_wh = round(register)
            previous_wh = (
                session.meter_last_wh
                if session.meter_last_wh is not None
                else session.meter_start_wh
            )
            if register_wh < previous_wh:
                # A meter replaced or reset mid-session: flag it for an operator,
                # and never let delivered energy shrink.
                session.has_register_regression = True
            session.energy_wh = max(
                session.energy_wh, register_wh - session.meter_start_wh
            )
            session.meter_last_wh = register_wh
        elif session.meter_last_wh is None:
            # Only chargers that never report the register are summed by interval.
            interval = metering.pick_quantity(group, metering.ENERGY_INTERVAL)
            if interval is not None and interval > 0:
                session.energy_wh += round(interval)
        power = metering.pick_quantity(group, metering.POWER_ACTIVE_IMPORT)
        if power is not None:
            session.power_w = power
        soc = metering.pick_quantity(group, metering.STATE_OF_CHARGE)
        if soc is not None:
            session.soc_percent = soc
        session.last_meter_at = instant
        changed = True
    return changed


def _meter_values_event(session: ChargingSession, samples: list[Sample]) -> None:
    """The session's newest applied instant, for the event stream (when subscribed)."""
    if session.last_meter_at is None or not is_wanted(EventKind.METER_VALUES):
        return
    group = next(
        (
            group
            for instant, group in metering.samples_by_instant(samples)
            if instant == session.last_meter_at
        ),
        None,
    )
    if group is None:  # this batch moved nothing newer
        return
    emit(
        MeterValuesSampled(
            session_id=session.pk,
            charge_point_pk=session.charge_point_id,
            connector_number=session.connector_number,
            energy_wh=session.energy_wh,
            power_w=session.power_w,
            voltage_v=metering.pick_per_phase_mean(group, metering.VOLTAGE),
            current_a=metering.pick_per_phase_mean(group, metering.CURRENT_IMPORT),
            soc_percent=session.soc_percent,
            sampled_at=session.last_meter_at.isoformat(),
        )
    )


# What a batch of MeterValues reads: the live state it moves, what the live event
# shows, and the charger's station for the event's groups (fewer columns to load).
_BATCH_SESSION_FIELDS = (
    "id",
    "charge_point_id",
    "connector_number",
    "status",
    "auth_status",
    "started_at",
    "stopped_at",
    "meter_start_wh",
    "meter_last_wh",
    "energy_wh",
    "power_w",
    "soc_percent",
    "last_meter_at",
    "has_register_regression",
    "charge_point__id",
    "charge_point__station_id",
    "charge_point__station__id",
    "charge_point__station__network_id",
)

_LIVE_FIELDS = (
    "meter_last_wh",
    "energy_wh",
    "power_w",
    "soc_percent",
    "last_meter_at",
    "has_register_regression",
)


@transaction.atomic
def meter_values_record(
    *,
    charge_point_ocpp_id: str | None = None,
    charge_point_id: int | None = None,
    connector_id: int,
    transaction_id: int | None,
    samples: list[Sample],
    received_at: datetime,
) -> None:
    """Store a charger's meter samples and update their session's live state.

    The hot path of the gateway (a charging session reports every 10-60 s), so
    it costs a constant three statements in one transaction whatever the number
    of samples: read the session (with its charger, for the live event), one
    multi-row INSERT of the samples, and one UPDATE of the session conditional
    on the state that was read (no row lock). Should another message move the
    session meanwhile (the UPDATE matches nothing), the session is re-read
    under a row lock and the samples applied to it.
    """
    if charge_point_id is None:
        charge_point_id = (
            ChargePoint.objects.filter(ocpp_id=charge_point_ocpp_id)
            .values_list("pk", flat=True)
            .first()
        )
        if charge_point_id is None:
            logger.warning(
                "MeterValues from unknown charge point %r", charge_point_ocpp_id
            )
            return
    session = None
    if transaction_id is not None:
        session = (
            ChargingSession.objects.select_related("charge_point__station")
            .filter(pk=transaction_id, charge_point_id=charge_point_id)
            .first()
        )
        if session is None:
            logger.info(
                "MeterValues for unknown transaction %s from charge point %s "
                "stored without session",
                transaction_id,
                charge_point_ocpp_id or charge_point_id,
            )
    _store_samples(
        charge_point_id=charge_point_id,
        session=session,
        connector_number=connector_id,
        samples=samples,
        received_at=received_at,
    )
    # A stopped session's figures come from its StopTransaction; late samples
    # are kept but do not reopen it.
    if session is None or session.stopped_at is not None:
        return
    read_meter_at = session.last_meter_at
    if not _apply_samples(session, samples):
        return
    current = ChargingSession.objects.filter(pk=session.pk, stopped_at__isnull=True)
    current = (
        current.filter(last_meter_at=read_meter_at)
        if read_meter_at is not None
        else current.filter(last_meter_at__isnull=True)
    )
    updated = current.update(
        **{name: getattr(session, name) for name in _LIVE_FIELDS},
        updated_at=timezone.now(),
    )
    if not updated:
        session = _apply_samples_locked(session.pk, samples)
        if session is None:
            return
    _session_event(session, session.charge_point)
    _meter_values_event(session, samples)


@transaction.atomic
def _apply_samples_locked(
    session_id: int, samples: list[Sample]
) -> ChargingSession | None:
    """Apply samples to the session re-read under a row lock (the rare contended case)."""
    session = (
        ChargingSession.objects.select_for_update(of=("self",))
        .select_related("charge_point__station")
        .get(pk=session_id)
    )
    if session.stopped_at is not None or not _apply_samples(session, samples):
        return None
    session.save(update_fields=[*_LIVE_FIELDS, "updated_at"])
    return session


@transaction.atomic
def meter_values_record_batch(*, reports: list[MeterValuesReport]) -> None:
    """Record many chargers' MeterValues.req in one transaction, in constant statements.

    The gateway's group commit: while one batch is written the next one queues,
    so under load each statement serves many chargers. Per batch: one read of
    the sessions (row-locked, in primary-key order so concurrent batches never
    deadlock), one multi-row INSERT of every sample, one UPDATE of the sessions
    that moved. The effect per report is exactly ``meter_values_record``'s; a
    batch that fails is rolled back whole and the caller records the reports
    one by one, so one bad report never costs the others theirs.
    """
    parsed = [(report, report.samples) for report in reports]
    wanted = {r.transaction_id for r in reports if r.transaction_id is not None}
    sessions: dict[int, ChargingSession] = {}
    if wanted:
        sessions = {
            session.pk: session
            for session in ChargingSession.objects.select_for_update(of=("self",))
            .select_related("charge_point__station")
            .only(*_BATCH_SESSION_FIELDS)
            .filter(pk__in=wanted)
            .order_by("pk")
        }
    rows: list[tuple[object, ...]] = []
    moved: dict[int, ChargingSession] = {}
    moved_samples: dict[int, list[Sample]] = {}
    for report, samples in parsed:
        session = sessions.get(report.transaction_id)  # type: ignore[arg-type]  # None finds none
        if session is not None and session.charge_point_id != report.charge_point_id:
            session = None
        if session is None and report.transaction_id is not None:
            logger.info(
                "MeterValues for unknown transaction %s from charge point %s "
                "stored without session",
                report.transaction_id,
                report.charge_point_id,
            )
        rows.extend(
            _sample_rows(
                charge_point_id=report.charge_point_id,
                session=session,
                connector_number=report.connector_id,
                samples=samples,
                received_at=report.received_at,
            )
        )
        _odd_samples_quarantine(report.charge_point_id, samples, at=report.received_at)
        # Samples of one session are applied in arrival order (a charger has one
        # CALL in flight, so a batch rarely holds two reports of one session).
        if (
            session is not None
            and session.stopped_at is None
            and _apply_samples(session, samples)
        ):
            moved[session.pk] = session
            moved_samples[session.pk] = samples
    # A resent MeterValues (no answer reached the charger) is stored once: the
    # database's unique reading constraint drops the rows it already holds.
    insert_rows(MeterValue, SAMPLE_FIELDS, rows, ignore_conflicts=True)
    if not moved:
        return
    now = timezone.now()
    for session in moved.values():
        session.updated_at = now
    update_rows(ChargingSession, list(moved.values()), [*_LIVE_FIELDS, "updated_at"])
    for session in moved.values():
        _session_event(session, session.charge_point)
        _meter_values_event(session, moved_samples[session.pk])


# --- OCPP 2.0.1: TransactionEvent ----------------------------------------------

EVENT_STARTED = "Started"
EVENT_ENDED = "Ended"
# The most skipped event numbers one transaction keeps (a charger that jumps
# its counter far ahead is flagged all the same).
SEQ_NO_MISSING_LIMIT = 200
_CONTEXT_BEGIN = "Transaction.Begin"
_CONTEXT_END = "Transaction.End"


def _register_wh(samples: Iterable[Sample], *, context: str) -> int | None:
    """The energy register of the samples in ``context``, else of the first instant."""
    in_context = [s for s in samples if s.context == context]
    for group in (in_context, *(g for _, g in metering.samples_by_instant(samples))):
        register = metering.pick_quantity(group, metering.ENERGY_REGISTER)
        if register is not None:
            return round(register)
    return None


def _seq_no_accepted(session: ChargingSession, seq_no: int) -> bool:
    """Note an event's number; False for one already received (a resend).

    OCPP 2.0.1 E01.FR.07: a charger numbers a transaction's events one by one
    (Edition 2: from 0 for each transaction); a CSMS cannot refuse an event,
    so it notes the numbers skipped (a gap) and accepts a late event that fills
    one (an offline-queued event replayed after the later ones, E04).
    """
    last = session.seq_no_last
    missing = list(session.seq_no_missing or [])
    if last is None:
        session.seq_no_last = seq_no
        return True
    if seq_no > last:
        missing.extend(range(last + 1, seq_no))
        session.seq_no_missing = missing[:SEQ_NO_MISSING_LIMIT]
        session.seq_no_last = seq_no
        if seq_no > last + 1:
            logger.warning(
                "Session %s: events %s..%s of transaction %s not received",
                session.pk,
                last + 1,
                seq_no - 1,
                session.charger_transaction_id,
            )
        return True
    if seq_no in missing:
        missing.remove(seq_no)
        session.seq_no_missing = missing
        return True
    return False


def _transaction_authorize(
    session: ChargingSession,
    charge_point: ChargePoint,
    update: TransactionUpdate,
    token: IdToken | None,
) -> Authorization:
    id_tag = update.id_token or ""
    auth = _authorization_for(
        token,
        charge_point=charge_point,
        at=update.at,
        check_concurrency=session.pk is None,
        exclude_connector_number=update.connector_number,
        id_tag=id_tag,
    )
    if (
        session.pk is None
        and auth.is_accepted
        and not reservation_allows(
            charge_point_ocpp_id=charge_point.ocpp_id,
            connector_id=update.connector_number,
            id_tag=id_tag,
            at=update.at,
        )
    ):
        auth = INVALID  # OCPP 2.0.1 H01: a reserved EVSE takes only the reserved token
    return auth


def _unmatched_ended(charge_point: ChargePoint, update: TransactionUpdate) -> None:
    """Keep an Ended for a transaction we never saw start, for reconciliation."""
    stop_wh = _register_wh(update.samples, context=_CONTEXT_END)
    _, created = UnmatchedStop.objects.get_or_create(
        charge_point=charge_point,
        transaction_id=0,
        charger_transaction_id=update.charger_transaction_id,
        stopped_at=update.at,
        defaults={
            "id_tag": update.id_token or "",
            "meter_stop_wh": stop_wh if stop_wh is not None else 0,
            "reason": (update.stopped_reason or STOP_REASON_DEFAULT)[:30],
            "payload": update.record or {},
            "received_at": timezone.now(),
        },
    )
    if created:
        logger.warning(
            "TransactionEvent Ended for unknown transaction %s from %s kept for "
            "reconciliation",
            update.charger_transaction_id,
            charge_point.ocpp_id,
        )


@transaction.atomic
def transaction_event_record(*, update: TransactionUpdate) -> Authorization | None:
    """Apply one OCPP 2.0.1 TransactionEvent to its session.

    Started (or the first event we see of a transaction) opens the session,
    whose primary key is the CMS's handle as for 1.6; every event may carry the
    id token (answered with its authorization, E03), meter samples (stored in
    the one meter-value store) and the trigger; Ended closes it. A resent event
    (same ``seqNo``) changes nothing; an Ended for a transaction never started
    is kept as an unmatched stop, like 1.6's unknown StopTransaction.
    Returns the id token's authorization when the event carried one.
    """
    charge_point = _charge_point(pk=update.charge_point_id)
    if charge_point is None:
        logger.warning(
            "TransactionEvent from unknown charge point %s", update.charge_point_id
        )
        return INVALID if update.id_token else None
    token = _token(update.id_token, for_update=True) if update.id_token else None
    session = (
        ChargingSession.objects.select_for_update(of=("self",))
        .select_related("id_token__parent")
        .filter(
            charge_point=charge_point,
            charger_transaction_id=update.charger_transaction_id,
        )
        .first()
    )
    if session is None and update.event == EVENT_ENDED:
        _unmatched_ended(charge_point, update)
        return (
            _authorization_for(
                token,
                charge_point=charge_point,
                at=update.at,
                check_concurrency=False,
                id_tag=update.id_token,
            )
            if update.id_token
            else None
        )
    opened = session is None
    if session is None:
        connector = _session_connector(
            charge_point,
            update.connector_number,
            at=update.at,
            message="TransactionEvent",
        )
        start_wh = _register_wh(update.samples, context=_CONTEXT_BEGIN)
        session = ChargingSession(
            charge_point=charge_point,
            connector=connector,
            connector_number=update.connector_number,
            charger_transaction_id=update.charger_transaction_id,
            id_tag="",
            auth_status="",
            started_at=update.at,
            meter_start_wh=max(start_wh or 0, 0),
            reservation_id=update.reservation_id,
        )
        session.seq_no_last = update.seq_no
    elif not _seq_no_accepted(session, update.seq_no):
        return _stored_authorization(session) if update.id_token else None

    auth: Authorization | None = None
    if update.id_token:
        if session.id_tag.upper() == update.id_token.upper() and not opened:
            auth = _stored_authorization(session)
        else:
            auth = _transaction_authorize(session, charge_point, update, token)
            if not session.id_tag:
                session.id_tag = update.id_token
                session.id_token = token
                session.auth_status = auth.status
                if not auth.is_accepted and session.status == SessionStatus.ACTIVE:
                    # E05: the charger ends a transaction whose token is refused.
                    session.status = SessionStatus.REJECTED
            elif update.id_token.upper() != session.id_tag.upper():
                session.stop_id_tag = update.id_token  # who ended it (E06)
    session.trigger_reason = update.trigger_reason[:40]
    if opened:
        session.save()
        _supersede_open_sessions(session=session, charge_point=charge_point)

    samples = list(update.samples)
    if samples:
        _store_samples(
            charge_point=charge_point,
            session=session,
            connector_number=session.connector_number,
            samples=samples,
            received_at=timezone.now(),
        )
    ended_now = False
    sampled = False
    if session.stopped_at is None:
        sampled = _apply_samples(session, samples)
        if update.event == EVENT_ENDED:
            ended_now = True
            stop_wh = _register_wh(samples, context=_CONTEXT_END)
            if stop_wh is None:
                stop_wh = (
                    session.meter_last_wh
                    if session.meter_last_wh is not None
                    else session.meter_start_wh
                )
            # OCPP 2.0.1 §2.50 TransactionType.stoppedReason "MAY only be omitted
            # when Reason is Local", as 1.6's StopTransaction.reason.
            _session_close(
                session,
                meter_stop_wh=stop_wh,
                stopped_at=update.at,
                reason=update.stopped_reason,
            )
    session.save()
    _session_event(session, charge_point)
    if sampled:
        _meter_values_event(session, samples)
    if opened:
        emit(SessionStarted(session_id=session.pk, charge_point_pk=charge_point.pk))
    if ended_now:
        emit(SessionStopped(session_id=session.pk, charge_point_pk=charge_point.pk))
    return auth


def transaction_cost(
    *, charge_point_id: int, charger_transaction_id: str
) -> Decimal | None:
    """A transaction's total cost so far, incl. tax; None without a tariff.

    What a 2.0.1 TransactionEvent answer tells the station (totalCost: the
    running cost, I02, and the final one, I03), from the same rating as the
    session page's estimate (``sessions_app.pricing``, filled by billing).
    """
    session = (
        ChargingSession.objects.select_related("charge_point__station__network")
        .filter(
            charge_point_id=charge_point_id,
            charger_transaction_id=charger_transaction_id,
        )
        .exclude(status=SessionStatus.REJECTED)
        .first()
    )
    if session is None:
        return None
    estimate = pricing.session_cost_estimate(session)
    return estimate[0] if estimate is not None else None


# --- Id tokens -------------------------------------------------------------------

ID_TOKEN_FIELDS = (
    "token",
    "network",
    "kind",
    "label",
    "status",
    "expires_at",
    "parent",
    "owner",
    "max_concurrent_sessions",
)


def id_token_validate(id_token: IdToken) -> None:
    """Raise ValidationError (per field) for a token that cannot be saved as is."""
    id_token.token = (id_token.token or "").strip()
    errors: dict[str, list[str]] = {}
    try:
        id_token.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as error:
        errors.update(error.message_dict)
    if (
        id_token.token
        and IdToken.objects.filter(token__iexact=id_token.token)
        .exclude(pk=id_token.pk)
        .exists()
    ):
        errors.setdefault("token", []).append(
            "A token with this value already exists (tokens are case-insensitive)."
        )
    parent = id_token.parent
    if parent is not None:
        if parent.pk is not None and parent.pk == id_token.pk:
            errors.setdefault("parent", []).append("A token cannot be its own parent.")
        elif parent.network_id is not None and parent.network_id != id_token.network_id:
            errors.setdefault("parent", []).append(
                "The parent token belongs to another network."
            )
        else:
            ancestor, seen = parent.parent, {parent.pk}
            while ancestor is not None and ancestor.pk not in seen:
                if ancestor.pk == id_token.pk:
                    errors.setdefault("parent", []).append(
                        "This parent would make a cycle of group tokens."
                    )
                    break
                seen.add(ancestor.pk)
                ancestor = ancestor.parent
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def id_token_create(
    *,
    actor: User | None,
    token: str,
    network: Network | None,
    status: str = TokenStatus.ACCEPTED,
    kind: str = IdToken.Kind.RFID,
    label: str = "",
    expires_at: datetime | None = None,
    parent: IdToken | None = None,
    owner: User | None = None,
    max_concurrent_sessions: int | None = None,
) -> IdToken:
    """Create a token after validating it; raises ValidationError naming the field."""
    id_token = IdToken(
        token=token,
        network=network,
        status=status,
        kind=kind,
        label=label,
        expires_at=expires_at,
        parent=parent,
        owner=owner,
        max_concurrent_sessions=max_concurrent_sessions,
    )
    id_token_validate(id_token)
    id_token.save()
    audit_record(
        actor=actor,
        action="id_token.create",
        target=id_token,
        network=network,
        after=model_snapshot(id_token),
    )
    return id_token


@transaction.atomic
def id_token_update(
    *, actor: User | None, id_token: IdToken, **changes: Any
) -> IdToken:
    """Change the given fields of a token (names from ID_TOKEN_FIELDS) and audit it."""
    unknown = set(changes) - set(ID_TOKEN_FIELDS)
    if unknown:
        raise TypeError(f"Not an id token field: {', '.join(sorted(unknown))}")
    id_token = IdToken.objects.select_for_update().get(pk=id_token.pk)
    before = model_snapshot(id_token)
    for name, value in changes.items():
        setattr(id_token, name, value)
    id_token_validate(id_token)
    after = model_snapshot(id_token)
    if after == before:
        return id_token
    id_token.save()
    audit_record(
        actor=actor,
        action="id_token.update",
        target=id_token,
        network=id_token.network,
        before=before,
        after=model_snapshot(id_token),
    )
    return id_token


# --- Reconciliation ----------------------------------------------------------------


@transaction.atomic
def unmatched_stop_resolve(
    *, actor: User, unmatched_stop: UnmatchedStop, note: str
) -> UnmatchedStop:
    """Mark an unmatched StopTransaction as reconciled; resolving twice changes nothing."""
    now = timezone.now()
    updated = UnmatchedStop.objects.filter(
        pk=unmatched_stop.pk, resolved_at=None
    ).update(resolved_at=now, resolved_by=actor, resolution_note=note)
    unmatched_stop = UnmatchedStop.objects.select_related("charge_point__station").get(
        pk=unmatched_stop.pk
    )
    if updated:
        station = unmatched_stop.charge_point.station
        audit_record(
            actor=actor,
            action="unmatched_stop.resolve",
            target=unmatched_stop,
            network=station.network if station is not None else None,
            after={"resolved_at": now.isoformat(), "resolution_note": note},
        )
    return unmatched_stop
