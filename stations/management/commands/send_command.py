"""``manage.py send_command CP-ID ACTION '{"json": "payload"}'``: send and wait.

Prints the outcome (status, charger answer as JSON) and exits 0 only when the
charger accepted. Works against a running embedded server too: the command row
is the outbox its consumers poll (``OCPP_COMMAND_POLL_SECONDS``); with Redis the
channel layer delivers it directly. Never waits longer than ``--timeout``.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from stations.models import ChargePoint, CommandStatus
from stations.remote.dispatch import CommandPayloadError, command_wait
from stations.remote.services import command_request, command_result_apply

EXIT_ACCEPTED = 0
EXIT_REJECTED = 1  # Rejected or another non-accepting answer
EXIT_BAD_INPUT = 2
EXIT_TIMEOUT = 3
EXIT_OFFLINE = 4
EXIT_ERROR = 5
_EXIT_FOR_STATUS = {
    CommandStatus.ACCEPTED: EXIT_ACCEPTED,
    CommandStatus.REJECTED: EXIT_REJECTED,
    CommandStatus.OTHER: EXIT_REJECTED,
    CommandStatus.TIMEOUT: EXIT_TIMEOUT,
    CommandStatus.OFFLINE: EXIT_OFFLINE,
    CommandStatus.ERROR: EXIT_ERROR,
}


class Command(BaseCommand):
    help = (
        "Send an OCPP 1.6 command to a charger and print its outcome. Exit codes: "
        "0 accepted, 1 rejected/other answer, 2 bad input, 3 timeout, 4 offline, "
        "5 charger or gateway error."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("charge_point", help="The charger's OCPP identity.")
        parser.add_argument("action", help="e.g. Reset, RemoteStartTransaction.")
        parser.add_argument("payload", nargs="?", default="{}", help="JSON object.")
        parser.add_argument(
            "--timeout",
            type=float,
            default=None,
            help="Seconds to wait for the answer (default: OCPP_COMMAND_TIMEOUT + 5).",
        )
        parser.add_argument(
            "--connector", type=int, default=None, help="Sets connectorId."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        outcome = self._run(options)
        self.stdout.write(json.dumps(outcome, sort_keys=True))
        code = _EXIT_FOR_STATUS.get(outcome["status"], EXIT_ERROR)
        if code != EXIT_ACCEPTED:
            detail = outcome["charger_status"] or outcome["error_description"]
            raise CommandError(
                f"{outcome['action']} to {outcome['charge_point']}: "
                f"{outcome['status']}" + (f" ({detail})" if detail else ""),
                returncode=code,
            )

    def _run(self, options: dict[str, Any]) -> dict[str, Any]:
        charge_point = ChargePoint.objects.filter(
            ocpp_id=options["charge_point"]
        ).first()
        if charge_point is None:
            raise CommandError(
                f"charge_point: no charger “{options['charge_point']}”.",
                returncode=EXIT_BAD_INPUT,
            )
        try:
            payload = json.loads(options["payload"])
        except json.JSONDecodeError as error:
            raise CommandError(
                f"payload: not valid JSON ({error.msg}).", returncode=EXIT_BAD_INPUT
            ) from None
        if not isinstance(payload, dict):
            raise CommandError(
                "payload: must be a JSON object.", returncode=EXIT_BAD_INPUT
            )
        timeout = options["timeout"]
        if timeout is None:
            timeout = settings.OCPP_COMMAND_TIMEOUT + 5
        try:
            command = command_request(
                charge_point=charge_point,
                action=options["action"],
                payload=payload,
                connector=options["connector"],
                requested_by=None,
            )
        except CommandPayloadError as error:
            raise CommandError(
                f"{error.field}: {error}", returncode=EXIT_BAD_INPUT
            ) from None
        command = command_wait(command.pk, max(0.0, timeout))
        if command.is_finished:
            command_result_apply(command_id=command.pk)
        return {
            "command_id": command.pk,
            "charge_point": charge_point.ocpp_id,
            "action": command.action,
            # Still pending after the wait: report a timeout, never hang.
            "status": command.status if command.is_finished else CommandStatus.TIMEOUT,
            "charger_status": command.charger_status,
            "error_code": command.error_code,
            "error_description": command.error_description
            or ("" if command.is_finished else f"No answer within {timeout:g} s."),
            "response": command.response_payload,
            "duration_ms": command.duration_ms,
        }
