"""Smart charging services: site limits, re-planning, and profiles sent to chargers.

``site_replan`` is the one place a site's power is divided: it reads the effective
limit and the active sessions, runs the pure allocator
(``stations.smart.allocator.allocate``), records the plan and sends what changed
as OCPP 1.6 SetChargingProfile (a TxProfile per session, a TxDefaultProfile per
connector as the fallback a charger keeps when it loses the CMS). Decreases are
sent before increases, and increases wait until the chargers answered the
decreases, so the site is not overloaded while power moves between chargers.
Every trigger (session start/stop, limit change, charger online/offline,
profile answers, the periodic sweep) calls it; it is idempotent.
"""

from __future__ import annotations

import contextlib
import logging
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from accounts.http import AnyUser, recorded_actor
from accounts.services import audit_record
from cms.events import SitePlanned, SmartProfileAnswered, emit
from cms.tasks import enqueue_on_commit
from sessions_app.models import ChargingSession, SessionStatus
from stations.live.events import station_group
from stations.models import (
    ChargePoint,
    ChargePointCommand,
    CommandStatus,
    Connector,
    ConnectorType,
    Station,
)
from stations.remote.models import (
    ChargingProfile,
    ConfigurationKey,
    ProfileKind,
    ProfileStatus,
)
from stations.smart import allocator as alloc
from stations.smart.models import (
    AllocationEntry,
    AllocationPlan,
    ConnectorSmartSettings,
    SiteLimitScheduleEntry,
    SiteLimitSignal,
    SiteSmartState,
    SmartPriorityToken,
    SmartProfileState,
    SmartProfileStatus,
)

logger = logging.getLogger(__name__)

# Stack level of the profiles the load manager installs; an operator's manual
# profile on a higher level overrides them (OCPP 1.6 §3.13.2).
SMART_STACK_LEVEL = 1
SMART_PROFILE_NAME = "Site load management"
DC_CONNECTOR_TYPES = frozenset(
    {
        ConnectorType.CCS1,
        ConnectorType.CCS2,
        ConnectorType.CHADEMO,
        ConnectorType.GBT,
        ConnectorType.NACS,
    }
)
DEFAULT_DC_MIN_POWER_W = 1000
# Older meter readings say nothing about what an EV draws now.
MEASUREMENT_MAX_AGE = timedelta(minutes=5)
RATE_UNIT_KEY = "ChargingScheduleAllowedChargingRateUnit"
_TX = SmartProfileState.Purpose.TX
_TX_DEFAULT = SmartProfileState.Purpose.TX_DEFAULT


class SmartChargingInputError(ValueError):
    """Input the service refuses; ``field`` names the offending field."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def _kw_to_w(value: Decimal | None) -> int | None:
    return None if value is None else int(Decimal(value) * 1000)


# --- the effective limit -----------------------------------------------------------


@dataclass(frozen=True)
class SiteLimit:
    """The limit in force and where each part comes from (W)."""

    limit_w: int | None
    source: str
    static_w: int | None
    schedule_w: int | None
    signal_w: int | None
    signal: SiteLimitSignal | None = None


def schedule_windows(station: Station) -> list[alloc.ScheduleWindow]:
    return [
        alloc.ScheduleWindow(
            weekdays=entry.weekdays,
            start=entry.start_time,
            end=entry.end_time,
            limit_w=int(entry.limit_kw * 1000),
        )
        for entry in SiteLimitScheduleEntry.objects.filter(station=station)
    ]


def active_signal(*, station: Station, now: datetime) -> SiteLimitSignal | None:
    """The lowest unexpired, uncancelled signal in force at ``now``."""
    return (
        SiteLimitSignal.objects.filter(
            station=station,
            cancelled_at__isnull=True,
            valid_from__lte=now,
            valid_until__gt=now,
        )
        .order_by("limit_kw", "valid_until")
        .first()
    )


def site_limit(*, station: Station, now: datetime) -> SiteLimit:
    """min(static limit, schedule entry in force, unexpired signal)."""
    local = now.astimezone(zoneinfo.ZoneInfo(station.time_zone))
    static_w = _kw_to_w(station.power_limit_kw)
    schedule_w = alloc.schedule_limit_w(schedule_windows(station), local)
    signal = active_signal(station=station, now=now)
    signal_w = _kw_to_w(signal.limit_kw) if signal is not None else None
    parts = {"static": static_w, "schedule": schedule_w, "signal": signal_w}
    known = {name: value for name, value in parts.items() if value is not None}
    if not known:
        return SiteLimit(None, "", static_w, schedule_w, signal_w, signal)
    source = min(known, key=lambda name: (known[name], name))
    return SiteLimit(known[source], source, static_w, schedule_w, signal_w, signal)


# --- limit inputs (portal, API) ----------------------------------------------------


def _replan_on_commit(station_id: int, trigger: str) -> None:
    from stations.smart.tasks import site_replan_task

    enqueue_on_commit(site_replan_task, station_id=station_id, trigger=trigger)


def site_replan_request(*, station_id: int, trigger: str) -> None:
    """Plan the site again once the caller's transaction commits."""
    _replan_on_commit(station_id, trigger)


# Caps on single sessions from outside the site plan (roaming: a partner's
# charging profile, OCPI 2.2.1 mod_charging_profiles), read at every plan:
# provider(session ids, now) -> {session id: cap in W}. The lowest cap wins.
SessionCaps = Callable[[list[int], datetime], dict[int, int]]
_session_cap_providers: list[SessionCaps] = []


def session_caps_register(provider: SessionCaps) -> None:
    """Let ``provider`` cap sessions; the allocator never gives a session more."""
    if provider not in _session_cap_providers:
        _session_cap_providers.append(provider)


def _session_caps_w(session_ids: list[int], now: datetime) -> dict[int, int]:
    caps: dict[int, int] = {}
    for provider in _session_cap_providers:
        for session_id, cap_w in provider(session_ids, now).items():
            caps[session_id] = min(cap_w, caps.get(session_id, cap_w))
    return caps


def site_is_load_managed(*, station: Station, now: datetime) -> bool:
    """Whether the allocator plans this site (a limit, and not switched off)."""
    state = SiteSmartState.objects.filter(station=station).first()
    if state is not None and not state.is_enabled:
        return False
    return site_limit(station=station, now=now).limit_w is not None


def _parse_limit_kw(value: Any, *, field: str = "limit_kw") -> Decimal:
    try:
        limit = Decimal(str(value))
    except (ArithmeticError, ValueError):
        raise SmartChargingInputError("Enter a number of kW.", field=field) from None
    if not limit.is_finite() or limit < 0:
        raise SmartChargingInputError("Enter 0 kW or more.", field=field)
    if limit >= Decimal("10000000"):
        raise SmartChargingInputError("The limit is too large.", field=field)
    return limit.quantize(Decimal("0.01"))


def site_static_limit_set(
    *, station: Station, limit_kw: Decimal | None, actor: AnyUser | None
) -> Station:
    """Set (or remove, with None) a site's static grid limit; audited, re-plans."""
    new = None if limit_kw is None else _parse_limit_kw(limit_kw)
    if new is not None and new <= 0:
        raise SmartChargingInputError(
            "A static limit must be above 0 kW (leave it empty for none).",
            field="limit_kw",
        )
    with transaction.atomic():
        locked = Station.objects.select_for_update().get(pk=station.pk)
        before = locked.power_limit_kw
        if before == new:
            return locked
        locked.power_limit_kw = new
        locked.save(update_fields=["power_limit_kw"])
        audit_record(
            actor=actor,
            action="smart.static_limit_set",
            target=locked,
            network=locked.network,
            before={"power_limit_kw": before},
            after={"power_limit_kw": new},
        )
        _replan_on_commit(locked.pk, "limit_changed")
    return locked


def schedule_entry_add(
    *,
    station: Station,
    weekdays: int,
    start_time: time,
    end_time: time,
    limit_kw: Decimal,
    actor: AnyUser | None,
    now: datetime | None = None,
) -> SiteLimitScheduleEntry:
    """Add a lower limit on chosen weekdays between two local times; audited."""
    if not 1 <= int(weekdays) <= 0b1111111:
        raise SmartChargingInputError("Choose at least one weekday.", field="weekdays")
    if start_time == end_time:
        raise SmartChargingInputError(
            "The end must differ from the start.", field="end_time"
        )
    limit = _parse_limit_kw(limit_kw)
    with transaction.atomic():
        entry = SiteLimitScheduleEntry.objects.create(
            station=station,
            weekdays=int(weekdays),
            start_time=start_time,
            end_time=end_time,
            limit_kw=limit,
            created_by=recorded_actor(actor),
            created_at=now or timezone.now(),
        )
        audit_record(
            actor=actor,
            action="smart.schedule_added",
            target=station,
            network=station.network,
            after={
                "entry_id": entry.pk,
                "weekdays": entry.weekdays,
                "start_time": start_time.isoformat(),
                "end_time": end_time.isoformat(),
                "limit_kw": limit,
            },
        )
        _replan_on_commit(station.pk, "limit_changed")
    return entry


def schedule_entry_delete(
    *, entry: SiteLimitScheduleEntry, actor: AnyUser | None
) -> None:
    """Remove a schedule entry; audited, re-plans."""
    station = entry.station
    with transaction.atomic():
        deleted, _ = SiteLimitScheduleEntry.objects.filter(pk=entry.pk).delete()
        if not deleted:
            return
        audit_record(
            actor=actor,
            action="smart.schedule_deleted",
            target=station,
            network=station.network,
            before={
                "entry_id": entry.pk,
                "start_time": entry.start_time.isoformat(),
                "end_time": entry.end_time.isoformat(),
                "limit_kw": entry.limit_kw,
            },
        )
        _replan_on_commit(station.pk, "limit_changed")


def limit_signal_submit(
    *,
    station: Station,
    limit_kw: Any,
    valid_until: datetime,
    source: str,
    actor: AnyUser | None,
    valid_from: datetime | None = None,
    reference: str = "",
    now: datetime | None = None,
) -> tuple[SiteLimitSignal, bool]:
    """Record "the site limit is X kW until T"; a resent reference returns the first.

    Returns the signal and whether it was created. Audited; re-plans at once.
    """
    now = now or timezone.now()
    limit = _parse_limit_kw(limit_kw)
    valid_from = valid_from or now
    if timezone.is_naive(valid_until) or timezone.is_naive(valid_from):
        raise SmartChargingInputError(
            "Give a time with its UTC offset.", field="valid_until"
        )
    if valid_until <= now:
        raise SmartChargingInputError(
            "The end must be in the future.", field="valid_until"
        )
    if valid_until <= valid_from:
        raise SmartChargingInputError(
            "The end must be after the start.", field="valid_until"
        )
    if valid_until - now > timedelta(days=366):
        raise SmartChargingInputError(
            "A signal may last at most a year.", field="valid_until"
        )
    reference = (reference or "").strip()
    if len(reference) > 100:
        raise SmartChargingInputError("At most 100 characters.", field="reference")
    if reference:
        existing = SiteLimitSignal.objects.filter(
            station=station, reference=reference
        ).first()
        if existing is not None:
            return existing, False
    try:
        with transaction.atomic():
            signal = SiteLimitSignal.objects.create(
                station=station,
                limit_kw=limit,
                valid_from=valid_from,
                valid_until=valid_until,
                source=source,
                reference=reference,
                created_by=recorded_actor(actor),
                created_at=now,
            )
            audit_record(
                actor=actor,
                action="smart.signal_received",
                target=station,
                network=station.network,
                after={
                    "signal_id": signal.pk,
                    "limit_kw": limit,
                    "valid_from": valid_from.isoformat(),
                    "valid_until": valid_until.isoformat(),
                    "source": source,
                    "reference": reference,
                },
            )
            _replan_on_commit(station.pk, "signal")
    except IntegrityError:
        # The same reference arrived concurrently: the first one stands.
        return SiteLimitSignal.objects.get(station=station, reference=reference), False
    return signal, True


def limit_signal_cancel(
    *, signal: SiteLimitSignal, actor: AnyUser | None, now: datetime | None = None
) -> bool:
    """End a signal early; audited. False if it was already cancelled."""
    now = now or timezone.now()
    with transaction.atomic():
        changed = SiteLimitSignal.objects.filter(
            pk=signal.pk, cancelled_at__isnull=True
        ).update(cancelled_at=now)
        if not changed:
            return False
        audit_record(
            actor=actor,
            action="smart.signal_cancelled",
            target=signal.station,
            network=signal.station.network,
            before={"signal_id": signal.pk, "limit_kw": signal.limit_kw},
        )
        _replan_on_commit(signal.station_id, "signal")
    return True


def connector_settings_update(
    *,
    connector: Connector,
    actor: AnyUser | None,
    phases: int,
    min_current_a: Decimal,
    max_current_a: Decimal | None,
    min_power_kw: Decimal | None,
    priority: int,
) -> ConnectorSmartSettings:
    """Store a connector's allocator limits; audited, re-plans its site."""
    if phases not in (1, 3):
        raise SmartChargingInputError("1 or 3 phases.", field="phases")
    if max_current_a is not None and max_current_a < min_current_a:
        raise SmartChargingInputError(
            "The maximum must be at least the minimum.", field="max_current_a"
        )
    with transaction.atomic():
        settings_row, _ = ConnectorSmartSettings.objects.update_or_create(
            connector=connector,
            defaults={
                "phases": phases,
                "min_current_a": min_current_a,
                "max_current_a": max_current_a,
                "min_power_kw": min_power_kw,
                "priority": priority,
            },
        )
        station = connector.charge_point.station
        audit_record(
            actor=actor,
            action="smart.connector_settings",
            target=connector,
            network=station.network if station else None,
            after={
                "phases": phases,
                "min_current_a": min_current_a,
                "max_current_a": max_current_a,
                "min_power_kw": min_power_kw,
                "priority": priority,
            },
        )
        if station is not None:
            _replan_on_commit(station.pk, "settings_changed")
    return settings_row


def priority_token_set(
    *,
    station: Station,
    id_tag: str,
    priority: int,
    actor: AnyUser | None,
    note: str = "",
) -> SmartPriorityToken:
    """Serve sessions of a token (or of a fleet's parent token) first; audited."""
    id_tag = (id_tag or "").strip()
    if not id_tag or len(id_tag) > 20:
        raise SmartChargingInputError("1 to 20 characters.", field="id_tag")
    with transaction.atomic():
        row, _ = SmartPriorityToken.objects.update_or_create(
            network=station.network,
            id_tag=id_tag,
            defaults={"priority": priority, "note": note[:120]},
        )
        audit_record(
            actor=actor,
            action="smart.priority_token_set",
            target=station.network,
            network=station.network,
            after={"id_tag": id_tag, "priority": priority},
        )
        _replan_on_commit(station.pk, "settings_changed")
    return row


def priority_token_delete(*, token: SmartPriorityToken, actor: AnyUser | None) -> None:
    with transaction.atomic():
        SmartPriorityToken.objects.filter(pk=token.pk).delete()
        audit_record(
            actor=actor,
            action="smart.priority_token_deleted",
            target=token.network,
            network=token.network,
            before={"id_tag": token.id_tag, "priority": token.priority},
        )


# --- the connector's hardware ----------------------------------------------------


@dataclass(frozen=True)
class ConnectorLimits:
    is_dc: bool
    phases: int
    min_w: int
    max_w: int


def _smart_settings(connector: Connector) -> ConnectorSmartSettings | None:
    try:
        return connector.smart_settings
    except ObjectDoesNotExist:
        return None


def connector_limits(connector: Connector) -> ConnectorLimits:
    """Min/max power of a connector: rating, phases × current (AC) or min power (DC)."""
    row = _smart_settings(connector)
    max_w = int(connector.max_power_kw * 1000)
    if connector.connector_type in DC_CONNECTOR_TYPES:
        min_w = (
            _kw_to_w(row.min_power_kw)
            if row is not None and row.min_power_kw is not None
            else DEFAULT_DC_MIN_POWER_W
        )
        return ConnectorLimits(True, 1, min(min_w or 0, max_w), max_w)
    phases = row.phases if row is not None else 3
    min_current = row.min_current_a if row is not None else alloc.DEFAULT_MIN_CURRENT_A
    if row is not None and row.max_current_a is not None:
        max_w = min(max_w, alloc.ac_power_w(row.max_current_a, phases))
    return ConnectorLimits(
        False, phases, min(alloc.ac_power_w(min_current, phases), max_w), max_w
    )


def charger_rate_unit(charge_point: ChargePoint, *, is_dc: bool) -> str:
    """A or W, from the charger's ChargingScheduleAllowedChargingRateUnit."""
    value = (
        ConfigurationKey.objects.filter(charge_point=charge_point, key=RATE_UNIT_KEY)
        .values_list("value", flat=True)
        .first()
    )
    allowed = {part.strip().lower() for part in (value or "").split(",")}
    allows_current = "current" in allowed or "a" in allowed
    allows_power = "power" in allowed or "w" in allowed
    preferred = "W" if is_dc else "A"
    if (preferred == "A" and allows_current) or (preferred == "W" and allows_power):
        return preferred
    if allows_current:
        return "A"
    if allows_power:
        return "W"
    return preferred


@dataclass(frozen=True)
class ProfileLimit:
    """A limit as the charger is told it: unit, value, phases, and its W."""

    rate_unit: str
    value: Decimal
    number_phases: int | None
    limit_w: int


def profile_limit(
    limits: ConnectorLimits, rate_unit: str, power_w: int
) -> ProfileLimit:
    if rate_unit == "A" and not limits.is_dc:
        amps = alloc.ac_current_a(power_w, limits.phases)
        return ProfileLimit(
            "A", amps, limits.phases, alloc.ac_power_w(amps, limits.phases)
        )
    if rate_unit == "A":  # a DC charger that only takes amps: at its own voltage
        return ProfileLimit("A", Decimal(power_w // 400), None, power_w // 400 * 400)
    return ProfileLimit("W", Decimal(power_w), None, power_w)


# --- re-planning -----------------------------------------------------------------


@dataclass
class _Slot:
    connector: Connector
    purpose: str
    limit: ProfileLimit
    transaction_id: int | None = None


@dataclass
class _Planning:
    station: Station
    now: datetime
    limit: SiteLimit
    states: dict[tuple[int, str], SmartProfileState] = field(default_factory=dict)


def _priorities(station: Station) -> dict[str, int]:
    return {
        id_tag.upper(): priority
        for id_tag, priority in SmartPriorityToken.objects.filter(
            network_id=station.network_id
        ).values_list("id_tag", "priority")
    }


def _session_priority(session: ChargingSession, priorities: dict[str, int]) -> int:
    tags = [session.id_tag]
    token = session.id_token
    if token is not None:
        tags.append(token.token)
        if token.parent is not None:
            tags.append(token.parent.token)
    return max((priorities.get(tag.upper(), 0) for tag in tags if tag), default=0)


def _measured_against(
    session: ChargingSession, state: SmartProfileState | None, now: datetime
) -> int | None:
    """The limit the session's latest meter reading was taken under, if known.

    A reading after the current limit was accepted compares with it; an older
    one with the limit before (still what the EV had when it was measured), so a
    slow EV's cap does not flap each time a new limit is sent.
    """
    if (
        state is None
        or session.power_w is None
        or session.last_meter_at is None
        or session.last_meter_at < now - MEASUREMENT_MAX_AGE
    ):
        return None
    if (
        state.status == SmartProfileStatus.ACTIVE
        and state.sent_at is not None
        and session.last_meter_at > state.sent_at
    ):
        return state.limit_w
    return state.previous_limit_w


def site_replan(
    *, station_id: int, trigger: str, now: datetime | None = None
) -> AllocationPlan | None:
    """Divide the site's limit among its sessions and send what changed.

    Returns the recorded plan, or None when the site is not load-managed (no
    limit, or switched off); its smart profiles are then cleared.
    """
    now = now or timezone.now()
    with contextlib.suppress(IntegrityError):  # created concurrently
        SiteSmartState.objects.get_or_create(station_id=station_id)
    sends: list[_Slot] = []
    with transaction.atomic():
        # One planner per site at a time: the row lock orders concurrent triggers.
        state = SiteSmartState.objects.select_for_update().get(station_id=station_id)
        station = Station.objects.select_related("network").get(pk=station_id)
        limit = site_limit(station=station, now=now)
        planning = _Planning(station=station, now=now, limit=limit)
        planning.states = {
            (row.connector_id, row.purpose): row
            for row in SmartProfileState.objects.filter(
                connector__charge_point__station_id=station_id
            ).select_related("connector__charge_point", "profile")
        }
        if not state.is_enabled or limit.limit_w is None:
            _release_site(planning)
            state.last_plan_at, state.last_limit_w = now, None
            state.save(update_fields=["last_plan_at", "last_limit_w"])
            return None
        plan, sends = _plan_site(
            planning, trigger=trigger, hysteresis_w=state.hysteresis_w
        )
        state.last_plan_at, state.last_limit_w = now, limit.limit_w
        state.save(update_fields=["last_plan_at", "last_limit_w"])
    # Sent after the plan committed: an immediate answer (offline charger) then
    # finds the slot rows it updates.
    for slot in sends:
        _send_slot(slot, planning)
    return plan


def _plan_site(
    planning: _Planning, *, trigger: str, hysteresis_w: int
) -> tuple[AllocationPlan, list[_Slot]]:
    station, limit = planning.station, planning.limit
    limit_w = limit.limit_w or 0
    connectors = list(
        Connector.objects.filter(charge_point__station=station).select_related(
            "charge_point", "smart_settings"
        )
    )
    by_number = {(c.charge_point_id, c.connector_id): c for c in connectors}
    sessions = list(
        ChargingSession.objects.filter(
            status=SessionStatus.ACTIVE, charge_point__station=station
        ).select_related("id_token__parent")
    )
    priorities = _priorities(station)
    limits = {c.pk: connector_limits(c) for c in connectors}
    caps = _session_caps_w([session.pk for session in sessions], planning.now)
    budget_w = limit_w
    demands: list[alloc.Demand] = []
    session_of: dict[int, ChargingSession] = {}
    for session in sessions:
        connector = by_number.get((session.charge_point_id, session.connector_number))
        if connector is None:
            # Not a known connector: it is not steered, but its draw is real.
            budget_w -= int(session.power_w or 0)
            continue
        if connector.pk in session_of:
            continue  # a stale second session on one connector: the newest wins
        session_of[connector.pk] = session
        tx_state = planning.states.get((connector.pk, _TX))
        prior_w = (
            tx_state.limit_w
            if tx_state is not None and tx_state.transaction_id == session.pk
            else None
        )
        hardware = limits[connector.pk]
        offline_w = None
        if not connector.charge_point.is_connected:
            offline_w = prior_w if prior_w is not None else hardware.max_w
        reference_w = _measured_against(
            session, tx_state if prior_w is not None else None, planning.now
        )
        max_w = min(hardware.max_w, caps.get(session.pk, hardware.max_w))
        demands.append(
            alloc.Demand(
                key=connector.pk,
                min_w=min(hardware.min_w, max_w),
                max_w=max_w,
                priority=max(
                    _session_priority(session, priorities),
                    getattr(_smart_settings(connector), "priority", 0),
                ),
                order=session.pk,
                draw_cap_w=alloc.draw_cap_w(
                    allocated_w=reference_w, measured_w=session.power_w
                ),
                offline_w=offline_w,
            )
        )
    allocations = alloc.allocate(limit_w=max(0, budget_w), demands=demands)
    plan = _record_plan(planning, trigger, limit_w, connectors, session_of, allocations)
    units: dict[int, str] = {}

    def unit_for(connector: Connector) -> str:
        key = connector.charge_point_id
        if key not in units:
            units[key] = charger_rate_unit(
                connector.charge_point, is_dc=limits[connector.pk].is_dc
            )
        return units[key]

    wanted: dict[tuple[int, str], _Slot] = {}
    for connector in connectors:
        if not connector.charge_point.is_connected:
            continue  # cannot be told anything now; its last limits stand
        hardware = limits[connector.pk]
        unit = unit_for(connector)
        running = session_of.get(connector.pk)
        if running is not None:
            wanted[(connector.pk, _TX)] = _Slot(
                connector,
                _TX,
                profile_limit(hardware, unit, allocations[connector.pk].allocated_w),
                transaction_id=running.pk,
            )
        share_w = min(hardware.max_w, limit_w // max(1, len(connectors)))
        wanted[(connector.pk, _TX_DEFAULT)] = _Slot(
            connector, _TX_DEFAULT, profile_limit(hardware, unit, share_w)
        )
    _forget_finished_sessions(planning, session_of)
    return plan, _slots_to_send(planning, wanted, hysteresis_w)


def _record_plan(
    planning: _Planning,
    trigger: str,
    limit_w: int,
    connectors: list[Connector],
    session_of: dict[int, ChargingSession],
    allocations: dict[int, alloc.Allocation],
) -> AllocationPlan:
    station, limit = planning.station, planning.limit
    entries = []
    for connector in connectors:
        session = session_of.get(connector.pk)
        allocation = allocations.get(connector.pk)
        if session is None or allocation is None:
            continue
        entries.append(
            AllocationEntry(
                connector=connector,
                session=session,
                allocated_w=allocation.allocated_w,
                measured_w=int(session.power_w)
                if session.power_w is not None
                else None,
                is_paused=allocation.is_paused,
                is_offline=allocation.is_offline,
                note="offline: last share kept" if allocation.is_offline else "",
            )
        )
    plan = AllocationPlan.objects.create(
        station=station,
        created_at=planning.now,
        trigger=trigger[:40],
        limit_w=limit.limit_w,
        limit_source=limit.source,
        allocated_w=sum(entry.allocated_w for entry in entries),
        measured_w=sum(entry.measured_w or 0 for entry in entries),
    )
    for entry in entries:
        entry.plan = plan
    AllocationEntry.objects.bulk_create(entries)
    emit(
        SitePlanned(
            station_id=station.pk,
            network_id=station.network_id,
            at=planning.now.isoformat(),
            trigger=plan.trigger,
            limit_w=limit_w,
            limit_source=limit.source,
            allocated_w=plan.allocated_w,
            measured_w=plan.measured_w,
            connectors=[
                {
                    "connector_pk": entry.connector.pk,
                    "label": str(entry.connector),
                    "allocated_w": entry.allocated_w,
                    "measured_w": entry.measured_w,
                    "is_paused": entry.is_paused,
                    "is_offline": entry.is_offline,
                }
                for entry in entries
            ],
        ),
        live_groups=[station_group(station.pk)],
    )
    return plan


def _forget_finished_sessions(
    planning: _Planning, session_of: dict[int, ChargingSession]
) -> None:
    """Drop TxProfile slots of ended sessions: the charger drops them itself (§3.13.4)."""
    for key, state in list(planning.states.items()):
        connector_pk, purpose = key
        if purpose != _TX:
            continue
        session = session_of.get(connector_pk)
        if session is not None and session.pk == state.transaction_id:
            continue
        if state.profile_id is not None:
            ChargingProfile.objects.filter(
                pk=state.profile_id,
                status__in=[ProfileStatus.ACTIVE, ProfileStatus.PENDING],
            ).update(status=ProfileStatus.CLEARED)
        state.delete()
        del planning.states[key]


def _is_due(state: SmartProfileState, now: datetime) -> bool:
    return state.next_retry_at is None or state.next_retry_at <= now


def _decrease_outstanding(planning: _Planning) -> bool:
    """A decrease sent earlier that the charger has not answered yet."""
    cutoff = planning.now - timedelta(seconds=settings.OCPP_COMMAND_TIMEOUT * 2 + 30)
    return any(
        state.status == SmartProfileStatus.PENDING
        and state.previous_limit_w is not None
        and state.limit_w < state.previous_limit_w
        and state.sent_at is not None
        and state.sent_at > cutoff
        for state in planning.states.values()
    )


def _slots_to_send(
    planning: _Planning, wanted: dict[tuple[int, str], _Slot], hysteresis_w: int
) -> list[_Slot]:
    limit_w = planning.limit.limit_w or 0
    result: list[_Slot] = []
    increases_held = _decrease_outstanding(planning)
    for purpose in (_TX, _TX_DEFAULT):
        planned: dict[object, int] = {}
        sent: dict[object, int] = {}
        must_send: list[object] = []
        for key, slot in wanted.items():
            if key[1] != purpose:
                continue
            state = planning.states.get(key)
            if state is not None and state.status in (
                SmartProfileStatus.REJECTED,
                SmartProfileStatus.FAILED,
            ):
                if not _is_due(state, planning.now):
                    continue  # backing off: the charger keeps its fallback meanwhile
                must_send.append(key)
            planned[key] = slot.limit.limit_w
            if state is None or (
                purpose == _TX and state.transaction_id != slot.transaction_id
            ):
                continue
            sent[key] = state.limit_w
            if (state.rate_unit, state.number_phases) != (
                slot.limit.rate_unit,
                slot.limit.number_phases,
            ):
                must_send.append(key)
        decreases, increases = alloc.profile_changes(
            planned=planned,
            sent=sent,
            hysteresis_w=hysteresis_w,
            limit_w=limit_w,
            must_send=must_send,
        )
        result += [wanted[key] for key in decreases]  # type: ignore[index]
        if decreases:
            increases_held = True
        if not increases_held:
            result += [wanted[key] for key in increases]  # type: ignore[index]
        elif increases:
            logger.debug(
                "station %s: %d increases wait for decreases to be accepted",
                planning.station.pk,
                len(increases),
            )
    return result


def _profile_periods(limit: ProfileLimit) -> list[dict[str, Any]]:
    period: dict[str, Any] = {"start_s": 0, "limit": float(limit.value)}
    if limit.number_phases:
        period["phases"] = limit.number_phases
    return [period]


def _send_slot(slot: _Slot, planning: _Planning) -> None:
    """Store and send one profile; the answer arrives through the command hooks."""
    from stations.remote.services import charging_profile_send

    connector = slot.connector
    with transaction.atomic():
        key = (connector.pk, slot.purpose)
        previous = (
            SmartProfileState.objects.select_for_update()
            .filter(connector=connector, purpose=slot.purpose)
            .first()
        )
        profile = ChargingProfile.objects.create(
            charge_point=connector.charge_point,
            connector_number=connector.connector_id,
            name=SMART_PROFILE_NAME,
            purpose=slot.purpose,
            stack_level=SMART_STACK_LEVEL,
            kind=ProfileKind.RELATIVE,
            transaction_id=slot.transaction_id,
            rate_unit=slot.limit.rate_unit,
            periods=_profile_periods(slot.limit),
            created_at=planning.now,
        )
        values = {
            "transaction_id": slot.transaction_id,
            "limit_w": slot.limit.limit_w,
            "previous_limit_w": previous.limit_w
            if previous is not None
            and previous.status
            in (SmartProfileStatus.ACTIVE, SmartProfileStatus.PENDING)
            else None,
            "rate_unit": slot.limit.rate_unit,
            "limit_value": slot.limit.value,
            "number_phases": slot.limit.number_phases,
            "profile": profile,
            "status": SmartProfileStatus.PENDING,
            "sent_at": timezone.now(),
            "next_retry_at": None,
        }
        if previous is None:
            state = SmartProfileState.objects.create(
                connector=connector, purpose=slot.purpose, **values
            )
        else:
            for name, value in values.items():
                setattr(previous, name, value)
            previous.save()
            state = previous
        planning.states[key] = state
        command = charging_profile_send(profile=profile, requested_by=None)
    if command.is_finished:  # e.g. the charger went offline meanwhile
        smart_profile_result_apply(command_id=command.pk)


def _release_site(planning: _Planning) -> None:
    """The site is no longer load-managed: clear the profiles it was given."""
    from stations.remote.services import charging_profile_clear

    for state in planning.states.values():
        profile = state.profile
        if (
            profile is not None
            and profile.status in (ProfileStatus.ACTIVE, ProfileStatus.PENDING)
            and state.connector.charge_point.is_connected
        ):
            charging_profile_clear(profile=profile, requested_by=None)
        state.delete()


# --- answers, reconnects, sweeps -------------------------------------------------


def smart_profile_result_apply(
    *, command_id: int, now: datetime | None = None
) -> int | None:
    """Apply a charger's answer to a smart profile.

    Returns the station id when the site should be re-planned now (an accepted
    decrease may release held-back increases); retries wait for the sweep.
    """
    now = now or timezone.now()
    with transaction.atomic():
        state = (
            SmartProfileState.objects.select_for_update(of=("self",))
            .filter(
                profile__set_command_id=command_id, status=SmartProfileStatus.PENDING
            )
            .select_related("connector__charge_point__station")
            .first()
        )
        if state is None:
            return None
        command = ChargePointCommand.objects.get(pk=command_id)
        if not command.is_finished:
            return None
        connector = state.connector
        station = connector.charge_point.station
        replan = False
        if command.status == CommandStatus.ACCEPTED:
            # Increases held back for an accepted decrease can go now.
            replan = (
                state.previous_limit_w is not None
                and state.limit_w < state.previous_limit_w
            )
            state.status = SmartProfileStatus.ACTIVE
            state.attempts = 0
            state.last_error = ""
            state.next_retry_at = None
        else:
            is_refusal = command.status == CommandStatus.REJECTED
            state.status = (
                SmartProfileStatus.REJECTED if is_refusal else SmartProfileStatus.FAILED
            )
            state.attempts = min(state.attempts + 1, 1000)
            state.next_retry_at = now + alloc.retry_delay(state.attempts)
            state.last_error = (
                f"{command.get_status_display()}: "
                f"{command.charger_status or command.error_description}"
            )[:200]
        state.save(
            update_fields=[
                "status",
                "attempts",
                "last_error",
                "next_retry_at",
                "updated_at",
            ]
        )
        if state.status in (SmartProfileStatus.ACTIVE, SmartProfileStatus.REJECTED):
            # The alert rule for refused profiles lives in alerts, which subscribes.
            emit(
                SmartProfileAnswered(
                    connector_pk=connector.pk,
                    charge_point_pk=connector.charge_point_id,
                    network_id=station.network_id if station else None,
                    station_id=station.pk if station else None,
                    connector_label=str(connector),
                    purpose=state.purpose,
                    accepted=state.status == SmartProfileStatus.ACTIVE,
                    refusals=state.attempts
                    if state.status == SmartProfileStatus.REJECTED
                    else 0,
                    limit=f"{state.limit_value} {state.rate_unit}",
                    at=now.isoformat(),
                )
            )
    return station.pk if station is not None and replan else None


def smart_charger_reconnected(
    *, charge_point_id: int, now: datetime | None = None
) -> int:
    """Resend the smart profiles of a charger that came back (it may have rebooted)."""
    return SmartProfileState.objects.filter(
        connector__charge_point_id=charge_point_id
    ).update(
        status=SmartProfileStatus.FAILED,
        next_retry_at=now or timezone.now(),
        last_error="Charger reconnected: resending.",
    )


def managed_station_ids() -> list[int]:
    """Sites with an active session or smart profiles to keep up to date."""
    with_sessions = ChargingSession.objects.filter(
        status=SessionStatus.ACTIVE, charge_point__station__isnull=False
    ).values_list("charge_point__station_id", flat=True)
    with_profiles = SmartProfileState.objects.values_list(
        "connector__charge_point__station_id", flat=True
    )
    return sorted(set(with_sessions) | set(with_profiles))


def station_is_limited(*, station_id: int, now: datetime | None = None) -> bool:
    """Cheap check before planning: a limit, schedule or signal, or profiles to clear."""
    now = now or timezone.now()
    return (
        Station.objects.filter(
            Q(power_limit_kw__isnull=False)
            | Q(limit_schedule__isnull=False)
            | Q(limit_signals__valid_until__gt=now, limit_signals__cancelled_at=None),
            pk=station_id,
        ).exists()
        or SmartProfileState.objects.filter(
            connector__charge_point__station_id=station_id
        ).exists()
    )


def smart_charging_sweep(*, now: datetime | None = None) -> int:
    """Re-plan every load-managed site: expiring signals, schedules, retries, draws."""
    now = now or timezone.now()
    planned = 0
    for station_id in managed_station_ids():
        if not station_is_limited(station_id=station_id, now=now):
            continue
        site_replan(station_id=station_id, trigger="periodic", now=now)
        planned += 1
    return planned


def allocation_history_purge(*, before: datetime, batch_size: int = 5000) -> int:
    """Delete plans older than ``before`` in batches (the chart shows recent ones)."""
    deleted = 0
    while True:
        ids = list(
            AllocationPlan.objects.filter(created_at__lt=before).values_list(
                "pk", flat=True
            )[:batch_size]
        )
        if not ids:
            return deleted
        AllocationPlan.objects.filter(pk__in=ids).delete()
        deleted += len(ids)


def session_station_id(session_id: int) -> int | None:
    return (
        ChargingSession.objects.filter(pk=session_id)
        .values_list("charge_point__station_id", flat=True)
        .first()
    )


def plan_history(
    *, station: Station, since: datetime, limit: int = 720
) -> list[AllocationPlan]:
    """Recent plans with their entries, oldest first (for the chart)."""
    plans = list(
        AllocationPlan.objects.filter(station=station, created_at__gte=since)
        .order_by("-created_at", "-id")
        .prefetch_related("entries__connector__charge_point")[:limit]
    )
    plans.reverse()
    return plans


def connectors_in(plans: Iterable[AllocationPlan]) -> list[Connector]:
    seen: dict[int, Connector] = {}
    for plan in plans:
        for entry in plan.entries.all():
            seen.setdefault(entry.connector_id, entry.connector)
    return sorted(seen.values(), key=lambda c: (c.charge_point.ocpp_id, c.connector_id))
