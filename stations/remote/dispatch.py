"""CMS -> charger commands: the audit row, its transport and its outcome.

``command_send`` turns a version-neutral command (``stations.ocpp.commands``)
into the charger's wire CALL through its version adapter
(``stations.ocpp.versions``, by ``ChargePoint.ocpp_protocol``), records a
``ChargePointCommand`` with what goes on the wire and, after commit, asks the
consumer holding the charger's socket (in whatever process) to run it through
the channel layer, on that connection's channel
(``ChargePoint.connection_channel``). The consumer claims the row
(``command_claim``), awaits the CALL in its own task and records the answer
with ``command_finish``. An unconnected charger finishes as ``offline`` at
once. ``command_of`` / ``answer_of`` read a stored row back as the neutral
command and answer.
"""

from __future__ import annotations

import logging
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

from accounts.http import AnyUser, recorded_actor
from accounts.services import audit_record
from cms.events import CommandFinished, emit
from cms.tasks import enqueue_on_commit
from stations.models import ChargePoint, ChargePointCommand, CommandStatus
from stations.ocpp import versions
from stations.ocpp.commands import Answer, Command, CommandPayloadError
from stations.ocpp.versions import VersionAdapter, WireCall
from stations.services import charge_point_groups

__all__ = ["CommandPayloadError"]

logger = logging.getLogger(__name__)

COMMAND_MESSAGE_TYPE = "ocpp.command"
# The error code of a command that never reached the gateway (channel layer down).
GATEWAY_UNREACHABLE = "ChannelLayerError"


def gateway_unreachable(command: ChargePointCommand | None) -> bool:
    """The command failed before any charger saw it: the gateway was unreachable."""
    return (
        command is not None
        and command.status == CommandStatus.ERROR
        and command.error_code == GATEWAY_UNREACHABLE
    )


def charge_point_adapter(charge_point: ChargePoint) -> VersionAdapter:
    """The version adapter of the protocol the charger negotiated."""
    return versions.adapter_for(charge_point.ocpp_protocol)


def command_call(*, charge_point: ChargePoint, command: Command) -> WireCall:
    """The CALL ``command`` becomes for this charger; raises CommandPayloadError."""
    return charge_point_adapter(charge_point).call_for(command)


def command_of(command: ChargePointCommand) -> Command:
    """The neutral command a stored audit row carries."""
    adapter = charge_point_adapter(command.charge_point)
    return adapter.command_of(WireCall(command.action, command.payload or {}))


def answer_of(command: ChargePointCommand) -> Answer:
    """The neutral reading of the charger's answer stored on the audit row."""
    adapter = charge_point_adapter(command.charge_point)
    return adapter.answer_of(command.action, command.response_payload)


def status_for_answer(answer: Answer) -> str:
    """The command status of a charger's answer (the payload is kept too)."""
    if answer.is_rejected:
        return CommandStatus.REJECTED
    if answer.is_accepted:
        return CommandStatus.ACCEPTED
    return CommandStatus.OTHER


def command_send(
    *,
    charge_point: ChargePoint,
    command: Command,
    requested_by: AnyUser | None,
    connector_number: int | None = None,
    batch: uuid.UUID | None = None,
) -> ChargePointCommand:
    """Record a command and hand it to the charger's consumer after commit.

    Raises ``CommandPayloadError`` (nothing stored) for a command the
    charger's protocol cannot carry. An unconnected charger gets the row
    finished as offline.
    """
    call = command_call(charge_point=charge_point, command=command)
    name, camel = call.action, call.payload
    connector = getattr(command, "connector", None)
    if connector_number is None and isinstance(connector, int):
        connector_number = connector
    with transaction.atomic():
        row = ChargePointCommand.objects.create(
            charge_point=charge_point,
            connector_number=connector_number,
            action=name,
            payload=camel,
            requested_by=recorded_actor(requested_by)
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
                "command_id": row.pk,
                "action": name,
                # A password sent to the charger is never kept in the audit log.
                "payload": charge_point_adapter(charge_point).without_secrets(
                    name, camel
                ),
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
                command_id=row.pk,
                status=CommandStatus.OFFLINE,
                error_description="The charger is not connected.",
            )
        elif channel:
            command_id = row.pk
            transaction.on_commit(lambda: _dispatch(channel, command_id))
    row.refresh_from_db()
    return row


def _dispatch(channel: str, command_id: int) -> None:
    """Hand the command to the consumer that held the charger's socket at commit.

    One retry: the first send after a Redis restart fails on a pooled
    connection the server closed ("Connection closed by server"); the retry
    opens a fresh one. A second failure means the channel layer is down.
    """
    layer = get_channel_layer()
    message = {"type": COMMAND_MESSAGE_TYPE, "command_id": command_id}
    try:
        if layer is None:
            raise RuntimeError("no channel layer is configured")
        try:
            async_to_sync(layer.send)(channel, message)
        except Exception:
            logger.info("command %s: channel layer send failed; retrying", command_id)
            async_to_sync(layer.send)(channel, message)
    except Exception as error:  # e.g. Redis down: say so on the row, never hang
        logger.warning("command %s could not be dispatched", command_id, exc_info=True)
        command_finish(
            command_id=command_id,
            status=CommandStatus.ERROR,
            error_code=GATEWAY_UNREACHABLE,
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
    charge_point = ChargePoint.objects.select_related("station").get(
        pk=command.charge_point_id
    )
    # Sent (or never to be sent): a password in the CALL is kept no longer.
    command.payload = charge_point_adapter(charge_point).without_secrets(
        command.action, command.payload
    )
    command.status = status
    command.response_payload = response_payload
    command.error_code = error_code[:40]
    command.error_description = error_description[:255]
    command.finished_at = finished_at
    command.duration_ms = max(0, int(duration.total_seconds() * 1000))
    command.save(
        update_fields=[
            "payload",
            "status",
            "response_payload",
            "error_code",
            "error_description",
            "finished_at",
            "duration_ms",
        ]
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
    enqueue_on_commit(command_result_apply_task, command_id=command.pk)
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
