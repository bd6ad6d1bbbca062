"""OCPP versions behind one seam: WebSocket subprotocol -> version adapter.

The adapters are listed in ``settings.OCPP_VERSION_ADAPTERS`` (dotted paths of
adapter classes, after OpenWISP's connector classes chosen from a setting and
Saleor's gateway plugins); OCPP 1.6J (``stations.ocpp.v16``) is the only one
today. The consumer negotiates the subprotocol from this registry and builds
the adapter's central system for the socket; remote operations ask the
charger's adapter (``ChargePoint.ocpp_protocol``) for the wire CALL of a
neutral command (``stations.ocpp.commands``) and for the neutral reading of its
answer. Nothing outside ``stations/ocpp/`` needs to know a version's field names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings
from django.db.models import Q
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from stations.ocpp import commands as neutral


@dataclass(frozen=True)
class WireCall:
    """A CALL as a version spells it: the action and its payload (JSON object)."""

    action: str
    payload: dict[str, Any]


class CentralSystemSession(Protocol):
    """What the consumer needs of a version's central system for one socket."""

    pending_calls: dict[str, str]
    responses: dict[str, Any]
    # Told of each answer sent to a charger's CALL: (action, payload).
    on_answered: Callable[[str, dict[str, Any]], None] | None

    async def start(self) -> None: ...

    async def call(self, payload: Any, *args: Any, **kwargs: Any) -> Any: ...

    # Returns the message-log entry (stations.ocpp.messagelog.LogEntry).
    def log_frame(self, direction: str, message_type: int, **fields: Any) -> Any: ...

    async def send_call_error(
        self,
        unique_id: str,
        code: str,
        description: str,
        details: Any = None,
        *,
        action: str = "",
        answering: Any = None,
    ) -> None: ...


class VersionAdapter(Protocol):
    """One OCPP version: its subprotocol, central system and command mapping."""

    subprotocol: str  # e.g. "ocpp1.6" (OCPP-J §3.1.2)
    version: tuple[int, ...]  # orders the registry: the newest offered wins
    command_actions: frozenset[str]  # CALLs the central system may send

    def central_system(
        self,
        ocpp_id: str,
        connection: Any,
        *,
        charge_point_id: int,
        writer: Any,
        publish: Callable[[list[Any]], None],
        response_timeout: float,
    ) -> CentralSystemSession: ...

    def action_name(self, action: str) -> str: ...

    def call_for(self, command: neutral.Command) -> WireCall: ...

    def raw_call(
        self, action: str, payload: Any, *, connector: int | None = None
    ) -> WireCall: ...

    def command_of(self, call: WireCall) -> neutral.Command: ...

    def answer_of(self, action: str, payload: Any) -> neutral.Answer: ...

    def answer_error(self, action: str, payload: Any) -> Exception | None: ...

    def request_for(self, call: WireCall) -> Any: ...

    def without_secrets(self, action: str, payload: Any) -> Any:
        """``payload`` of a CALL ``action`` with secrets (passwords) replaced."""
        ...

    def transaction_frames(self, *, transaction_id: int, charger_key: str) -> Q:
        """Message-log rows (``OcppMessage.payload``) naming this transaction:
        our transaction id (1.6) or the charger's own key (2.0.1)."""
        ...


class UnknownProtocolError(LookupError):
    """No adapter is registered for this subprotocol."""


@cache
def _registry(paths: tuple[str, ...]) -> dict[str, VersionAdapter]:
    adapters: dict[str, VersionAdapter] = {}
    for path in paths:
        adapter = import_string(path)()
        adapters[adapter.subprotocol] = adapter
    return adapters


def adapters() -> dict[str, VersionAdapter]:
    """The registered adapters by subprotocol (from the setting, built once)."""
    return _registry(tuple(settings.OCPP_VERSION_ADAPTERS))


def supported_subprotocols() -> list[str]:
    """Registered subprotocols, newest first."""
    registered = adapters()
    return sorted(registered, key=lambda name: registered[name].version, reverse=True)


def negotiate(offered: Iterable[str], *, newest: str | None = None) -> str | None:
    """The newest registered subprotocol the charger offered, or None.

    OCPP-J §3.1.2: the charger lists the versions it speaks in
    ``Sec-WebSocket-Protocol``; the central system picks one and echoes it.
    ``newest`` (a charger's ``ocpp_protocol_max``) caps the choice: a charger
    allowed only 1.6 gets 1.6 even when it offers 2.0.1 too.
    """
    offers = set(offered)
    registered = adapters()
    cap = registered[newest].version if newest in registered else None
    return next(
        (
            name
            for name in supported_subprotocols()
            if name in offers and (cap is None or registered[name].version <= cap)
        ),
        None,
    )


def transaction_frames(*, transaction_id: int, charger_key: str = "") -> Q:
    """Message-log rows about one transaction in any registered version (a
    charger may have changed protocol); read by the session page."""
    found = Q(pk__in=[])
    for adapter in adapters().values():
        found |= adapter.transaction_frames(
            transaction_id=transaction_id, charger_key=charger_key
        )
    return found


def adapter_for(subprotocol: str) -> VersionAdapter:
    """The adapter of a charger's negotiated protocol (``ChargePoint.ocpp_protocol``)."""
    try:
        return adapters()[subprotocol]
    except KeyError:
        raise UnknownProtocolError(
            f"No OCPP version adapter for {subprotocol!r}"
        ) from None


class ModuleAdapter:
    """An adapter whose parts are a central-system class and a command module.

    A version's sub-package sets ``subprotocol``, ``version``, ``commands`` (its
    ``commands`` module: ``CMS_ACTIONS``, ``action_name``, ``call_for``,
    ``raw_call``, ``command_of``, ``answer_of``, ``answer_error``,
    ``request_for``) and ``central_system_class`` (its handlers' class).
    """

    subprotocol: str
    version: tuple[int, ...]
    commands: Any
    central_system_class: Any

    @property
    def command_actions(self) -> frozenset[str]:
        return frozenset(self.commands.CMS_ACTIONS)

    def central_system(self, ocpp_id: str, connection: Any, **options: Any) -> Any:
        # Keyword options as ``VersionAdapter.central_system`` names them.
        return self.central_system_class(ocpp_id, connection, **options)

    def action_name(self, action: str) -> str:
        return str(self.commands.action_name(action))

    def call_for(self, command: neutral.Command) -> WireCall:
        call: WireCall = self.commands.call_for(command)
        return call

    def raw_call(
        self, action: str, payload: Any, *, connector: int | None = None
    ) -> WireCall:
        call: WireCall = self.commands.raw_call(action, payload, connector=connector)
        return call

    def command_of(self, call: WireCall) -> neutral.Command:
        command: neutral.Command = self.commands.command_of(call.action, call.payload)
        return command

    def answer_of(self, action: str, payload: Any) -> neutral.Answer:
        answer: neutral.Answer = self.commands.answer_of(action, payload)
        return answer

    def answer_error(self, action: str, payload: Any) -> Exception | None:
        error: Exception | None = self.commands.answer_error(action, payload)
        return error

    def request_for(self, call: WireCall) -> Any:
        return self.commands.request_for(call)

    def without_secrets(self, action: str, payload: Any) -> Any:
        return self.commands.without_secrets(action, payload)
