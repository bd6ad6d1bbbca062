"""Commands module, eMSP side, Sender interface (OCPI 2.2.1 mod_commands).

We POST START_SESSION, STOP_SESSION, RESERVE_NOW or UNLOCK_CONNECTOR to a CPO
partner's Commands Receiver for one of our drivers; the CPO answers at once
with a CommandResponse (ACCEPTED, REJECTED, NOT_SUPPORTED, UNKNOWN_SESSION and
the seconds to wait), and later POSTs the CommandResult to the response_url
we gave, ``/ocpi/emsp/2.2.1/commands/{type}/{reference}``. A command whose
result has not come within its timeout is TIMEOUT (``command_timeouts_sweep``).
Every command and result is audited against the partner, as our own remote
commands are against their charger.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record
from cms.errors import InputError
from roaming.client import PartnerCallError, ocpi_call
from roaming.emsp.tokens import token_object
from roaming.models import (
    CommandResponseType,
    CommandResultType,
    CommandType,
    EmspCommand,
    Partner,
)
from roaming.transport import (
    INVALID_PARAMETERS,
    NotFound,
    OcpiError,
    OcpiResult,
    OcpiView,
    ocpi_timestamp,
    request_json,
    require_object,
    require_string,
)
from sessions_app.models import IdToken

SENT = {
    CommandType.START_SESSION,
    CommandType.STOP_SESSION,
    CommandType.RESERVE_NOW,
    CommandType.UNLOCK_CONNECTOR,
}
# Waiting this long when the CommandResponse names no timeout.
_DEFAULT_TIMEOUT_S = 60


def _display_text(value: Any) -> str:
    """The text of a DisplayText list (types "DisplayText class"), English first."""
    if not isinstance(value, list):
        return ""
    texts = [item for item in value if isinstance(item, dict) and item.get("text")]
    texts.sort(key=lambda item: item.get("language") != "en")
    return str(texts[0]["text"])[:512] if texts else ""


def _required(field: str, value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise InputError(field=field, message="Required for this command.")
    if len(value) > 36:
        raise InputError(field=field, message="At most 36 characters (OCPI CiString).")
    return value


def _body(
    command: EmspCommand, *, response_url: str, expiry: datetime | None
) -> dict[str, Any]:
    """The request object of mod_commands "Object description" per command."""
    body: dict[str, Any] = {"response_url": response_url}
    kind = command.type
    if kind in {CommandType.START_SESSION, CommandType.RESERVE_NOW}:
        if command.id_token is None:
            raise InputError(field="id_token", message="A driver's token is required.")
        body["token"] = token_object(command.id_token)
        body["location_id"] = command.location_id
        if command.evse_uid:
            body["evse_uid"] = command.evse_uid
        # StartSession: connector_id only together with evse_uid.
        start = kind == CommandType.START_SESSION
        if start and command.evse_uid and command.connector_id:
            body["connector_id"] = command.connector_id
        body["authorization_reference"] = command.reference
    if kind == CommandType.RESERVE_NOW:
        if expiry is None:
            raise InputError(field="expiry_date", message="Required for a reservation.")
        body["expiry_date"] = ocpi_timestamp(expiry)
        body["reservation_id"] = command.reservation_id
    if kind == CommandType.STOP_SESSION:
        body["session_id"] = command.session_id
    if kind == CommandType.UNLOCK_CONNECTOR:
        body.update(
            location_id=command.location_id,
            evse_uid=command.evse_uid,
            connector_id=command.connector_id,
        )
    return body


def command_send(
    *,
    partner: Partner,
    type: str,
    actor: User | None,
    id_token: IdToken | None = None,
    location_id: str = "",
    evse_uid: str = "",
    connector_id: str = "",
    session_id: str = "",
    reservation_id: str = "",
    expiry: datetime | None = None,
) -> EmspCommand:
    """Send one command to a CPO partner; the row holds its CommandResponse.

    Bad input raises InputError naming the field. A CPO that cannot be reached,
    times out or refuses the call leaves the command FAILED with the reason.
    """
    if type not in SENT:
        raise InputError(field="type", message=f"Not a command we send: {type!r}.")
    if not partner.is_registered or not partner.has_role("CPO"):
        raise InputError(field="partner", message=f"{partner} is not a registered CPO.")
    url = partner.endpoint_url("commands", "RECEIVER")
    if url is None:
        raise InputError(
            field="partner", message=f"{partner} has no Commands Receiver."
        )
    command = EmspCommand(
        partner=partner,
        type=type,
        reference=uuid.uuid4().hex,
        requested_by=actor,
        id_token=id_token,
        request={},
    )
    if type in {
        CommandType.START_SESSION,
        CommandType.RESERVE_NOW,
        CommandType.UNLOCK_CONNECTOR,
    }:
        command.location_id = _required("location_id", location_id)
    if type == CommandType.UNLOCK_CONNECTOR:
        command.evse_uid = _required("evse_uid", evse_uid)
        command.connector_id = _required("connector_id", connector_id)
    else:
        command.evse_uid = evse_uid.strip()[:36]
        command.connector_id = connector_id.strip()[:36]
    if type == CommandType.STOP_SESSION:
        command.session_id = _required("session_id", session_id)
    if type == CommandType.RESERVE_NOW:
        command.reservation_id = reservation_id.strip()[:36] or command.reference[:36]
    # The URL partners reach us at (OCPI_BASE_URL), as for our versions URL.
    response_url = settings.OCPI_BASE_URL + reverse(
        "roaming:ocpi_emsp_command_result",
        kwargs={"command": type, "reference": command.reference},
    )
    command.request = _body(command, response_url=response_url, expiry=expiry)
    command.save()
    try:
        answer = ocpi_call(
            f"{url.rstrip('/')}/{type}",
            token=partner.outgoing_token,
            method="POST",
            body=command.request,
            encoding=partner.token_encoding,
            partner=partner,
            functional=True,
        )
        data = require_object(answer.data, field="data")
        response = data.get("result")
        if response not in CommandResponseType.values:
            raise PartnerCallError(f"CommandResponse result {response!r} is unknown")
        timeout = data.get("timeout")
        command.response = str(response)
        command.timeout_s = timeout if isinstance(timeout, int) else None
        command.response_message = _display_text(data.get("message"))
    except (PartnerCallError, OcpiError) as error:
        command.error = error.message[:1000]
        command.result = CommandResultType.FAILED
        command.result_at = timezone.now()
    command.save()
    audit_record(
        actor=actor,
        action=f"ocpi.command.{type.lower()}",
        target=partner,
        after={
            "command_id": command.pk,
            "type": type,
            "location_id": command.location_id,
            "evse_uid": command.evse_uid,
            "session_id": command.session_id,
            "response": command.response,
            "error": command.error,
        },
        detail=f"{type} to {partner}: {command.response or command.error}",
    )
    return command


def _result_apply(
    command: EmspCommand, *, result: str, message: str, actor_partner: Partner
) -> EmspCommand:
    with transaction.atomic():
        locked = EmspCommand.objects.select_for_update().get(pk=command.pk)
        # The first CommandResult counts; our own TIMEOUT gives way to a late one.
        if locked.result and locked.result != CommandResultType.TIMEOUT:
            return locked
        before = locked.result
        locked.result, locked.result_message = result, message
        locked.result_at = timezone.now()
        locked.save(update_fields=["result", "result_message", "result_at"])
        audit_record(
            actor=None,
            action="ocpi.command.result",
            target=actor_partner,
            before={"result": before},
            after={"command_id": locked.pk, "type": locked.type, "result": result},
            detail=f"{locked.type} result from {actor_partner}: {result} {message}",
        )
    return locked


def command_timeouts_sweep(*, now: datetime | None = None) -> int:
    """Mark TIMEOUT the accepted commands whose result did not come in time."""
    now = now or timezone.now()
    waiting = EmspCommand.objects.filter(
        result="", response=CommandResponseType.ACCEPTED
    )
    late = 0
    for command in waiting:
        deadline = command.created_at + timedelta(
            seconds=command.timeout_s or _DEFAULT_TIMEOUT_S
        )
        if deadline > now:
            continue
        late += EmspCommand.objects.filter(pk=command.pk, result="").update(
            result=CommandResultType.TIMEOUT,
            result_message="No CommandResult within the CPO's timeout",
            result_at=now,
        )
    return late


class CommandResultView(OcpiView):
    """POST .../emsp/2.2.1/commands/{command}/{reference}: the CPO's CommandResult."""

    module = "commands"
    partner_role = "CPO"

    def post(self, request: HttpRequest, command: str, reference: str) -> OcpiResult:
        found = EmspCommand.objects.filter(
            reference=reference, type=command, partner=self.caller.partner
        ).first()
        if found is None:
            raise NotFound(f"No {command} command {reference} of this connection")
        data = require_object(request_json(request))
        result = require_string(data, "result", max_length=20)
        if result not in CommandResultType.values:
            raise OcpiError(INVALID_PARAMETERS, f"result: unknown value {result!r}")
        _result_apply(
            found,
            result=result,
            message=_display_text(data.get("message")),
            actor_partner=self.caller.partner,
        )
        return OcpiResult()
