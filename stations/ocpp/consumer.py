"""The OCPP WebSocket endpoint: transport only.

Subprotocol negotiation, charger authentication (OCPP security profile 1: HTTP
Basic auth with the charger's own password), the one-live-connection rule, the
inbox queue feeding python-ocpp's receive loop, and the channel-layer channel
(named in the database) through which commands reach this socket from any
process. Everything about the meaning of messages lives in ``handlers.py`` and
the services.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import random
import re
import time
from collections.abc import Iterable
from typing import Any

from channels.consumer import get_handler_name
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.utils import timezone
from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError

from stations import services
from stations.live import bus as livebus
from stations.models import CommandStatus, OcppMessage, ocpp_id_validator
from stations.ocpp import runtime, tls, versions
from stations.ocpp.auth import (
    TOO_MANY_FAILURES,
    charger_password_check,
    refusal_to_record,
)
from stations.ocpp.bootdeadline import BOOT_DEADLINE_CLOSE_CODE, BootWatch
from stations.ocpp.groupcommit import get_batcher
from stations.ocpp.messagelog import get_writer
from stations.ocpp.protocol import INVALID, UNKNOWN_UNIQUE_ID
from stations.ocpp.refusals import Reason, recorder
from stations.ocpp.runtime import orm_service, side_call
from stations.ocpp.versions import CentralSystemSession, VersionAdapter, WireCall
from stations.remote import dispatch as commands
from stations.security.services import charger_certificate_used

logger = logging.getLogger(__name__)

TAKEOVER_MESSAGE_TYPE = "ocpp.takeover"
TAKEOVER_CLOSE_CODE = 4000
# RFC 6455 §7.4.1: 1002, the endpoint is terminating the connection due to a
# protocol error (no common subprotocol).
PROTOCOL_ERROR_CLOSE_CODE = 1002
# last_seen_at is written at most this often per charger (the sweep's scale is minutes).
LAST_SEEN_WRITE_INTERVAL_S = 5.0
# The unique id of a frame too large to parse: read from its start, echoed whole
# (a charger's over-long id too), as protocol.parse_frame does.
_UNIQUE_ID_PREFIX = re.compile(r'^\s*\[\s*\d\s*,\s*"([^"\\]{1,255})"')
# A failing channel-layer receive (Redis restart, "Timeout reading") is retried
# with a capped, jittered backoff instead of ending the consumer and its socket.
CHANNEL_RECEIVE_BACKOFF_S = (0.05, 5.0)
# The longest a command waits for the answer to a charger call being handled.
_ANSWER_FIRST_WAIT_S = 5.0
_UNKNOWN_REFUSED = "unknown charge point (OCPP_UNKNOWN_CHARGERS=reject)"
# Refusals that no credentials could fix: answered 403, not 401 with a challenge.
_NOT_CREDENTIAL_FAILURES = frozenset({_UNKNOWN_REFUSED})


def _authentication_reason(refusal: str) -> str:
    """The recorded reason of a refusal ``_authenticate`` gave."""
    if refusal == _UNKNOWN_REFUSED:
        return Reason.UNKNOWN_ID
    if isinstance(refusal, tls.SecurityRefusal):
        if refusal.startswith("client certificate refused"):
            return Reason.CERTIFICATE
        return Reason.DOWNGRADE
    if refusal.startswith(TOO_MANY_FAILURES):
        return Reason.AUTH_BACKOFF
    return Reason.WRONG_PASSWORD


def _retrieve_outcome(task: asyncio.Future[Any]) -> None:
    """A receive abandoned at close: its late result or error is of no use."""
    if not task.cancelled():
        task.exception()


def _resilient_receive(
    receive: Any, ocpp_id: Any
) -> Any:  # (channel-layer receive) -> the same, never raising
    async def receive_retrying() -> dict[str, Any]:
        delay, limit = CHANNEL_RECEIVE_BACKOFF_S
        while True:
            pending = asyncio.ensure_future(receive())
            try:
                # Shielded, so a consumer that is closing stops waiting at once:
                # channels-redis' receive can take its Redis connection's
                # cleanup past the cancellation (observed: never finishing after
                # a failed handshake), and Channels awaits this task before the
                # consumer ends, which held a server's graceful shutdown forever.
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                pending.cancel()
                pending.add_done_callback(_retrieve_outcome)
                raise
            except Exception:
                logger.warning(
                    "%s: channel layer receive failed; retrying in %.2f s",
                    ocpp_id(),
                    delay,
                    exc_info=True,
                )
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))  # noqa: S311
                delay = min(delay * 2, limit)

    return receive_retrying


class _ConsumerConnection:
    """The recv/send interface python-ocpp's ChargePoint expects."""

    def __init__(self, consumer: OcppConsumer) -> None:
        self._consumer = consumer
        # When the frame being handled arrived (time.monotonic()): the answer's
        # delay as the charger sees it includes the wait in the inbox.
        self.received_at = 0.0
        # Set unless a charger's CALL is being handled (read, not yet answered).
        # A command the CMS decides on from what that call committed (e.g. a
        # RemoteStopTransaction for the transaction id a StartTransaction has
        # just stored) must reach the charger after the answer that tells the
        # charger that id, not overtake it on the socket: commands wait here.
        self.answered = asyncio.Event()
        self.answered.set()

    async def recv(self) -> str:
        text, self.received_at = await self._consumer.inbox.get()
        # OCPP-J §4.1: [2, ...] is a CALL (MessageTypeId 2); results and errors
        # to the CMS's own calls (3, 4) are not answered.
        if text.lstrip()[1:].lstrip().startswith("2"):
            self.answered.clear()
        return text

    async def send(self, message: str) -> None:
        if message.startswith(("[3", "[4")):
            # The CMS only sends CALLRESULT/CALLERROR frames to answer the
            # charger's CALL, handled one at a time (OCPP-J §4.1.1).
            self.answered.set()
        try:
            await self._consumer.send(text_data=message)
        except OSError:
            # The charger hung up while its answer was being prepared (answers go
            # out after the write commits): nothing to send to; the disconnect
            # is recorded by the consumer's disconnect().
            logger.info(
                "%s: closed before an answer could be sent", self._consumer.ocpp_id
            )


def _basic_auth(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str, str] | None:
    for name, value in headers:
        if name.lower() != b"authorization":
            continue
        scheme, _, encoded = value.decode("latin-1").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        username, separator, password = decoded.partition(":")
        return (username, password) if separator else None
    return None


class OcppConsumer(AsyncWebsocketConsumer):
    """One charger's WebSocket (``/ocpp/<charge point id>``)."""

    charge_point_id: int | None = None
    _certificate_serial = ""
    _protocol_max = ""
    cp: CentralSystemSession | None = None
    _connection: _ConsumerConnection
    adapter: VersionAdapter | None = None
    boot_watch: BootWatch | None = None
    _was_accepted = False
    _close_detail = ""

    # Channels assigns ``channel_receive`` in ``__call__`` and ends the consumer
    # (dropping the charger's socket) when it raises; wrap it to retry instead.
    @property
    def channel_receive(self) -> Any:
        return self._channel_receive

    @channel_receive.setter
    def channel_receive(self, receive: Any) -> None:
        self._channel_receive = _resilient_receive(
            receive, lambda: getattr(self, "ocpp_id", "?")
        )

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' dispatch first hops to the ORM thread to close stale
        # connections, once per frame. Every ORM call of this consumer goes
        # through ``runtime.run_service``, which does that (throttled), so
        # the extra hop (a queue slot on the one ORM thread) is skipped.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.ocpp_id = str(self.scope["url_route"]["kwargs"]["charge_point_id"])
        client = self.scope.get("client") or ("", 0)
        self.remote_address = str(client[0] or "")
        self.inbox: asyncio.Queue[tuple[str, float]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._command_tasks: set[asyncio.Task[Any]] = set()
        self._last_seen_write = time.monotonic()
        self._writer = get_writer()
        self.max_frame_bytes = settings.OCPP_MAX_FRAME_BYTES
        self.boot_watch = BootWatch.admit(self.remote_address)
        if self.boot_watch is None:
            await self._refuse(
                "too many sockets without a boot from this address",
                Reason.ADDRESS_CAP,
            )
            return

        offered = list(self.scope.get("subprotocols") or [])
        subprotocol = versions.negotiate(offered)
        if subprotocol is None:
            supported = ", ".join(versions.supported_subprotocols())
            # OCPP-J 1.6 §3.1.2 (and 2.0.1 Part 4 §3.1.2): a central system
            # that agrees to none of the offered subprotocols completes the
            # handshake without Sec-WebSocket-Protocol, then closes at once.
            await self._refuse(
                f"no supported subprotocol offered (offered {offered or 'none'}, "
                f"supported {supported})",
                Reason.SUBPROTOCOL,
                accept_then_close=True,
            )
            return
        adapter = versions.adapter_for(subprotocol)
        try:
            ocpp_id_validator(self.ocpp_id)
        except Exception:
            await self._refuse(
                "charge point identity is not a valid OCPP identity",
                Reason.INVALID_ID,
            )
            return
        refusal = await self._authenticate()
        if refusal:
            await self._refuse(
                refusal,
                _authentication_reason(refusal),
                unauthorized=refusal not in _NOT_CREDENTIAL_FAILURES
                and not isinstance(refusal, tls.SecurityRefusal),
            )
            return
        if self._protocol_max:
            # The charger's own setting caps the version (its newest allowed).
            subprotocol = versions.negotiate(offered, newest=self._protocol_max)
            if subprotocol is None:
                await self._refuse(
                    f"no subprotocol this charger is allowed offered (offered "
                    f"{offered}, allowed up to {self._protocol_max})",
                    Reason.SUBPROTOCOL,
                    accept_then_close=True,
                )
                return
            adapter = versions.adapter_for(subprotocol)
        # Batched with the other handshakes of this process (a reconnect storm).
        opened = await get_batcher("connect").submit(
            services.ConnectionRequest(
                ocpp_id=self.ocpp_id,
                channel_name=self.channel_name,
                remote_address=self.remote_address,
                unknown_policy=settings.OCPP_UNKNOWN_CHARGERS,
                at=timezone.now(),
                ocpp_protocol=subprotocol,
            )
        )
        if opened is None:
            await self._refuse(_UNKNOWN_REFUSED, Reason.UNKNOWN_ID)
            return
        self.charge_point_id = opened.charge_point_id
        if opened.replaced_channel:
            await self._take_over(opened.replaced_channel)
        await self.accept(subprotocol=subprotocol)
        self.adapter = adapter
        self._connection = _ConsumerConnection(self)
        self.cp = adapter.central_system(
            self.ocpp_id,
            self._connection,
            charge_point_id=opened.charge_point_id,
            writer=self._writer,
            publish=livebus.publish,
            response_timeout=settings.OCPP_COMMAND_TIMEOUT,
        )
        self.cp.on_answered = self.boot_watch.answered
        self.boot_watch.start(was_accepted=self._was_accepted, expire=self._unbooted)
        self._spawn(self._serve(), self._tasks)
        if self._certificate_serial:
            self._spawn(self._note_certificate_used(), self._tasks)
        runtime.embedded_dispatch.register(self)
        runtime.gc_freezer.connected()
        self._counted_open = True
        logger.info(
            "%s connected from %s (%s)",
            self.ocpp_id,
            self.remote_address,
            opened.registration_status,
        )

    async def _note_certificate_used(self) -> None:
        try:
            await side_call(
                charger_certificate_used,
                serial_number=self._certificate_serial,
                at=timezone.now(),
            )
        except Exception:
            logger.warning(
                "%s: certificate use not recorded", self.ocpp_id, exc_info=True
            )

    async def _authenticate(self) -> str:
        """Return why the handshake is refused, or "" when the charger may connect."""
        # A read of one row: beside the ORM thread, not queued behind batches.
        credentials = await side_call(
            services.charge_point_credentials, ocpp_id=self.ocpp_id
        )
        self._protocol_max = credentials.ocpp_protocol_max if credentials else ""
        self._was_accepted = credentials is not None and credentials.was_accepted
        if credentials is not None and credentials.max_frame_bytes:
            # The charger's own limit, never above what the transport lets through.
            self.max_frame_bytes = min(
                credentials.max_frame_bytes, settings.OCPP_TRANSPORT_MAX_FRAME_BYTES
            )
        # Security profiles 2 and 3: TLS, the client certificate, no downgrade.
        security = tls.connection_security(self.scope)
        self._certificate_serial = security.certificate_serial
        refusal = tls.security_refusal(
            ocpp_id=self.ocpp_id,
            profile=credentials.security_profile if credentials else 1,
            security=security,
            has_password=bool(credentials and credentials.password_hash),
        )
        if refusal:
            return refusal
        if credentials is None:
            if settings.OCPP_UNKNOWN_CHARGERS == "reject":
                return _UNKNOWN_REFUSED
            return ""
        if credentials.security_profile == 3:
            # Profile 3: the certificate (checked above) authenticates the
            # charger; OCPP 2.0.1 A00 and the 1.6 whitepaper use no Basic auth there.
            return ""
        if not credentials.password_hash:
            return ""  # no password set: security profile 0 for this charger
        supplied = _basic_auth(self.scope.get("headers") or [])
        if supplied is None:
            return "missing or malformed HTTP Basic credentials"
        username, password = supplied
        if username != self.ocpp_id:
            return "Basic auth username is not the charge point identity"
        # Password hashing is deliberately slow: its own bounded pool, behind
        # per-id and per-address back-off (stations/ocpp/auth.py).
        return await charger_password_check(
            ocpp_id=self.ocpp_id,
            password=password,
            password_hash=credentials.password_hash,
            address=self.remote_address,
            rotating_to_hash=credentials.rotating_to_hash,
        )

    async def _refuse(
        self,
        reason: str,
        kind: str,
        *,
        unauthorized: bool = False,
        accept_then_close: bool = False,
    ) -> None:
        """Record the refusal, then deny the handshake.

        A credentials failure is answered ``401`` with ``WWW-Authenticate: Basic``
        (RFC 7617 §2; OCPP 1.6 Security Whitepaper, security profile 1: the
        Central System asks for Basic auth), so a charger knows to send or fix
        its password. Servers without the ASGI denial-response extension (and
        any other refusal) close the handshake, which the server answers 403.
        """
        logger.warning(
            "refused OCPP connection for %r from %s: %s",
            self.ocpp_id,
            self.remote_address,
            reason,
        )
        # Counted in memory, written in batches off the ORM thread (refusals.py).
        recorder.note(
            ocpp_id=self.ocpp_id,
            remote_address=self.remote_address,
            reason=kind,
            detail=reason,
            subprotocols=list(self.scope.get("subprotocols") or []),
        )
        # A refusal storm writes one history row per charger and kind a minute.
        detail = refusal_to_record(self.ocpp_id, reason)
        if self.boot_watch is not None:
            self.boot_watch.release()
        try:
            if detail is not None:
                # Beside the ORM thread: a refusal never queues before a handshake.
                await side_call(
                    services.charge_point_connection_refused,
                    ocpp_id=self.ocpp_id,
                    reason=detail,
                    remote_address=self.remote_address,
                    at=timezone.now(),
                )
        except Exception:
            logger.exception("could not record refused connection of %s", self.ocpp_id)
        if accept_then_close:
            await self.accept()  # no subprotocol
            await self.close(code=PROTOCOL_ERROR_CLOSE_CODE)
            return
        extensions = self.scope.get("extensions") or {}
        if unauthorized and "websocket.http.response" in extensions:
            await self.base_send(
                {
                    "type": "websocket.http.response.start",
                    "status": 401,
                    "headers": [
                        (b"www-authenticate", b'Basic realm="OCPP", charset="UTF-8"'),
                        (b"content-type", b"text/plain; charset=utf-8"),
                    ],
                }
            )
            await self.base_send(
                {
                    "type": "websocket.http.response.body",
                    "body": b"Charge point credentials required (HTTP Basic).\n",
                    "more_body": False,
                }
            )
            return
        await self.close()

    async def _unbooted(self, detail: str) -> None:
        """Close a socket whose charger missed its boot deadline (bootdeadline.py)."""
        logger.warning("%s from %s: %s", self.ocpp_id, self.remote_address, detail)
        self._close_detail = detail
        recorder.note(
            ocpp_id=self.ocpp_id,
            remote_address=self.remote_address,
            reason=Reason.BOOT_DEADLINE,
            detail=detail,
            subprotocols=list(self.scope.get("subprotocols") or []),
        )
        await self.close(code=BOOT_DEADLINE_CLOSE_CODE)

    async def _take_over(self, replaced_channel: str) -> None:
        """Tell the older connection of this identity (any process) to close.

        Commands reach a connection by its channel name, which the database
        keeps (``ChargePoint.connection_channel``): no per-charger channel
        group to join, refresh or leave behind after a mass disconnect. A
        channel-layer failure is logged; the charger still connects and its
        commands come here (the database names this channel now); the older
        socket lives on only until its WebSocket ping times out.
        """
        try:
            await self.channel_layer.send(
                replaced_channel,
                {"type": TAKEOVER_MESSAGE_TYPE, "channel_name": self.channel_name},
            )
        except Exception:
            logger.warning(
                "channel layer unavailable for %s", self.ocpp_id, exc_info=True
            )

    async def _serve(self) -> None:
        if self.cp is None:
            return
        try:
            await self.cp.start()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("%s: OCPP loop stopped", self.ocpp_id)
            await self.close(code=1011)

    def _spawn(
        self, coroutine: Any, registry: set[asyncio.Task[Any]]
    ) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        registry.add(task)
        task.add_done_callback(registry.discard)
        return task

    # --- frames -------------------------------------------------------------

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None
    ) -> None:
        if self.cp is None:
            return
        self._note_seen()
        if text_data is None:
            # OCPP-J §3: frames are text. A binary frame has no unique id to
            # answer, so it is logged and dropped.
            size = len(bytes_data or b"")
            logger.warning("%s: dropped a binary frame (%d bytes)", self.ocpp_id, size)
            self.cp.log_frame(
                OcppMessage.Direction.IN,
                INVALID,
                raw=f"<binary frame, {size} bytes>",
                error_code="BinaryFrame",
            )
            return
        size = len(text_data) if text_data.isascii() else len(text_data.encode())
        if size > self.max_frame_bytes:
            await self._answer_oversize(text_data, size)
            return
        self.inbox.put_nowait((text_data, time.monotonic()))

    async def _answer_oversize(self, text_data: str, size: int) -> None:
        """Answer GenericError without parsing the frame (best-effort unique id)."""
        if self.cp is None:
            return
        match = _UNIQUE_ID_PREFIX.match(text_data[:300])
        unique_id = match.group(1) if match else UNKNOWN_UNIQUE_ID
        limit = self.max_frame_bytes
        entry = self.cp.log_frame(
            OcppMessage.Direction.IN,
            INVALID,
            unique_id=unique_id,
            raw=text_data[:2000],
            error_code="GenericError",
        )
        description = f"Frame of {size} bytes exceeds the limit of {limit} bytes"
        await self.cp.send_call_error(
            unique_id, "GenericError", description, answering=entry
        )

    def _note_seen(self) -> None:
        now = time.monotonic()
        if now - self._last_seen_write < LAST_SEEN_WRITE_INTERVAL_S:
            return
        self._last_seen_write = now
        self._spawn(self._record_seen(), self._tasks)

    async def _record_seen(self) -> None:
        if self.charge_point_id is None:
            return
        try:
            # Batched with every other charger's mark of this process.
            await get_batcher("seen").submit(
                (self.charge_point_id, self.channel_name, timezone.now())
            )
        except Exception:
            logger.warning("%s: last-seen update failed", self.ocpp_id, exc_info=True)

    # --- channel messages --------------------------------------------------------

    async def ocpp_takeover(self, event: dict[str, Any]) -> None:
        if event.get("channel_name") == self.channel_name or self.cp is None:
            return
        logger.info("%s: replaced by a newer connection; closing", self.ocpp_id)
        await self.close(code=TAKEOVER_CLOSE_CODE)

    async def ocpp_command(self, event: dict[str, Any]) -> None:
        # Never await the CALL here: Channels handles one message at a time per
        # consumer, so the charger's answer could not be read until we return.
        self.start_command(int(event["command_id"]))

    async def live_event(self, event: dict[str, Any]) -> None:
        """Live events are for browsers; a charger's consumer ignores them."""

    def start_command(self, command_id: int) -> None:
        if self.cp is not None:
            self._spawn(self._run_command(command_id), self._command_tasks)

    async def _run_command(self, command_id: int) -> None:
        if self.cp is None or self.adapter is None or self.charge_point_id is None:
            return
        # Shielded: once the claim commits the command counts as sent, so a close
        # arriving mid-claim must still leave it with an outcome (offline).
        # The claim is one conditional UPDATE of the command's own row: it runs
        # beside the ORM thread, not behind the other chargers' batches.
        claim = asyncio.ensure_future(
            side_call(
                commands.command_claim,
                command_id=command_id,
                charge_point_id=self.charge_point_id,
            )
        )
        try:
            claimed = await asyncio.shield(claim)
        except asyncio.CancelledError:
            await asyncio.wait([claim])
            if (
                not claim.cancelled()
                and claim.exception() is None
                and claim.result() is not None
            ):
                await self._record_outcome(
                    command_id,
                    {
                        "status": CommandStatus.OFFLINE,
                        "error_description": "The connection closed before "
                        "the command was sent.",
                    },
                )
            raise
        if claimed is None:
            return
        outcome: dict[str, Any] = {"status": CommandStatus.ERROR}
        try:
            request = self.adapter.request_for(
                WireCall(claimed.action, claimed.payload)
            )
            # After the answer to a charger call being handled, if any (bounded:
            # a handler never answering must not hold the command back for good).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._connection.answered.wait(), _ANSWER_FIRST_WAIT_S
                )
            await asyncio.wait_for(
                self.cp.call(
                    request,
                    suppress=False,
                    unique_id=claimed.unique_id,
                    skip_schema_validation=True,
                ),
                settings.OCPP_COMMAND_TIMEOUT,
            )
            outcome = self._answer_outcome(claimed.action, claimed.unique_id)
        except TimeoutError:
            outcome = {
                "status": CommandStatus.TIMEOUT,
                "error_description": "No answer within "
                f"{settings.OCPP_COMMAND_TIMEOUT:g} s",
            }
        except (asyncio.CancelledError, OSError):
            # OSError: the ASGI server's "client disconnected" when the CALL is
            # sent on a socket the charger has just closed.
            outcome = {
                "status": CommandStatus.OFFLINE,
                "error_description": "The connection closed before the answer.",
            }
        except OCPPError as error:  # the charger answered with a CALLERROR
            outcome = {
                "status": CommandStatus.ERROR,
                "error_code": error.code,
                "error_description": str(error.description or ""),
                "response_payload": {"errorDetails": error.details},
            }
        except UnknownCallErrorCodeError as error:
            outcome = {
                "status": CommandStatus.ERROR,
                "error_code": "UnknownErrorCode",
                "error_description": str(error),
            }
        except TypeError as error:  # answer with fields the 1.6 result lacks
            outcome = {
                "status": CommandStatus.ERROR,
                "error_code": "FormationViolation",
                "error_description": f"Invalid answer: {error}",
                "response_payload": self.cp.responses.get(claimed.unique_id),
            }
        except Exception as error:
            logger.exception("%s: command %s failed", self.ocpp_id, command_id)
            outcome = {
                "status": CommandStatus.ERROR,
                "error_code": "InternalError",
                "error_description": str(error),
            }
        finally:
            self.cp.pending_calls.pop(claimed.unique_id, None)
            self.cp.responses.pop(claimed.unique_id, None)
        try:
            # The answer is in the message log before the command record says so.
            await self._writer.durable()
        except asyncio.CancelledError:
            await self._record_outcome(command_id, outcome)
            raise
        await self._record_outcome(command_id, outcome)

    async def _record_outcome(self, command_id: int, outcome: dict[str, Any]) -> None:
        # Shielded: the socket may close right after the answer (Reset reboots the
        # charger), and disconnect() cancels this task; the outcome must still be kept.
        record = asyncio.ensure_future(
            orm_service(commands.command_finish, {"command_id": command_id, **outcome})
        )
        try:
            _, events = await asyncio.shield(record)
        except asyncio.CancelledError:
            await asyncio.wait([record])
            if not record.cancelled() and record.exception() is None:
                livebus.publish(record.result()[1])
            raise
        except Exception:
            logger.exception(
                "%s: could not record command %s", self.ocpp_id, command_id
            )
            return
        livebus.publish(events)

    def _answer_outcome(self, action: str, unique_id: str) -> dict[str, Any]:
        payload = self.cp.responses.get(unique_id) if self.cp is not None else None
        if self.adapter is None:
            return {"status": CommandStatus.ERROR, "response_payload": payload}
        error = self.adapter.answer_error(action, payload)
        if error is not None:
            return {
                "status": CommandStatus.ERROR,
                "error_code": getattr(error, "code", "FormationViolation"),
                "error_description": "Invalid answer: "
                f"{getattr(error, 'details', error)}"[:255],
                "response_payload": payload,
            }
        return {
            "status": commands.status_for_answer(
                self.adapter.answer_of(action, payload)
            ),
            "response_payload": payload,
        }

    # --- end ----------------------------------------------------------------------

    async def disconnect(self, code: int) -> None:
        if self.boot_watch is not None:
            self.boot_watch.release()
        runtime.embedded_dispatch.unregister(self)
        if getattr(self, "_counted_open", False):
            self._counted_open = False
            runtime.gc_freezer.disconnected()
        if self.charge_point_id is None:
            return
        for task in list(self._command_tasks):
            task.cancel()
        if self._command_tasks:
            await asyncio.gather(*self._command_tasks, return_exceptions=True)
        for task in list(self._tasks):
            task.cancel()
        # Log rows first: once the charger shows disconnected, its frames are stored.
        await self._writer.flush()
        try:
            _, events = await orm_service(
                services.charge_point_connection_closed,
                {
                    "charge_point_id": self.charge_point_id,
                    "channel_name": self.channel_name,
                    "at": timezone.now(),
                    "detail": f"{self._close_detail or 'WebSocket closed'} (code {code})",
                },
            )
        except Exception:
            logger.exception("%s: could not record disconnect", self.ocpp_id)
            events = []
        livebus.publish(events)
        logger.info("%s disconnected (code %s)", self.ocpp_id, code)
