"""Alert lifecycle, rule evaluation entry points, and maintenance tickets.

Entry points the OCPP gateway dispatches after commit (through the ``*_task``
wrappers in ``alerts.tasks``) are cheap, idempotent and safe to run twice:
``alerts_evaluate_connector``, ``alerts_evaluate_charge_point``,
``alerts_evaluate_session``, ``alerts_on_boot``, ``alerts_on_firmware_status``.
``alerts_sweep`` re-evaluates every time-based rule periodically, so alerts
work even when no event hook fires. ``alert_raise`` / ``alert_clear`` are the
generic entry points for other apps (billing's rating failures).

Dedupe is the database's job: a partial unique constraint allows one unresolved
alert per (rule, subject). Every state change is a conditional UPDATE so that a
sweep and an event evaluating the same subject at once cannot double-act.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record, model_snapshot
from alerts import rules
from alerts.models import (
    SEVERITY_ORDER,
    Alert,
    AlertEvent,
    AlertRuleConfig,
    AlertStatus,
    BootRecord,
    MaintenanceTicket,
    PendingCondition,
    Rule,
    TicketNote,
    TicketStatus,
    WebhookEndpoint,
    severity_rank,
)
from alerts.rules import Finding
from cms.events import (
    AlertChanged,
    AlertEscalated,
    AlertNotice,
    AlertOpened,
    AlertResolved,
    ChargerReportQuarantined,
    ConfigurationDriftChanged,
    EventKind,
    SmartProfileAnswered,
    emit,
)
from sessions_app.models import ChargingSession, SessionStatus
from stations.live.events import groups_for
from stations.models import (
    CertificateDelivery,
    ChargePoint,
    ChargerCertificate,
    Connector,
    ConnectorStatus,
    Network,
    Station,
)
from stations.ocpp import commands as ocpp
from stations.reliability.reports import month_to_date_uptimes, port_id

logger = logging.getLogger(__name__)

ALERT_CHANGED = EventKind.ALERT_CHANGED.value
MAX_ESCALATIONS = 3
# Group alerts are resolved after their children, so a child is never briefly
# "ungrouped" (and notified) on its way to being resolved.
_RESOLVE_ORDER: dict[str, int] = {
    Rule.CHARGER_OFFLINE: 0,
    Rule.STATION_OFFLINE: 1,
    Rule.NETWORK_OFFLINE: 2,
}


# --- Configuration --------------------------------------------------------------


def alert_config_for(network_id: int | None) -> AlertRuleConfig:
    """The network's rule configuration, or the defaults when it has none (unsaved)."""
    if network_id is None:
        return AlertRuleConfig()
    config = AlertRuleConfig.objects.filter(network_id=network_id).first()
    return config if config is not None else AlertRuleConfig(network_id=network_id)


class _ConfigCache(dict[int | None, AlertRuleConfig]):
    def __missing__(self, network_id: int | None) -> AlertRuleConfig:
        config = alert_config_for(network_id)
        self[network_id] = config
        return config


# --- Live events and notification dispatch ----------------------------------------


def _publish(alert: Alert) -> None:
    emit(
        AlertChanged(
            alert_id=alert.pk,
            network_id=alert.network_id,
            station_id=alert.station_id,
            charge_point_pk=alert.charge_point_id,
            rule=alert.rule,
            severity=alert.severity,
            status=alert.status,
            is_suppressed=alert.is_suppressed,
            title=alert.title,
        ),
        live_groups=groups_for(
            network_id=alert.network_id,
            station_id=alert.station_id,
            charge_point_pk=alert.charge_point_id,
        ),
    )


_NOTICES: dict[str, type[AlertNotice]] = {
    "opened": AlertOpened,
    "escalated": AlertEscalated,
    "resolved": AlertResolved,
}


def _notice_emit(alert: Alert, event_key: str) -> None:
    """Announce an alert event people are told about (email, webhooks).

    Its subscribers are external, so the notice is written to the outbox with
    this transaction: an alert that committed is notified even after a crash.
    """
    notice = _NOTICES[event_key.split(":", 1)[0]]
    emit(
        notice(
            alert_id=alert.pk,
            event_key=event_key,
            charge_point_pk=alert.charge_point_id,
            network_id=alert.network_id,
        )
    )


def _claim_first_notification(alert: Alert, now: datetime) -> None:
    """Notify "opened" once, the first time the alert stands on its own."""
    if Alert.objects.filter(pk=alert.pk, notified_at=None).update(notified_at=now):
        alert.notified_at = now
        _notice_emit(alert, "opened")


def _event(
    alert: Alert,
    kind: str,
    *,
    now: datetime,
    actor: User | None = None,
    message: str = "",
    data: dict[str, Any] | None = None,
) -> AlertEvent:
    return AlertEvent.objects.create(
        alert=alert,
        kind=kind,
        at=now,
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        message=message,
        data=data or {},
    )


# --- Core lifecycle -----------------------------------------------------------------


def _open_alert(key: tuple[str, str]) -> Alert | None:
    return Alert.objects.filter(
        rule=key[0], subject_key=key[1], resolved_at__isnull=True
    ).first()


def _apply_finding(
    finding: Finding,
    *,
    existing: Alert | None,
    now: datetime,
    applied: dict[tuple[str, str], Alert],
) -> Alert:
    """Open the alert of ``finding`` or bring the open one up to date."""
    parent: Alert | None = None
    if finding.parent is not None:
        parent = applied.get(finding.parent) or _open_alert(finding.parent)
    if existing is None:
        try:
            with transaction.atomic():
                alert = Alert.objects.create(
                    rule=finding.rule,
                    subject_key=finding.subject_key,
                    network_id=finding.network_id,
                    station_id=finding.station_id,
                    charge_point_id=finding.charge_point_id,
                    connector_id=finding.connector_id,
                    session_id=finding.session_id,
                    severity=finding.effective_severity,
                    title=finding.title[:200],
                    detail=finding.detail,
                    context=finding.context,
                    parent=parent,
                    is_suppressed=parent is not None,
                    opened_at=now,
                )
        except IntegrityError:
            # Another evaluation opened it between our read and insert.
            existing = _open_alert(finding.key)
            if existing is None:
                raise
        else:
            _event(alert, AlertEvent.Kind.OPENED, now=now, message=finding.detail)
            if parent is not None:
                _event(
                    alert,
                    AlertEvent.Kind.GROUPED,
                    now=now,
                    message=f"Part of: {parent.title}",
                    data={"parent_id": parent.pk},
                )
            else:
                _claim_first_notification(alert, now)
            _publish(alert)
            applied[finding.key] = alert
            return alert
    alert = existing
    changed: list[str] = []
    if (alert.title, alert.detail, alert.context) != (
        finding.title[:200],
        finding.detail,
        finding.context,
    ):
        alert.title, alert.detail, alert.context = (
            finding.title[:200],
            finding.detail,
            finding.context,
        )
        changed += ["title", "detail", "context"]
        _event(alert, AlertEvent.Kind.UPDATED, now=now, message=finding.detail)
    if severity_rank(finding.effective_severity) > severity_rank(alert.severity):
        alert.severity = finding.effective_severity
        changed.append("severity")
    for field_name in ("connector_id", "session_id"):
        value = getattr(finding, field_name)
        if value is not None and getattr(alert, field_name) != value:
            setattr(alert, field_name, value)
            changed.append(field_name)
    parent_id = parent.pk if parent is not None else None
    if alert.parent_id != parent_id:
        alert.parent_id = parent_id
        alert.is_suppressed = parent is not None
        changed += ["parent", "is_suppressed"]
        if parent is not None:
            _event(
                alert,
                AlertEvent.Kind.GROUPED,
                now=now,
                message=f"Part of: {parent.title}",
                data={"parent_id": parent.pk},
            )
        else:
            _event(alert, AlertEvent.Kind.UNGROUPED, now=now)
            _claim_first_notification(alert, now)
    if changed:
        Alert.objects.filter(pk=alert.pk).update(
            **{name: getattr(alert, name) for name in changed}
        )
        _publish(alert)
    applied[finding.key] = alert
    return alert


def _resolve(
    alert: Alert,
    *,
    now: datetime,
    resolution: str,
    actor: User | None = None,
    message: str = "",
) -> bool:
    """Resolve ``alert`` unless someone already did; True when this call did."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    updated = Alert.objects.filter(pk=alert.pk, resolved_at__isnull=True).update(
        status=AlertStatus.RESOLVED,
        resolved_at=now,
        resolved_by=user,
        resolution=resolution,
    )
    if not updated:
        return False
    alert.status, alert.resolved_at, alert.resolution = (
        AlertStatus.RESOLVED,
        now,
        resolution,
    )
    alert.resolved_by = user
    _event(
        alert,
        AlertEvent.Kind.RESOLVED,
        now=now,
        actor=user,
        message=message or alert.get_resolution_display(),
    )
    _publish(alert)
    if alert.notified_at is not None:
        _notice_emit(alert, "resolved")
    # Children still open stand on their own from now on.
    for child in Alert.objects.filter(parent=alert, resolved_at__isnull=True):
        Alert.objects.filter(pk=child.pk).update(parent=None, is_suppressed=False)
        child.parent_id, child.is_suppressed = None, False
        _event(child, AlertEvent.Kind.UNGROUPED, now=now, message="Group resolved")
        _claim_first_notification(child, now)
        _publish(child)
    return True


def _reconcile(
    *,
    rule_names: Iterable[str],
    scope: Q,
    findings: Iterable[Finding],
    now: datetime,
) -> dict[tuple[str, str], Alert]:
    """Make the open alerts of ``rule_names`` within ``scope`` match ``findings``."""
    rule_names = list(rule_names)
    open_alerts = {
        (alert.rule, alert.subject_key): alert
        for alert in Alert.objects.filter(
            scope, rule__in=rule_names, resolved_at__isnull=True
        )
    }
    wanted = {finding.key: finding for finding in findings}
    applied: dict[tuple[str, str], Alert] = {}
    # Parents (findings without a parent of their own) first.
    for key, finding in sorted(
        wanted.items(), key=lambda item: item[1].parent is not None
    ):
        _apply_finding(finding, existing=open_alerts.get(key), now=now, applied=applied)
    stale = [alert for key, alert in open_alerts.items() if key not in wanted]
    for alert in sorted(stale, key=lambda a: _RESOLVE_ORDER.get(a.rule, 0)):
        _resolve(alert, now=now, resolution=Alert.Resolution.AUTO)
    return applied


def _pending_since(
    *,
    rule: str,
    observed: dict[str, int | None],
    scope_keys: Iterable[str] | None,
    now: datetime,
    compare_value: bool,
) -> dict[str, tuple[datetime, int | None]]:
    """Track how long each observed condition has held ("for N minutes").

    ``observed`` maps subject keys where the condition holds now to a value; with
    ``compare_value`` the clock restarts whenever the value changes (a register
    that moved). Subjects in scope but not observed lose their pending state.
    """
    states = PendingCondition.objects.filter(rule=rule)
    if scope_keys is not None:
        states = states.filter(subject_key__in=list(scope_keys))
    current = {state.subject_key: state for state in states}
    result: dict[str, tuple[datetime, int | None]] = {}
    for key, value in observed.items():
        state = current.get(key)
        if state is None:
            PendingCondition.objects.update_or_create(
                rule=rule,
                subject_key=key,
                defaults={"since": now, "observed_value": value},
            )
            result[key] = (now, value)
        elif compare_value and state.observed_value != value:
            PendingCondition.objects.filter(pk=state.pk).update(
                since=now, observed_value=value
            )
            result[key] = (now, value)
        else:
            result[key] = (state.since, state.observed_value)
    gone = [state.pk for key, state in current.items() if key not in observed]
    if gone:
        PendingCondition.objects.filter(pk__in=gone).delete()
    return result


# --- Generic entry points ---------------------------------------------------------


def alert_raise(
    *,
    rule: str,
    subject_key: str,
    title: str,
    detail: str = "",
    context: dict[str, Any] | None = None,
    severity: str = "",
    network_id: int | None = None,
    station_id: int | None = None,
    charge_point_id: int | None = None,
    connector_id: int | None = None,
    session_id: int | None = None,
    now: datetime | None = None,
) -> Alert:
    """Open (or keep) the alert of ``rule`` on ``subject_key``; idempotent."""
    finding = Finding(
        rule=rule,
        subject_key=subject_key,
        title=title,
        detail=detail,
        context=context or {},
        severity=severity,
        network_id=network_id,
        station_id=station_id,
        charge_point_id=charge_point_id,
        connector_id=connector_id,
        session_id=session_id,
    )
    with transaction.atomic():
        return _apply_finding(
            finding,
            existing=_open_alert(finding.key),
            now=now or timezone.now(),
            applied={},
        )


def alert_clear(
    *, rule: str, subject_key: str, message: str = "", now: datetime | None = None
) -> bool:
    """Resolve the open alert of ``rule`` on ``subject_key`` (the condition cleared)."""
    with transaction.atomic():
        alert = _open_alert((rule, subject_key))
        if alert is None:
            return False
        return _resolve(
            alert,
            now=now or timezone.now(),
            resolution=Alert.Resolution.AUTO,
            message=message,
        )


class SessionPlace(rules.ChargerPlace):
    """Where a session ran, spread into ``alert_raise(**place)``."""

    connector_id: int | None
    session_id: int


def _session_place(session: ChargingSession) -> SessionPlace:
    station = session.charge_point.station
    return {
        "network_id": station.network_id if station is not None else None,
        "station_id": session.charge_point.station_id,
        "charge_point_id": session.charge_point_id,
        "connector_id": session.connector_id,
        "session_id": session.pk,
    }


# A charger can refuse a TxProfile sent before its StartTransaction answer
# arrived (it does not know the transactionId yet); one retry fixes that, so an
# alert is raised only from the second refusal in a row.
ALERT_AFTER_REJECTIONS = 2


def alerts_on_quarantine(report: ChargerReportQuarantined) -> None:
    """A charger's report kept aside: one alert per charger for unknown
    connectors, one per charger model (in its network) for odd meter values."""
    if report.what == "odd_samples":
        model = f"{report.vendor} {report.model}".strip() or "unknown model"
        subject = f"network:{report.network_id}:model:{model}:odd_samples"
        title = f"{model} chargers send meter values of unknown unit or measurand"
        charge_point_id = None
    else:
        subject = f"{rules.charge_point_key(report.charge_point_pk)}:quarantine"
        title = f"{report.ocpp_id} reports a connector it does not have"
        charge_point_id = report.charge_point_pk
    alert_raise(
        rule=Rule.REPORT_QUARANTINED,
        subject_key=subject,
        title=title,
        detail=f"Latest from {report.ocpp_id}: {report.detail}. Kept aside, not "
        "applied; the frames are in the charger's OCPP timeline.",
        context={"what": report.what, "ocpp_id": report.ocpp_id},
        network_id=report.network_id,
        station_id=report.station_id if charge_point_id else None,
        charge_point_id=charge_point_id,
        now=datetime.fromisoformat(report.at),
    )


def alerts_on_configuration_drift(drift: ConfigurationDriftChanged) -> None:
    """A declared key refused or reverting on a charger: alert; in line again: clear."""
    subject = f"{rules.charge_point_key(drift.charge_point_pk)}:config:{drift.key}"
    now = datetime.fromisoformat(drift.at)
    if not drift.failing:
        alert_clear(
            rule=Rule.CONFIGURATION_DRIFT,
            subject_key=subject,
            message=f"{drift.key} is {drift.desired_value} as declared",
            now=now,
        )
        return
    if drift.state == "rejected":
        title = f"{drift.ocpp_id} refuses {drift.key}={drift.desired_value}"
    else:
        title = (
            f"{drift.ocpp_id} keeps reverting {drift.key} "
            f"({drift.reverts} times off {drift.desired_value})"
        )
    alert_raise(
        rule=Rule.CONFIGURATION_DRIFT,
        subject_key=subject,
        title=title,
        detail=drift.detail,
        context={"key": drift.key, "desired": drift.desired_value},
        network_id=drift.network_id,
        station_id=drift.station_id,
        charge_point_id=drift.charge_point_pk,
        now=now,
    )


def smart_profile_subject(connector_pk: int, purpose: str) -> str:
    return f"connector:{connector_pk}:{purpose}"


def alerts_on_smart_profile(answer: SmartProfileAnswered) -> None:
    """Load management's profile refused again and again: alert; accepted: clear."""
    now = datetime.fromisoformat(answer.at)
    subject = smart_profile_subject(answer.connector_pk, answer.purpose)
    if answer.accepted:
        alert_clear(
            rule=Rule.SMART_PROFILE_REJECTED,
            subject_key=subject,
            message="The charger accepted the load-management profile.",
            now=now,
        )
        return
    if answer.refusals < ALERT_AFTER_REJECTIONS:
        return
    alert_raise(
        rule=Rule.SMART_PROFILE_REJECTED,
        subject_key=subject,
        title=f"{answer.connector_label} refuses its load-management profile",
        detail=(
            f"The charger refused the {answer.purpose} ({answer.limit}) "
            f"{answer.refusals} times; retrying with backoff. Until it "
            "accepts, the site limit relies on its fallback profile."
        ),
        context={"purpose": answer.purpose},
        severity="major",
        network_id=answer.network_id,
        station_id=answer.station_id,
        charge_point_id=answer.charge_point_pk,
        connector_id=answer.connector_pk,
        now=now,
    )


def alerts_on_rating_failure(
    session_id: int, *, error: str, now: datetime | None = None
) -> Alert | None:
    """Billing could not rate a session: one alert per session until it is rated."""
    session = (
        ChargingSession.objects.select_related("charge_point__station")
        .filter(pk=session_id)
        .first()
    )
    if session is None:
        return None
    place = _session_place(session)
    if not alert_config_for(place["network_id"]).billing_failure_enabled:
        return None
    return alert_raise(
        rule=Rule.BILLING_FAILURE,
        subject_key=rules.session_key(session.pk),
        title=f"Session {session.pk} could not be rated",
        detail=f"Rating session {session.pk} on {session.charge_point.ocpp_id} failed: {error}",
        context={"error": error[:500]},
        now=now,
        **place,
    )


def alerts_on_rating_success(session_id: int, *, now: datetime | None = None) -> bool:
    """The session was rated after all: its billing alert resolves."""
    return alert_clear(
        rule=Rule.BILLING_FAILURE,
        subject_key=rules.session_key(session_id),
        message="Session rated",
        now=now,
    )


# --- Event-driven evaluation -------------------------------------------------------


def alerts_evaluate_connector(
    connector_id: int, *, now: datetime | None = None
) -> None:
    """Re-evaluate Faulted and stuck-Preparing for one connector (after a status)."""
    now = now or timezone.now()
    connector = (
        Connector.objects.select_related("charge_point__station")
        .filter(pk=connector_id)
        .first()
    )
    if connector is None:
        return
    station = connector.charge_point.station
    config = alert_config_for(station.network_id if station else None)
    with transaction.atomic():
        _reconcile(
            rule_names=[Rule.CONNECTOR_FAULTED, Rule.STUCK_PREPARING],
            scope=Q(subject_key=rules.connector_key(connector.pk)),
            findings=rules.connector_findings(connector, config=config, now=now),
            now=now,
        )


def _charge_point_with_station(charge_point_id: int) -> ChargePoint | None:
    return (
        ChargePoint.objects.select_related("station").filter(pk=charge_point_id).first()
    )


def alerts_evaluate_charge_point(
    charge_point_id: int, *, now: datetime | None = None
) -> None:
    """Re-evaluate a charger: connector 0 fault, offline (with its station), boots."""
    now = now or timezone.now()
    charge_point = _charge_point_with_station(charge_point_id)
    if charge_point is None:
        return
    network_id = charge_point.station.network_id if charge_point.station else None
    config = alert_config_for(network_id)
    with transaction.atomic():
        _reconcile(
            rule_names=[Rule.CONNECTOR_FAULTED],
            scope=Q(subject_key=rules.charge_point_key(charge_point.pk)),
            findings=rules.charge_point_fault_findings(charge_point, config=config),
            now=now,
        )
        _offline_reconcile(
            network_id=network_id,
            config=config,
            now=now,
            only_station_id=charge_point.station_id,
            only_charge_point_id=None if charge_point.station_id else charge_point.pk,
        )
        _boot_loop_reconcile([charge_point], configs=_ConfigCache(), now=now)


def alerts_evaluate_session(session_id: int, *, now: datetime | None = None) -> None:
    """Re-evaluate a session's soft faults, zombie state and meter register."""
    now = now or timezone.now()
    session = (
        ChargingSession.objects.select_related("charge_point__station", "connector")
        .filter(pk=session_id)
        .first()
    )
    if session is None:
        return
    with transaction.atomic():
        _sessions_reconcile(
            [session],
            configs=_ConfigCache(),
            now=now,
            scope_keys=[rules.session_key(session.pk)],
        )
        _meter_regression_reconcile(
            charge_point_ids=[session.charge_point_id], configs=_ConfigCache(), now=now
        )


def alerts_on_boot(charge_point_id: int, *, now: datetime | None = None) -> None:
    """Record a BootNotification and re-evaluate the charger (boot loop, back online)."""
    now = now or timezone.now()
    charge_point = ChargePoint.objects.filter(pk=charge_point_id).first()
    if charge_point is None:
        return
    booted_at = charge_point.last_boot_at or now
    BootRecord.objects.get_or_create(charge_point=charge_point, booted_at=booted_at)
    alerts_evaluate_charge_point(charge_point_id, now=now)


def alerts_on_firmware_status(
    charge_point_id: int, status: str, *, now: datetime | None = None
) -> None:
    """FirmwareStatusNotification: failed opens an alert, Installed clears it."""
    now = now or timezone.now()
    charge_point = _charge_point_with_station(charge_point_id)
    if charge_point is None:
        return
    key = rules.charge_point_key(charge_point.pk)
    network_id = charge_point.station.network_id if charge_point.station else None
    if status in rules.FIRMWARE_FAILED_STATUSES:
        if not alert_config_for(network_id).firmware_failed_enabled:
            return
        finding = rules.firmware_failed_finding(charge_point, status=status)
        with transaction.atomic():
            _apply_finding(
                finding, existing=_open_alert(finding.key), now=now, applied={}
            )
    elif status == "Installed":
        alert_clear(
            rule=Rule.FIRMWARE_FAILED,
            subject_key=key,
            message=f"Firmware installed ({charge_point.firmware_version or 'new version'})",
            now=now,
        )


def alerts_on_security_event(
    charge_point_id: int,
    *,
    event_type: str,
    occurred_at: str,
    tech_info: str,
    now: datetime | None = None,
) -> None:
    """A critical SecurityEventNotification (either version) opens an alert."""
    now = now or timezone.now()
    charge_point = _charge_point_with_station(charge_point_id)
    if charge_point is None:
        return
    finding = rules.security_event_finding(
        charge_point,
        event_type=event_type,
        occurred_at=occurred_at,
        tech_info=tech_info,
    )
    if finding is None:
        return
    with transaction.atomic():
        _apply_finding(finding, existing=_open_alert(finding.key), now=now, applied={})


# --- Rule reconcilers shared by events and sweeps --------------------------------


def _offline_reconcile(
    *,
    network_id: int | None,
    config: AlertRuleConfig,
    now: datetime,
    only_station_id: int | None = None,
    only_charge_point_id: int | None = None,
) -> None:
    """Charger, station and network offline alerts, grouped to avoid a storm.

    A station whose chargers (at least ``group_offline_min_chargers``) are all
    offline gets one station alert; the charger alerts are linked to it and not
    notified. A network whose stations are all down gets one network alert. A
    group alert holds until every member is back, so a partial recovery does not
    turn into one notification per remaining charger.
    """
    charge_points = ChargePoint.objects.select_related("station")
    if only_charge_point_id is not None:
        charge_points = charge_points.filter(pk=only_charge_point_id)
    elif only_station_id is not None:
        charge_points = charge_points.filter(station_id=only_station_id)
    elif network_id is None:
        charge_points = charge_points.filter(station__isnull=True)
    else:
        charge_points = charge_points.filter(station__network_id=network_id)
    enabled = config.charger_offline_enabled
    seen = [cp for cp in charge_points if rules.was_ever_seen(cp)]
    offline: dict[int, datetime] = {}
    if enabled:
        for cp in seen:
            since = rules.offline_since(cp, grace_s=config.offline_grace_s, now=now)
            if since is not None:
                offline[cp.pk] = since
    by_station: dict[int, list[ChargePoint]] = defaultdict(list)
    for cp in seen:
        if cp.station_id is not None:
            by_station[cp.station_id].append(cp)
    station_keys = [rules.station_key(pk) for pk in by_station]
    open_groups = set(
        Alert.objects.filter(
            Q(subject_key__in=station_keys)
            | Q(rule=Rule.NETWORK_OFFLINE, network_id=network_id),
            rule__in=[Rule.STATION_OFFLINE, Rule.NETWORK_OFFLINE],
            resolved_at__isnull=True,
        ).values_list("subject_key", flat=True)
    )
    findings: list[Finding] = []
    net_key = rules.network_key(network_id) if network_id is not None else None
    network_grouped = False
    if net_key is not None and only_station_id is None and only_charge_point_id is None:
        station_down = {
            station_id: all(cp.pk in offline for cp in members)
            for station_id, members in by_station.items()
        }
        all_down = len(station_down) >= 2 and all(station_down.values())
        still_down = net_key in open_groups and any(offline)
        network_grouped = enabled and (all_down or still_down)
        if network_grouped:
            findings.append(
                Finding(
                    rule=Rule.NETWORK_OFFLINE,
                    subject_key=net_key,
                    title="Network offline: all stations unreachable",
                    detail=(
                        f"All {len(by_station)} stations of the network are offline "
                        "(every charger lost its connection). Suspect the CMS "
                        "endpoint, DNS, TLS certificates or a carrier outage."
                    ),
                    context={"stations": len(by_station)},
                    network_id=network_id,
                )
            )
    elif net_key is not None:
        network_grouped = net_key in open_groups
    network_parent = (
        (Rule.NETWORK_OFFLINE, net_key) if network_grouped and net_key else None
    )
    station_parent: dict[int, tuple[str, str]] = {}
    for station_id, members in by_station.items():
        down = [cp for cp in members if cp.pk in offline]
        key = rules.station_key(station_id)
        grouped = len(members) >= config.group_offline_min_chargers and (
            len(down) == len(members) or (key in open_groups and down)
        )
        if not (enabled and grouped):
            continue
        station = members[0].station
        if station is None:  # the members were grouped by their station
            continue
        station_parent[station_id] = (Rule.STATION_OFFLINE, key)
        findings.append(
            Finding(
                rule=Rule.STATION_OFFLINE,
                subject_key=key,
                title=f"Station {station.name} offline",
                detail=(
                    f"All {len(members)} chargers of {station.name} went offline "
                    "together: suspect the site's power or internet uplink rather "
                    "than the chargers."
                ),
                context={"chargers": len(members)},
                network_id=network_id,
                station_id=station_id,
                parent=network_parent,
            )
        )
    for cp in seen:
        if cp.pk not in offline:
            continue
        parent = station_parent.get(cp.station_id) if cp.station_id else None
        findings.append(
            rules.charger_offline_finding(
                cp, since=offline[cp.pk], parent=parent or network_parent
            )
        )
    charger_scope = Q(subject_key__in=[rules.charge_point_key(cp.pk) for cp in seen])
    if only_station_id is None and only_charge_point_id is None:
        scope = Q(network_id=network_id) if network_id else Q(network__isnull=True)
        rule_names = [Rule.CHARGER_OFFLINE, Rule.STATION_OFFLINE, Rule.NETWORK_OFFLINE]
        # Chargers moved to another network keep no stale alert here.
        scope |= charger_scope
    else:
        scope = charger_scope | Q(subject_key__in=station_keys)
        rule_names = [Rule.CHARGER_OFFLINE, Rule.STATION_OFFLINE]
    _reconcile(rule_names=rule_names, scope=scope, findings=findings, now=now)


def _boot_loop_reconcile(
    charge_points: list[ChargePoint], *, configs: _ConfigCache, now: datetime
) -> None:
    if not charge_points:
        return
    open_keys = set(
        Alert.objects.filter(
            rule=Rule.BOOT_LOOP,
            resolved_at__isnull=True,
            subject_key__in=[rules.charge_point_key(cp.pk) for cp in charge_points],
        ).values_list("subject_key", flat=True)
    )
    findings = []
    for cp in charge_points:
        network_id = cp.station.network_id if cp.station else None
        config = configs[network_id]
        boots = BootRecord.objects.filter(
            charge_point=cp,
            booted_at__gte=now - timedelta(minutes=config.boot_loop_minutes),
        ).count()
        finding = rules.boot_loop_finding(
            cp,
            config=config,
            boots=boots,
            is_open=rules.charge_point_key(cp.pk) in open_keys,
        )
        if finding is not None:
            findings.append(finding)
    _reconcile(
        rule_names=[Rule.BOOT_LOOP],
        scope=Q(
            subject_key__in=[rules.charge_point_key(cp.pk) for cp in charge_points]
        ),
        findings=findings,
        now=now,
    )


def _session_connector(session: ChargingSession) -> Connector | None:
    if session.connector_id is not None:
        return session.connector
    return Connector.objects.filter(
        charge_point_id=session.charge_point_id,
        connector_id=session.connector_number,
    ).first()


def _sessions_reconcile(
    sessions: list[ChargingSession],
    *,
    configs: _ConfigCache,
    now: datetime,
    scope_keys: list[str] | None,
) -> None:
    """Low power, energy not rising and zombie for ``sessions``.

    With ``scope_keys`` None (the sweep) every open session alert of these rules
    not found among ``sessions`` is resolved: its session has ended.
    """
    low_power: dict[str, int | None] = {}
    energy: dict[str, int | None] = {}
    by_key: dict[str, ChargingSession] = {}
    findings: list[Finding] = []
    for session in sessions:
        key = rules.session_key(session.pk)
        by_key[key] = session
        station = session.charge_point.station
        config = configs[station.network_id if station else None]
        connector = _session_connector(session)
        if rules.low_power_observed(session, connector, config=config):
            low_power[key] = None
        if rules.energy_observable(session, connector, config=config):
            energy[key] = session.meter_last_wh
        zombie = rules.zombie_finding(session, config=config, now=now)
        if zombie is not None:
            findings.append(zombie)
    for key, (since, _value) in _pending_since(
        rule=Rule.LOW_POWER,
        observed=low_power,
        scope_keys=scope_keys,
        now=now,
        compare_value=False,
    ).items():
        session = by_key[key]
        config = configs[
            session.charge_point.station.network_id
            if session.charge_point.station
            else None
        ]
        if now - since >= timedelta(minutes=config.low_power_minutes):
            findings.append(
                rules.low_power_finding(session, config=config, since=since)
            )
    for key, (since, value) in _pending_since(
        rule=Rule.ENERGY_STALLED,
        observed=energy,
        scope_keys=scope_keys,
        now=now,
        compare_value=True,
    ).items():
        session = by_key[key]
        config = configs[
            session.charge_point.station.network_id
            if session.charge_point.station
            else None
        ]
        if now - since >= timedelta(minutes=config.energy_stalled_minutes):
            findings.append(
                rules.energy_stalled_finding(
                    session, config=config, since=since, value_wh=int(value or 0)
                )
            )
    scope = (
        Q(subject_key__in=scope_keys)
        if scope_keys is not None
        else Q(subject_key__startswith="session:")
    )
    applied = _reconcile(
        rule_names=[Rule.LOW_POWER, Rule.ENERGY_STALLED, Rule.ZOMBIE_SESSION],
        scope=scope,
        findings=findings,
        now=now,
    )
    for (rule, key), alert in applied.items():
        if rule == Rule.ZOMBIE_SESSION:
            session = by_key[key]
            station = session.charge_point.station
            _zombie_act(
                alert, session, configs[station.network_id if station else None], now
            )


def _meter_regression_reconcile(
    *, charge_point_ids: list[int] | None, configs: _ConfigCache, now: datetime
) -> None:
    """Alert while a charger's latest session shows its register going backwards."""
    sessions = ChargingSession.objects.select_related("charge_point__station")
    if charge_point_ids is not None:
        sessions = sessions.filter(charge_point_id__in=charge_point_ids)
        latest: dict[int, ChargingSession] = {}
        for session in sessions.order_by("charge_point_id", "-started_at", "-id"):
            latest.setdefault(session.charge_point_id, session)
        candidates = list(latest.values())
        scope = Q(
            subject_key__in=[rules.charge_point_key(pk) for pk in charge_point_ids]
        )
    else:
        # Sweep: chargers with a flagged session or an open alert.
        flagged_ids = set(
            sessions.filter(has_register_regression=True).values_list(
                "charge_point_id", flat=True
            )
        ) | set(
            Alert.objects.filter(
                rule=Rule.METER_REGRESSION, resolved_at__isnull=True
            ).values_list("charge_point_id", flat=True)
        )
        _meter_regression_reconcile(
            charge_point_ids=[pk for pk in flagged_ids if pk is not None],
            configs=configs,
            now=now,
        )
        return
    findings = []
    for session in candidates:
        station = session.charge_point.station
        finding = rules.meter_regression_finding(
            session, config=configs[station.network_id if station else None]
        )
        if finding is not None:
            findings.append(finding)
    _reconcile(
        rule_names=[Rule.METER_REGRESSION], scope=scope, findings=findings, now=now
    )


def _command_send() -> Any:
    """``stations.remote.dispatch.command_send`` when the command transport is installed."""
    try:
        from stations.remote import dispatch as commands
    except ImportError:
        return None
    return getattr(commands, "command_send", None)


def _zombie_act(
    alert: Alert, session: ChargingSession, config: AlertRuleConfig, now: datetime
) -> None:
    """Probe, then stop, a zombie session when the network asked for it."""
    if not config.zombie_auto_probe:
        return
    kinds = set(alert.events.values_list("kind", flat=True))
    if AlertEvent.Kind.ACTION_UNAVAILABLE in kinds:
        return
    if AlertEvent.Kind.PROBE not in kinds:
        zombie_probe(alert=alert, session=session, actor=None, now=now)
        return
    probe_at = alert.events.filter(kind=AlertEvent.Kind.PROBE).order_by("at").first()
    if (
        config.zombie_auto_stop
        and AlertEvent.Kind.STOP_REQUESTED not in kinds
        and probe_at is not None
        and now - probe_at.at >= timedelta(minutes=config.zombie_probe_wait_minutes)
    ):
        zombie_stop(
            alert=alert,
            session=session,
            actor=None,
            reason="No meter values after the TriggerMessage probe",
            now=now,
        )


def _send_command(
    *,
    alert: Alert,
    session: ChargingSession,
    action: str,
    command: ocpp.Command,
    actor: User | None,
    kind: str,
    message: str,
    now: datetime,
) -> AlertEvent:
    send = _command_send()
    if send is None:
        return _event(
            alert,
            AlertEvent.Kind.ACTION_UNAVAILABLE,
            now=now,
            actor=actor,
            message=(
                f"{action} could not be sent: this installation has no remote "
                "command transport (stations.remote.dispatch.command_send)."
            ),
        )
    sent = send(
        charge_point=session.charge_point,
        command=command,
        requested_by=actor if getattr(actor, "is_authenticated", False) else None,
        connector_number=session.connector_number,
    )
    return _event(
        alert,
        kind,
        now=now,
        actor=actor,
        message=message,
        data={
            "command_id": getattr(sent, "pk", None),
            "command_status": str(getattr(sent, "status", "")),
            "action": action,
        },
    )


def zombie_probe(
    *,
    alert: Alert,
    session: ChargingSession,
    actor: User | None,
    now: datetime | None = None,
) -> AlertEvent:
    """Ask the charger for fresh meter values of the session (TriggerMessage)."""
    now = now or timezone.now()
    with transaction.atomic():
        return _send_command(
            alert=alert,
            session=session,
            action="TriggerMessage",
            command=ocpp.TriggerMessage(
                message="MeterValues", connector=session.connector_number
            ),
            actor=actor,
            kind=AlertEvent.Kind.PROBE,
            message="TriggerMessage(MeterValues) sent as a probe",
            now=now,
        )


def zombie_stop(
    *,
    alert: Alert,
    session: ChargingSession,
    actor: User | None,
    reason: str,
    now: datetime | None = None,
) -> AlertEvent:
    """Stop the zombie's transaction on the charger, recording why."""
    now = now or timezone.now()
    with transaction.atomic():
        return _send_command(
            alert=alert,
            session=session,
            action="RemoteStopTransaction",
            command=ocpp.RemoteStop(transaction_id=session.pk),
            actor=actor,
            kind=AlertEvent.Kind.STOP_REQUESTED,
            message=f"Reconciliation stop: {reason}",
            now=now,
        )


def _fleet_reconcile(
    *, network_id: int, config: AlertRuleConfig, now: datetime
) -> None:
    window_start = now - timedelta(hours=config.fleet_window_hours)
    totals = (
        ChargePoint.objects.filter(station__network_id=network_id)
        .values("vendor", "model", "firmware_version")
        .annotate(chargers=Count("pk"))
    )
    faulted = (
        Alert.objects.filter(
            network_id=network_id,
            rule=Rule.CONNECTOR_FAULTED,
            opened_at__gte=window_start,
            charge_point__isnull=False,
        )
        .values(
            "charge_point__vendor",
            "charge_point__model",
            "charge_point__firmware_version",
        )
        .annotate(faulted=Count("charge_point", distinct=True))
    )
    faulted_by_group = {
        (
            row["charge_point__vendor"],
            row["charge_point__model"],
            row["charge_point__firmware_version"],
        ): row["faulted"]
        for row in faulted
    }
    groups = [
        rules.FleetGroup(
            vendor=row["vendor"],
            model=row["model"],
            firmware_version=row["firmware_version"],
            chargers=row["chargers"],
            faulted=faulted_by_group.get(
                (row["vendor"], row["model"], row["firmware_version"]), 0
            ),
        )
        for row in totals
    ]
    _reconcile(
        rule_names=[Rule.FLEET_FAULT_RATE],
        scope=Q(network_id=network_id),
        findings=rules.fleet_findings(groups, network_id=network_id, config=config),
        now=now,
    )


# --- Sweeps -----------------------------------------------------------------------


def alerts_sweep(*, now: datetime | None = None) -> None:
    """Re-evaluate every rule for every network: the time-based safety net."""
    now = now or timezone.now()
    configs = _ConfigCache()
    network_ids: list[int | None] = list(
        ChargePoint.objects.filter(station__isnull=False)
        .values_list("station__network_id", flat=True)
        .distinct()
    )
    network_ids.append(None)
    for network_id in network_ids:
        config = configs[network_id]
        with transaction.atomic():
            _offline_reconcile(network_id=network_id, config=config, now=now)
            if network_id is not None:
                _fleet_reconcile(network_id=network_id, config=config, now=now)
    with transaction.atomic():
        _connectors_sweep(configs=configs, now=now)
    with transaction.atomic():
        sessions = list(
            ChargingSession.objects.filter(status=SessionStatus.ACTIVE).select_related(
                "charge_point__station", "connector"
            )
        )
        _sessions_reconcile(sessions, configs=configs, now=now, scope_keys=None)
        _meter_regression_reconcile(charge_point_ids=None, configs=configs, now=now)
    with transaction.atomic():
        booted = (
            ChargePoint.objects.select_related("station")
            .filter(
                Q(boot_records__booted_at__gte=now - timedelta(days=1))
                | Q(alerts__rule=Rule.BOOT_LOOP, alerts__resolved_at__isnull=True)
            )
            .distinct()
        )
        _boot_loop_reconcile(list(booted), configs=configs, now=now)
    with transaction.atomic():
        _certificates_reconcile(now=now)


def _certificates_reconcile(*, now: datetime) -> None:
    """Each charger's current certificate, alerted before it expires."""
    findings: list[Finding] = []
    seen: set[int] = set()
    installed = (
        ChargerCertificate.objects.filter(
            delivery=CertificateDelivery.INSTALLED,
            certificate_type="ChargingStationCertificate",
        )
        .select_related("charge_point__station")
        .order_by("charge_point_id", "-issued_at", "-pk")
    )
    for certificate in installed:
        if certificate.charge_point_id in seen:
            continue  # an older one, replaced by the charger's newer certificate
        seen.add(certificate.charge_point_id)
        finding = rules.certificate_expiring_finding(
            certificate.charge_point,
            serial_number=certificate.serial_number,
            not_after=certificate.not_after,
            now=now,
            alert_days=settings.OCPP_CHARGER_CERT_ALERT_DAYS,
        )
        if finding is not None:
            findings.append(finding)
    _reconcile(
        rule_names=[Rule.CERTIFICATE_EXPIRING],
        scope=Q(),
        findings=findings,
        now=now,
    )


def _connectors_sweep(*, configs: _ConfigCache, now: datetime) -> None:
    interesting = Q(status__in=[ConnectorStatus.FAULTED, ConnectorStatus.PREPARING])
    open_subjects = Alert.objects.filter(
        rule__in=[Rule.CONNECTOR_FAULTED, Rule.STUCK_PREPARING],
        resolved_at__isnull=True,
        subject_key__startswith="connector:",
    ).values_list("connector_id", flat=True)
    connectors = Connector.objects.select_related("charge_point__station").filter(
        interesting | Q(pk__in=list(open_subjects))
    )
    findings: list[Finding] = []
    for connector in connectors:
        station = connector.charge_point.station
        findings += rules.connector_findings(
            connector, config=configs[station.network_id if station else None], now=now
        )
    charge_points = (
        ChargePoint.objects.select_related("station")
        .filter(
            Q(status=ConnectorStatus.FAULTED)
            | Q(alerts__rule=Rule.CONNECTOR_FAULTED, alerts__resolved_at__isnull=True)
        )
        .distinct()
    )
    for cp in charge_points:
        findings += rules.charge_point_fault_findings(
            cp, config=configs[cp.station.network_id if cp.station else None]
        )
    _reconcile(
        rule_names=[Rule.CONNECTOR_FAULTED, Rule.STUCK_PREPARING],
        scope=Q(subject_key__startswith="connector:")
        | Q(subject_key__startswith="cp:"),
        findings=findings,
        now=now,
    )


def alerts_escalate(*, now: datetime | None = None) -> int:
    """Bump the severity of alerts left unacknowledged too long, and notify again."""
    now = now or timezone.now()
    configs = _ConfigCache()
    escalated = 0
    candidates = Alert.objects.filter(
        status=AlertStatus.OPEN,
        is_suppressed=False,
        escalation_level__lt=MAX_ESCALATIONS,
    )
    for alert in candidates:
        config = configs[alert.network_id]
        last = alert.escalated_at or alert.opened_at
        if now - last < timedelta(minutes=config.escalation_minutes):
            continue
        level = alert.escalation_level + 1
        severity = SEVERITY_ORDER[
            min(severity_rank(alert.severity) + 1, len(SEVERITY_ORDER) - 1)
        ]
        with transaction.atomic():
            # Claim the escalation step: a concurrent sweep or an acknowledgement wins.
            claimed = Alert.objects.filter(
                pk=alert.pk,
                status=AlertStatus.OPEN,
                escalation_level=alert.escalation_level,
            ).update(escalation_level=level, escalated_at=now, severity=severity)
            if not claimed:
                continue
            previous = alert.severity
            alert.escalation_level, alert.escalated_at, alert.severity = (
                level,
                now,
                severity,
            )
            _event(
                alert,
                AlertEvent.Kind.ESCALATED,
                now=now,
                message=(
                    f"Not acknowledged within {config.escalation_minutes} min: "
                    f"{previous} → {severity} (level {level})"
                ),
                data={"level": level, "from": previous, "to": severity},
            )
            _publish(alert)
            _notice_emit(alert, f"escalated:{level}")
            escalated += 1
    return escalated


# --- User actions -----------------------------------------------------------------


def alert_acknowledge(*, alert: Alert, user: User, note: str = "") -> bool:
    """Mark an open alert as being handled; False when it was not open anymore."""
    now = timezone.now()
    with transaction.atomic():
        updated = Alert.objects.filter(pk=alert.pk, status=AlertStatus.OPEN).update(
            status=AlertStatus.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=user
        )
        if not updated:
            return False
        alert.status, alert.acknowledged_at, alert.acknowledged_by = (
            AlertStatus.ACKNOWLEDGED,
            now,
            user,
        )
        _event(alert, AlertEvent.Kind.ACKNOWLEDGED, now=now, actor=user, message=note)
        audit_record(
            actor=user,
            action="alert.acknowledge",
            target=alert,
            network=alert.network,
            after={"status": alert.status},
            detail=note,
        )
        _publish(alert)
    return True


def alert_resolve(*, alert: Alert, user: User, note: str = "") -> bool:
    """Resolve by hand; if the condition persists a new alert opens later."""
    with transaction.atomic():
        done = _resolve(
            alert,
            now=timezone.now(),
            resolution=Alert.Resolution.MANUAL,
            actor=user,
            message=note or "Resolved by hand",
        )
        if done:
            audit_record(
                actor=user,
                action="alert.resolve",
                target=alert,
                network=alert.network,
                after={"status": alert.status},
                detail=note,
            )
    return done


# --- Rule configuration and webhooks --------------------------------------------------


def alert_config_update(
    *, network: Network | None, data: dict[str, Any], user: User
) -> AlertRuleConfig:
    """Store a network's rule thresholds (validated by the caller's form)."""
    with transaction.atomic():
        config, _created = AlertRuleConfig.objects.select_for_update().get_or_create(
            network=network
        )
        before = model_snapshot(config)
        for name, value in data.items():
            setattr(config, name, value)
        config.updated_by = user
        config.full_clean()
        config.save()
        audit_record(
            actor=user,
            action="alert_rules.update",
            target=config,
            network=network,
            before=before,
            after=model_snapshot(config),
        )
    return config


def webhook_endpoint_save(*, endpoint: WebhookEndpoint, user: User) -> WebhookEndpoint:
    """Create or change a webhook endpoint (the secret never goes to the audit log)."""
    with transaction.atomic():
        before = None
        if endpoint.pk:
            previous = WebhookEndpoint.objects.filter(pk=endpoint.pk).first()
            before = model_snapshot(previous, exclude=("secret",)) if previous else None
        endpoint.full_clean()
        endpoint.save()
        audit_record(
            actor=user,
            action="webhook_endpoint.update" if before else "webhook_endpoint.create",
            target=endpoint,
            network=endpoint.network,
            before=before,
            after=model_snapshot(endpoint, exclude=("secret",)),
        )
    return endpoint


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, user: User) -> None:
    with transaction.atomic():
        audit_record(
            actor=user,
            action="webhook_endpoint.delete",
            target=endpoint,
            network=endpoint.network,
            before=model_snapshot(endpoint, exclude=("secret",)),
        )
        endpoint.delete()


# --- Maintenance tickets ------------------------------------------------------------


def ticket_create(
    *,
    charge_point: ChargePoint,
    title: str,
    description: str = "",
    assignee: User | None = None,
    due_at: datetime | None = None,
    resolve_alerts_on_close: bool = True,
    alerts: Iterable[Alert] = (),
    user: User,
) -> MaintenanceTicket:
    """Open a ticket on a charger, linked to the alerts it was created from."""
    now = timezone.now()
    with transaction.atomic():
        ticket = MaintenanceTicket.objects.create(
            network_id=charge_point.station.network_id
            if charge_point.station
            else None,
            charge_point=charge_point,
            title=title,
            description=description,
            assignee=assignee,
            due_at=due_at,
            resolve_alerts_on_close=resolve_alerts_on_close,
            created_by=user,
        )
        linked = list(alerts)
        ticket.alerts.set(linked)
        for alert in linked:
            _event(
                alert,
                AlertEvent.Kind.TICKET,
                now=now,
                actor=user,
                message=f"Ticket #{ticket.pk}: {title}",
                data={"ticket_id": ticket.pk},
            )
        audit_record(
            actor=user,
            action="ticket.create",
            target=ticket,
            network=ticket.network,
            after=model_snapshot(ticket),
        )
    return ticket


def ticket_update(
    *, ticket: MaintenanceTicket, data: dict[str, Any], user: User
) -> MaintenanceTicket:
    """Change a ticket; moving it to done closes it and can resolve its alerts."""
    now = timezone.now()
    with transaction.atomic():
        locked = MaintenanceTicket.objects.select_for_update().get(pk=ticket.pk)
        before = model_snapshot(locked)
        was_done = locked.status == TicketStatus.DONE
        for name, value in data.items():
            setattr(locked, name, value)
        is_done = locked.status == TicketStatus.DONE
        if is_done and not was_done:
            locked.closed_at = now
        elif not is_done:
            locked.closed_at = None
        locked.save()
        if is_done and not was_done and locked.resolve_alerts_on_close:
            for alert in locked.alerts.filter(resolved_at__isnull=True):
                _resolve(
                    alert,
                    now=now,
                    resolution=Alert.Resolution.TICKET,
                    actor=user,
                    message=f"Ticket #{locked.pk} done",
                )
        audit_record(
            actor=user,
            action="ticket.update",
            target=locked,
            network=locked.network,
            before=before,
            after=model_snapshot(locked),
        )
    return locked


def ticket_note_add(*, ticket: MaintenanceTicket, body: str, user: User) -> TicketNote:
    with transaction.atomic():
        note = TicketNote.objects.create(ticket=ticket, body=body, author=user)
        MaintenanceTicket.objects.filter(pk=ticket.pk).update(updated_at=timezone.now())
    return note


def uptime_alerts_sweep(*, now: datetime | None = None) -> int:
    """Raise (and resolve) the ports trending below the uptime target this month.

    Reads each port's month so far from its status and connection history
    (``stations.reliability``); run every ``ALERT_UPTIME_SWEEP_SECONDS``, not in
    the 30-second sweep. Returns the findings.
    """
    now = now or timezone.now()
    configs = _ConfigCache()
    found = 0
    stations = Station.objects.select_related("network").order_by("network_id")
    by_network: dict[int, list[Station]] = defaultdict(list)
    for station in stations:
        by_network[station.network_id].append(station)
    for network_id, members in by_network.items():
        config = configs[network_id]
        findings: list[Finding] = []
        if config.uptime_target_enabled:
            zones: dict[str, list[Station]] = defaultdict(list)
            for station in members:
                zones[station.time_zone or "UTC"].append(station)
            for zone, zone_stations in zones.items():
                connectors = list(
                    Connector.objects.filter(
                        charge_point__station__in=zone_stations
                    ).select_related("charge_point")
                )
                for pk, month in month_to_date_uptimes(
                    connectors=connectors, zone=zone, now=now
                ).items():
                    connector = next(c for c in connectors if c.pk == pk)
                    uptime = month.uptime
                    finding = rules.uptime_finding(
                        rules.PortMonth(
                            connector_id=pk,
                            charge_point_id=connector.charge_point_id,
                            port=port_id(connector),
                            station_id=connector.charge_point.station_id,
                            network_id=network_id,
                            month=f"{month.month:%Y-%m}",
                            uptime_pct=uptime.uptime_pct,
                            elapsed_s=uptime.period_us / 1e6,
                            down_s=(uptime.outage_us - uptime.excluded_us) / 1e6,
                            month_s=(month.month_end_us - uptime.period_start_us) / 1e6,
                        ),
                        config=config,
                    )
                    if finding is not None:
                        findings.append(finding)
        with transaction.atomic():
            _reconcile(
                rule_names=[Rule.UPTIME_BELOW_TARGET],
                scope=Q(network_id=network_id),
                findings=findings,
                now=now,
            )
        found += len(findings)
    return found
