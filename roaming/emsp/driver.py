"""The driver app at a partner CPO's station: remote start through OCPI commands.

``POST /api/v1/driver/partner-starts/`` sends START_SESSION to the partner for
one of the driver's tokens (the partner's location and EVSE by their OCPI
ids) and answers with the same kind of handle as a start at our own stations
(``sessions_app.api.RemoteStartOutputSerializer``): pending until the
partner's CommandResult and session push arrive, then started (its
``transaction_id`` is the partner session's id on our side) or failed (the
CommandResponse or CommandResult refused, timed out, or the partner could not
be reached).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema, extend_schema_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response

from accounts.http import AuthenticatedRequest
from cms.api import DriverApiView, IdField, accepted, body_input, responses
from cms.errors import InputError
from roaming.emsp.commands import command_send
from roaming.models import (
    CommandResponseType,
    CommandResultType,
    CommandType,
    EmspCommand,
    Partner,
    PartnerSession,
    PartnerStatus,
)
from sessions_app.api import RemoteStartOutputSerializer, driver_start_token
from stations.remote.models import RemoteStartRequest, RemoteStartStatus

_FAILURE = RemoteStartRequest.FailureReason
# CommandResponse / CommandResult -> the handle's failure_reason.
_REASONS = {
    CommandResultType.TIMEOUT: _FAILURE.TIMEOUT,
    CommandResultType.FAILED: _FAILURE.ERROR,
}


def partner_start_row(command: EmspCommand) -> dict[str, Any]:
    """The start handle of a START_SESSION we sent to a partner."""
    session = (
        PartnerSession.objects.filter(
            partner=command.partner, authorization_reference=command.reference
        )
        .order_by("pk")
        .first()
    )
    status, reason, detail = RemoteStartStatus.PENDING, "", ""
    refused = command.response and command.response != CommandResponseType.ACCEPTED
    if command.error:
        status, reason, detail = (
            RemoteStartStatus.FAILED,
            _FAILURE.OFFLINE,
            command.error,
        )
    elif refused:
        status, reason = RemoteStartStatus.FAILED, _FAILURE.REJECTED
        detail = command.response_message or command.response
    elif command.result and command.result != CommandResultType.ACCEPTED:
        status = RemoteStartStatus.FAILED
        reason = _REASONS.get(CommandResultType(command.result), _FAILURE.REJECTED)
        detail = command.result_message or command.result
    elif session is not None:
        status = RemoteStartStatus.STARTED
        detail = f"Session {session.session_id} at {command.partner.name}"
    started = session if status == RemoteStartStatus.STARTED else None
    resolved_at = None
    if started is not None:
        resolved_at = started.created_at
    elif status == RemoteStartStatus.FAILED:
        resolved_at = command.result_at or command.created_at
    return {
        "id": command.pk,
        "url": f"/api/v1/driver/partner-starts/{command.pk}/",
        "status": status,
        "transaction_id": started.pk if started is not None else None,
        "failure_reason": reason,
        "detail": detail[:255],
        "connector_id": None,
        "requested_at": command.created_at,
        "resolved_at": resolved_at,
    }


class DriverPartnerStartApi(DriverApiView):
    throttle_scope = "driver_start"

    @extend_schema_serializer(component_name="DriverPartnerStartInput")
    class InputSerializer(serializers.Serializer):
        country_code = serializers.CharField(
            max_length=2, help_text="The partner CPO's OCPI country code."
        )
        party_id = serializers.CharField(
            max_length=3, help_text="The partner CPO's OCPI party id."
        )
        location_id = serializers.CharField(max_length=36)
        evse_uid = serializers.CharField(max_length=36)
        connector_id = serializers.CharField(
            max_length=36, required=False, allow_blank=True
        )
        id_token = IdField(help_text="One of your token ids.")

    @extend_schema(
        operation_id="driver_partner_starts_create",
        summary="Start charging at a partner CPO's EVSE; returns a start handle",
        request=InputSerializer,
        responses=responses({202: RemoteStartOutputSerializer}, 400, 429),
    )
    def post(self, request: AuthenticatedRequest) -> Response:
        data = body_input(self.InputSerializer, request)
        token = driver_start_token(user=request.user, token_id=data["id_token"])
        partner = Partner.objects.filter(
            country_code=data["country_code"].upper(),
            party_id=data["party_id"].upper(),
            status=PartnerStatus.REGISTERED,
        ).first()
        if partner is None or not partner.has_role("CPO"):
            raise exceptions.ValidationError({"party_id": ["No such partner network."]})
        try:
            command = command_send(
                partner=partner,
                type=CommandType.START_SESSION,
                actor=request.user,
                id_token=token,
                location_id=data["location_id"],
                evse_uid=data["evse_uid"],
                connector_id=data.get("connector_id", ""),
            )
        except InputError as error:
            raise exceptions.ValidationError(
                {error.field or "non_field_errors": [str(error)]}
            ) from None
        return accepted(RemoteStartOutputSerializer(partner_start_row(command)).data)


class DriverPartnerStartDetailApi(DriverApiView):
    @extend_schema(
        operation_id="driver_partner_starts_retrieve",
        summary="The outcome of a start at a partner: pending, started or failed",
        responses=responses(RemoteStartOutputSerializer, 429),
    )
    def get(self, request: AuthenticatedRequest, pk: int) -> Response:
        command = (
            EmspCommand.objects.filter(
                pk=pk, requested_by=request.user, type=CommandType.START_SESSION
            )
            .select_related("partner")
            .first()
        )
        if command is None:
            raise exceptions.NotFound("No such start request.")
        return Response(RemoteStartOutputSerializer(partner_start_row(command)).data)
