"""Commands module, CPO side, Receiver interface (OCPI 2.2.1 mod_commands).

POST .../commands/{command} is answered at once with a CommandResponse (did we
take the command); the charger's answer follows as a CommandResult POSTed to
the request's response_url (mod_commands "Receiver Interface"). Commands
become our remote operations (stations/remote), so they are audited and their
outcomes arrive as ``command.finished`` events, which ``roaming.tasks``
turns into the CommandResult.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from roaming.cpo.locations import evse_uid, published_stations
from roaming.cpo.tokens import token_parse, token_store
from roaming.models import CommandType, RoamingCommand, RoamingSession
from roaming.transport import (
    INVALID_PARAMETERS,
    UNKNOWN_LOCATION,
    OcpiError,
    OcpiResult,
    OcpiView,
    ocpi_datetime_parse,
    request_json,
    require_object,
    require_string,
)
from sessions_app.models import ChargingSession, SessionStatus
from stations.models import ChargePoint, CommandStatus, Connector
from stations.ocpp import commands as ocpp
from stations.remote.models import Reservation
from stations.remote.services import (
    command_submit,
    remote_start_request,
    reservation_cancel,
    reservation_create,
)

# OCPP 1.6 idTag is CiString20 (§7.28): a longer Token.uid cannot reach a 1.6 charger.
_ID_TAG_MAX = 20


def _response(result: str, message: str = "") -> OcpiResult:
    # mod_commands "CommandResponse object": result and the seconds to wait.
    data: dict[str, Any] = {"result": result, "timeout": _timeout_s()}
    if message:
        data["message"] = [{"language": "en", "text": message}]
    return OcpiResult(data=data)


def _timeout_s() -> int:
    return int(max(settings.OCPP_COMMAND_TIMEOUT, 1)) + 30


def _connector(
    body: dict[str, Any], *, evse_required: bool
) -> tuple[ChargePoint, Connector | None]:
    location_id = require_string(body, "location_id", max_length=36)
    station = (
        published_stations().filter(pk=int(location_id)).first()
        if location_id.isdigit()
        else None
    )
    if station is None:
        raise OcpiError(UNKNOWN_LOCATION, f"Unknown location {location_id}")
    connectors = [
        connector
        for charge_point in station.charge_points.all()
        for connector in charge_point.connectors.all()
    ]
    uid = body.get("evse_uid")
    if uid is None and not evse_required:
        if not connectors:
            raise OcpiError(UNKNOWN_LOCATION, f"Location {location_id} has no EVSE")
        return connectors[0].charge_point, None
    uid = require_string(body, "evse_uid", max_length=36)
    connector = next((c for c in connectors if evse_uid(c) == uid), None)
    if connector is None:
        raise OcpiError(INVALID_PARAMETERS, f"evse_uid: unknown EVSE {uid}")
    connector_id = body.get("connector_id")
    if connector_id is not None and connector_id != "1":
        # Each of our EVSEs has one Connector, id "1" (roaming/cpo/locations.py).
        raise OcpiError(
            INVALID_PARAMETERS, f"connector_id: unknown connector {connector_id}"
        )
    return connector.charge_point, connector


def _token_uid(body: dict[str, Any], partner_caller: OcpiView) -> str:
    token = token_parse(require_object(body.get("token"), field="token"), partial=False)
    if not partner_caller.caller.partner.has_party(
        token["country_code"], token["party_id"]
    ):
        raise OcpiError(
            INVALID_PARAMETERS, "token: not a token of this connection's parties"
        )
    if len(token["uid"]) > _ID_TAG_MAX:
        raise OcpiError(
            INVALID_PARAMETERS,
            f"token.uid: at most {_ID_TAG_MAX} characters reach our chargers",
        )
    token_store(partner=partner_caller.caller.partner, data=token)
    return str(token["uid"])


class CommandView(OcpiView):
    """POST .../commands/{command}."""

    module = "commands"
    partner_role = "EMSP"

    def post(self, request: HttpRequest, command: str) -> OcpiResult:
        if command not in CommandType.values:
            return _response("NOT_SUPPORTED", f"Unknown command {command}")
        body = require_object(request_json(request))
        response_url = require_string(body, "response_url", max_length=255)
        if not response_url.startswith(("http://", "https://")):
            raise OcpiError(
                INVALID_PARAMETERS, "response_url: an http(s) URL is required"
            )
        partner = self.caller.partner
        record = RoamingCommand(
            partner=partner, type=command, response_url=response_url, request=body
        )
        handler = getattr(self, f"_{command.lower()}")
        return handler(body, record)

    def _start_session(
        self, body: dict[str, Any], record: RoamingCommand
    ) -> OcpiResult:
        charge_point, connector = _connector(body, evse_required=False)
        record.token_uid = _token_uid(body, self)
        record.authorization_reference = str(body.get("authorization_reference") or "")[
            :36
        ]
        record.save()
        handle = remote_start_request(
            charge_point=charge_point,
            id_tag=record.token_uid,
            connector_number=connector.connector_id if connector else None,
            requested_by=None,
        )
        _attach(record, handle.command)
        return _response("ACCEPTED")

    def _stop_session(self, body: dict[str, Any], record: RoamingCommand) -> OcpiResult:
        session_id = require_string(body, "session_id", max_length=36)
        link = (
            RoamingSession.objects.select_related("session__charge_point")
            .filter(partner=record.partner, session__pk=int(session_id))
            .first()
            if session_id.isdigit()
            else None
        )
        # A session of another partner is as unknown as none (scope).
        if link is None:
            return _response("UNKNOWN_SESSION", f"Unknown session {session_id}")
        session: ChargingSession = link.session
        if session.status != SessionStatus.ACTIVE:
            return _response("REJECTED", f"Session {session_id} is not active")
        record.save()
        sent = command_submit(
            charge_point=session.charge_point,
            command=ocpp.RemoteStop(transaction_id=session.pk),
            requested_by=None,
        )
        _attach(record, sent)
        return _response("ACCEPTED")

    def _reserve_now(self, body: dict[str, Any], record: RoamingCommand) -> OcpiResult:
        charge_point, connector = _connector(body, evse_required=False)
        record.token_uid = _token_uid(body, self)
        record.reservation_ref = require_string(body, "reservation_id", max_length=36)
        raw_expiry = require_string(body, "expiry_date", max_length=40)
        expires_at = ocpi_datetime_parse(raw_expiry, field="expiry_date")
        if expires_at <= timezone.now():
            raise OcpiError(INVALID_PARAMETERS, "expiry_date: in the past")
        record.save()
        # mod_commands "ReserveNow object": the same reservation_id replaces the
        # earlier reservation (the old one is cancelled at the charger first).
        earlier = _open_reservation(record)
        if earlier is not None:
            reservation_cancel(reservation=earlier, requested_by=None)
        reservation = reservation_create(
            charge_point=charge_point,
            # OCPP 1.6 §5.13: connector 0 reserves any connector of the charger.
            connector_number=connector.connector_id if connector else 0,
            id_tag=record.token_uid,
            expires_at=expires_at,
            requested_by=None,
        )
        record.reservation = reservation
        _attach(record, reservation.command)
        return _response("ACCEPTED")

    def _cancel_reservation(
        self, body: dict[str, Any], record: RoamingCommand
    ) -> OcpiResult:
        record.reservation_ref = require_string(body, "reservation_id", max_length=36)
        reservation = _open_reservation(record)
        if reservation is None:
            return _response(
                "REJECTED", f"Unknown reservation {record.reservation_ref}"
            )
        record.reservation = reservation
        record.save()
        sent = reservation_cancel(reservation=reservation, requested_by=None)
        _attach(record, sent)
        return _response("ACCEPTED")

    def _unlock_connector(
        self, body: dict[str, Any], record: RoamingCommand
    ) -> OcpiResult:
        charge_point, connector = _connector(body, evse_required=True)
        require_string(body, "connector_id", max_length=36)
        if connector is None:  # evse_uid is required here, so never
            raise OcpiError(INVALID_PARAMETERS, "evse_uid: required")
        record.save()
        sent = command_submit(
            charge_point=charge_point,
            command=ocpp.UnlockConnector(connector=connector.connector_id),
            requested_by=None,
        )
        _attach(record, sent)
        return _response("ACCEPTED")


def _open_reservation(record: RoamingCommand) -> Reservation | None:
    earlier = (
        RoamingCommand.objects.filter(
            partner=record.partner,
            type=CommandType.RESERVE_NOW,
            reservation_ref=record.reservation_ref,
            reservation__isnull=False,
        )
        .exclude(pk=record.pk)
        .select_related("reservation__charge_point")
        .order_by("-created_at")
        .first()
    )
    if earlier is None or earlier.reservation is None:
        return None
    reservation = earlier.reservation
    return reservation if reservation.expires_at > timezone.now() else None


def _attach(record: RoamingCommand, command: Any) -> None:
    """Tie the charger command to the partner's; deliver now if it is already over.

    The charger may answer (or the command fail offline) before this row names
    the command, and then its ``command.finished`` found no partner command:
    once the row is saved, a command already finished is delivered from here.
    Delivery locks the row, so the two ways never send the result twice.
    """
    from roaming.tasks import command_result_deliver_task

    record.command = command
    record.save(update_fields=["command", "reservation"])
    if command is None:
        return
    finished = (
        type(command)
        .objects.filter(pk=command.pk)
        .exclude(status=CommandStatus.PENDING)
        .exists()
    )
    if finished:
        transaction.on_commit(
            lambda: command_result_deliver_task.delay(roaming_command_id=record.pk)
        )


# --- The CommandResult ----------------------------------------------------------------


def command_result_of(record: RoamingCommand) -> str | None:
    """The CommandResultType of a finished charger command, None while pending."""
    command = record.command
    if command is None or command.status == CommandStatus.PENDING:
        return None
    answer = command.charger_status
    if command.status == CommandStatus.ACCEPTED:
        return "ACCEPTED"
    if command.status == CommandStatus.TIMEOUT:
        return "TIMEOUT"
    if command.status == CommandStatus.REJECTED:
        if record.type == CommandType.RESERVE_NOW:
            # OCPP 1.6 ReservationStatus -> mod_commands "CommandResultType".
            return {
                "Occupied": "EVSE_OCCUPIED",
                "Faulted": "EVSE_INOPERATIVE",
                "Unavailable": "EVSE_INOPERATIVE",
            }.get(answer, "REJECTED")
        if record.type == CommandType.CANCEL_RESERVATION:
            # OCPP 1.6 CancelReservation Rejected: "no reservation with this id".
            return "UNKNOWN_RESERVATION"
        return "REJECTED"
    if command.status == CommandStatus.ERROR and command.error_code == "NotSupported":
        return "NOT_SUPPORTED"
    return "FAILED"  # offline, a CallError, or an answer we do not know


def command_result_body(record: RoamingCommand, result: str) -> dict[str, Any]:
    body: dict[str, Any] = {"result": result}
    command = record.command
    if command is not None and command.status == CommandStatus.OFFLINE:
        body["message"] = [{"language": "en", "text": "The charger is offline."}]
    return body
