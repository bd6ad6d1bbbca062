"""What every OCPP version's central system does with frames: parse, log, answer.

A version's ``CentralSystem`` (``stations/ocpp/v16/handlers.py``,
``stations/ocpp/v201/handlers.py``) mixes ``FrameRouter`` in before
python-ocpp's ``ChargePoint`` of that version (its route map of ``@on``
handlers and ``call()`` for CMS-initiated commands). It replaces the package's
``route_message``/``_handle_call`` because those drop unparsable frames
silently, put every CALLRESULT on the response queue (a stray one would be
consumed by the next command) and validate with jsonschema in a thread pool.
Here every frame is parsed once, logged, validated with the version's compiled
schemas and answered with that version's CallError codes. A charger's frame is
answered only once its message-log row is written, and a CMS command's CALL is
sent only once its row is (``MessageLogWriter.durable``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from django.utils import timezone
from ocpp.charge_point import ChargePoint as BaseChargePoint
from ocpp.charge_point import remove_nones, serialize_as_dict
from ocpp.exceptions import OCPPError
from ocpp.messages import CallError, CallResult

from stations import services
from stations.fleet.quirkcounts import QuirkKind, quirk_count
from stations.models import OcppMessage
from stations.ocpp.casing import camel_to_snake_case, snake_to_camel_case
from stations.ocpp.messagelog import LogEntry, MessageLogWriter
from stations.ocpp.protocol import (
    CALL,
    CALLERROR,
    CALLRESULT,
    INVALID,
    UNKNOWN_UNIQUE_ID,
    FormationViolationError,
    Frame,
    FrameError,
    call_error_frame,
    parse_frame,
)
from stations.ocpp.runtime import charger_service, late_calls
from stations.security import services as security

logger = logging.getLogger(__name__)

IN = OcppMessage.Direction.IN
OUT = OcppMessage.Direction.OUT

PublishEvents = Callable[[list[services.LiveEvent]], None]


class FrameRouter(BaseChargePoint):
    """Frame handling every version's central system shares (mixed in first).

    A version's class sets ``known_actions`` (its Action enum), the spelling
    of the format-violation code and ``validate`` (its compiled schemas), and
    brings its ``@on`` handlers.
    """

    known_actions: frozenset[str] = frozenset()
    format_violation = "FormationViolation"

    def validate(self, action: str, message_type: int, payload: Any) -> None:
        raise NotImplementedError

    async def _validate_call(self, frame: Frame) -> None:
        """Validate an incoming CALL (a version may be lenient about parts)."""
        self.validate(frame.action, CALL, frame.payload)

    def __init__(
        self,
        ocpp_id: str,
        connection: Any,
        *,
        charge_point_id: int,
        writer: MessageLogWriter,
        publish: PublishEvents,
        response_timeout: float,
    ) -> None:
        super().__init__(ocpp_id, connection, response_timeout=response_timeout)
        self.charge_point_id = charge_point_id
        self._writer = writer
        self._publish = publish
        # Our own outgoing CALLs awaiting an answer: unique id -> action.
        self.pending_calls: dict[str, str] = {}
        # Raw answers to those CALLs, for the command record.
        self.responses: dict[str, Any] = {}
        self._current_payload: dict[str, Any] = {}
        # Told of every answer sent to a charger's CALL (the boot deadline).
        self.on_answered: Callable[[str, dict[str, Any]], None] | None = None
        # Work a handler asks for once its CALLRESULT is on the wire (e.g. the
        # CertificateSigned CALL that must follow the SignCertificate answer).
        self._after_answer: list[Callable[[], Awaitable[Any]]] = []

    def after_answer(self, action: Callable[[], Awaitable[Any]]) -> None:
        """Run ``action`` after the answer to the CALL being handled is sent."""
        self._after_answer.append(action)

    async def sign_certificate(self, *, csr_pem: str, certificate_type: str) -> bool:
        """SignCertificate of either version: sign with the CMS CA, then (after
        the answer) send CertificateSigned. False: the CSR is refused."""
        outcome = await self.call_service(
            security.charger_csr_sign,
            charge_point_id=self.charge_point_id,
            csr_pem=csr_pem,
            certificate_type=certificate_type,
            at=timezone.now(),
        )
        if not outcome.accepted:
            return False
        certificate_id = outcome.certificate_id

        async def send_certificate() -> None:
            await self.call_service(
                security.charger_certificate_send, certificate_id=certificate_id
            )

        self.after_answer(send_certificate)
        return True

    # --- plumbing ---------------------------------------------------------

    def log_frame(self, direction: str, message_type: int, **fields: Any) -> LogEntry:
        return self._writer.add(
            LogEntry(
                ocpp_id=self.id,
                charge_point_id=self.charge_point_id,
                direction=direction,
                message_type=message_type,
                **fields,
            )
        )

    async def call_service(self, service: Callable[..., Any], **kwargs: Any) -> Any:
        """Run one sync domain service of this charger on its database worker.

        Publishes its live events from async code.
        """
        result, events = await charger_service(self.charge_point_id, service, kwargs)
        if events:
            self._publish(events)
        return result

    async def send_call_error(
        self,
        unique_id: str,
        code: str,
        description: str,
        details: Any = None,
        *,
        action: str = "",
        answering: LogEntry | None = None,
    ) -> None:
        """Answer with a CALLERROR; ``answering``: the logged frame it answers,
        written to the log before the answer leaves."""
        text = call_error_frame(unique_id, code, description, details)
        self.log_frame(
            OUT,
            CALLERROR,
            unique_id=unique_id,
            action=action,
            payload={"errorDescription": description[:255], "errorDetails": details},
            error_code=code,
        )
        if answering is not None:
            await self._writer.durable(answering)
        await self._connection.send(text)

    def loggable(self, action: str, payload: Any) -> Any:
        """A CALL's payload as the message log keeps it (the adapter hides secrets)."""
        return payload

    async def _send(self, message: str) -> None:
        """Send a frame python-ocpp built (a command CALL); remember and log it."""
        frame, _ = parse_frame(message)
        if frame.message_type == CALL:
            self.pending_calls[frame.unique_id] = frame.action
        entry = self.log_frame(
            OUT,
            frame.message_type,
            unique_id=frame.unique_id,
            action=frame.action,
            payload=self.loggable(frame.action, frame.payload),
        )
        # The audit trail holds every command before the charger has it.
        await self._writer.durable(entry)
        await self._connection.send(message)

    async def route_message(self, raw_msg: str) -> None:
        try:
            frame, _decoded = parse_frame(raw_msg)
        except FrameError as error:
            unique_id = error.unique_id or UNKNOWN_UNIQUE_ID
            entry = self.log_frame(
                IN, INVALID, unique_id=unique_id, raw=raw_msg, error_code=error.code
            )
            code = (
                self.format_violation
                if error.code == FormationViolationError.code
                else error.code
            )
            await self.send_call_error(
                unique_id, code, error.description, answering=entry
            )
            return
        if frame.message_type == CALL:
            entry = self.log_frame(
                IN,
                CALL,
                unique_id=frame.unique_id,
                action=frame.action,
                payload=frame.payload,
            )
            await self._handle_frame_call(frame, entry)
            received_at = getattr(self._connection, "received_at", 0.0)
            if received_at and late_calls.answered(
                self.id, frame.action, time.monotonic() - received_at
            ):
                quirk_count(self.charge_point_id, QuirkKind.LATE_ANSWER)
            return
        self._route_response(frame)

    def _route_response(self, frame: Frame) -> None:
        action = self.pending_calls.pop(frame.unique_id, "")
        is_error = frame.message_type == CALLERROR
        self.log_frame(
            IN,
            frame.message_type,
            unique_id=frame.unique_id,
            action=action,
            payload=(
                {
                    "errorDescription": frame.error_description,
                    "errorDetails": frame.error_details,
                }
                if is_error
                else frame.payload
            ),
            error_code=frame.error_code,
        )
        if not action:
            # OCPP-J §4.1.3: an answer must match an outstanding CALL; a late
            # answer (after a timeout) or a stray one is logged and dropped.
            logger.warning(
                "%s: dropped answer %s for no outstanding CALL",
                self.id,
                frame.unique_id,
            )
            return
        if is_error:
            message: CallResult | CallError = CallError(
                frame.unique_id,
                frame.error_code,
                frame.error_description,
                frame.error_details,
            )
        else:
            self.responses[frame.unique_id] = frame.payload
            message = CallResult(frame.unique_id, frame.payload, action=action)
        self._response_queue.put_nowait(message)

    async def _handle_frame_call(self, frame: Frame, entry: LogEntry) -> None:
        handlers = self.route_map.get(frame.action)
        if handlers is None or "_on_action" not in handlers:
            # OCPP-J 1.6 §4.2.3 (2.0.1 Part 4 §4.3): NotImplemented = action not known,
            # NotSupported = known but not supported by this receiver.
            known = frame.action in self.known_actions
            await self.send_call_error(
                frame.unique_id,
                "NotSupported" if known else "NotImplemented",
                f"{frame.action} is not supported by this central system"
                if known
                else f"Unknown action {frame.action}",
                action=frame.action,
                answering=entry,
            )
            return
        self._after_answer = []  # only what this CALL's handler asks for
        try:
            await self._validate_call(frame)
            self._current_payload = frame.payload
            response = await handlers["_on_action"](
                **camel_to_snake_case(frame.payload)
            )
        except OCPPError as error:
            await self.send_call_error(
                frame.unique_id,
                error.code,
                error.description,
                error.details,
                action=frame.action,
                answering=entry,
            )
            return
        except Exception:
            logger.exception("%s: handler for %s failed", self.id, frame.action)
            await self.send_call_error(
                frame.unique_id,
                "InternalError",
                "The central system could not process the request",
                action=frame.action,
                answering=entry,
            )
            return
        finally:
            self._current_payload = {}
        payload = snake_to_camel_case(remove_nones(serialize_as_dict(response)))
        try:
            self.validate(frame.action, CALLRESULT, payload)
        except OCPPError:
            logger.exception("%s: invalid answer to %s", self.id, frame.action)
            await self.send_call_error(
                frame.unique_id,
                "InternalError",
                "The central system built an invalid answer",
                action=frame.action,
                answering=entry,
            )
            return
        self.log_frame(
            OUT,
            CALLRESULT,
            unique_id=frame.unique_id,
            action=frame.action,
            payload=payload,
        )
        # Acknowledged only once the frame is in the log (the group commit
        # usually wrote it with the batch; otherwise it is written now).
        await self._writer.durable(entry)
        await self._connection.send(CallResult(frame.unique_id, payload).to_json())
        if self.on_answered is not None:
            self.on_answered(frame.action, payload)
        actions, self._after_answer = self._after_answer, []
        for action in actions:
            try:
                await action()
            except Exception:
                logger.exception("%s: work after %s failed", self.id, frame.action)
