"""Remote operations: every CMS -> charger command with its domain.

The domain speaks version-neutral commands (``stations.ocpp.commands``); the
transport (charger's version adapter, audit row, delivery, outcome) is
``stations.remote.dispatch``. This module decides who may send what
(``ACTION_PERMISSIONS``), creates the domain rows a command stands for (remote
start handle, reservation, firmware update, charging profile...) and applies a
finished command's answer to them (``command_result_apply``: once per command,
safe to call again). Sweeps run the time-driven parts: configuration after
boot, remote start resolution, reservation expiry, firmware and diagnostics
progress.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from dataclasses import fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.http import AnyUser, recorded_actor
from accounts.models import User
from sessions_app.models import ChargingSession, IdToken
from stations.models import (
    ChargePoint,
    ChargePointCommand,
    CommandStatus,
    OcppMessage,
    OcppProtocol,
    RegistrationStatus,
)
from stations.ocpp import commands as ocpp
from stations.ocpp import versions
from stations.remote.dispatch import (
    CommandPayloadError,
    answer_of,
    charge_point_adapter,
    command_of,
    command_send,
)
from stations.remote.models import (
    ChargingProfile,
    CommandBatch,
    CommandResultApplication,
    ConfigurationFetch,
    ConfigurationKey,
    CustomerInformationReport,
    DiagnosticsRequest,
    FirmwareUpdate,
    LocalAuthList,
    LocalAuthListEntry,
    ProfileStatus,
    RemoteStartRequest,
    RemoteStartStatus,
    Reservation,
    ReservationStatus,
)
from stations.security.services import (
    certificate_signed_apply,
    password_change_apply,
)
from stations.services import device_variable_set_record, device_variables_read

logger = logging.getLogger(__name__)

# One table for every place that sends a command (views, bulk, API), by action
# name as the audit rows store it.
ACTION_PERMISSIONS: dict[str, str] = {
    "Reset": "stations.reset_chargepoint",
    "UnlockConnector": "stations.unlock_connector",
    "RemoteStartTransaction": "stations.remote_start_stop",
    "RemoteStopTransaction": "stations.remote_start_stop",
    "TriggerMessage": "stations.trigger_message",
    "ClearCache": "stations.clear_cache",
    "GetConfiguration": "stations.configure_chargepoint",
    "ChangeConfiguration": "stations.configure_chargepoint",
    "UpdateFirmware": "stations.manage_firmware",
    "GetDiagnostics": "stations.manage_firmware",
    "ChangeAvailability": "stations.change_availability",
    "ReserveNow": "stations.manage_reservations",
    "CancelReservation": "stations.manage_reservations",
    "SendLocalList": "stations.manage_local_list",
    "GetLocalListVersion": "stations.manage_local_list",
    "SetChargingProfile": "stations.manage_charging_profiles",
    "ClearChargingProfile": "stations.manage_charging_profiles",
    "GetCompositeSchedule": "stations.manage_charging_profiles",
    "DataTransfer": "stations.data_transfer",
    # OCPP 1.6 security whitepaper extensions: operations-level.
    "ExtendedTriggerMessage": "stations.trigger_message",
    "CertificateSigned": "stations.configure_chargepoint",
    "InstallCertificate": "stations.configure_chargepoint",
    "DeleteCertificate": "stations.configure_chargepoint",
    "GetInstalledCertificateIds": "stations.configure_chargepoint",
    # 2.0.1 N09/N10: a customer's data held by the charger, privacy data, so
    # operations-level (support and finance do not hold the permission).
    "CustomerInformation": "stations.configure_chargepoint",
    "GetLog": "stations.manage_firmware",
    "SignedUpdateFirmware": "stations.manage_firmware",
}


# Commands only newer versions carry, named as they are: a 1.6 charger's
# adapter refuses them naming the action.
_NEWER_ACTIONS = frozenset({"CustomerInformation"})


def permission_for_action(action: str) -> str:
    """The permission an action needs; unknown actions raise CommandPayloadError."""
    return ACTION_PERMISSIONS[action_name(action)]


def action_name(action: str) -> str:
    """Normalize ``reset`` / ``remote_start_transaction`` to the action's name."""
    # The permission table names actions as OCPP 1.6 does (the audit rows too).
    adapter = versions.adapter_for(OcppProtocol.OCPP16)
    name = adapter.action_name(action)
    if name in _NEWER_ACTIONS:
        return name
    if name not in adapter.command_actions:
        raise CommandPayloadError(
            f"“{action}” is not a command a central system can send.", field="action"
        )
    return name


def allowed_actions(user: AnyUser) -> list[str]:
    """Actions the user's role allows, in the table's order."""
    return [a for a, perm in ACTION_PERMISSIONS.items() if user.has_perm(perm)]


def _now() -> datetime:
    return timezone.now()


def _actor(user: AnyUser | None) -> User | None:
    return recorded_actor(user)


# --- sending --------------------------------------------------------------------


def command_request(
    *,
    charge_point: ChargePoint,
    action: str,
    payload: dict[str, Any] | None,
    requested_by: AnyUser | None,
    connector: int | None = None,
    batch: uuid.UUID | None = None,
) -> ChargePointCommand:
    """Send a raw payload for an action (console, bulk, API, CLI).

    The charger's version adapter validates it (raising ``CommandPayloadError``
    naming the field, nothing stored) and reads it as the neutral command;
    ``connector`` fills in the connector of an action that takes one.
    """
    adapter = charge_point_adapter(charge_point)
    command = adapter.command_of(adapter.raw_call(action, payload, connector=connector))
    return command_submit(
        charge_point=charge_point,
        command=command,
        requested_by=requested_by,
        batch=batch,
    )


def command_submit(
    *,
    charge_point: ChargePoint,
    command: ocpp.Command,
    requested_by: AnyUser | None,
    batch: uuid.UUID | None = None,
) -> ChargePointCommand:
    """Send any neutral command, creating the domain row it stands for."""
    match command:
        case ocpp.RemoteStart():
            return remote_start_request(
                charge_point=charge_point,
                id_tag=command.id_token,
                connector_number=command.connector,
                profile=command.profile,
                requested_by=requested_by,
                batch=batch,
            ).command
        case ocpp.ReserveNow():
            reservation = reservation_create(
                charge_point=charge_point,
                connector_number=command.connector,
                id_tag=command.id_token,
                expires_at=command.expires_at,
                parent_id_tag=command.parent_id_token,
                requested_by=requested_by,
                batch=batch,
            )
            return cast(ChargePointCommand, reservation.command)
        case ocpp.UpdateFirmware() | ocpp.GetDiagnostics():
            tracked = _tracked_request(
                FirmwareUpdate
                if isinstance(command, ocpp.UpdateFirmware)
                else DiagnosticsRequest,
                charge_point=charge_point,
                command=command,
                requested_by=requested_by,
                batch=batch,
            )
            return cast(ChargePointCommand, tracked.command)
        case ocpp.GetConfiguration():
            return configuration_fetch(
                charge_point=charge_point,
                keys=list(command.keys),
                requested_by=requested_by,
                batch=batch,
            )
    return _send(
        charge_point=charge_point,
        command=command,
        requested_by=requested_by,
        batch=batch,
    )


def _arguments(command: ocpp.Command) -> dict[str, Any]:
    return {field.name: getattr(command, field.name) for field in fields(command)}


def _send(
    *,
    charge_point: ChargePoint,
    command: ocpp.Command,
    requested_by: AnyUser | None,
    record: Callable[[ChargePointCommand], object] | None = None,
    connector_number: int | None = None,
    batch: uuid.UUID | None = None,
) -> ChargePointCommand:
    """Send ``command``; ``record`` ties the domain row to it in the same transaction.

    A command to an offline charger is finished at once: its result is applied
    here, since no answer will follow.
    """
    with transaction.atomic():
        sent = command_send(
            charge_point=charge_point,
            command=command,
            requested_by=requested_by,
            connector_number=connector_number,
            batch=batch,
        )
        if record is not None:
            record(sent)
    if not transaction.get_connection().in_atomic_block:
        # Committed, so the hand-over to the gateway has run: it may have failed
        # (channel layer unreachable), which finished the command as an error.
        sent.refresh_from_db()
    if sent.is_finished:
        command_result_apply(command_id=sent.pk)
        sent.refresh_from_db()
    return sent


def _supersede_open(
    model: type[FirmwareUpdate] | type[DiagnosticsRequest],
    charge_point: ChargePoint,
    now: datetime,
) -> None:
    """Close the older unfinished request of this kind on the charger.

    Progress notifications carry no request id (OCPP 1.6 §6.23, §6.21): the
    newest request owns them.
    """
    model.objects.filter(charge_point=charge_point, is_finished=False).update(
        is_finished=True, status="Superseded", status_at=now
    )


def _attach(row: Any, field: str = "command") -> Callable[[ChargePointCommand], None]:
    """A ``record`` callback that stores the sent command on ``row.<field>``."""

    def record(command: ChargePointCommand) -> None:
        type(row).objects.filter(pk=row.pk).update(**{field: command})

    return record


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    parsed = parse_datetime(str(value))
    if parsed is not None and timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


def remote_start_request(
    *,
    charge_point: ChargePoint,
    id_tag: str,
    connector_number: int | None,
    requested_by: AnyUser | None,
    profile: ocpp.ChargingProfileSpec | None = None,
    batch: uuid.UUID | None = None,
) -> RemoteStartRequest:
    """Send a remote start and return its handle (pending until a session)."""
    handles: list[RemoteStartRequest] = []

    def record(command: ChargePointCommand) -> None:
        handles.append(
            RemoteStartRequest.objects.create(
                charge_point=charge_point,
                connector_number=connector_number or None,
                id_tag=id_tag,
                command=command,
                requested_by=_actor(requested_by),
                requested_at=command.requested_at,
            )
        )

    _send(
        charge_point=charge_point,
        command=ocpp.RemoteStart(
            id_token=id_tag, connector=connector_number or None, profile=profile
        ),
        requested_by=requested_by,
        record=record,
        batch=batch,
    )
    handles[0].refresh_from_db()
    return handles[0]


def reservation_create(
    *,
    charge_point: ChargePoint,
    connector_number: int,
    id_tag: str,
    expires_at: datetime,
    requested_by: AnyUser | None,
    parent_id_tag: str = "",
    batch: uuid.UUID | None = None,
) -> Reservation:
    """Reserve a connector (ReserveNow); the row's pk is the reservation id."""
    with transaction.atomic():
        reservation = Reservation.objects.create(
            charge_point=charge_point,
            connector_number=connector_number,
            id_tag=id_tag,
            parent_id_tag=parent_id_tag,
            expires_at=expires_at,
            created_by=_actor(requested_by),
            created_at=_now(),
        )
        _send(
            charge_point=charge_point,
            command=ocpp.ReserveNow(
                reservation_id=reservation.pk,
                connector=connector_number,
                id_token=id_tag,
                expires_at=expires_at,
                parent_id_token=parent_id_tag,
            ),
            requested_by=requested_by,
            record=_attach(reservation),
            connector_number=connector_number,
            batch=batch,
        )
    reservation.refresh_from_db()
    return reservation


def reservation_cancel(
    *, reservation: Reservation, requested_by: AnyUser | None
) -> ChargePointCommand:
    """Cancel an open reservation on the charger."""
    return _send(
        charge_point=reservation.charge_point,
        command=ocpp.CancelReservation(reservation_id=reservation.pk),
        requested_by=requested_by,
        record=_attach(reservation, "cancel_command"),
        connector_number=reservation.connector_number,
    )


def _tracked_request(
    model: type[FirmwareUpdate] | type[DiagnosticsRequest],
    *,
    charge_point: ChargePoint,
    command: ocpp.UpdateFirmware | ocpp.GetDiagnostics,
    requested_by: AnyUser | None,
    batch: uuid.UUID | None,
) -> Any:
    """Send a firmware or diagnostics command with the row that tracks its progress.

    The row holds the command's own fields (location, times, retries) and the
    progress history the charger's notifications extend.
    """
    now = _now()
    with transaction.atomic():
        _supersede_open(model, charge_point, now)
        tracked = model.objects.create(
            charge_point=charge_point,
            requested_by=_actor(requested_by),
            requested_at=now,
            history=[{"status": "Requested", "at": now.isoformat()}],
            **_arguments(command),
        )
        _send(
            charge_point=charge_point,
            command=command,
            requested_by=requested_by,
            record=_attach(tracked),
            batch=batch,
        )
    tracked.refresh_from_db()
    return tracked


def firmware_update_request(
    *,
    charge_point: ChargePoint,
    location: str,
    retrieve_at: datetime,
    requested_by: AnyUser | None,
    retries: int | None = None,
    retry_interval_s: int | None = None,
    batch: uuid.UUID | None = None,
    signing_certificate: str = "",
    signature: str = "",
) -> FirmwareUpdate:
    """Send a firmware update and track its progress per request.

    With a signature the image goes as a signed update (1.6 security whitepaper
    SignedUpdateFirmware, 2.0.1 UpdateFirmware's signingCertificate/signature).
    """
    command = ocpp.UpdateFirmware(
        location=location,
        retrieve_at=retrieve_at,
        retries=retries,
        retry_interval_s=retry_interval_s,
        signing_certificate=signing_certificate,
        signature=signature,
    )
    return cast(
        FirmwareUpdate,
        _tracked_request(
            FirmwareUpdate,
            charge_point=charge_point,
            command=command,
            requested_by=requested_by,
            batch=batch,
        ),
    )


def diagnostics_request(
    *,
    charge_point: ChargePoint,
    location: str,
    requested_by: AnyUser | None,
    start_time: datetime | None = None,
    stop_time: datetime | None = None,
    retries: int | None = None,
    retry_interval_s: int | None = None,
    batch: uuid.UUID | None = None,
) -> DiagnosticsRequest:
    """Ask for a diagnostics upload and track it per request."""
    command = ocpp.GetDiagnostics(
        location=location,
        start_time=start_time,
        stop_time=stop_time,
        retries=retries,
        retry_interval_s=retry_interval_s,
    )
    return cast(
        DiagnosticsRequest,
        _tracked_request(
            DiagnosticsRequest,
            charge_point=charge_point,
            command=command,
            requested_by=requested_by,
            batch=batch,
        ),
    )


def configuration_fetch(
    *,
    charge_point: ChargePoint,
    requested_by: AnyUser | None,
    keys: list[str] | None = None,
    batch: uuid.UUID | None = None,
) -> ChargePointCommand:
    """Read the configuration (all keys, or ``keys``); the answer is stored on apply."""

    def record(command: ChargePointCommand) -> None:
        ConfigurationFetch.objects.update_or_create(
            charge_point=charge_point,
            defaults={"requested_at": command.requested_at, "command": command},
        )

    return _send(
        charge_point=charge_point,
        command=ocpp.GetConfiguration(keys=tuple(keys or ())),
        requested_by=requested_by,
        record=record,
        batch=batch,
    )


def configuration_change(
    *, charge_point: ChargePoint, key: str, value: str, requested_by: AnyUser | None
) -> ChargePointCommand:
    """Change one configuration key; the key is updated when the charger accepts."""
    return _send(
        charge_point=charge_point,
        command=ocpp.ChangeConfiguration(key=key, value=value),
        requested_by=requested_by,
    )


def local_list_send(
    *,
    charge_point: ChargePoint,
    update_type: str,
    id_tokens: Iterable[Any],
    requested_by: AnyUser | None,
    removed_id_tags: Iterable[str] = (),
) -> ChargePointCommand:
    """Send a local authorization list built from ``IdToken`` rows.

    A Full list replaces what the charger holds; a Differential one adds or
    updates ``id_tokens`` and removes ``removed_id_tags`` (OCPP 1.6 §5.15).
    """
    local_list, _ = LocalAuthList.objects.get_or_create(charge_point=charge_point)
    entries = [
        ocpp.LocalListEntry(
            id_token=token.token,
            status=token.status,
            expires_at=token.expires_at,
            parent_id_token=token.parent.token if token.parent_id is not None else "",
        )
        for token in id_tokens
    ]
    update = ocpp.LocalListUpdate(update_type)
    if update == ocpp.LocalListUpdate.DIFFERENTIAL:
        entries.extend(ocpp.LocalListEntry(id_token=tag) for tag in removed_id_tags)
    return _send(
        charge_point=charge_point,
        command=ocpp.SendLocalList(
            version=local_list.version + 1, update=update, entries=tuple(entries)
        ),
        requested_by=requested_by,
    )


def charging_profile_spec(profile: ChargingProfile) -> ocpp.ChargingProfileSpec:
    """The neutral charging profile of a stored profile."""
    return ocpp.ChargingProfileSpec(
        profile_id=profile.pk,
        stack_level=profile.stack_level,
        purpose=profile.purpose,
        kind=profile.kind,
        rate_unit=profile.rate_unit,
        periods=tuple(schedule_periods_of(profile.periods)),
        duration_s=profile.duration_s or None,
        start_schedule=profile.start_schedule,
        min_charging_rate=float(profile.min_charging_rate)
        if profile.min_charging_rate is not None
        else None,
        transaction_id=profile.transaction_id or None,
        recurrency_kind=profile.recurrency_kind,
        valid_from=profile.valid_from,
        valid_to=profile.valid_to,
    )


def schedule_periods_of(stored: list[dict[str, Any]]) -> list[ocpp.SchedulePeriod]:
    """The schedule of ``ChargingProfile.periods`` (JSON: start_s, limit, phases)."""
    return [
        ocpp.SchedulePeriod(
            start_s=int(period["start_s"]),
            limit=float(period["limit"]),
            phases=period.get("phases"),
        )
        for period in stored
    ]


def charging_profile_send(
    *, profile: ChargingProfile, requested_by: AnyUser | None
) -> ChargePointCommand:
    """Set a stored profile on the charger; active once Accepted."""
    command = _send(
        charge_point=profile.charge_point,
        command=ocpp.SetChargingProfile(
            connector=profile.connector_number, profile=charging_profile_spec(profile)
        ),
        requested_by=requested_by,
        record=lambda sent: ChargingProfile.objects.filter(pk=profile.pk).update(
            set_command=sent, status=ProfileStatus.PENDING
        ),
        connector_number=profile.connector_number,
    )
    profile.refresh_from_db()
    return command


def charging_profile_clear(
    *, profile: ChargingProfile, requested_by: AnyUser | None
) -> ChargePointCommand:
    """Clear one profile (by its id) on the charger."""
    command = _send(
        charge_point=profile.charge_point,
        command=ocpp.ClearChargingProfile(profile_id=profile.pk),
        requested_by=requested_by,
        record=_attach(profile, "clear_command"),
    )
    profile.refresh_from_db()
    return command


# --- bulk -----------------------------------------------------------------------


def command_batch_send(
    *,
    charge_points: Iterable[ChargePoint],
    action: str,
    payload: dict[str, Any] | None,
    requested_by: AnyUser | None,
    description: str = "",
) -> CommandBatch:
    """Send one action (raw payload) to many chargers; each gets its own command.

    The payload is validated once (by the 1.6 adapter, with its defaults: a
    Reset without ``type`` is Soft) before anything is stored. Chargers answer
    concurrently: each command is dispatched on its own commit.
    """
    targets = list(charge_points)
    adapter = versions.adapter_for(OcppProtocol.OCPP16)
    call = adapter.raw_call(action, payload)
    command = adapter.command_of(call)
    batch = CommandBatch.objects.create(
        uuid=uuid.uuid4(),
        action=call.action,
        payload=call.payload,
        description=description[:255],
        total=len(targets),
        requested_by=_actor(requested_by),
        requested_at=_now(),
    )
    for charge_point in targets:
        command_submit(
            charge_point=charge_point,
            command=command,
            requested_by=requested_by,
            batch=batch.uuid,
        )
    return batch


def batch_progress(batch: CommandBatch) -> dict[str, int]:
    """Counts per command status of a batch, with ``done`` and ``total``."""
    counts = dict(
        ChargePointCommand.objects.filter(batch=batch.uuid)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    progress = {status.value: counts.get(status.value, 0) for status in CommandStatus}
    progress["total"] = batch.total
    progress["done"] = batch.total - progress[CommandStatus.PENDING]
    return progress


# --- results ----------------------------------------------------------------------


def command_result_apply(*, command_id: int) -> bool:
    """Apply a finished command's answer to its domain rows; once per command.

    Call it after ``command_finish`` (the sweep does it for every finished
    command too). Returns False when the command is pending or already applied.
    """
    command = (
        ChargePointCommand.objects.filter(pk=command_id)
        .exclude(status=CommandStatus.PENDING)
        .select_related("charge_point")
        .first()
    )
    if command is None:
        return False
    try:
        with transaction.atomic():
            _, created = CommandResultApplication.objects.get_or_create(
                command=command, defaults={"applied_at": _now()}
            )
            if not created:
                return False
            handler = _RESULT_HANDLERS.get(type(command_of(command)))
            if handler is not None:
                handler(command)
    except IntegrityError:  # a concurrent apply won the race
        return False
    return True


def _is_accepted(command: ChargePointCommand) -> bool:
    return command.status == CommandStatus.ACCEPTED


def _outcome_label(command: ChargePointCommand) -> str:
    return answer_of(command).charger_status or command.get_status_display()


def _apply_get_configuration(command: ChargePointCommand) -> None:
    read = answer_of(command).fact
    if not _is_accepted(command) or not isinstance(read, ocpp.ConfigurationRead):
        return
    sent = command_of(command)
    now = command.finished_at or _now()
    seen: list[str] = []
    for entry in read.entries:
        key = entry.key[:120]
        if not key:
            continue
        seen.append(key)
        ConfigurationKey.objects.update_or_create(
            charge_point_id=command.charge_point_id,
            key=key,
            defaults={
                "value": entry.value,
                "is_readonly": entry.is_readonly,
                "fetched_at": now,
            },
        )
    if isinstance(sent, ocpp.GetConfiguration) and not sent.keys:
        # A full read: drop the keys the charger no longer reports.
        ConfigurationKey.objects.filter(
            charge_point_id=command.charge_point_id
        ).exclude(key__in=seen).delete()
    ConfigurationFetch.objects.filter(charge_point_id=command.charge_point_id).update(
        fetched_at=now
    )
    device_variables = [e.device_variable for e in read.entries if e.device_variable]
    if device_variables:
        # 2.0.1: the values also go to the stored device model (B06).
        device_variables_read(
            charge_point_id=command.charge_point_id,
            variables=device_variables,
            at=now,
        )


def _apply_change_configuration(command: ChargePointCommand) -> None:
    sent = command_of(command)
    if not isinstance(sent, ocpp.ChangeConfiguration):
        return
    answer = answer_of(command)
    label = _outcome_label(command)
    now = command.finished_at or _now()
    if answer.charger_status in ("Accepted", "RebootRequired"):
        ConfigurationKey.objects.update_or_create(
            charge_point_id=command.charge_point_id,
            key=sent.key,
            defaults={
                "value": sent.value,
                "changed_at": now,
                "last_change_status": label,
                "fetched_at": now,
            },
        )
    else:
        ConfigurationKey.objects.filter(
            charge_point_id=command.charge_point_id, key=sent.key
        ).update(last_change_status=label, changed_at=now)
    written = answer.fact
    if isinstance(written, ocpp.ConfigurationRead):
        # 2.0.1 SetVariables: the attribute's answer on the stored device model.
        for entry in written.entries:
            if entry.device_variable is not None:
                device_variable_set_record(
                    charge_point_id=command.charge_point_id,
                    variable=replace(entry.device_variable, value=sent.value),
                    status=entry.status or label,
                    is_applied=entry.status in ("Accepted", "RebootRequired"),
                    at=now,
                )


def _apply_get_local_list_version(command: ChargePointCommand) -> None:
    reported = answer_of(command).fact
    if not _is_accepted(command) or not isinstance(reported, ocpp.LocalListVersion):
        return
    LocalAuthList.objects.update_or_create(
        charge_point_id=command.charge_point_id,
        defaults={
            "charger_version": reported.version,
            "charger_version_at": command.finished_at,
        },
    )


def _apply_send_local_list(command: ChargePointCommand) -> None:
    sent = command_of(command)
    if not isinstance(sent, ocpp.SendLocalList):
        return
    local_list, _ = LocalAuthList.objects.get_or_create(
        charge_point_id=command.charge_point_id
    )
    local_list.last_status = _outcome_label(command)
    local_list.last_update_type = str(sent.update)
    fields = ["last_status", "last_update_type"]
    if answer_of(command).charger_status == "Accepted":
        if sent.update == ocpp.LocalListUpdate.FULL:
            local_list.entries.all().delete()
        for entry in sent.entries:
            if entry.status is None:
                local_list.entries.filter(id_tag__iexact=entry.id_token).delete()
                continue
            LocalAuthListEntry.objects.update_or_create(
                local_list=local_list,
                id_tag=entry.id_token,
                defaults={
                    "status": entry.status,
                    "expires_at": entry.expires_at,
                    "parent_id_tag": entry.parent_id_token,
                },
            )
        local_list.version = sent.version
        local_list.charger_version = local_list.version
        local_list.charger_version_at = command.finished_at
        local_list.synced_at = command.finished_at
        fields += ["version", "charger_version", "charger_version_at", "synced_at"]
    local_list.save(update_fields=fields)


def _apply_reserve_now(command: ChargePointCommand) -> None:
    reservation = Reservation.objects.filter(command=command).first()
    if reservation is None or reservation.status != ReservationStatus.PENDING:
        return
    answer = answer_of(command)
    reservation.charger_status = _outcome_label(command)
    if answer.charger_status == "Accepted":
        reservation.status = ReservationStatus.ACTIVE
    elif answer.charger_status:
        reservation.status = ReservationStatus.REJECTED
        reservation.ended_at = command.finished_at
    else:
        reservation.status = ReservationStatus.FAILED
        reservation.ended_at = command.finished_at
    reservation.save(update_fields=["status", "charger_status", "ended_at"])


def _apply_cancel_reservation(command: ChargePointCommand) -> None:
    sent = command_of(command)
    if answer_of(command).charger_status != "Accepted" or not isinstance(
        sent, ocpp.CancelReservation
    ):
        return
    Reservation.objects.filter(
        pk=sent.reservation_id,
        charge_point_id=command.charge_point_id,
        status__in=[ReservationStatus.PENDING, ReservationStatus.ACTIVE],
    ).update(status=ReservationStatus.CANCELLED, ended_at=command.finished_at)


def _apply_remote_start(command: ChargePointCommand) -> None:
    if command.status == CommandStatus.ACCEPTED:
        return  # stays pending until StartTransaction (or the timeout sweep)
    reasons: dict[str, str] = {
        CommandStatus.REJECTED: RemoteStartRequest.FailureReason.REJECTED,
        CommandStatus.OFFLINE: RemoteStartRequest.FailureReason.OFFLINE,
        CommandStatus.TIMEOUT: RemoteStartRequest.FailureReason.TIMEOUT,
    }
    RemoteStartRequest.objects.filter(
        command=command, status=RemoteStartStatus.PENDING
    ).update(
        status=RemoteStartStatus.FAILED,
        failure_reason=reasons.get(
            command.status, RemoteStartRequest.FailureReason.ERROR
        ),
        detail=(command.error_description or answer_of(command).charger_status)[:255],
        resolved_at=command.finished_at,
    )


def _apply_set_charging_profile(command: ChargePointCommand) -> None:
    profile = ChargingProfile.objects.filter(set_command=command).first()
    if profile is None:
        return
    answer = answer_of(command)
    if answer.charger_status == "Accepted":
        # Same purpose and stack level on the same connector replaces (§3.13.2).
        ChargingProfile.objects.filter(
            charge_point_id=profile.charge_point_id,
            connector_number=profile.connector_number,
            purpose=profile.purpose,
            stack_level=profile.stack_level,
            status=ProfileStatus.ACTIVE,
        ).exclude(pk=profile.pk).update(status=ProfileStatus.CLEARED)
        profile.status = ProfileStatus.ACTIVE
    elif answer.charger_status:
        profile.status = ProfileStatus.REJECTED
    else:
        profile.status = ProfileStatus.FAILED
    profile.save(update_fields=["status"])


def _apply_clear_charging_profile(command: ChargePointCommand) -> None:
    sent = command_of(command)
    # Unknown: the charger holds no such profile, so it is not active either.
    if answer_of(command).charger_status not in ("Accepted", "Unknown") or (
        not isinstance(sent, ocpp.ClearChargingProfile)
    ):
        return
    profiles = ChargingProfile.objects.filter(
        charge_point_id=command.charge_point_id, status=ProfileStatus.ACTIVE
    )
    if sent.profile_id is not None:
        profiles = profiles.filter(pk=sent.profile_id)
    else:
        if sent.connector is not None:
            profiles = profiles.filter(connector_number=sent.connector)
        if sent.purpose:
            profiles = profiles.filter(purpose=sent.purpose)
        if sent.stack_level is not None:
            profiles = profiles.filter(stack_level=sent.stack_level)
    profiles.update(status=ProfileStatus.CLEARED)


def _apply_update_firmware(command: ChargePointCommand) -> None:
    update = FirmwareUpdate.objects.select_for_update().filter(command=command).first()
    if update is None or update.is_finished:
        return
    at = (command.finished_at or _now()).isoformat()
    if _is_accepted(command):
        update.status = "Accepted"
    else:
        update.status = f"Not delivered ({_outcome_label(command)})"
        update.is_finished = True
    update.status_at = command.finished_at
    update.history = [*update.history, {"status": update.status, "at": at}]
    update.save(update_fields=["status", "status_at", "history", "is_finished"])


def _apply_get_diagnostics(command: ChargePointCommand) -> None:
    request = (
        DiagnosticsRequest.objects.select_for_update().filter(command=command).first()
    )
    if request is None or request.is_finished:
        return
    at = (command.finished_at or _now()).isoformat()
    upload = answer_of(command).fact
    if _is_accepted(command):
        file_name = upload.file_name if isinstance(upload, ocpp.DiagnosticsFile) else ""
        request.file_name = file_name[:255]
        request.status = "Accepted" if request.file_name else "No diagnostics"
        request.is_finished = not request.file_name
    else:
        request.status = f"Not delivered ({_outcome_label(command)})"
        request.is_finished = True
    request.status_at = command.finished_at
    request.history = [*request.history, {"status": request.status, "at": at}]
    request.save(
        update_fields=["status", "status_at", "history", "is_finished", "file_name"]
    )


# By the neutral command a row carries, so a 2.0.1 charger's GetVariables
# (its spelling of GetConfiguration) is applied as a 1.6 GetConfiguration is.
_RESULT_HANDLERS: dict[type, Callable[[ChargePointCommand], None]] = {
    ocpp.GetConfiguration: _apply_get_configuration,
    ocpp.ChangeConfiguration: _apply_change_configuration,
    ocpp.GetLocalListVersion: _apply_get_local_list_version,
    ocpp.SendLocalList: _apply_send_local_list,
    ocpp.ReserveNow: _apply_reserve_now,
    ocpp.CancelReservation: _apply_cancel_reservation,
    ocpp.RemoteStart: _apply_remote_start,
    ocpp.SetChargingProfile: _apply_set_charging_profile,
    ocpp.ClearChargingProfile: _apply_clear_charging_profile,
    ocpp.UpdateFirmware: _apply_update_firmware,
    ocpp.GetDiagnostics: _apply_get_diagnostics,
    ocpp.CertificateSigned: certificate_signed_apply,
    ocpp.SetBasicAuthPassword: password_change_apply,
}


# --- hooks for other apps ---------------------------------------------------------


def reservation_allows(
    *, charge_point_ocpp_id: str, connector_id: int, id_tag: str, at: datetime
) -> bool:
    """May ``id_tag`` start on this connector, given the reservations on it?

    A connector reserved for another token refuses (OCPP 1.6 §5.13). Reservations
    on connector 0 leave the choice of connector to the charger, which enforces it.
    """
    reservations = list(
        Reservation.objects.filter(
            charge_point__ocpp_id=charge_point_ocpp_id,
            connector_number=connector_id,
            status=ReservationStatus.ACTIVE,
            expires_at__gt=at,
        ).values_list("id_tag", "parent_id_tag")
    )
    if not reservations:
        return True

    token = (
        IdToken.objects.filter(token__iexact=id_tag).select_related("parent").first()
    )
    parent = token.parent.token.upper() if token and token.parent else ""
    for reserved_tag, reserved_parent in reservations:
        if reserved_tag.upper() == id_tag.upper():
            return True
        if reserved_parent and parent and reserved_parent.upper() == parent:
            return True
    return False


# 2.0.1 ReservationStatusUpdate (H01): the station ended a reservation itself.
_RESERVATION_ENDED = {
    "Expired": ReservationStatus.EXPIRED,
    "Removed": ReservationStatus.CANCELLED,
}


def reservation_status_record(
    *, charge_point_id: int, reservation_id: int, status: str, at: datetime
) -> bool:
    """End a reservation the charger reports expired or removed; False if none."""
    ended = _RESERVATION_ENDED.get(status)
    if ended is None:
        return False
    return bool(
        Reservation.objects.filter(
            pk=reservation_id,
            charge_point_id=charge_point_id,
            status__in=[ReservationStatus.PENDING, ReservationStatus.ACTIVE],
        ).update(status=ended, charger_status=status, ended_at=at)
    )


def customer_information_record(
    *,
    charge_point_id: int,
    request_id: int,
    seq_no: int,
    data: str,
    is_last: bool,
    generated_at: datetime,
) -> CustomerInformationReport:
    """Keep one part of a NotifyCustomerInformation (N09); a resent part is kept once."""
    command = (
        ChargePointCommand.objects.filter(
            charge_point_id=charge_point_id,
            action="CustomerInformation",
            payload__requestId=request_id,
        )
        .order_by("-pk")
        .first()
    )
    with transaction.atomic():
        report, _ = CustomerInformationReport.objects.get_or_create(
            charge_point_id=charge_point_id,
            request_id=request_id,
            defaults={"command": command, "updated_at": _now()},
        )
        report = CustomerInformationReport.objects.select_for_update().get(pk=report.pk)
        parts = {int(part["seq_no"]): part for part in report.parts}
        parts.setdefault(
            seq_no,
            {
                "seq_no": seq_no,
                "data": data,
                "generated_at": generated_at.isoformat(),
                "is_last": is_last,
            },
        )
        report.parts = [parts[number] for number in sorted(parts)]
        # Complete once the part with tbc false and every part before it came.
        last = next((n for n, p in parts.items() if p.get("is_last")), None)
        report.is_complete = last is not None and set(parts) >= set(range(last + 1))
        report.updated_at = _now()
        report.save(update_fields=["parts", "is_complete", "updated_at"])
    return report


def remote_start_resolve(*, session_id: int) -> RemoteStartRequest | None:
    """Mark the pending remote start this new session answers as started."""

    session = ChargingSession.objects.filter(pk=session_id).first()
    if session is None:
        return None
    handle = (
        RemoteStartRequest.objects.filter(
            charge_point_id=session.charge_point_id,
            status=RemoteStartStatus.PENDING,
            id_tag__iexact=session.id_tag,
            requested_at__lte=session.created_at,
        )
        .filter(
            Q(connector_number__isnull=True)
            | Q(connector_number=session.connector_number)
        )
        .order_by("requested_at")
        .first()
    )
    if handle is None:
        return None
    updated = RemoteStartRequest.objects.filter(
        pk=handle.pk, status=RemoteStartStatus.PENDING
    ).update(status=RemoteStartStatus.STARTED, session=session, resolved_at=_now())
    if updated:
        handle.refresh_from_db()
        return handle
    return None


def firmware_progress_sync(*, charge_point_id: int) -> None:
    """Rebuild open firmware/diagnostics requests' history from the message log."""
    # A signed update's progress comes as SignedFirmwareStatusNotification
    # (1.6 security whitepaper L01); 2.0.1 GetLog's as LogStatusNotification (N01).
    for model, actions in (
        (
            FirmwareUpdate,
            ("FirmwareStatusNotification", "SignedFirmwareStatusNotification"),
        ),
        (
            DiagnosticsRequest,
            ("DiagnosticsStatusNotification", "LogStatusNotification"),
        ),
    ):
        for request in model.objects.filter(
            charge_point_id=charge_point_id, is_finished=False
        ):
            _progress_from_log(request, actions)


@transaction.atomic
def _progress_from_log(request: Any, actions: tuple[str, ...]) -> None:
    # Re-read under a row lock: the sweep of another process and the command's
    # answer (``_apply_update_firmware``) write the same row.
    request = type(request).objects.select_for_update().get(pk=request.pk)
    if request.is_finished:
        return
    notifications = OcppMessage.objects.filter(
        charge_point_id=request.charge_point_id,
        direction=OcppMessage.Direction.IN,
        message_type=OcppMessage.MessageType.CALL,
        action__in=actions,
        at__gte=request.requested_at,
    ).order_by("at", "id")
    reported = [
        {"status": str(message.payload.get("status", "")), "at": message.at.isoformat()}
        for message in notifications
        if isinstance(message.payload, dict) and message.payload.get("status")
    ]
    base = [item for item in request.history if not item.get("from_charger")]
    history = base + [{**item, "from_charger": True} for item in reported]
    if history == request.history and (
        not reported or request.status == reported[-1]["status"]
    ):
        return
    request.history = history
    fields = ["history"]
    if reported:
        request.status = reported[-1]["status"]
        request.status_at = _parse(reported[-1]["at"])
        request.is_finished = request.status in request.TERMINAL
        fields += ["status", "status_at", "is_finished"]
    request.save(update_fields=fields)


# --- sweeps -------------------------------------------------------------------------


def command_results_sweep(*, now: datetime, window_s: int = 3600) -> int:
    """Apply the results of recently finished commands not applied yet."""
    ids = list(
        ChargePointCommand.objects.filter(
            finished_at__gte=now - timedelta(seconds=window_s),
            result_application__isnull=True,
        )
        .exclude(status=CommandStatus.PENDING)
        .values_list("pk", flat=True)[:500]
    )
    return sum(command_result_apply(command_id=pk) for pk in ids)


def configuration_fetch_on_boot(*, charge_point_id: int) -> ChargePointCommand | None:
    """Ask a booted charger for its configuration unless asked since its boot."""
    charge_point = ChargePoint.objects.select_related("station").get(pk=charge_point_id)
    fetch = ConfigurationFetch.objects.filter(charge_point=charge_point).first()
    if charge_point.last_boot_at is None or (
        fetch is not None and fetch.requested_at >= charge_point.last_boot_at
    ):
        return None
    return configuration_fetch(charge_point=charge_point, requested_by=None)


def configuration_boot_sweep(*, limit: int = 50) -> int:
    """GetConfiguration for connected, accepted chargers booted since their last read."""
    candidates = (
        ChargePoint.objects.filter(
            is_connected=True,
            registration_status=RegistrationStatus.ACCEPTED,
            last_boot_at__isnull=False,
        )
        .filter(
            Q(configuration_fetch__isnull=True)
            | Q(configuration_fetch__requested_at__lt=F("last_boot_at"))
        )
        .values_list("pk", flat=True)[:limit]
    )
    sent = 0
    for pk in list(candidates):
        sent += configuration_fetch_on_boot(charge_point_id=pk) is not None
    return sent


def remote_starts_sweep(*, now: datetime) -> int:
    """Resolve pending remote starts: started by a session, or failed by timeout."""

    resolved = 0
    timeout = timedelta(seconds=getattr(settings, "REMOTE_START_TIMEOUT_SECONDS", 60))
    for handle in RemoteStartRequest.objects.filter(
        status=RemoteStartStatus.PENDING
    ).select_related("command")[:500]:
        sessions = ChargingSession.objects.filter(
            charge_point_id=handle.charge_point_id,
            id_tag__iexact=handle.id_tag,
            created_at__gte=handle.requested_at,
        )
        if handle.connector_number:
            sessions = sessions.filter(connector_number=handle.connector_number)
        session = sessions.order_by("created_at").first()
        if session is not None:
            resolved += remote_start_resolve(session_id=session.pk) is not None
            continue
        command = handle.command
        if command.status not in (CommandStatus.ACCEPTED, CommandStatus.PENDING):
            resolved += command_result_apply(command_id=command.pk)
            continue
        answered_at = command.finished_at or command.requested_at
        if command.status == CommandStatus.ACCEPTED and now - answered_at > timeout:
            resolved += RemoteStartRequest.objects.filter(
                pk=handle.pk, status=RemoteStartStatus.PENDING
            ).update(
                status=RemoteStartStatus.FAILED,
                failure_reason=RemoteStartRequest.FailureReason.NO_START,
                detail=f"No StartTransaction within {timeout.total_seconds():g} s.",
                resolved_at=now,
            )
    return resolved


def reservations_sweep(*, now: datetime) -> int:
    """End reservations that expired or were used by a session."""

    changed = 0
    open_statuses = [ReservationStatus.PENDING, ReservationStatus.ACTIVE]
    for reservation_id, charge_point_id in Reservation.objects.filter(
        status__in=open_statuses
    ).values_list("pk", "charge_point_id")[:1000]:
        session = (
            ChargingSession.objects.filter(
                charge_point_id=charge_point_id, reservation_id=reservation_id
            )
            .order_by("started_at")
            .first()
        )
        if session is not None:
            changed += Reservation.objects.filter(
                pk=reservation_id, status__in=open_statuses
            ).update(status=ReservationStatus.USED, session=session, ended_at=now)
    changed += Reservation.objects.filter(
        status=ReservationStatus.ACTIVE, expires_at__lte=now
    ).update(status=ReservationStatus.EXPIRED, ended_at=now)
    return changed


def firmware_progress_sweep() -> int:
    """Sync firmware/diagnostics progress of every charger with an open request."""
    charge_point_ids = set(
        FirmwareUpdate.objects.filter(is_finished=False).values_list(
            "charge_point_id", flat=True
        )
    ) | set(
        DiagnosticsRequest.objects.filter(is_finished=False).values_list(
            "charge_point_id", flat=True
        )
    )
    for charge_point_id in charge_point_ids:
        firmware_progress_sync(charge_point_id=charge_point_id)
    return len(charge_point_ids)


def remote_operations_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Every time-driven part of remote operations; safe to run concurrently twice."""
    now = now or _now()
    return {
        "results": command_results_sweep(now=now),
        "remote_starts": remote_starts_sweep(now=now),
        "reservations": reservations_sweep(now=now),
        "firmware": firmware_progress_sweep(),
        "configuration": configuration_boot_sweep(),
    }
