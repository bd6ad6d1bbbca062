"""The event path: typed domain events, delivered after commit; an outbox for those that leave.

A service announces a change with ONE call, ``emit(event, live_groups=...)``:

- Subscribers (``subscribe(kind, handler)``, called from an ``AppConfig.ready()``)
  get the event after its transaction commits, never for a rolled-back transaction
  or savepoint. A subscriber decides what work the event causes: it returns the
  task calls (``task.si(...)`` signatures) for delivery to send, or does a short
  read. One failing subscriber is logged; the change stays and the others run.
- Browsers watching ``live_groups`` get ``event.as_dict()`` after commit, best
  effort, through the publisher the live app registered (``subscribe_live``).
- A kind with an external subscriber (``subscribe(kind, handler, external=True)``:
  webhooks now, roaming pushes next) is also written to the outbox table IN THE
  SAME TRANSACTION as the change; the relay (``cms.outbox``) hands it to those
  subscribers later, at least once and in order per charger, so a crash between
  commit and delivery loses nothing. External subscribers must be idempotent.

Where delivery happens is decided by whoever owns the thread, never by the emitter:

- By default (web requests, Celery tasks, management commands) everything is
  delivered in the emitting thread right after commit; task calls leave as
  ``cms.tasks.task_calls_send`` sends them; an outbox write nudges the relay.
- The OCPP gateway runs each service inside ``unit_of_work()``. The unit collects
  what its committed transactions emitted: the gateway sends the live events from
  async code (one live-bus message) and hands the subscriber events to its hook
  thread, which sends the task calls of a whole round in one broker message per
  50, so the ORM thread every charger waits on never does a broker or channel
  layer round trip. Inside the gateway's group commit, ``outbox_batch()`` turns
  the outbox rows of a batch into one bulk INSERT at the end of its transaction.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar

from celery.canvas import Signature
from django.db import connection, transaction

logger = logging.getLogger(__name__)


class EventKind(StrEnum):
    CHARGER_CONNECTION = "charge_point.connection"
    CHARGER_BOOTED = "charge_point.boot"
    CHARGER_FIRMWARE_STATUS = "charge_point.firmware"
    CHARGER_DIAGNOSTICS_STATUS = "charge_point.diagnostics"
    CHARGER_SECURITY_EVENT = "charge_point.security_event"
    CONNECTOR_STATUS = "connector.status"
    SESSION_STARTED = "session.started"
    SESSION_STOPPED = "session.stopped"
    SESSION_UPDATED = "session.updated"
    METER_VALUES = "session.meter_values"
    COMMAND_FINISHED = "command.finished"
    SITE_PLANNED = "smart.plan"
    SMART_PROFILE_ANSWERED = "smart.profile_answered"
    CHARGER_REPORT_QUARANTINED = "charge_point.quarantined"
    CONFIGURATION_DRIFT = "charge_point.configuration_drift"
    ALERT_CHANGED = "alert.changed"
    ALERT_OPENED = "alert.opened"
    ALERT_ESCALATED = "alert.escalated"
    ALERT_RESOLVED = "alert.resolved"


# --- payloads ------------------------------------------------------------------------
# Plain values only (ids, strings, ISO times): a payload is JSON in the outbox and
# in the browser, and a subscriber re-reads whatever else it needs by id.


@dataclass(frozen=True)
class Event:
    kind: ClassVar[EventKind]

    def payload(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in _field_names(type(self))}

    def as_dict(self) -> dict[str, Any]:
        """The event as browsers receive it: its payload with its ``kind``."""
        return {"kind": self.kind.value, **self.payload()}

    @property
    def charger_key(self) -> str:
        """The outbox orders delivery per charger; '' for events of no charger."""
        charge_point_pk = getattr(self, "charge_point_pk", None)
        return "" if charge_point_pk is None else str(charge_point_pk)


_FIELD_NAMES: dict[type[Event], tuple[str, ...]] = {}


def _field_names(cls: type[Event]) -> tuple[str, ...]:
    names = _FIELD_NAMES.get(cls)
    if names is None:  # dataclasses.fields() is too slow for the meter-value path
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names


@dataclass(frozen=True)
class ChargerEvent(Event):
    charge_point_pk: int
    ocpp_id: str
    station_id: int | None
    network_id: int | None


@dataclass(frozen=True)
class ChargerConnectionChanged(ChargerEvent):
    kind = EventKind.CHARGER_CONNECTION
    is_connected: bool
    is_online: bool
    at: str | None


@dataclass(frozen=True)
class ChargerBooted(ChargerEvent):
    kind = EventKind.CHARGER_BOOTED
    registration_status: str
    vendor: str
    model: str
    firmware_version: str
    at: str | None


@dataclass(frozen=True)
class FirmwareStatusChanged(ChargerEvent):
    kind = EventKind.CHARGER_FIRMWARE_STATUS
    status: str
    at: str | None


@dataclass(frozen=True)
class SecurityEventReported(ChargerEvent):
    """A SecurityEventNotification (1.6 security whitepaper, 2.0.1 A04)."""

    kind = EventKind.CHARGER_SECURITY_EVENT
    security_event_id: int
    event_type: str
    occurred_at: str
    tech_info: str


@dataclass(frozen=True)
class ConfigurationDriftChanged(ChargerEvent):
    """A declared configuration key on a charger: refused or reverting (``failing``),
    or back in line; ``detail`` says what the charger answered or reported."""

    kind = EventKind.CONFIGURATION_DRIFT
    key: str
    desired_value: str
    state: str
    reverts: int
    failing: bool
    detail: str
    at: str


@dataclass(frozen=True)
class ChargerReportQuarantined(ChargerEvent):
    """A charger reported something kept aside instead of applied.

    ``what`` is ``unknown_connector`` (a connector the charger does not have, or
    a status connector 0 cannot take) or ``odd_samples`` (meter values with a
    unit or measurand its protocol does not define); ``detail`` says what came.
    """

    kind = EventKind.CHARGER_REPORT_QUARANTINED
    what: str
    detail: str
    vendor: str
    model: str
    at: str


@dataclass(frozen=True)
class DiagnosticsStatusChanged(ChargerEvent):
    kind = EventKind.CHARGER_DIAGNOSTICS_STATUS
    status: str
    at: str | None


@dataclass(frozen=True)
class ConnectorStatusChanged(Event):
    kind = EventKind.CONNECTOR_STATUS
    connector_pk: int | None  # None for connector 0: the charger as a whole
    connector_number: int
    charge_point_pk: int
    station_id: int | None
    network_id: int | None
    status: str
    error_code: str
    at: str | None
    vendor_error_code: str = ""
    info: str = ""


@dataclass(frozen=True)
class SessionStarted(Event):
    kind = EventKind.SESSION_STARTED
    session_id: int
    charge_point_pk: int


@dataclass(frozen=True)
class SessionStopped(Event):
    kind = EventKind.SESSION_STOPPED
    session_id: int
    charge_point_pk: int


@dataclass(frozen=True)
class SessionUpdated(Event):
    """A session's figures changed (start, meter values, stop): for browsers."""

    kind = EventKind.SESSION_UPDATED
    session_id: int
    charge_point_pk: int
    station_id: int | None
    network_id: int | None
    connector_number: int
    status: str
    auth_status: str
    energy_wh: int | None
    power_w: float | None
    soc_percent: float | None
    started_at: str
    stopped_at: str | None
    last_meter_at: str | None


@dataclass(frozen=True)
class MeterValuesSampled(Event):
    """A session's newest sampled instant moved forward (for the event stream).

    Emitted only while something subscribes (``is_wanted``): the meter-value
    path is the gateway's hottest.
    """

    kind = EventKind.METER_VALUES
    session_id: int
    charge_point_pk: int
    connector_number: int
    energy_wh: int
    power_w: float | None
    voltage_v: float | None
    current_a: float | None
    soc_percent: float | None
    sampled_at: str


@dataclass(frozen=True)
class CommandFinished(Event):
    kind = EventKind.COMMAND_FINISHED
    command_id: int
    charge_point_pk: int
    station_id: int | None
    network_id: int | None
    action: str
    status: str
    charger_status: str
    error_code: str
    duration_ms: int | None
    batch: str | None
    at: str


@dataclass(frozen=True)
class SitePlanned(Event):
    """A load-managed site got a new allocation plan."""

    kind = EventKind.SITE_PLANNED
    station_id: int
    network_id: int | None
    at: str
    trigger: str
    limit_w: int
    limit_source: str
    allocated_w: int
    measured_w: int
    connectors: list[dict[str, Any]]


@dataclass(frozen=True)
class SmartProfileAnswered(Event):
    """A charger accepted or refused the load manager's profile on a connector.

    ``refusals`` counts the refusals in a row (0 when accepted); ``limit`` is the
    refused limit as shown to people (e.g. "11000 W").
    """

    kind = EventKind.SMART_PROFILE_ANSWERED
    connector_pk: int
    charge_point_pk: int
    network_id: int | None
    station_id: int | None
    connector_label: str
    purpose: str
    accepted: bool
    refusals: int
    limit: str
    at: str


@dataclass(frozen=True)
class AlertChanged(Event):
    kind = EventKind.ALERT_CHANGED
    alert_id: int
    network_id: int | None
    station_id: int | None
    charge_point_pk: int | None
    rule: str
    severity: str
    status: str
    is_suppressed: bool
    title: str


@dataclass(frozen=True)
class AlertNotice(Event):
    """An alert event people are told about (email, webhooks); ``event_key`` names it."""

    alert_id: int
    event_key: str
    charge_point_pk: int | None
    network_id: int | None


@dataclass(frozen=True)
class AlertOpened(AlertNotice):
    kind = EventKind.ALERT_OPENED


@dataclass(frozen=True)
class AlertEscalated(AlertNotice):
    kind = EventKind.ALERT_ESCALATED


@dataclass(frozen=True)
class AlertResolved(AlertNotice):
    kind = EventKind.ALERT_RESOLVED


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind.value: cls
    for cls in (
        ChargerConnectionChanged,
        ChargerBooted,
        FirmwareStatusChanged,
        DiagnosticsStatusChanged,
        ConnectorStatusChanged,
        SessionStarted,
        SessionStopped,
        SessionUpdated,
        MeterValuesSampled,
        CommandFinished,
        SitePlanned,
        SmartProfileAnswered,
        ChargerReportQuarantined,
        ConfigurationDriftChanged,
        AlertChanged,
        AlertOpened,
        AlertEscalated,
        AlertResolved,
    )
}


def event_from_payload(*, kind: str, payload: dict[str, Any]) -> Event:
    """Rebuild an event read back from the outbox."""
    return EVENT_TYPES[kind](**payload)


# --- subscriptions -------------------------------------------------------------------

TaskCalls = Iterable[Signature] | None
Handler = Callable[[Any], TaskCalls]
LiveEvent = tuple[list[str], dict[str, Any]]
LivePublisher = Callable[[list[LiveEvent]], None]

_subscribers: dict[str, list[Handler]] = {}
_external: dict[str, list[Handler]] = {}
_live_publishers: list[LivePublisher] = []


def subscribe(kind: EventKind, handler: Handler, *, external: bool = False) -> None:
    """Have ``handler(event)`` called for every committed event of ``kind``; idempotent.

    ``external``: the handler feeds something outside the product, so events of
    ``kind`` go through the outbox and the relay calls it (at least once).
    """
    handlers = (_external if external else _subscribers).setdefault(kind.value, [])
    if handler not in handlers:
        handlers.append(handler)


def is_wanted(kind: EventKind) -> bool:
    """Whether anything subscribes to ``kind`` (lets a hot path skip building it)."""
    return bool(_subscribers.get(kind.value) or _external.get(kind.value))


def unsubscribe(kind: EventKind, handler: Handler) -> None:
    for registry in (_subscribers, _external):
        if handler in registry.get(kind.value, ()):
            registry[kind.value].remove(handler)


def external_subscribers(kind: str) -> tuple[Handler, ...]:
    return tuple(_external.get(kind, ()))


def subscribe_live(publisher: LivePublisher) -> None:
    """Register how live events reach browsers from sync code (the live app's bus)."""
    if publisher not in _live_publishers:
        _live_publishers.append(publisher)


def live_publish(events: list[LiveEvent]) -> None:
    for publisher in list(_live_publishers):
        try:
            publisher(events)
        except Exception:  # best effort: the database holds the truth
            logger.warning("%d live events not published", len(events), exc_info=True)


@dataclass
class Delivery:
    calls: list[Signature] = field(default_factory=list)
    failures: int = 0


def subscribers_run(events: Iterable[Event]) -> Delivery:
    """Call the subscribers of ``events`` in order; collect the task calls they return."""
    delivery = Delivery()
    for event in events:
        for handler in list(_subscribers.get(event.kind.value, ())):
            try:
                calls = handler(event)
            except Exception:
                delivery.failures += 1
                logger.exception("subscriber %r failed on %s", handler, event.kind)
                continue
            if calls:
                delivery.calls.extend(calls)
    return delivery


def relay_nudge() -> Signature:
    from cms.tasks import outbox_relay_task  # tasks import the outbox's models

    return outbox_relay_task.si()


def task_calls_send(calls: Sequence[Signature]) -> None:
    from cms.tasks import task_calls_send as send

    send(calls)


# --- delivery ------------------------------------------------------------------------


@dataclass(eq=False)
class UnitOfWork:
    """What the transactions committed inside ``unit_of_work()`` emitted.

    ``live`` is for the opener to publish; ``events`` (those with subscribers)
    and ``relay_nudge`` are for the opener to hand to its subscriber thread,
    unless the unit delivers to subscribers itself (``hands_over`` False).
    """

    hands_over: bool = True
    live: list[LiveEvent] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    relay_nudge: bool = False


_unit: ContextVar[UnitOfWork | None] = ContextVar("cms_unit_of_work", default=None)


@contextmanager
def unit_of_work(*, hands_over: bool = True) -> Iterator[UnitOfWork]:
    """Collect, for the caller to deliver, what is committed in this block."""
    unit = UnitOfWork(hands_over=hands_over)
    token = _unit.set(unit)
    try:
        yield unit
    finally:
        _unit.reset(token)


@contextmanager
def outbox_batch() -> Iterator[None]:
    """Write the outbox rows emitted in this block in one INSERT at its end.

    Open it inside the batch's transaction: the rows commit with the batch, and
    a failed batch writes none.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("outbox_batch() belongs inside the batch's transaction")
    buffer: list[tuple[Event, _Committed]] = []
    token = _outbox_buffer.set(buffer)
    try:
        yield
    finally:
        _outbox_buffer.reset(token)
    if buffer:
        # An emit inside a savepoint that rolled back is not written: Django
        # dropped its on-commit callback with the savepoint.
        # Entries are (savepoint ids, callback, robust) in Django 5 (the stubs say 2).
        pending = {id(entry[1]) for entry in connection.run_on_commit}
        _outbox_write([event for event, callback in buffer if id(callback) in pending])


def _outbox_write(events: list[Event]) -> None:
    if events:
        from cms.outbox import outbox_write  # the outbox's model needs loaded apps

        outbox_write(events=events)


class _Committed:
    """The on-commit callback of one emitted event."""

    __slots__ = ("event", "is_outbound", "live_groups", "unit")

    def __init__(
        self,
        event: Event,
        live_groups: list[str],
        unit: UnitOfWork | None,
        is_outbound: bool,
    ) -> None:
        self.event = event
        self.live_groups = live_groups
        self.unit = unit
        self.is_outbound = is_outbound

    def __call__(self) -> None:
        unit, event = self.unit, self.event
        live = [(self.live_groups, event.as_dict())] if self.live_groups else []
        if unit is not None:
            unit.live.extend(live)
            live = []
            if unit.hands_over:
                if event.kind.value in _subscribers:
                    unit.events.append(event)
                unit.relay_nudge = unit.relay_nudge or self.is_outbound
                return
        if live:
            live_publish(live)
        delivery = subscribers_run([event])
        if self.is_outbound:
            delivery.calls.append(relay_nudge())
        try:
            task_calls_send(delivery.calls)
        except Exception:  # e.g. the broker is down; the periodic sweeps catch up
            logger.exception(
                "%d task calls of %s not sent", len(delivery.calls), event.kind
            )


_outbox_buffer: ContextVar[list[tuple[Event, _Committed]] | None] = ContextVar(
    "cms_outbox_buffer", default=None
)


def emit(event: Event, *, live_groups: Sequence[str] = ()) -> None:
    """Announce ``event``: to subscribers and ``live_groups`` after commit, via the outbox
    (in this transaction) when an external subscriber wants it."""
    is_outbound = bool(_external.get(event.kind.value))
    callback = _Committed(event, list(live_groups), _unit.get(), is_outbound)
    if is_outbound:
        buffer = _outbox_buffer.get()
        if buffer is None:
            _outbox_write([event])
        else:
            buffer.append((event, callback))
    transaction.on_commit(callback, robust=True)
