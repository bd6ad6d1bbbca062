"""Charger-side domain services: connections, boot, status, firmware, sweeps.

Called by the OCPP gateway (one call per message, or one per batch) and by
tasks. Each owns its transaction and announces its changes with
``cms.events.emit``; where they are delivered is the event path's business.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from cms.db import update_rows
from cms.events import (
    ChargerBooted,
    ChargerConnectionChanged,
    ChargerReportQuarantined,
    ConnectorStatusChanged,
    DiagnosticsStatusChanged,
    FirmwareStatusChanged,
    emit,
)
from stations import facts
from stations.fleet.quirkcounts import QuirkKind, quirk_count
from stations.live import bus as livebus
from stations.live.events import groups_for
from stations.models import (
    ChargePoint,
    ConfigurationKey,
    ConnectionAttempt,
    ConnectionEvent,
    Connector,
    DataTransferMessage,
    DeviceVariable,
    OcppMessage,
    PasswordRotation,
    RegistrationStatus,
    RotationStatus,
    StatusChange,
)

logger = logging.getLogger(__name__)

# The gateway's runtime types the live events a unit of work collected with this.
LiveEvent = livebus.LiveEvent


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def charge_point_groups(charge_point: ChargePoint) -> list[str]:
    station = charge_point.station
    return groups_for(
        network_id=station.network_id if station is not None else None,
        station_id=charge_point.station_id,
        charge_point_pk=charge_point.pk,
    )


def _charger_fields(charge_point: ChargePoint) -> dict[str, Any]:
    station = charge_point.station
    return {
        "charge_point_pk": charge_point.pk,
        "ocpp_id": charge_point.ocpp_id,
        "station_id": charge_point.station_id,
        "network_id": station.network_id if station is not None else None,
    }


def _connection_event(charge_point: ChargePoint) -> None:
    emit(
        ChargerConnectionChanged(
            **_charger_fields(charge_point),
            is_connected=charge_point.is_connected,
            is_online=charge_point.is_online,
            at=_iso(timezone.now()),
        ),
        live_groups=charge_point_groups(charge_point),
    )


def _locked_charge_point(charge_point_id: int) -> ChargePoint:
    return (
        ChargePoint.objects.select_for_update(of=("self",))
        .select_related("station")
        .get(pk=charge_point_id)
    )


def _locked_connector(
    charge_point_id: int, connector_number: int
) -> QuerySet[Connector]:
    return (
        Connector.objects.select_for_update(of=("self",))
        .select_related("charge_point__station")
        .filter(charge_point_id=charge_point_id, connector_id=connector_number)
    )


# --- connections ---------------------------------------------------------------


@dataclass(frozen=True)
class ChargePointCredentials:
    pk: int
    password_hash: str
    registration_status: str
    ocpp_protocol_max: str
    max_frame_bytes: int | None = None
    last_boot_at: datetime | None = None
    security_profile: int = 1
    # A password rotation awaiting the charger: its new password counts too.
    rotating_to_hash: str = ""

    @property
    def was_accepted(self) -> bool:
        """Booted before and accepted now: may reconnect without a boot (1.6 §4.2)."""
        return (
            self.last_boot_at is not None
            and self.registration_status == RegistrationStatus.ACCEPTED
        )


@dataclass(frozen=True)
class ConnectionOpened:
    charge_point_id: int
    registration_status: str
    is_new: bool
    # The channel of another connection that was live (on any process) with this
    # identity: it must be told to close. Empty when there was none.
    replaced_channel: str = ""


def charge_point_credentials(*, ocpp_id: str) -> ChargePointCredentials | None:
    pending_rotation = PasswordRotation.objects.filter(
        charge_point=OuterRef("pk"), status=RotationStatus.PENDING
    ).values("new_password_hash")[:1]
    row = (
        ChargePoint.objects.filter(ocpp_id=ocpp_id)
        .annotate(rotating_to_hash=Subquery(pending_rotation))
        .values_list(
            "pk",
            "password_hash",
            "registration_status",
            "ocpp_protocol_max",
            "max_frame_bytes",
            "last_boot_at",
            "security_profile",
            "rotating_to_hash",
        )
        .first()
    )
    if row is None:
        return None
    return ChargePointCredentials(*row[:-1], rotating_to_hash=row[-1] or "")


def charge_point_strict_payloads(*, charge_point_id: int) -> bool:
    """Whether this charger's odd meter-value labels refuse the whole frame."""
    return bool(
        ChargePoint.objects.filter(pk=charge_point_id)
        .values_list("strict_payloads", flat=True)
        .first()
    )


@transaction.atomic
def charge_point_connection_open(
    *,
    ocpp_id: str,
    channel_name: str,
    remote_address: str,
    unknown_policy: str,
    at: datetime,
    ocpp_protocol: str = "ocpp1.6",
) -> ConnectionOpened | None:
    """Record a new live connection; create an unknown charger per the policy.

    Returns None when the charger is unknown and the policy is ``reject``.
    """
    charge_point = (
        ChargePoint.objects.select_for_update(of=("self",))
        .select_related("station")
        .filter(ocpp_id=ocpp_id)
        .first()
    )
    is_new = False
    if charge_point is None:
        if unknown_policy == "reject":
            return None
        charge_point, is_new = ChargePoint.objects.get_or_create(
            ocpp_id=ocpp_id,
            defaults={
                "registration_status": RegistrationStatus.ACCEPTED
                if unknown_policy == "accept"
                else RegistrationStatus.PENDING,
                "heartbeat_interval_s": settings.OCPP_HEARTBEAT_INTERVAL,
            },
        )
        if is_new:
            logger.info(
                "unknown charger %s registered as %s",
                ocpp_id,
                charge_point.registration_status,
            )
    replaced_channel = (
        charge_point.connection_channel if charge_point.is_connected else ""
    )
    if replaced_channel:
        ConnectionEvent.objects.create(
            charge_point=charge_point,
            kind=ConnectionEvent.Kind.TAKEN_OVER,
            at=at,
            detail="A new connection with the same identity replaced this one.",
        )
    charge_point.ocpp_protocol = ocpp_protocol
    charge_point.connection_channel = channel_name
    charge_point.is_connected = True
    charge_point.is_online = True
    charge_point.connected_at = at
    charge_point.last_seen_at = at
    charge_point.save(update_fields=_CONNECTION_FIELDS)
    ConnectionEvent.objects.create(
        charge_point=charge_point,
        kind=ConnectionEvent.Kind.CONNECTED,
        at=at,
        remote_address=remote_address[:64],
        detail="Registered on first connection." if is_new else "",
    )
    _connection_event(charge_point)
    return ConnectionOpened(
        charge_point.pk, charge_point.registration_status, is_new, replaced_channel
    )


@dataclass(frozen=True)
class ConnectionRequest:
    """A charger's WebSocket handshake, authenticated, to be recorded."""

    ocpp_id: str
    channel_name: str
    remote_address: str
    unknown_policy: str
    at: datetime
    # The negotiated subprotocol: which version adapter speaks to the charger.
    ocpp_protocol: str = "ocpp1.6"


_CONNECTION_FIELDS = [
    "ocpp_protocol",
    "connection_channel",
    "is_connected",
    "is_online",
    "connected_at",
    "last_seen_at",
]


@transaction.atomic
def charge_point_connections_open(
    *, items: list[ConnectionRequest]
) -> list[ConnectionOpened | None]:
    """``charge_point_connection_open`` for many handshakes in one transaction.

    A reconnect storm (every charger after a restart) costs a constant number
    of statements per batch: the chargers read under row lock in primary-key
    order, one UPDATE, one INSERT of their history. Unknown identities take the
    single path (registration is rare and per policy).
    """
    known = {
        charge_point.ocpp_id: charge_point
        for charge_point in ChargePoint.objects.select_for_update(of=("self",))
        .select_related("station")
        .filter(ocpp_id__in={item.ocpp_id for item in items})
        .order_by("pk")
    }
    results: list[ConnectionOpened | None] = []
    history: list[ConnectionEvent] = []
    opened: dict[int, ChargePoint] = {}
    for item in items:
        charge_point = known.get(item.ocpp_id)
        if charge_point is None:
            results.append(
                charge_point_connection_open(
                    ocpp_id=item.ocpp_id,
                    channel_name=item.channel_name,
                    remote_address=item.remote_address,
                    unknown_policy=item.unknown_policy,
                    at=item.at,
                    ocpp_protocol=item.ocpp_protocol,
                )
            )
            continue
        replaced_channel = (
            charge_point.connection_channel if charge_point.is_connected else ""
        )
        if replaced_channel:
            history.append(
                ConnectionEvent(
                    charge_point=charge_point,
                    kind=ConnectionEvent.Kind.TAKEN_OVER,
                    at=item.at,
                    detail="A new connection with the same identity replaced this one.",
                )
            )
        charge_point.ocpp_protocol = item.ocpp_protocol
        charge_point.connection_channel = item.channel_name
        charge_point.is_connected = True
        charge_point.is_online = True
        charge_point.connected_at = item.at
        charge_point.last_seen_at = item.at
        history.append(
            ConnectionEvent(
                charge_point=charge_point,
                kind=ConnectionEvent.Kind.CONNECTED,
                at=item.at,
                remote_address=item.remote_address[:64],
            )
        )
        opened[charge_point.pk] = charge_point
        results.append(
            ConnectionOpened(
                charge_point.pk,
                charge_point.registration_status,
                False,
                replaced_channel,
            )
        )
    update_rows(ChargePoint, list(opened.values()), _CONNECTION_FIELDS)
    ConnectionEvent.objects.bulk_create(history)
    for charge_point in opened.values():
        _connection_event(charge_point)
    return results


def charge_point_connection_refused(
    *, ocpp_id: str, reason: str, remote_address: str, at: datetime
) -> None:
    """Keep a refused handshake of a known charger in its connection history."""
    charge_point = ChargePoint.objects.filter(ocpp_id=ocpp_id).first()
    if charge_point is not None:
        ConnectionEvent.objects.create(
            charge_point=charge_point,
            kind=ConnectionEvent.Kind.REJECTED,
            at=at,
            detail=reason[:255],
            remote_address=remote_address[:64],
        )


@dataclass(frozen=True)
class RefusedAttempts:
    """Refused handshakes of one (id as offered, address, reason) within a window."""

    ocpp_id: str
    remote_address: str
    reason: str
    window_start: datetime
    count: int
    first_seen_at: datetime
    last_seen_at: datetime
    detail: str = ""
    subprotocols: str = ""


def connection_attempts_record(*, attempts: list[RefusedAttempts]) -> None:
    """Add refused handshakes to their window's rows: one upsert statement.

    A row per (id, address, reason, window) gains the count and the latest
    time, detail and offered subprotocols; the first seen time stays.
    """
    if not attempts:
        return
    table = connection.ops.quote_name(ConnectionAttempt._meta.db_table)
    columns = [
        "ocpp_id",
        "remote_address",
        "reason",
        "window_start",
        "count",
        "first_seen_at",
        "last_seen_at",
        "detail",
        "subprotocols",
    ]
    adapt = connection.ops.adapt_datetimefield_value
    params: list[Any] = []
    for attempt in attempts:
        params += [
            attempt.ocpp_id[:255],
            attempt.remote_address[:64],
            attempt.reason,
            adapt(attempt.window_start),
            attempt.count,
            adapt(attempt.first_seen_at),
            adapt(attempt.last_seen_at),
            attempt.detail[:255],
            attempt.subprotocols[:255],
        ]
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    # INSERT ... ON CONFLICT DO UPDATE: PostgreSQL 9.5+ and SQLite 3.24+ alike.
    # Only the quoted table name and fixed column names are formatted in.
    values = ", ".join([row] * len(attempts))
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES {values}"  # noqa: S608
        " ON CONFLICT (ocpp_id, remote_address, reason, window_start) DO UPDATE SET"
        f" count = {table}.count + excluded.count,"
        " last_seen_at = CASE WHEN excluded.last_seen_at > "
        f"{table}.last_seen_at THEN excluded.last_seen_at ELSE {table}.last_seen_at END,"
        " detail = excluded.detail, subprotocols = excluded.subprotocols"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def connection_attempts_purge(*, before: datetime) -> int:
    """Forget refused-handshake rows last seen before ``before``."""
    deleted, _ = ConnectionAttempt.objects.filter(last_seen_at__lt=before).delete()
    return deleted


@transaction.atomic
def charge_point_connection_closed(
    *, charge_point_id: int, channel_name: str, at: datetime, detail: str = ""
) -> bool:
    """Mark the charger disconnected unless a newer connection took over.

    The UPDATE is conditional on ``connection_channel``: a stale consumer closing
    after a takeover (in any process) must not mark the live connection gone.
    """
    updated = ChargePoint.objects.filter(
        pk=charge_point_id, connection_channel=channel_name
    ).update(
        is_connected=False,
        is_online=False,
        connection_channel="",
        disconnected_at=at,
    )
    if not updated:
        return False
    charge_point = ChargePoint.objects.select_related("station").get(pk=charge_point_id)
    ConnectionEvent.objects.create(
        charge_point=charge_point,
        kind=ConnectionEvent.Kind.DISCONNECTED,
        at=at,
        detail=detail[:255],
    )
    _connection_event(charge_point)
    return True


@transaction.atomic
def charge_point_seen(*, charge_point_id: int, channel_name: str, at: datetime) -> None:
    """Note that the charger sent a frame; bring it back online if the sweep dropped it."""
    came_back = ChargePoint.objects.filter(
        pk=charge_point_id, connection_channel=channel_name, is_online=False
    ).update(is_online=True, last_seen_at=at)
    if came_back:
        charge_point = ChargePoint.objects.select_related("station").get(
            pk=charge_point_id
        )
        # Ends the offline stretch the sweep opened (WENT_SILENT) in the history.
        ConnectionEvent.objects.create(
            charge_point=charge_point,
            kind=ConnectionEvent.Kind.BACK_ONLINE,
            at=at,
            detail="A frame arrived on the same connection after the silence.",
        )
        _connection_event(charge_point)
        return
    ChargePoint.objects.filter(
        pk=charge_point_id, connection_channel=channel_name
    ).update(last_seen_at=at)


def charge_points_seen(*, sightings: list[tuple[int, str, datetime]]) -> None:
    """``charge_point_seen`` for many chargers at once (the gateway's batched path).

    Two statements per batch whatever its size: find the chargers of the batch
    the offline sweep had dropped (each brought back with its history row by
    ``charge_point_seen``), and one UPDATE of ``last_seen_at`` for the rest, at
    the latest instant of the batch (its sightings are milliseconds apart; the
    sweep's scale is minutes).
    """
    if not sightings:
        return
    latest: dict[tuple[int, str], datetime] = {}
    for charge_point_id, channel_name, at in sightings:
        key = (charge_point_id, channel_name)
        latest[key] = max(at, latest.get(key, at))

    # One read by primary key (a plain IN list: an OR of (pk, channel) pairs
    # cost Django ~0.1 ms of compiling per charger), the socket matched here.
    current = {
        pk: (channel, is_online)
        for pk, channel, is_online in ChargePoint.objects.filter(
            pk__in={pk for pk, _ in latest}
        ).values_list("pk", "connection_channel", "is_online")
    }
    came_back = [key for key in latest if current.get(key[0]) == (key[1], False)]
    for pk, channel in came_back:
        charge_point_seen(
            charge_point_id=pk, channel_name=channel, at=latest[pk, channel]
        )
    rest = [key for key in latest if current.get(key[0]) == (key[1], True)]
    if rest:
        # Sightings of a socket the charger no longer uses are dropped above; a
        # charger the sweep drops meanwhile stays offline until its next frame.
        ChargePoint.objects.filter(
            pk__in=[pk for pk, _ in rest], is_online=True
        ).update(last_seen_at=max(latest[key] for key in rest))


# --- charger messages ---------------------------------------------------------


@dataclass(frozen=True)
class BootResult:
    registration_status: str
    interval_s: int


@dataclass(frozen=True)
class BootReport:
    """A BootNotification.req: what the charger says about itself."""

    charge_point_id: int
    vendor: str
    model: str
    serial_number: str = ""
    charge_box_serial_number: str = ""
    firmware_version: str = ""
    iccid: str = ""
    imsi: str = ""
    meter_type: str = ""
    meter_serial_number: str = ""
    at: datetime | None = None


_BOOT_FIELDS = [
    "vendor",
    "model",
    "serial_number",
    "charge_box_serial_number",
    "firmware_version",
    "iccid",
    "imsi",
    "meter_type",
    "meter_serial_number",
    "heartbeat_interval_s",
    "last_boot_at",
    "last_seen_at",
]


def _boot_apply(charge_point: ChargePoint, report: BootReport) -> None:
    at = report.at or timezone.now()
    charge_point.vendor = report.vendor[:50]
    charge_point.model = report.model[:50]
    charge_point.serial_number = report.serial_number[:50]
    charge_point.charge_box_serial_number = report.charge_box_serial_number[:50]
    charge_point.firmware_version = report.firmware_version[:50]
    charge_point.iccid = report.iccid[:20]
    charge_point.imsi = report.imsi[:20]
    charge_point.meter_type = report.meter_type[:25]
    charge_point.meter_serial_number = report.meter_serial_number[:25]
    charge_point.heartbeat_interval_s = settings.OCPP_HEARTBEAT_INTERVAL
    charge_point.last_boot_at = at
    charge_point.last_seen_at = at


def _boot_event(charge_point: ChargePoint) -> BootResult:
    emit(
        ChargerBooted(
            **_charger_fields(charge_point),
            registration_status=charge_point.registration_status,
            vendor=charge_point.vendor,
            model=charge_point.model,
            firmware_version=charge_point.firmware_version,
            at=_iso(charge_point.last_boot_at),
        ),
        live_groups=charge_point_groups(charge_point),
    )
    return BootResult(
        charge_point.registration_status, settings.OCPP_HEARTBEAT_INTERVAL
    )


@transaction.atomic
def charge_point_boot(
    *,
    charge_point_id: int,
    vendor: str,
    model: str,
    serial_number: str = "",
    charge_box_serial_number: str = "",
    firmware_version: str = "",
    iccid: str = "",
    imsi: str = "",
    meter_type: str = "",
    meter_serial_number: str = "",
    at: datetime,
) -> BootResult:
    """Store what the charger says about itself; answer its registration status."""
    charge_point = _locked_charge_point(charge_point_id)
    _boot_apply(
        charge_point,
        BootReport(
            charge_point_id=charge_point_id,
            vendor=vendor,
            model=model,
            serial_number=serial_number,
            charge_box_serial_number=charge_box_serial_number,
            firmware_version=firmware_version,
            iccid=iccid,
            imsi=imsi,
            meter_type=meter_type,
            meter_serial_number=meter_serial_number,
            at=at,
        ),
    )
    charge_point.save(update_fields=_BOOT_FIELDS)
    return _boot_event(charge_point)


@transaction.atomic
def charge_points_boot(*, items: list[BootReport]) -> list[BootResult]:
    """``charge_point_boot`` for many chargers in one transaction (a boot storm).

    Constant statements per batch: the chargers under row lock in primary-key
    order, one UPDATE. Raises ``ChargePoint.DoesNotExist`` for an unknown
    charger, as the single call does.
    """
    charge_points = {
        charge_point.pk: charge_point
        for charge_point in ChargePoint.objects.select_for_update(of=("self",))
        .select_related("station")
        .filter(pk__in={item.charge_point_id for item in items})
        .order_by("pk")
    }
    for item in items:
        if item.charge_point_id not in charge_points:
            raise ChargePoint.DoesNotExist(f"charge point {item.charge_point_id}")
        _boot_apply(charge_points[item.charge_point_id], item)
    update_rows(ChargePoint, list(charge_points.values()), _BOOT_FIELDS)
    # One answer per report; a charger booting twice in a batch is one row.
    booted = {
        pk: _boot_event(charge_point) for pk, charge_point in charge_points.items()
    }
    return [booted[item.charge_point_id] for item in items]


def _connector_status_event(
    charge_point: ChargePoint,
    connector: Connector | None,
    connector_number: int,
    status: str,
    error_code: str,
    at: datetime,
    *,
    vendor_error_code: str = "",
    info: str = "",
) -> None:
    station = charge_point.station
    emit(
        ConnectorStatusChanged(
            connector_pk=connector.pk if connector else None,
            connector_number=connector_number,
            charge_point_pk=charge_point.pk,
            station_id=charge_point.station_id,
            network_id=station.network_id if station is not None else None,
            status=status,
            error_code=error_code,
            at=_iso(at),
            vendor_error_code=vendor_error_code[:50],
            info=info[:50],
        ),
        live_groups=charge_point_groups(charge_point),
    )


@dataclass(frozen=True)
class StatusRecorded:
    is_applied: bool
    connector_pk: int | None


# OCPP 1.6 §4.9 / §7.7 ChargePointStatus: connector 0, the charge point as a
# whole, is only ever Available, Unavailable or Faulted.
CONNECTOR_ZERO_STATUSES = frozenset({"Available", "Unavailable", "Faulted"})
QUARANTINE_UNKNOWN_CONNECTOR = "unknown_connector"
QUARANTINE_ODD_SAMPLES = "odd_samples"


def connector_number_refusal(*, charge_point_id: int, connector_number: int) -> str:
    """Why a connector number the CMS has not seen is not created ("" = create it).

    A charger numbers its connectors 1..NumberOfConnectors (OCPP 1.6 §9.1.24);
    before that key is read, OCPP_MAX_CONNECTORS bounds them.
    """
    configured = (
        ConfigurationKey.objects.filter(
            charge_point_id=charge_point_id, key="NumberOfConnectors"
        )
        .values_list("value", flat=True)
        .first()
    )
    if configured is not None and configured.strip().isdigit():
        if connector_number > int(configured):
            return (
                f"connector {connector_number} reported, the charger has "
                f"{int(configured)} (NumberOfConnectors)"
            )
        return ""
    if connector_number > settings.OCPP_MAX_CONNECTORS:
        return (
            f"connector {connector_number} reported, more than "
            f"OCPP_MAX_CONNECTORS ({settings.OCPP_MAX_CONNECTORS})"
        )
    return ""


def charger_report_quarantine(
    charge_point: ChargePoint, *, what: str, detail: str, at: datetime
) -> None:
    """Announce a report kept aside (alerts raise it); logged for the operator."""
    logger.warning("%s: quarantined %s: %s", charge_point.ocpp_id, what, detail)
    if what == QUARANTINE_UNKNOWN_CONNECTOR:
        quirk_count(charge_point.pk, QuirkKind.UNKNOWN_CONNECTOR)
    emit(
        ChargerReportQuarantined(
            **_charger_fields(charge_point),
            what=what,
            detail=detail[:300],
            vendor=charge_point.vendor,
            model=charge_point.model,
            at=at.isoformat(),
        )
    )


@transaction.atomic
def connector_status_record(
    *,
    charge_point_id: int,
    connector_number: int,
    status: str,
    error_code: str,
    info: str = "",
    vendor_id: str = "",
    vendor_error_code: str = "",
    timestamp: datetime | None,
    received_at: datetime,
    ignored_quirk: str = "",
    quirk: str = "",
) -> StatusRecorded:
    """Apply a StatusNotification unless the connector already has a newer state.

    OCPP 1.6 §4.9: connector 0 is the charger as a whole. Chargers resend
    queued notifications after a reconnect, so the charger's timestamp orders
    them; an older one is kept in the history with ``is_applied=False``.
    ``ignored_quirk``: a connector-0 status the charger's vendor profile names
    a habit, kept in the history with that note, neither applied nor alerted.
    ``quirk``: another vendor-profile note on how it was read (its timestamp).
    """
    at = timestamp or received_at
    connector: Connector | None = None
    if connector_number == 0:
        charge_point = _locked_charge_point(charge_point_id)
        current_at = charge_point.status_at
        if ignored_quirk:
            StatusChange.objects.create(
                charge_point=charge_point, status=status, error_code=error_code,
                vendor_error_code=vendor_error_code[:50], info=info[:50], at=at,
                received_at=received_at, is_applied=False,
                quirk=facts.notes_joined(ignored_quirk, quirk),
            )  # fmt: skip
            return StatusRecorded(False, None)
        if status not in CONNECTOR_ZERO_STATUSES:
            # Kept in the history, never applied to the charge point as a whole.
            StatusChange.objects.create(
                charge_point=charge_point, status=status, error_code=error_code,
                vendor_error_code=vendor_error_code[:50], info=info[:50], at=at,
                received_at=received_at, is_applied=False,
            )  # fmt: skip
            charger_report_quarantine(
                charge_point,
                what=QUARANTINE_UNKNOWN_CONNECTOR,
                detail=f"connector 0 (the charge point) reported {status}; "
                "OCPP 1.6 allows only Available, Unavailable or Faulted there",
                at=at,
            )
            return StatusRecorded(False, None)
    else:
        # Lock only the connector (with its charger and station for the event):
        # notifications of different connectors of one charger never conflict.
        connector = _locked_connector(charge_point_id, connector_number).first()
        if connector is None and (
            refusal := connector_number_refusal(
                charge_point_id=charge_point_id, connector_number=connector_number
            )
        ):
            # No phantom connector: the frame is in the message log, the alert
            # tells the operator.
            charger_report_quarantine(
                ChargePoint.objects.select_related("station").get(pk=charge_point_id),
                what=QUARANTINE_UNKNOWN_CONNECTOR,
                detail=f"StatusNotification {status}: {refusal}",
                at=at,
            )
            return StatusRecorded(False, None)
        if connector is None:
            Connector.objects.get_or_create(
                charge_point_id=charge_point_id, connector_id=connector_number
            )
            connector = _locked_connector(charge_point_id, connector_number).get()
        charge_point = connector.charge_point
        current_at = connector.status_at
    is_applied = current_at is None or at >= current_at
    StatusChange.objects.create(
        charge_point=charge_point,
        connector=connector,
        status=status,
        error_code=error_code,
        vendor_error_code=vendor_error_code[:50],
        info=info[:50],
        at=at,
        received_at=received_at,
        is_applied=is_applied,
        quirk=quirk[:120],
    )
    if not is_applied:
        quirk_count(charge_point.pk, QuirkKind.OUT_OF_ORDER)
        logger.info(
            "%s connector %s: status %s at %s is older than %s; kept, not applied",
            charge_point.ocpp_id,
            connector_number,
            status,
            at,
            current_at,
        )
        return StatusRecorded(False, connector.pk if connector else None)
    if connector is None:
        charge_point.status = status
        charge_point.error_code = error_code
        charge_point.vendor_error_code = vendor_error_code[:50]
        charge_point.status_info = info[:50]
        charge_point.status_at = at
        charge_point.save(
            update_fields=[
                "status",
                "error_code",
                "vendor_error_code",
                "status_info",
                "status_at",
            ]
        )
    else:
        connector.status = status
        connector.error_code = error_code
        connector.vendor_error_code = vendor_error_code[:50]
        connector.vendor_id = vendor_id[:255]
        connector.info = info[:50]
        connector.status_at = at
        connector.status_received_at = received_at
        connector.save(
            update_fields=[
                "status",
                "error_code",
                "vendor_error_code",
                "vendor_id",
                "info",
                "status_at",
                "status_received_at",
            ]
        )
    _connector_status_event(
        charge_point,
        connector,
        connector_number,
        status,
        error_code,
        at,
        vendor_error_code=vendor_error_code,
        info=info,
    )
    return StatusRecorded(True, connector.pk if connector else None)


@dataclass(frozen=True)
class StatusReport:
    """A StatusNotification.req as the gateway received it."""

    charge_point_id: int
    connector_number: int
    status: str
    error_code: str
    info: str = ""
    vendor_id: str = ""
    vendor_error_code: str = ""
    timestamp: datetime | None = None
    received_at: datetime | None = None
    # Vendor-profile notes (``connector_status_record``).
    ignored_quirk: str = ""
    quirk: str = ""


_CONNECTOR_STATUS_FIELDS = [
    "status",
    "error_code",
    "vendor_error_code",
    "vendor_id",
    "info",
    "status_at",
    "status_received_at",
]


def _status_single(item: StatusReport) -> StatusRecorded:
    return connector_status_record(
        charge_point_id=item.charge_point_id,
        connector_number=item.connector_number,
        status=item.status,
        error_code=item.error_code,
        info=item.info,
        vendor_id=item.vendor_id,
        vendor_error_code=item.vendor_error_code,
        timestamp=item.timestamp,
        received_at=item.received_at or timezone.now(),
        ignored_quirk=item.ignored_quirk,
        quirk=item.quirk,
    )


@transaction.atomic
def connector_statuses_record(*, items: list[StatusReport]) -> list[StatusRecorded]:
    """``connector_status_record`` for many notifications in one transaction.

    Constant statements per batch for connectors that exist: the connectors
    under row lock in primary-key order, one INSERT of the history, one UPDATE.
    Connector 0 (the charger itself) and connectors seen for the first time
    take the single path. Within a batch each connector's notifications are
    applied in arrival order and ordered by the charger's timestamps, exactly
    as one by one.
    """
    keys = {
        (item.charge_point_id, item.connector_number)
        for item in items
        if item.connector_number != 0
    }
    connectors: dict[tuple[int, int], Connector] = {}
    if keys:
        # The connectors of the batch's chargers by a plain IN list (an OR of
        # (charger, number) pairs cost Django ~0.1 ms of compiling per item);
        # a charger has a handful, so locking them all costs nothing.
        connectors = {
            (connector.charge_point_id, connector.connector_id): connector
            for connector in Connector.objects.select_for_update(of=("self",))
            .select_related("charge_point__station")
            .filter(
                charge_point_id__in={charge_point_id for charge_point_id, _ in keys},
                connector_id__in={number for _, number in keys},
            )
            .order_by("pk")
            if (connector.charge_point_id, connector.connector_id) in keys
        }
    results: list[StatusRecorded | None] = []
    history: list[StatusChange] = []
    changed: dict[int, Connector] = {}
    applied: list[tuple[Connector, StatusReport, datetime]] = []
    single: list[int] = []
    for index, item in enumerate(items):
        connector = connectors.get((item.charge_point_id, item.connector_number))
        if connector is None:
            single.append(index)
            results.append(None)
            continue
        received_at = item.received_at or timezone.now()
        at = item.timestamp or received_at
        is_applied = connector.status_at is None or at >= connector.status_at
        history.append(
            StatusChange(
                charge_point=connector.charge_point,
                connector=connector,
                status=item.status,
                error_code=item.error_code,
                vendor_error_code=item.vendor_error_code[:50],
                info=item.info[:50],
                at=at,
                received_at=received_at,
                is_applied=is_applied,
                quirk=item.quirk[:120],
            )
        )
        results.append(StatusRecorded(is_applied, connector.pk))
        if not is_applied:
            quirk_count(connector.charge_point_id, QuirkKind.OUT_OF_ORDER)
            logger.info(
                "%s connector %s: status %s at %s is older than %s; kept, not applied",
                connector.charge_point.ocpp_id,
                item.connector_number,
                item.status,
                at,
                connector.status_at,
            )
            continue
        connector.status = item.status
        connector.error_code = item.error_code
        connector.vendor_error_code = item.vendor_error_code[:50]
        connector.vendor_id = item.vendor_id[:255]
        connector.info = item.info[:50]
        connector.status_at = at
        connector.status_received_at = received_at
        changed[connector.pk] = connector
        applied.append((connector, item, at))
    StatusChange.objects.bulk_create(history)
    update_rows(Connector, list(changed.values()), _CONNECTOR_STATUS_FIELDS)
    for connector, item, at in applied:
        _connector_status_event(
            connector.charge_point,
            connector,
            item.connector_number,
            item.status,
            item.error_code,
            at,
            vendor_error_code=item.vendor_error_code,
            info=item.info,
        )
    for index in single:
        results[index] = _status_single(items[index])
    return results  # type: ignore[return-value]


def data_transfer_record(
    *,
    charge_point_id: int,
    vendor_id: str,
    message_id: str = "",
    data: str = "",
    received_at: datetime,
) -> str:
    """Keep a charger's DataTransfer; answer Accepted for a configured vendor.

    The CMS has no vendor extensions of its own: vendors listed in
    ``OCPP_DATA_TRANSFER_VENDOR_IDS`` are accepted (and kept for the operator),
    others get UnknownVendorId (OCPP 1.6 §4.3).
    """
    status = (
        "Accepted"
        if vendor_id in settings.OCPP_DATA_TRANSFER_VENDOR_IDS
        else "UnknownVendorId"
    )
    DataTransferMessage.objects.create(
        charge_point_id=charge_point_id,
        vendor_id=vendor_id[:255],
        message_id=message_id[:50],
        data=data,
        answer_status=status,
        received_at=received_at,
    )
    return status


DEVICE_VARIABLE_KEY = (
    "charge_point",
    "component",
    "component_instance",
    "evse",
    "connector",
    "variable",
    "variable_instance",
    "attribute_type",
)


@transaction.atomic
def device_model_record(
    *, charge_point_id: int, variables: list[facts.DeviceVariable], at: datetime
) -> int:
    """Store what a charger reports of its device model (one upsert); return the count."""
    rows = [
        DeviceVariable(
            charge_point_id=charge_point_id,
            reported_at=at,
            **dataclasses.asdict(variable),
        )
        for variable in variables
    ]
    DeviceVariable.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=list(DEVICE_VARIABLE_KEY),
        update_fields=[
            "value",
            "mutability",
            "data_type",
            "unit",
            "values_list",
            "reported_at",
        ],
    )
    return len(rows)


def _device_variable_identity(variable: facts.DeviceVariable) -> dict[str, Any]:
    return {name: getattr(variable, name) for name in DEVICE_VARIABLE_KEY[1:]}


def _device_variable_rows(
    charge_point_id: int, variable: facts.DeviceVariable
) -> QuerySet[DeviceVariable]:
    """The stored attribute a Get/SetVariables result names.

    A result addresses a connector through its EVSE (the key the command was
    written with names no connector), so connector 0 matches any connector.
    """
    rows = DeviceVariable.objects.filter(
        charge_point_id=charge_point_id,
        component=variable.component,
        component_instance=variable.component_instance,
        evse=variable.evse,
        variable=variable.variable,
        variable_instance=variable.variable_instance,
        attribute_type=variable.attribute_type,
    )
    if variable.connector:
        rows = rows.filter(connector=variable.connector)
    return rows


@transaction.atomic
def device_variables_read(
    *, charge_point_id: int, variables: list[facts.DeviceVariable], at: datetime
) -> None:
    """Store the values a GetVariables answer reports (B06).

    Characteristics and mutability stay as the last NotifyReport gave them; a
    variable never reported before is stored with its value alone.
    """
    for variable in variables:
        if not _device_variable_rows(charge_point_id, variable).update(
            value=variable.value, reported_at=at
        ):
            DeviceVariable.objects.get_or_create(
                charge_point_id=charge_point_id,
                **_device_variable_identity(variable),
                defaults={"value": variable.value, "reported_at": at},
            )


@transaction.atomic
def device_variable_set_record(
    *,
    charge_point_id: int,
    variable: facts.DeviceVariable,
    status: str,
    is_applied: bool,
    at: datetime,
) -> None:
    """Keep the charger's answer to SetVariables (B05); the value when it took it."""
    changes: dict[str, Any] = {"last_set_status": status[:30], "set_at": at}
    if is_applied:
        changes |= {"value": variable.value, "reported_at": at}
    if not _device_variable_rows(charge_point_id, variable).update(**changes):
        DeviceVariable.objects.get_or_create(
            charge_point_id=charge_point_id,
            **_device_variable_identity(variable),
            defaults={**changes, "reported_at": at},
        )


@transaction.atomic
def firmware_status_record(*, charge_point_id: int, status: str, at: datetime) -> None:
    charge_point = _locked_charge_point(charge_point_id)
    charge_point.firmware_status = status
    charge_point.firmware_status_at = at
    charge_point.save(update_fields=["firmware_status", "firmware_status_at"])
    emit(
        FirmwareStatusChanged(
            **_charger_fields(charge_point), status=status, at=_iso(at)
        ),
        live_groups=charge_point_groups(charge_point),
    )


@transaction.atomic
def diagnostics_status_record(
    *, charge_point_id: int, status: str, at: datetime
) -> None:
    charge_point = _locked_charge_point(charge_point_id)
    charge_point.diagnostics_status = status
    charge_point.diagnostics_status_at = at
    charge_point.save(update_fields=["diagnostics_status", "diagnostics_status_at"])
    emit(
        DiagnosticsStatusChanged(
            **_charger_fields(charge_point), status=status, at=_iso(at)
        ),
        live_groups=charge_point_groups(charge_point),
    )


# --- periodic ---------------------------------------------------------------


def charge_points_offline_sweep(*, now: datetime) -> int:
    """Mark online chargers silent past heartbeat interval × 2 + grace as offline.

    Intervals differ per charger, so the sweep runs one conditional UPDATE per
    distinct interval (a handful), never a per-row read-modify-write.
    """
    grace = settings.OCPP_OFFLINE_GRACE_SECONDS
    intervals = (
        ChargePoint.objects.filter(is_online=True)
        .values_list("heartbeat_interval_s", flat=True)
        .distinct()
    )
    marked = 0
    for interval in list(intervals):
        cutoff = now - timedelta(seconds=interval * 2 + grace)
        stale = ChargePoint.objects.filter(
            is_online=True, heartbeat_interval_s=interval, last_seen_at__lt=cutoff
        )
        for charge_point_id in list(stale.values_list("pk", flat=True)[:1000]):
            with transaction.atomic():
                updated = ChargePoint.objects.filter(
                    pk=charge_point_id, is_online=True, last_seen_at__lt=cutoff
                ).update(is_online=False)
                if not updated:
                    continue
                charge_point = ChargePoint.objects.select_related("station").get(
                    pk=charge_point_id
                )
                ConnectionEvent.objects.create(
                    charge_point=charge_point,
                    kind=ConnectionEvent.Kind.WENT_SILENT,
                    at=now,
                    detail=f"No message since {_iso(charge_point.last_seen_at)}.",
                )
                _connection_event(charge_point)
                marked += 1
    return marked


def ocpp_messages_purge(*, before: datetime, batch_size: int = 5000) -> int:
    """Delete message log rows older than ``before`` in batches; return the count."""
    deleted = 0
    while True:
        ids = list(
            OcppMessage.objects.filter(at__lt=before).values_list("pk", flat=True)[
                :batch_size
            ]
        )
        if not ids:
            return deleted
        count, _ = OcppMessage.objects.filter(pk__in=ids).delete()
        deleted += count
