"""CMS -> charger commands: the audit row, its transport and its outcome.

``command_send`` records a ``ChargePointCommand`` and, after commit, asks the
consumer holding the charger's socket (in whatever process) to run it through
the channel layer, on that connection's channel (``ChargePoint.connection_channel``). The consumer claims
the row (``command_claim``), awaits the OCPP CALL in its own task and records
the answer with ``command_finish``. An unconnected charger finishes as
``offline`` at once. Any OCPP 1.6 action works: the payload (camelCase or
snake_case keys) is checked against the 1.6 schema before anything is stored.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from ocpp.charge_point import remove_nones, serialize_as_dict
from ocpp.exceptions import OCPPError
from ocpp.v16 import call as v16_call
from ocpp.v16.enums import Action

from accounts.services import audit_record
from cms.events import CommandFinished, emit
from stations.models import ChargePoint, ChargePointCommand, CommandStatus
from stations.ocpp.casing import camel_to_snake_case, snake_to_camel_case
from stations.ocpp.protocol import CALL
from stations.ocpp.validation import validate
from stations.services import charge_point_groups

logger = logging.getLogger(__name__)

COMMAND_MESSAGE_TYPE = "ocpp.command"

# Actions only the charger initiates (DataTransfer goes both ways).
CHARGER_INITIATED_ACTIONS = frozenset(
    {
        "Authorize",
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "LogStatusNotification",
        "MeterValues",
        "SecurityEventNotification",
        "SignCertificate",
        "SignedFirmwareStatusNotification",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
    }
)
CMS_ACTIONS = frozenset(
    action.value
    for action in Action
    if action.value not in CHARGER_INITIATED_ACTIONS and hasattr(v16_call, action.value)
)
_ACCEPTED_ANSWERS = frozenset({"Accepted", "Unlocked"})
_REJECTED_ANSWERS = frozenset({"Rejected", "UnlockFailed"})


class CommandPayloadError(ValueError):
    """The command is not valid OCPP 1.6; ``field`` names the offending field."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def _camel_action(action: str) -> str:
    """``remote_start_transaction`` / ``RemoteStartTransaction`` -> the 1.6 name."""
    if "_" in action or action[:1].islower():
        return "".join(part[:1].upper() + part[1:] for part in action.split("_"))
    return action


def _field_from_type_error(error: TypeError) -> str:
    """``missing ... argument: 'id_tag'`` -> ``idTag`` (the form/API field)."""
    match = re.search(r"argument:? '(\w+)'", str(error))
    if match is None:
        return "payload"
    return str(snake_to_camel_case({match.group(1): None}).popitem()[0])


def build_call(action: str, payload: dict[str, Any]) -> Any:
    """Build the python-ocpp ``ocpp.v16.call.<Action>`` dataclass for a payload."""
    call_class = getattr(v16_call, action)
    return call_class(**camel_to_snake_case(payload))


def normalize_command(action: str, payload: dict[str, Any] | None) -> tuple[str, dict]:
    """Return the 1.6 action name and the camelCase payload, or raise CommandPayloadError."""
    name = _camel_action(str(action or "").strip())
    if name not in CMS_ACTIONS:
        raise CommandPayloadError(
            f"“{action}” is not an OCPP 1.6 command a central system can send.",
            field="action",
        )
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise CommandPayloadError("The payload must be a JSON object.", field="payload")
    try:
        request = build_call(name, payload)
    except TypeError as error:
        raise CommandPayloadError(
            f"{name}: {error}".replace("__init__() ", ""),
            field=_field_from_type_error(error),
        ) from None
    camel = snake_to_camel_case(remove_nones(serialize_as_dict(request)))
    try:
        validate(name, CALL, camel)
    except OCPPError as error:
        details = error.details if isinstance(error.details, dict) else {}
        raise CommandPayloadError(
            f"{name}: {details.get('cause') or error.description}",
            field=str(details.get("field") or "payload"),
        ) from None
    return name, camel


def status_for_answer(payload: Any) -> str:
    """Map a charger's CALLRESULT to a command status (the payload is kept too)."""
    answer = payload.get("status") if isinstance(payload, dict) else None
    if answer is None:
        return CommandStatus.ACCEPTED  # e.g. GetConfiguration: an answer is success
    if answer in _ACCEPTED_ANSWERS:
        return CommandStatus.ACCEPTED
    if answer in _REJECTED_ANSWERS:
        return CommandStatus.REJECTED
    return CommandStatus.OTHER


def command_send(
    *,
    charge_point: ChargePoint,
    action: str,
    payload: dict[str, Any] | None,
    requested_by: Any,
    connector_number: int | None = None,
    batch: uuid.UUID | None = None,
) -> ChargePointCommand:
    """Record a command and hand it to the charger's consumer after commit.

    Raises ``CommandPayloadError`` (nothing stored) for a payload that is not
    valid OCPP 1.6. An unconnected charger gets the row finished as offline.
    """
    name, camel = normalize_command(action, payload)
    if connector_number is None and isinstance(camel.get("connectorId"), int):
        connector_number = camel["connectorId"]
    with transaction.atomic():
        command = ChargePointCommand.objects.create(
            charge_point=charge_point,
            connector_number=connector_number,
            action=name,
            payload=camel,
            requested_by=requested_by
            if getattr(requested_by, "is_authenticated", False)
            else None,
            requested_at=timezone.now(),
            batch=batch,
        )
        audit_record(
            actor=requested_by,
            action=f"command.{name}",
            target=charge_point,
            network=charge_point.station.network if charge_point.station else None,
            after={
                "command_id": command.pk,
                "action": name,
                "payload": camel,
                "connector_number": connector_number,
            },
        )
        is_connected, channel = (
            ChargePoint.objects.filter(pk=charge_point.pk)
            .values_list("is_connected", "connection_channel")
            .first()
        ) or (False, "")
        if not is_connected:
            command_finish(
                command_id=command.pk,
                status=CommandStatus.OFFLINE,
                error_description="The charger is not connected.",
            )
        elif channel:
            command_id = command.pk
            transaction.on_commit(lambda: _dispatch(channel, command_id))
    command.refresh_from_db()
    return command


def _dispatch(channel: str, command_id: int) -> None:
    """Hand the command to the consumer that held the charger's socket at commit."""
    layer = get_channel_layer()
    try:
        async_to_sync(layer.send)(
            channel, {"type": COMMAND_MESSAGE_TYPE, "command_id": command_id}
        )
    except Exception as error:  # e.g. Redis down: say so on the row, never hang
        logger.warning("command %s could not be dispatched", command_id, exc_info=True)
        command_finish(
            command_id=command_id,
            status=CommandStatus.ERROR,
            error_code="ChannelLayerError",
            error_description=f"Could not reach the gateway: {error}"[:255],
        )


@dataclass(frozen=True)
class ClaimedCommand:
    pk: int
    action: str
    payload: dict[str, Any]
    unique_id: str


def command_claim(*, command_id: int, charge_point_id: int) -> ClaimedCommand | None:
    """Claim a pending command for sending; None if another consumer has it or it is done."""
    unique_id = str(uuid.uuid4())
    claimed = ChargePointCommand.objects.filter(
        pk=command_id,
        charge_point_id=charge_point_id,
        status=CommandStatus.PENDING,
        sent_at__isnull=True,
    ).update(sent_at=timezone.now(), unique_id=unique_id)
    if not claimed:
        return None
    action, payload = ChargePointCommand.objects.values_list("action", "payload").get(
        pk=command_id
    )
    return ClaimedCommand(command_id, action, payload or {}, unique_id)


def pending_command_ids(
    *, channel_names: list[str], since: datetime
) -> list[tuple[str, int]]:
    """Unclaimed commands for chargers held by these consumer channels."""
    return list(
        ChargePointCommand.objects.filter(
            status=CommandStatus.PENDING,
            sent_at__isnull=True,
            requested_at__gte=since,
            charge_point__connection_channel__in=channel_names,
        ).values_list("charge_point__connection_channel", "pk")[:200]
    )


@transaction.atomic
def command_finish(
    *,
    command_id: int,
    status: str,
    response_payload: Any = None,
    error_code: str = "",
    error_description: str = "",
    finished_at: datetime | None = None,
) -> bool:
    """Record a command's outcome once; a second outcome for it is ignored."""
    finished_at = finished_at or timezone.now()
    command = (
        ChargePointCommand.objects.select_for_update()
        .filter(pk=command_id, status=CommandStatus.PENDING)
        .first()
    )
    if command is None:
        return False
    duration = finished_at - command.requested_at
    command.status = status
    command.response_payload = response_payload
    command.error_code = error_code[:40]
    command.error_description = error_description[:255]
    command.finished_at = finished_at
    command.duration_ms = max(0, int(duration.total_seconds() * 1000))
    command.save(
        update_fields=[
            "status",
            "response_payload",
            "error_code",
            "error_description",
            "finished_at",
            "duration_ms",
        ]
    )
    charge_point = ChargePoint.objects.select_related("station").get(
        pk=command.charge_point_id
    )
    station = charge_point.station
    emit(
        CommandFinished(
            command_id=command.pk,
            charge_point_pk=charge_point.pk,
            station_id=charge_point.station_id,
            network_id=station.network_id if station is not None else None,
            action=command.action,
            status=status,
            charger_status=command.charger_status,
            error_code=command.error_code,
            duration_ms=command.duration_ms,
            batch=str(command.batch) if command.batch else None,
            at=finished_at.isoformat(),
        ),
        live_groups=charge_point_groups(charge_point),
    )
    # Imported here: the remote-operations domain builds on this module.
    from stations.remote.tasks import command_result_apply_task

    # Configuration keys, reservations, local list versions, remote-start handles
    # follow the answer at once (the remote-operations sweep is the safety net).
    command_result_apply_task.delay_on_commit(command_id=command.pk)
    return True


def commands_expire_stale(*, now: datetime) -> int:
    """Finish commands no consumer picked up (its process died) as timeout."""
    cutoff = now - timedelta(seconds=settings.OCPP_COMMAND_TIMEOUT * 2 + 30)
    expired = 0
    stale = ChargePointCommand.objects.filter(
        status=CommandStatus.PENDING, requested_at__lt=cutoff
    ).values_list("pk", flat=True)[:1000]
    for command_id in list(stale):
        expired += command_finish(
            command_id=command_id,
            status=CommandStatus.TIMEOUT,
            error_description="No gateway answered for this charger.",
        )
    return expired


def command_wait(command_id: int, timeout: float) -> ChargePointCommand:
    """Poll until the command is finished or ``timeout`` seconds pass (for scripts)."""
    deadline = time.monotonic() + timeout
    while True:
        command = ChargePointCommand.objects.get(pk=command_id)
        if command.is_finished or time.monotonic() >= deadline:
            return command
        time.sleep(0.1)
