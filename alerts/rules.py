"""The alert rules: pure reads that turn current state into findings.

A rule evaluator looks at the state of the charging network and returns the
conditions that hold *now* as ``Finding`` objects. ``alerts.services`` compares
them with the open alerts and opens, updates or resolves alerts; nothing here
writes. Contexts hold only values that do not change while a condition lasts
(no "silent for N minutes"), so repeated sweeps do not rewrite alerts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypedDict

from alerts.models import DEFAULT_SEVERITY, AlertRuleConfig, Rule
from sessions_app.models import ChargingSession
from stations.models import ChargePoint, Connector, ConnectorStatus

FIRMWARE_FAILED_STATUSES = frozenset({"DownloadFailed", "InstallationFailed"})
FIRMWARE_OK_STATUSES = frozenset({"Installed", "Downloaded", "Installing", "Idle"})


def connector_key(pk: int) -> str:
    return f"connector:{pk}"


def charge_point_key(pk: int) -> str:
    return f"cp:{pk}"


def session_key(pk: int) -> str:
    return f"session:{pk}"


def station_key(pk: int) -> str:
    return f"station:{pk}"


def network_key(pk: int) -> str:
    return f"network:{pk}"


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True)
class Finding:
    """A condition that holds now for one subject."""

    rule: str
    subject_key: str
    title: str
    detail: str = ""
    context: dict[str, Any] = field(default_factory=dict)
    network_id: int | None = None
    station_id: int | None = None
    charge_point_id: int | None = None
    connector_id: int | None = None
    session_id: int | None = None
    severity: str = ""
    parent: tuple[str, str] | None = None

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule, self.subject_key)

    @property
    def effective_severity(self) -> str:
        return self.severity or DEFAULT_SEVERITY[self.rule]


class ChargerPlace(TypedDict):
    """Where a charger sits, spread into ``Finding(**_where(...))``.

    A TypedDict so the type checker knows which keyword each key fills.
    """

    network_id: int | None
    station_id: int | None
    charge_point_id: int


def _where(charge_point: ChargePoint) -> ChargerPlace:
    station = charge_point.station
    return {
        "network_id": station.network_id if station is not None else None,
        "station_id": charge_point.station_id,
        "charge_point_id": charge_point.pk,
    }


def _place(charge_point: ChargePoint) -> str:
    station = charge_point.station
    return (
        f"{charge_point.ocpp_id} at {station.name}" if station else charge_point.ocpp_id
    )


# --- Connectors -----------------------------------------------------------------


def connector_findings(
    connector: Connector, *, config: AlertRuleConfig, now: datetime
) -> list[Finding]:
    """Faulted and stuck-in-Preparing for one connector (charge point loaded)."""
    charge_point = connector.charge_point
    findings: list[Finding] = []
    if connector.status == ConnectorStatus.FAULTED and config.connector_faulted_enabled:
        findings.append(
            Finding(
                rule=Rule.CONNECTOR_FAULTED,
                subject_key=connector_key(connector.pk),
                title=(
                    f"{charge_point.ocpp_id} connector {connector.connector_id} "
                    f"faulted: {connector.error_code or 'no error code'}"
                ),
                detail=(
                    f"{_place(charge_point)} reports connector "
                    f"{connector.connector_id} Faulted.\n"
                    f"Error code: {connector.error_code or '-'}\n"
                    f"Vendor error code: {connector.vendor_error_code or '-'}\n"
                    f"Vendor: {connector.vendor_id or '-'}\n"
                    f"Info: {connector.info or '-'}"
                ),
                context={
                    "connector_number": connector.connector_id,
                    "error_code": connector.error_code,
                    "vendor_error_code": connector.vendor_error_code,
                    "vendor_id": connector.vendor_id,
                    "info": connector.info,
                    "status_at": iso(connector.status_at),
                },
                connector_id=connector.pk,
                **_where(charge_point),
            )
        )
    preparing_since = connector.status_received_at or connector.status_at
    if (
        connector.status == ConnectorStatus.PREPARING
        and config.stuck_preparing_enabled
        and preparing_since is not None
        and now - preparing_since >= timedelta(minutes=config.stuck_preparing_minutes)
    ):
        findings.append(
            Finding(
                rule=Rule.STUCK_PREPARING,
                subject_key=connector_key(connector.pk),
                title=(
                    f"{charge_point.ocpp_id} connector {connector.connector_id} "
                    f"stuck in Preparing"
                ),
                detail=(
                    f"{_place(charge_point)}: connector {connector.connector_id} has been "
                    f"Preparing since {preparing_since:%Y-%m-%d %H:%M} UTC without a "
                    f"transaction starting (limit {config.stuck_preparing_minutes} min). "
                    "Check the cable lock and the authorization path."
                ),
                context={
                    "connector_number": connector.connector_id,
                    "preparing_since": iso(preparing_since),
                },
                connector_id=connector.pk,
                **_where(charge_point),
            )
        )
    return findings


def charge_point_fault_findings(
    charge_point: ChargePoint, *, config: AlertRuleConfig
) -> list[Finding]:
    """Connector 0 (the whole charger) reported Faulted, OCPP 1.6 §4.9."""
    if charge_point.status != ConnectorStatus.FAULTED or not (
        config.connector_faulted_enabled
    ):
        return []
    return [
        Finding(
            rule=Rule.CONNECTOR_FAULTED,
            subject_key=charge_point_key(charge_point.pk),
            title=(
                f"{charge_point.ocpp_id} faulted: "
                f"{charge_point.error_code or 'no error code'}"
            ),
            detail=(
                f"{_place(charge_point)} reports the whole charger (connector 0) Faulted.\n"
                f"Error code: {charge_point.error_code or '-'}\n"
                f"Vendor error code: {getattr(charge_point, 'vendor_error_code', '') or '-'}\n"
                f"Info: {getattr(charge_point, 'status_info', '') or '-'}"
            ),
            context={
                "connector_number": 0,
                "error_code": charge_point.error_code,
                "vendor_error_code": getattr(charge_point, "vendor_error_code", ""),
                "info": getattr(charge_point, "status_info", ""),
                "status_at": iso(charge_point.status_at),
            },
            **_where(charge_point),
        )
    ]


# --- Offline --------------------------------------------------------------------


def offline_since(
    charge_point: ChargePoint, *, grace_s: int, now: datetime
) -> datetime | None:
    """When the charger went offline, or None while it is online (or never seen).

    Offline means: socket closed and not back within the grace, or connected but
    silent past heartbeat interval × 2 + grace (a half-open TCP connection).
    """
    if charge_point.last_seen_at is None and charge_point.connected_at is None:
        return None  # never connected: commissioning, not an outage
    grace = timedelta(seconds=grace_s)
    if not charge_point.is_connected:
        since = charge_point.disconnected_at or charge_point.last_seen_at
        if since is None or now - since >= grace:
            return since or charge_point.connected_at
        return None
    last = charge_point.last_seen_at or charge_point.connected_at
    allowed = timedelta(seconds=2 * charge_point.heartbeat_interval_s) + grace
    if last is not None and now - last >= allowed:
        return last
    return None


def was_ever_seen(charge_point: ChargePoint) -> bool:
    return (
        charge_point.last_seen_at is not None or charge_point.connected_at is not None
    )


def charger_offline_finding(
    charge_point: ChargePoint, *, since: datetime, parent: tuple[str, str] | None
) -> Finding:
    how = (
        "connection closed and not back"
        if not charge_point.is_connected
        else f"connected but silent past 2 × {charge_point.heartbeat_interval_s} s heartbeat"
    )
    return Finding(
        rule=Rule.CHARGER_OFFLINE,
        subject_key=charge_point_key(charge_point.pk),
        title=f"{charge_point.ocpp_id} offline",
        detail=f"{_place(charge_point)} is offline since {since:%Y-%m-%d %H:%M:%S} UTC ({how}).",
        context={
            "offline_since": iso(since),
            "socket_closed": not charge_point.is_connected,
        },
        parent=parent,
        **_where(charge_point),
    )


# --- Sessions -------------------------------------------------------------------


def low_power_observed(
    session: ChargingSession, connector: Connector | None, *, config: AlertRuleConfig
) -> bool:
    """Charging, drawing power, but less than the threshold (a soft fault)."""
    return bool(
        config.low_power_enabled
        and session.status == "active"
        and connector is not None
        and connector.status == ConnectorStatus.CHARGING
        and session.power_w is not None
        and session.power_w < config.low_power_threshold_w
    )


def energy_observable(
    session: ChargingSession, connector: Connector | None, *, config: AlertRuleConfig
) -> bool:
    """The register should rise: an open session on a connector that is Charging."""
    return bool(
        config.energy_stalled_enabled
        and session.status == "active"
        and connector is not None
        and connector.status == ConnectorStatus.CHARGING
        and session.meter_last_wh is not None
    )


def low_power_finding(
    session: ChargingSession, *, config: AlertRuleConfig, since: datetime
) -> Finding:
    charge_point = session.charge_point
    return Finding(
        rule=Rule.LOW_POWER,
        subject_key=session_key(session.pk),
        title=(
            f"{charge_point.ocpp_id} connector {session.connector_number} charging "
            f"below {config.low_power_threshold_w / 1000:g} kW"
        ),
        detail=(
            f"Session {session.pk} on {_place(charge_point)} is Charging but delivers "
            f"less than {config.low_power_threshold_w} W since "
            f"{since:%Y-%m-%d %H:%M} UTC (limit {config.low_power_minutes} min)."
        ),
        context={
            "threshold_w": config.low_power_threshold_w,
            "since": iso(since),
            "connector_number": session.connector_number,
        },
        connector_id=session.connector_id,
        session_id=session.pk,
        **_where(charge_point),
    )


def energy_stalled_finding(
    session: ChargingSession, *, config: AlertRuleConfig, since: datetime, value_wh: int
) -> Finding:
    charge_point = session.charge_point
    return Finding(
        rule=Rule.ENERGY_STALLED,
        subject_key=session_key(session.pk),
        title=(
            f"{charge_point.ocpp_id} connector {session.connector_number}: "
            "energy register not rising"
        ),
        detail=(
            f"Session {session.pk} on {_place(charge_point)} is Charging but the "
            f"energy register has stayed at {value_wh} Wh since "
            f"{since:%Y-%m-%d %H:%M} UTC (limit {config.energy_stalled_minutes} min)."
        ),
        context={
            "register_wh": value_wh,
            "since": iso(since),
            "connector_number": session.connector_number,
        },
        connector_id=session.connector_id,
        session_id=session.pk,
        **_where(charge_point),
    )


def zombie_finding(
    session: ChargingSession, *, config: AlertRuleConfig, now: datetime
) -> Finding | None:
    """Open too long or without meter values for too long."""
    if not config.zombie_enabled or session.status != "active":
        return None
    too_long = now - session.started_at >= timedelta(hours=config.zombie_max_hours)
    last_heard = session.last_meter_at or session.started_at
    silent = now - last_heard >= timedelta(minutes=config.zombie_silent_minutes)
    if not (too_long or silent):
        return None
    reasons = []
    if too_long:
        reasons.append(f"open longer than {config.zombie_max_hours} h")
    if silent:
        reasons.append(f"no meter values for {config.zombie_silent_minutes} min")
    charge_point = session.charge_point
    return Finding(
        rule=Rule.ZOMBIE_SESSION,
        subject_key=session_key(session.pk),
        title=f"Zombie session {session.pk} on {charge_point.ocpp_id}",
        detail=(
            f"Session {session.pk} on {_place(charge_point)} connector "
            f"{session.connector_number} is {' and '.join(reasons)} "
            f"(started {session.started_at:%Y-%m-%d %H:%M} UTC, last meter value "
            f"{iso(session.last_meter_at) or 'never'}).\n"
            "Suggested: send TriggerMessage(MeterValues) as a probe; if the charger "
            "does not answer with meter values, stop the transaction remotely "
            "(reconciliation stop) and check the session's energy before billing."
        ),
        context={
            "too_long": too_long,
            "silent": silent,
            "started_at": iso(session.started_at),
            "last_meter_at": iso(session.last_meter_at),
            "connector_number": session.connector_number,
            "suggestion": "TriggerMessage(MeterValues) probe, then RemoteStopTransaction",
        },
        connector_id=session.connector_id,
        session_id=session.pk,
        **_where(charge_point),
    )


def meter_regression_finding(
    session: ChargingSession, *, config: AlertRuleConfig
) -> Finding | None:
    """The charger's latest session saw its energy register go backwards."""
    if not config.meter_regression_enabled or not session.has_register_regression:
        return None
    charge_point = session.charge_point
    return Finding(
        rule=Rule.METER_REGRESSION,
        subject_key=charge_point_key(charge_point.pk),
        title=f"{charge_point.ocpp_id}: meter register going backwards",
        detail=(
            f"Session {session.pk} on {_place(charge_point)} connector "
            f"{session.connector_number} reported an energy register lower than an "
            "earlier reading. Its energy cannot be trusted for billing; check the "
            "meter. Resolves when a later session meters normally."
        ),
        context={"session_id": session.pk, "meter_start_wh": session.meter_start_wh},
        connector_id=session.connector_id,
        session_id=session.pk,
        **_where(charge_point),
    )


# --- Boots, firmware, fleet -----------------------------------------------------


def boot_loop_finding(
    charge_point: ChargePoint,
    *,
    config: AlertRuleConfig,
    boots: int,
    is_open: bool,
) -> Finding | None:
    """More than K boots in M minutes; once open it holds until boots calm down.

    The hysteresis (clear at one boot or fewer in the window) keeps a charger that
    hovers around K from opening and resolving an alert on every boot.
    """
    if not config.boot_loop_enabled:
        return None
    if boots > config.boot_loop_count or (is_open and boots > 1):
        return Finding(
            rule=Rule.BOOT_LOOP,
            subject_key=charge_point_key(charge_point.pk),
            title=f"{charge_point.ocpp_id} boot loop",
            detail=(
                f"{_place(charge_point)} sent more than {config.boot_loop_count} "
                f"BootNotifications within {config.boot_loop_minutes} min. "
                f"Firmware {charge_point.firmware_version or 'unknown'}."
            ),
            context={
                "limit": config.boot_loop_count,
                "window_minutes": config.boot_loop_minutes,
                "firmware_version": charge_point.firmware_version,
            },
            **_where(charge_point),
        )
    return None


def firmware_failed_finding(charge_point: ChargePoint, *, status: str) -> Finding:
    return Finding(
        rule=Rule.FIRMWARE_FAILED,
        subject_key=charge_point_key(charge_point.pk),
        title=f"{charge_point.ocpp_id} firmware update failed: {status}",
        detail=(
            f"{_place(charge_point)} reported FirmwareStatusNotification {status}. "
            f"Running firmware: {charge_point.firmware_version or 'unknown'}."
        ),
        context={"status": status, "firmware_version": charge_point.firmware_version},
        **_where(charge_point),
    )


# The security events marked critical in the list of the 1.6 security
# whitepaper (A04) and OCPP 2.0.1 Part 2 Appendix "Security events"; the two
# lists name the same events (2.0.1 says Csms/ChargingStation where 1.6 says
# CentralSystem/ChargePoint, which only non-critical ones carry).
CRITICAL_SECURITY_EVENTS = frozenset(
    {
        "FirmwareUpdated",
        "SettingSystemTime",
        "StartupOfTheDevice",
        "ResetOrReboot",
        "SecurityLogWasCleared",
        "MemoryExhaustion",
        "TamperDetectionActivated",
        "MaintenanceLoginAccepted",
        "MaintenanceLoginFailed",
    }
)


def security_event_finding(
    charge_point: ChargePoint, *, event_type: str, occurred_at: str, tech_info: str
) -> Finding | None:
    """A critical security event is an alert per charger and event type."""
    if event_type not in CRITICAL_SECURITY_EVENTS:
        return None
    return Finding(
        rule=Rule.SECURITY_EVENT,
        subject_key=f"{charge_point_key(charge_point.pk)}:security:{event_type}",
        title=f"{charge_point.ocpp_id} security event: {event_type}",
        detail=(
            f"{_place(charge_point)} reported the critical security event "
            f"{event_type} at {occurred_at}."
            + (f" Charger's detail: {tech_info}" if tech_info else "")
        ),
        context={
            "event_type": event_type,
            "occurred_at": occurred_at,
            "tech_info": tech_info,
        },
        **_where(charge_point),
    )


def certificate_expiring_finding(
    charge_point: ChargePoint,
    *,
    serial_number: str,
    not_after: datetime,
    now: datetime,
    alert_days: int,
) -> Finding | None:
    """The charger's current certificate (profile 3) expires within ``alert_days``.

    A renewed certificate (the charger's next SignCertificate, installed)
    replaces it as the current one and the alert resolves.
    """
    if not_after - now > timedelta(days=alert_days):
        return None
    left = not_after - now
    when = (
        "expired"
        if left.total_seconds() <= 0
        else f"expires in {max(0, left.days)} days"
    )
    return Finding(
        rule=Rule.CERTIFICATE_EXPIRING,
        subject_key=charge_point_key(charge_point.pk),
        title=f"{charge_point.ocpp_id}: client certificate {when}",
        detail=(
            f"{_place(charge_point)}: certificate {serial_number} is valid until "
            f"{not_after:%Y-%m-%d %H:%M} UTC. The charger renews it with "
            "SignCertificate (trigger it with ExtendedTriggerMessage / "
            "TriggerMessage SignChargingStationCertificate)."
        ),
        context={"serial_number": serial_number, "not_after": iso(not_after)},
        **_where(charge_point),
    )


@dataclass(frozen=True)
class FleetGroup:
    vendor: str
    model: str
    firmware_version: str
    chargers: int
    faulted: int

    @property
    def rate_percent(self) -> float:
        return 100.0 * self.faulted / self.chargers if self.chargers else 0.0


def fleet_findings(
    groups: Iterable[FleetGroup], *, network_id: int, config: AlertRuleConfig
) -> list[Finding]:
    if not config.fleet_fault_rate_enabled:
        return []
    findings = []
    for group in groups:
        if (
            group.chargers < config.fleet_min_chargers
            or group.rate_percent < config.fleet_fault_rate_percent
        ):
            continue
        label = (
            f"{group.vendor or '?'} {group.model or '?'} "
            f"firmware {group.firmware_version or '?'}"
        )
        findings.append(
            Finding(
                rule=Rule.FLEET_FAULT_RATE,
                subject_key=(
                    f"fleet:{network_id}:{group.vendor}:{group.model}:"
                    f"{group.firmware_version}"
                )[:120],
                title=f"High fault rate: {label}",
                detail=(
                    f"{group.faulted} of {group.chargers} chargers "
                    f"({group.rate_percent:.0f} %) of {label} faulted within "
                    f"{config.fleet_window_hours} h (threshold "
                    f"{config.fleet_fault_rate_percent} %). Suspect the model or "
                    "firmware, not the sites."
                ),
                context={
                    "vendor": group.vendor,
                    "model": group.model,
                    "firmware_version": group.firmware_version,
                    "threshold_percent": config.fleet_fault_rate_percent,
                },
                network_id=network_id,
            )
        )
    return findings


@dataclass(frozen=True)
class PortMonth:
    """A port's uptime so far this month (``stations.reliability``), for the rule."""

    connector_id: int
    charge_point_id: int
    port: str
    station_id: int | None
    network_id: int | None
    month: str
    uptime_pct: Decimal | None
    elapsed_s: float
    down_s: float
    month_s: float


UPTIME_MIN_ELAPSED_S = 86_400


def uptime_finding(port: PortMonth, *, config: AlertRuleConfig) -> Finding | None:
    """A port trending below the uptime target this month, before the month ends.

    Trending: the uptime so far (23 CFR 680.116(b)(2), exclusions applied) is
    below the target once a day of the month has passed (one early outage is no
    trend). Already lost: the outage time not excluded exceeds what the target
    allows for the whole month, whatever the rest of the month brings.
    """
    if not config.uptime_target_enabled or port.uptime_pct is None:
        return None
    target = config.uptime_target_percent
    budget_s = float((100 - target) / 100) * port.month_s
    is_lost = port.down_s > budget_s
    is_trending = port.uptime_pct < target and port.elapsed_s >= UPTIME_MIN_ELAPSED_S
    if not (is_lost or is_trending):
        return None
    left_min = max(0.0, (budget_s - port.down_s) / 60)
    detail = (
        f"Uptime {port.uptime_pct} % so far in {port.month} (target {target} %): "
        f"{port.down_s / 60:.0f} min of outage not excluded; "
        + (
            "the month can no longer reach the target."
            if is_lost
            else f"{left_min:.0f} min of outage left before the month misses it."
        )
    )
    return Finding(
        rule=Rule.UPTIME_BELOW_TARGET,
        subject_key=f"connector:{port.connector_id}:uptime:{port.month}",
        title=f"Port {port.port} uptime {port.uptime_pct} % this month",
        detail=detail,
        context={
            "month": port.month,
            "uptime_pct": str(port.uptime_pct),
            "target_pct": str(target),
            "outage_minutes": round(port.down_s / 60, 2),
            "is_lost": is_lost,
        },
        network_id=port.network_id,
        station_id=port.station_id,
        charge_point_id=port.charge_point_id,
        connector_id=port.connector_id,
    )
