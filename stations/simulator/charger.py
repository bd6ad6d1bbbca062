"""One simulated OCPP 1.6J charge point, from boot to reboot.

A ``SimulatedCharger`` outlives its WebSocket connections: its connectors keep
charging while it is offline and transaction-related messages wait in an
ordered outbox (OCPP 1.6 §4.7: StartTransaction, StopTransaction and
transaction MeterValues are delivered after reconnecting, in order, with their
original timestamps). Everything else sent while offline is dropped, as real
chargers do; current statuses are reported again after the next boot.

``OcppLink`` is the python-ocpp ChargePoint for one connection: it answers the
central system's calls by delegating to the charger. Side effects of a call
(start a session, reboot, send the triggered message…) run in ``@after``
hooks so the CALLRESULT is on the wire before the charger acts on it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import math
import random
import re
import ssl
import time
import zlib
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote

from ocpp.exceptions import OCPPError
from ocpp.routing import after, on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

from stations.simulator import profiles as smart
from stations.simulator.ev import (
    MIN_AC_CURRENT_A,
    NOMINAL_AC_VOLTAGE_V,
    ElectricVehicle,
    charge,
    dc_voltage_v,
    ev_acceptance_w,
    random_ev,
)
from stations.simulator.hardware import (
    CURRENT,
    CURRENT_OFFERED,
    ENERGY_REGISTER,
    POWER,
    SOC,
    VENDOR,
    VOLTAGE,
    ChargerSpec,
    Configuration,
    ConnectorSpec,
)

log = logging.getLogger("stations.simulator")

SUBPROTOCOL = "ocpp1.6"
ACCEPTED = "Accepted"

# Realistic faults: (errorCode, vendorErrorCode, info).
FAULTS = (
    ("GroundFailure", "E-RCD-30", "Residual current detected"),
    ("HighTemperature", "E-TMP-85", "Connector temperature 85 C"),
    ("OverCurrentFailure", "E-OC-12", "Overcurrent on L2"),
    ("PowerMeterFailure", "E-MTR-03", "Meter not responding"),
    ("ConnectorLockFailure", "E-LCK-07", "Lock motor timeout"),
    ("EVCommunicationError", "E-CP-21", "Control pilot error"),
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def ocpp_now() -> str:
    return smart.format_ocpp_datetime(utc_now())


@dataclass
class ChargerOptions:
    """Behaviour shared by all chargers of a fleet (times in seconds)."""

    url: str
    password: str | None = None
    id_tags: tuple[str, ...] = ()
    speedup: float = 1.0
    meter_interval_s: int = 30
    # Expected events per charger per simulated hour.
    fault_rate: float = 0.0
    drop_rate: float = 0.0
    # Mean simulated time between a connector's sessions; 0 = remote starts only.
    mean_idle_s: float = 1200.0
    mean_stay_s: float = 2700.0
    tick_s: float = 1.0
    reconnect_min_s: float = 1.0
    reconnect_max_s: float = 120.0
    response_timeout_s: float = 30.0
    reboot_s: float = 8.0
    shutdown_timeout_s: float = 5.0
    # wss:// only: the CA (PEM file) the server's certificate is checked against.
    ca_file: str = ""


@dataclass
class SessionRequest:
    id_tag: str
    is_remote: bool = False
    profile: smart.ChargingProfile | None = None
    # 2.0.1 RequestStartTransaction's remoteStartId, echoed in the transaction.
    remote_start_id: int | None = None


@dataclass
class Transaction:
    connector_id: int
    id_tag: str
    meter_start_wh: int
    started_at: datetime
    reservation_id: int | None = None
    # 1.6: the CMS's integer; 2.0.1: the station's own string (§2.50).
    transaction_id: int | str | None = None
    auth_status: str | None = None
    confirmed: asyncio.Event = field(default_factory=asyncio.Event)
    begin_sample: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Reservation:
    reservation_id: int
    connector_id: int
    id_tag: str
    expires_at: datetime
    parent_id_tag: str | None = None


@dataclass
class ConnectorState:
    number: int
    spec: ConnectorSpec
    register_wh: float
    status: str = "Available"
    is_operative: bool = True
    ev: ElectricVehicle | None = None
    transaction: Transaction | None = None
    power_w: float = 0.0
    offered_w: float = 0.0
    is_busy: bool = False
    request: SessionRequest | None = None
    stop_request: str | None = None
    fault: tuple[str, str, str] | None = None
    reservation: Reservation | None = None
    wake: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class OutboxItem:
    """A message to send; ``build`` runs at send time (transaction ids fill in)."""

    build: Callable[[], Any | None]
    is_transactional: bool
    on_result: Callable[[Any], None] | None = None
    future: asyncio.Future[Any] | None = None
    attempts: int = 0


class OcppLink(ChargePoint):
    """The OCPP 1.6 protocol endpoint of one connection; logic lives in the charger."""

    def __init__(
        self, charger: SimulatedCharger, connection: ClientConnection, timeout: float
    ) -> None:
        super().__init__(charger.ocpp_id, connection, response_timeout=timeout)
        self.charger = charger
        self._deferred: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {}

    def defer(
        self, unique_id: str, action: Callable[[], Coroutine[Any, Any, None]]
    ) -> None:
        """Run ``action`` once the CALLRESULT for ``unique_id`` has been sent."""
        self._deferred[unique_id] = action

    def _run_deferred(self, unique_id: str) -> None:
        action = self._deferred.pop(unique_id, None)
        if action is not None:
            self.charger.spawn(action())

    @on(Action.reset)
    def on_reset(self, type: str, call_unique_id: str) -> call_result.Reset:
        self.defer(call_unique_id, lambda: self.charger.reboot(reason=f"{type}Reset"))
        return call_result.Reset(status=ACCEPTED)

    @after(Action.reset)
    def after_reset(self, call_unique_id: str, **_: Any) -> None:
        self._run_deferred(call_unique_id)

    @on(Action.remote_start_transaction)
    def on_remote_start_transaction(
        self,
        id_tag: str,
        call_unique_id: str,
        connector_id: int | None = None,
        charging_profile: dict[str, Any] | None = None,
    ) -> call_result.RemoteStartTransaction:
        status = self.charger.accept_remote_start(
            id_tag=id_tag,
            connector_id=connector_id,
            charging_profile=charging_profile,
            defer=lambda action: self.defer(call_unique_id, action),
        )
        return call_result.RemoteStartTransaction(status=status)

    @after(Action.remote_start_transaction)
    def after_remote_start_transaction(self, call_unique_id: str, **_: Any) -> None:
        self._run_deferred(call_unique_id)

    @on(Action.remote_stop_transaction)
    def on_remote_stop_transaction(
        self, transaction_id: int, call_unique_id: str
    ) -> call_result.RemoteStopTransaction:
        connector = self.charger.connector_with_transaction(transaction_id)
        if connector is None:
            return call_result.RemoteStopTransaction(status="Rejected")
        self.defer(
            call_unique_id, lambda: self.charger.request_stop(connector, "Remote")
        )
        return call_result.RemoteStopTransaction(status=ACCEPTED)

    @after(Action.remote_stop_transaction)
    def after_remote_stop_transaction(self, call_unique_id: str, **_: Any) -> None:
        self._run_deferred(call_unique_id)

    @on(Action.unlock_connector)
    def on_unlock_connector(
        self, connector_id: int, call_unique_id: str
    ) -> call_result.UnlockConnector:
        connector = self.charger.connector(connector_id)
        # A fixed (tethered) cable has no lock to open.
        if connector is None or connector.spec.is_tethered:
            return call_result.UnlockConnector(status="NotSupported")
        if connector.is_busy:
            self.defer(
                call_unique_id,
                lambda: self.charger.request_stop(connector, "UnlockCommand"),
            )
        return call_result.UnlockConnector(status="Unlocked")

    @after(Action.unlock_connector)
    def after_unlock_connector(self, call_unique_id: str, **_: Any) -> None:
        self._run_deferred(call_unique_id)

    @on(Action.change_availability)
    def on_change_availability(
        self, connector_id: int, type: str, call_unique_id: str
    ) -> call_result.ChangeAvailability:
        status = self.charger.change_availability(
            connector_id=connector_id,
            is_operative=type == "Operative",
            defer=lambda action: self.defer(call_unique_id, action),
        )
        return call_result.ChangeAvailability(status=status)

    @after(Action.change_availability)
    def after_change_availability(self, call_unique_id: str, **_: Any) -> None:
        self._run_deferred(call_unique_id)

    @on(Action.get_configuration)
    def on_get_configuration(
        self, key: list[str] | None = None
    ) -> call_result.GetConfiguration:
        known, unknown = self.charger.configuration.get(key)
        return call_result.GetConfiguration(
            configuration_key=known, unknown_key=unknown or None
        )

    @on(Action.change_configuration)
    def on_change_configuration(
        self, key: str, value: str
    ) -> call_result.ChangeConfiguration:
        return call_result.ChangeConfiguration(
            status=self.charger.change_configuration(key, value)
        )

    @on(Action.clear_cache)
    def on_clear_cache(self) -> call_result.ClearCache:
        self.charger.auth_cache.clear()
        return call_result.ClearCache(status=ACCEPTED)

    @on(Action.trigger_message)
    def on_trigger_message(
        self,
        requested_message: str,
        call_unique_id: str,
        connector_id: int | None = None,
    ) -> call_result.TriggerMessage:
        status = self.charger.accept_trigger(
            requested_message,
            connector_id,
            defer=lambda action: self.defer(call_unique_id, action),
        )
        return call_result.TriggerMessage(status=status)

    @after(Action.trigger_message)
    def after_trigger_message(self, call_unique_id: str, **_: Any) -> None:
        self._run_deferred(call_unique_id)

    @on(Action.data_transfer)
    def on_data_transfer(
        self, vendor_id: str, message_id: str | None = None, data: str | None = None
    ) -> call_result.DataTransfer:
        if vendor_id != self.charger.spec.vendor:
            return call_result.DataTransfer(status="UnknownVendorId")
        if message_id in (None, "Ping"):
            return call_result.DataTransfer(status=ACCEPTED, data=data or "Pong")
        return call_result.DataTransfer(status="UnknownMessageId")

    @on(Action.update_firmware)
    def on_update_firmware(
        self, location: str, retrieve_date: str, call_unique_id: str, **_: Any
    ) -> call_result.UpdateFirmware:
        self.defer(
            call_unique_id,
            lambda: self.charger.update_firmware(location, retrieve_date),
        )
        return call_result.UpdateFirmware()

    @after(Action.update_firmware)
    def after_update_firmware(self, call_unique_id: str, **_: Any) -> None:
        self._run_deferred(call_unique_id)

    @on(Action.get_diagnostics)
    def on_get_diagnostics(
        self, location: str, call_unique_id: str, **_: Any
    ) -> call_result.GetDiagnostics:
        file_name = (
            f"{self.charger.ocpp_id}-diagnostics-"
            f"{utc_now().strftime('%Y%m%dT%H%M%SZ')}.tar.gz"
        )
        self.defer(call_unique_id, lambda: self.charger.upload_diagnostics(location))
        return call_result.GetDiagnostics(file_name=file_name)

    @after(Action.get_diagnostics)
    def after_get_diagnostics(self, call_unique_id: str, **_: Any) -> None:
        self._run_deferred(call_unique_id)

    @on(Action.reserve_now)
    def on_reserve_now(
        self,
        connector_id: int,
        expiry_date: str,
        id_tag: str,
        reservation_id: int,
        call_unique_id: str,
        parent_id_tag: str | None = None,
    ) -> call_result.ReserveNow:
        status = self.charger.reserve(
            Reservation(
                reservation_id=reservation_id,
                connector_id=connector_id,
                id_tag=id_tag,
                expires_at=smart.parse_ocpp_datetime(expiry_date),
                parent_id_tag=parent_id_tag,
            ),
            defer=lambda action: self.defer(call_unique_id, action),
        )
        return call_result.ReserveNow(status=status)

    @after(Action.reserve_now)
    def after_reserve_now(self, call_unique_id: str, **_: Any) -> None:
        self._run_deferred(call_unique_id)

    @on(Action.cancel_reservation)
    def on_cancel_reservation(
        self, reservation_id: int, call_unique_id: str
    ) -> call_result.CancelReservation:
        status = self.charger.cancel_reservation(
            reservation_id, defer=lambda action: self.defer(call_unique_id, action)
        )
        return call_result.CancelReservation(status=status)

    @after(Action.cancel_reservation)
    def after_cancel_reservation(self, call_unique_id: str, **_: Any) -> None:
        self._run_deferred(call_unique_id)

    @on(Action.send_local_list)
    def on_send_local_list(
        self,
        list_version: int,
        update_type: str,
        local_authorization_list: list[dict[str, Any]] | None = None,
    ) -> call_result.SendLocalList:
        status = self.charger.update_local_list(
            list_version, update_type, local_authorization_list or []
        )
        return call_result.SendLocalList(status=status)

    @on(Action.get_local_list_version)
    def on_get_local_list_version(self) -> call_result.GetLocalListVersion:
        return call_result.GetLocalListVersion(
            list_version=self.charger.local_list_version
        )

    @on(Action.set_charging_profile)
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any]
    ) -> call_result.SetChargingProfile:
        return call_result.SetChargingProfile(
            status=self.charger.set_charging_profile(connector_id, cs_charging_profiles)
        )

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(
        self,
        id: int | None = None,
        connector_id: int | None = None,
        charging_profile_purpose: str | None = None,
        stack_level: int | None = None,
    ) -> call_result.ClearChargingProfile:
        return call_result.ClearChargingProfile(
            status=self.charger.clear_charging_profiles(
                profile_id=id,
                connector_id=connector_id,
                purpose=charging_profile_purpose,
                stack_level=stack_level,
            )
        )

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(
        self, connector_id: int, duration: int, charging_rate_unit: str | None = None
    ) -> call_result.GetCompositeSchedule:
        schedule = self.charger.composite_schedule(
            connector_id, duration, charging_rate_unit
        )
        if schedule is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        return call_result.GetCompositeSchedule(
            status=ACCEPTED,
            connector_id=connector_id,
            schedule_start=schedule["startSchedule"],
            charging_schedule=schedule,
        )


Defer = Callable[[Callable[[], Coroutine[Any, Any, None]]], None]


class Link(Protocol):
    """One connection's OCPP-J endpoint: reads frames, sends CALLs."""

    async def start(self) -> None: ...

    async def call(self, payload: Any, suppress: bool = True) -> Any: ...


class SimulatedCharger:
    """A charge point with 1–n connectors, its EVs, configuration and connection.

    The OCPP 1.6 wire lives in a handful of methods (``_open_link``,
    ``_boot_payload``, ``_boot_answer``, ``_heartbeat_message``, ``_send_status``,
    ``authorize``, ``_start_transaction``, ``_stop_transaction``,
    ``_send_meter_values``, ``_notify_*``); the 2.0.1 station
    (``stations.simulator.v201``) overrides those and shares everything else.
    """

    subprotocol = SUBPROTOCOL

    def __init__(
        self,
        ocpp_id: str,
        spec: ChargerSpec,
        options: ChargerOptions,
        *,
        rng: random.Random | None = None,
        serial_number: str | None = None,
    ) -> None:
        self.ocpp_id = ocpp_id
        self.spec = spec
        self.options = options
        self.rng = rng or random.Random()  # noqa: S311  (simulation, not crypto)
        self.serial_number = serial_number or f"SC{_digits(ocpp_id, 8)}"
        self.firmware_version = spec.firmware_version
        self.configuration = Configuration.for_charger(
            spec, meter_interval_s=options.meter_interval_s
        )
        self.connectors = [
            ConnectorState(
                number=number,
                spec=connector,
                register_wh=float(self.rng.randint(1_000_000, 40_000_000)),
            )
            for number, connector in enumerate(spec.connectors, start=1)
        ]
        self.registration_status: str | None = None
        self.profiles: list[smart.ChargingProfile] = []
        self.local_list: dict[str, dict[str, Any]] = {}
        self.local_list_version = 0
        self.auth_cache: dict[str, dict[str, Any]] = {}
        self.diagnostics_status = "Idle"
        self.firmware_status = "Idle"
        self.boot_count = 0
        self._outbox: deque[OutboxItem] = deque()
        self._outbox_changed = asyncio.Event()
        self._changed = asyncio.Event()
        self._link: Link | None = None
        self._is_online = False
        self._stopping = asyncio.Event()
        self._disconnect = asyncio.Event()
        self._boot_now = asyncio.Event()
        self._heartbeat_changed = asyncio.Event()
        self._reconnect_after_s: float | None = None
        self._firmware_installed: str | None = None
        # A hardware fault to simulate on the next firmware update: "download"
        # (DownloadFailed) or "install" (InstallationFailed, no reboot).
        self.firmware_failure = ""
        self._is_rebooting = False
        self._is_shutting_down = False
        self._tasks: set[asyncio.Task[Any]] = set()

    # ----------------------------------------------------------------- helpers

    @property
    def is_online(self) -> bool:
        return self._is_online

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a background task, keeping a reference until it ends."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "%s: background task failed",
                self.ocpp_id,
                exc_info=task.exception(),
            )

    def connector(self, number: int | None) -> ConnectorState | None:
        if number is None or not 1 <= number <= len(self.connectors):
            return None
        return self.connectors[number - 1]

    def connector_with_transaction(
        self, transaction_id: int | str
    ) -> ConnectorState | None:
        for connector in self.connectors:
            tx = connector.transaction
            if tx is not None and tx.transaction_id == transaction_id:
                return connector
        return None

    def _real_seconds(self, simulated_s: float) -> float:
        return simulated_s / self.options.speedup

    async def _pause(self, real_s: float, *events: asyncio.Event) -> None:
        """Sleep up to ``real_s``, waking early on stop or any given event."""
        waiters = [asyncio.ensure_future(e.wait()) for e in (self._stopping, *events)]
        try:
            await asyncio.wait(
                waiters,
                timeout=max(real_s, 0.0),
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for waiter in waiters:
                waiter.cancel()

    def _url(self) -> str:
        return self.options.url.rstrip("/") + "/" + quote(self.ocpp_id, safe="")

    def _ssl_context(self) -> ssl.SSLContext | None:
        """Security profile 2 over wss://: the server authenticated by the CA."""
        if not self.options.url.startswith("wss://"):
            return None
        return ssl.create_default_context(cafile=self.options.ca_file or None)

    def _headers(self) -> dict[str, str]:
        if not self.options.password:
            return {}
        token = base64.b64encode(
            f"{self.ocpp_id}:{self.options.password}".encode()
        ).decode("ascii")
        return {"Authorization": f"Basic {token}"}

    # ----------------------------------------------------------- connection

    async def run(self) -> None:
        """Connect, boot and operate until ``stop()``; reconnect on any loss."""
        connector_tasks = [
            self.spawn(self._connector_loop(connector)) for connector in self.connectors
        ]
        incidents = self.spawn(self._incident_loop())
        failures = 0
        while not self._stopping.is_set():
            was_connected = False
            try:
                async with connect(
                    self._url(),
                    subprotocols=[Subprotocol(self.subprotocol)],
                    additional_headers=self._headers(),
                    proxy=None,
                    ssl=self._ssl_context(),
                    open_timeout=self.options.response_timeout_s,
                    ping_interval=self.configuration.integer("WebSocketPingInterval")
                    or None,
                    ping_timeout=self.options.response_timeout_s,
                    close_timeout=2,
                ) as websocket:
                    # Chargers abort when the server does not echo the subprotocol.
                    if websocket.subprotocol != self.subprotocol:
                        log.warning(
                            "%s: server did not accept subprotocol %s",
                            self.ocpp_id,
                            self.subprotocol,
                        )
                    else:
                        was_connected = True
                        await self._serve(websocket)
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as error:
                log.warning("%s: connection failed: %s", self.ocpp_id, error)
            except InvalidURI as error:
                log.error("%s: invalid URL %s", self.ocpp_id, error)
                break
            self._went_offline()
            if self._stopping.is_set():
                break
            failures = 0 if was_connected else failures + 1
            await self._pause(self._reconnect_delay(failures))
        for task in (*connector_tasks, incidents):
            task.cancel()
        for task in list(self._tasks):
            task.cancel()

    def _reconnect_delay(self, failures: int) -> float:
        if self._reconnect_after_s is not None:
            delay, self._reconnect_after_s = self._reconnect_after_s, None
            return delay
        # Exponential backoff with jitter, so a restarted server is not stormed.
        return next_backoff(
            failures,
            min_s=self.options.reconnect_min_s,
            max_s=self.options.reconnect_max_s,
            rng=self.rng,
        )

    async def _serve(self, websocket: ClientConnection) -> None:
        link = self._open_link(websocket)
        self._link = link
        self._disconnect.clear()
        reader = asyncio.ensure_future(link.start())
        reader.add_done_callback(lambda _: self._disconnect.set())
        self._is_rebooting = False
        tasks: list[asyncio.Future[Any]] = [reader]
        try:
            if not await self._boot(link, reader):
                return
            self._is_online = True
            log.info("%s: online (firmware %s)", self.ocpp_id, self.firmware_version)
            tasks.append(asyncio.ensure_future(self._send_outbox(link)))
            tasks.append(asyncio.ensure_future(self._heartbeat_loop()))
            self._report_all_statuses()
            if self._firmware_installed:
                self._firmware_installed = None
                self._notify_firmware("Installed")
            disconnect = asyncio.ensure_future(self._disconnect.wait())
            tasks.append(disconnect)
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not disconnect and not task.cancelled():
                    error = task.exception()
                    if error is not None and not isinstance(error, ConnectionClosed):
                        log.error("%s: connection task failed: %r", self.ocpp_id, error)
        finally:
            self._is_online = False
            self._link = None
            for task in tasks:
                task.cancel()
            await websocket.close()

    def _open_link(self, websocket: ClientConnection) -> Link:
        return OcppLink(self, websocket, self.options.response_timeout_s)

    def _boot_answer(self, response: Any) -> tuple[str, int]:
        """(registration status, heartbeat interval) of a BootNotification answer."""
        return str(response.status), int(response.interval)

    def _heartbeat_message(self) -> Any:
        return call.Heartbeat()

    async def _boot(self, link: Link, reader: asyncio.Future[Any]) -> bool:
        """BootNotification until Accepted (§4.2); False if the socket went away."""
        while not self._disconnect.is_set() and not self._stopping.is_set():
            self.boot_count += 1
            self._boot_now.clear()
            booting = asyncio.ensure_future(
                link.call(self._boot_payload(), suppress=False)
            )
            await asyncio.wait({booting, reader}, return_when=asyncio.FIRST_COMPLETED)
            if not booting.done():
                booting.cancel()
                return False
            try:
                response = booting.result()
            except (OCPPError, TimeoutError) as error:
                log.warning("%s: BootNotification failed: %r", self.ocpp_id, error)
                await self._pause(10.0, self._boot_now, self._disconnect)
                continue
            status, interval = self._boot_answer(response)
            self.registration_status = status
            if status == ACCEPTED:
                if interval > 0:
                    self.configuration.keys["HeartbeatInterval"].value = str(interval)
                log.info("%s: boot accepted, heartbeat %ss", self.ocpp_id, interval)
                return True
            # Pending: the CMS may configure us meanwhile. Rejected: send nothing
            # until the interval has passed (§4.2.1).
            log.info(
                "%s: boot %s, retrying in %ss",
                self.ocpp_id,
                status,
                interval or 30,
            )
            await self._pause(interval or 30, self._boot_now, self._disconnect)
        return False

    def _went_offline(self) -> None:
        self._is_online = False
        self._changed.set()
        self.registration_status = None
        kept: deque[OutboxItem] = deque()
        for item in self._outbox:
            if item.is_transactional:
                kept.append(item)
            elif item.future is not None and not item.future.done():
                item.future.set_result(None)
        self._outbox = kept
        if kept:
            log.info(
                "%s: offline, %d transaction messages queued", self.ocpp_id, len(kept)
            )

    async def _heartbeat_loop(self) -> None:
        while True:
            self._heartbeat_changed.clear()
            interval = self.configuration.integer("HeartbeatInterval") or 300
            await self._pause(interval, self._heartbeat_changed)
            if not self._heartbeat_changed.is_set():
                self._enqueue(self._heartbeat_message)

    # --------------------------------------------------------------- outbox

    def _enqueue(
        self,
        build: Callable[[], Any | None],
        *,
        is_transactional: bool = False,
        on_result: Callable[[Any], None] | None = None,
        wants_result: bool = False,
    ) -> asyncio.Future[Any] | None:
        """Queue a message; non-transactional ones are dropped while offline."""
        if not is_transactional and not self._is_online:
            return None
        future = asyncio.get_running_loop().create_future() if wants_result else None
        self._outbox.append(OutboxItem(build, is_transactional, on_result, future))
        self._outbox_changed.set()
        return future

    async def _request(self, build: Callable[[], Any]) -> Any | None:
        """Send a message and wait for its answer; None when offline or no answer."""
        future = self._enqueue(build, wants_result=True)
        if future is None:
            return None
        try:
            return await asyncio.wait_for(future, self.options.response_timeout_s * 2)
        except TimeoutError:
            return None

    async def _send_outbox(self, link: Link) -> None:
        while True:
            while not self._outbox:
                self._outbox_changed.clear()
                await self._outbox_changed.wait()
            item = self._outbox[0]
            payload = item.build()
            if payload is None:
                self._outbox.popleft()
                continue
            try:
                result = await link.call(payload, suppress=False)
            except (OCPPError, TimeoutError) as error:
                item.attempts += 1
                attempts = self.configuration.integer("TransactionMessageAttempts")
                if not item.is_transactional or item.attempts >= max(attempts, 1):
                    log.warning(
                        "%s: %s not delivered (%r), dropped",
                        self.ocpp_id,
                        getattr(payload, "action", type(payload).__name__),
                        error,
                    )
                    self._outbox.popleft()
                    self._changed.set()
                    if item.future is not None and not item.future.done():
                        item.future.set_result(None)
                    continue
                retry_s = self.configuration.integer("TransactionMessageRetryInterval")
                await self._pause(self._real_seconds(retry_s * item.attempts))
                continue
            if self._outbox and self._outbox[0] is item:
                self._outbox.popleft()
            self._changed.set()
            if item.on_result is not None:
                item.on_result(result)
            if item.future is not None and not item.future.done():
                item.future.set_result(result)

    def drained(self) -> bool:
        return not self._outbox

    def _is_settled(self) -> bool:
        """No session running and, when online, nothing left to send."""
        if any(connector.is_busy for connector in self.connectors):
            return False
        return not (self._is_online and self._outbox)

    async def _wait_until(
        self, condition: Callable[[], bool], timeout_s: float
    ) -> bool:
        """Wait until ``condition()`` holds (re-checked on every state change)."""
        deadline = time.monotonic() + timeout_s
        while True:
            self._changed.clear()
            if condition():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    # ------------------------------------------------------------- statuses

    def _idle_status(self, connector: ConnectorState) -> str:
        if connector.fault is not None:
            return "Faulted"
        if not connector.is_operative:
            return "Unavailable"
        if connector.reservation is not None:
            return "Reserved"
        return "Available"

    def _charger_status(self) -> str:
        if all(not connector.is_operative for connector in self.connectors):
            return "Unavailable"
        return "Available"

    def _set_status(self, connector: ConnectorState, status: str) -> None:
        if connector.status == status:
            return
        connector.status = status
        if status == "Faulted" and connector.fault:
            log.info(
                "%s #%d: Faulted (%s)",
                self.ocpp_id,
                connector.number,
                connector.fault[0],
            )
        self._send_status(connector.number, status, connector.fault)

    def _send_status(
        self, number: int, status: str, fault: tuple[str, str, str] | None = None
    ) -> None:
        timestamp = ocpp_now()
        if fault and status == "Faulted":
            error_code, vendor_code, info = fault
            self._enqueue(
                lambda: call.StatusNotification(
                    connector_id=number,
                    error_code=error_code,
                    status=status,
                    timestamp=timestamp,
                    info=info,
                    vendor_id=VENDOR,
                    vendor_error_code=vendor_code,
                )
            )
        else:
            self._enqueue(
                lambda: call.StatusNotification(
                    connector_id=number,
                    error_code="NoError",
                    status=status,
                    timestamp=timestamp,
                )
            )

    def _report_all_statuses(self) -> None:
        self._send_status(0, self._charger_status())
        for connector in self.connectors:
            self._send_status(connector.number, connector.status, connector.fault)

    # ------------------------------------------------------------- sessions

    async def _connector_loop(self, connector: ConnectorState) -> None:
        while not self._stopping.is_set():
            request = await self._wait_for_driver(connector)
            if request is None:
                continue
            connector.is_busy = True
            try:
                await self._run_session(connector, request)
            finally:
                connector.is_busy = False
                connector.stop_request = None
                connector.ev = None
                connector.power_w = connector.offered_w = 0.0
                self._changed.set()

    def _next_arrival_s(self) -> float | None:
        if self.options.mean_idle_s <= 0 or not self.options.id_tags:
            return None
        return self._real_seconds(self.rng.expovariate(1 / self.options.mean_idle_s))

    async def _wait_for_driver(
        self, connector: ConnectorState
    ) -> SessionRequest | None:
        arrival_at = self._arrival_deadline()
        while not self._stopping.is_set():
            if connector.request is not None:
                request, connector.request = connector.request, None
                return request
            self._expire_reservation(connector)
            now = time.monotonic()
            if arrival_at is not None and now >= arrival_at:
                arrival = self._random_arrival(connector)
                if arrival is not None:
                    return arrival
                arrival_at = self._arrival_deadline()
                continue
            timeout = 3600.0 if arrival_at is None else arrival_at - now
            reservation = connector.reservation
            if reservation is not None:
                timeout = min(
                    timeout, (reservation.expires_at - utc_now()).total_seconds() + 0.05
                )
            connector.wake.clear()
            await self._pause(timeout, connector.wake)
        return None

    def _arrival_deadline(self) -> float | None:
        delay = self._next_arrival_s()
        return None if delay is None else time.monotonic() + delay

    def _random_arrival(self, connector: ConnectorState) -> SessionRequest | None:
        if (
            connector.fault
            or not connector.is_operative
            or self._is_rebooting
            or self._is_shutting_down
        ):
            return None
        if connector.reservation is not None:
            # The driver who reserved turns up; nobody else may use the connector.
            return SessionRequest(id_tag=connector.reservation.id_tag)
        # A driver's card is in one car at a time: a tag already charging on another
        # connector here is not drawn again (the CMS limits open sessions per token).
        busy = {c.transaction.id_tag for c in self.connectors if c.transaction}
        free = [tag for tag in self.options.id_tags if tag not in busy]
        return SessionRequest(id_tag=self.rng.choice(free or self.options.id_tags))

    def _expire_reservation(self, connector: ConnectorState) -> None:
        reservation = connector.reservation
        if reservation is not None and reservation.expires_at <= utc_now():
            log.info(
                "%s #%d: reservation %d expired",
                self.ocpp_id,
                connector.number,
                reservation.reservation_id,
            )
            connector.reservation = None
            if not connector.is_busy:
                self._set_status(connector, self._idle_status(connector))

    async def _run_session(
        self, connector: ConnectorState, request: SessionRequest
    ) -> None:
        ev = random_ev(self.rng, is_dc=connector.spec.is_dc)
        connector.ev = ev
        self._set_status(connector, "Preparing")
        if not request.is_remote:
            # Plugging in and presenting the card take a few seconds; a remote
            # start comes from a driver whose car is already plugged in.
            await self._pause(
                self._real_seconds(self.rng.uniform(3, 12)), connector.wake
            )
        if connector.stop_request or self._is_shutting_down:
            self._set_status(connector, self._idle_status(connector))
            return
        status = await self._authorize_for_start(request)
        if status != ACCEPTED:
            log.info(
                "%s #%d: %s not authorized (%s)",
                self.ocpp_id,
                connector.number,
                request.id_tag,
                status,
            )
            await self._pause(self._real_seconds(20), connector.wake)
            self._set_status(connector, self._idle_status(connector))
            return
        tx = self._start_transaction(connector, request)
        if self._is_online:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    tx.confirmed.wait(), self.options.response_timeout_s
                )
        if tx.auth_status not in (None, ACCEPTED):
            connector.stop_request = "DeAuthorized"
        else:
            self._set_status(connector, "Charging")
            await self._charge(connector, tx, ev)
        reason = connector.stop_request or "Local"
        self._stop_transaction(connector, tx, reason)
        await self._after_session(connector, reason)

    async def _authorize_for_start(self, request: SessionRequest) -> str:
        if request.is_remote and not self.configuration.flag(
            "AuthorizeRemoteTxRequests"
        ):
            return ACCEPTED
        return await self.authorize(request.id_tag)

    async def authorize(self, id_tag: str) -> str:
        """Authorize an idTag: local list first if allowed, else the CMS (§4.1)."""
        local = self._local_status(id_tag, include_cache=False)
        if self.configuration.flag("LocalPreAuthorize") and local == ACCEPTED:
            return ACCEPTED
        response = (
            await self._request(lambda: call.Authorize(id_tag=id_tag))
            if self._is_online
            else None
        )
        if response is not None:
            info = dict(response.id_tag_info)
            if self.configuration.flag("AuthorizationCacheEnabled"):
                self.auth_cache[id_tag] = info
            return str(info.get("status"))
        return self._offline_authorization(id_tag)

    def _offline_authorization(self, id_tag: str) -> str:
        """Offline (§3.3): local list and cache, or the unknown-id policy."""
        if self.configuration.flag("LocalAuthorizeOffline"):
            cached = self._local_status(id_tag, include_cache=True)
            if cached is not None:
                return cached
        if self.configuration.flag("AllowOfflineTxForUnknownId"):
            return ACCEPTED
        return "Invalid"

    def _local_status(self, id_tag: str, *, include_cache: bool) -> str | None:
        sources = (
            [self.local_list] if self.configuration.flag("LocalAuthListEnabled") else []
        )
        if include_cache and self.configuration.flag("AuthorizationCacheEnabled"):
            sources.append(self.auth_cache)
        for source in sources:
            info = source.get(id_tag)
            if info is None:
                continue
            expiry = info.get("expiry_date") or info.get("expiryDate")
            if expiry and smart.parse_ocpp_datetime(expiry) <= utc_now():
                return "Expired"
            return str(info.get("status"))
        return None

    @staticmethod
    def _claim_reservation(
        connector: ConnectorState, request: SessionRequest
    ) -> int | None:
        """The id of the reservation the driver's session uses up, if any."""
        reservation = connector.reservation
        if reservation is None or reservation.id_tag != request.id_tag:
            return None
        connector.reservation = None
        return reservation.reservation_id

    def _drop_tx_profiles(self, connector: ConnectorState) -> None:
        """A TxProfile ends with its transaction (§3.13.1)."""
        self.profiles = [
            p
            for p in self.profiles
            if not (
                p.purpose == smart.TX_PROFILE and p.connector_id == connector.number
            )
        ]

    # --- a session's bookkeeping, the same for either version ---------------------

    def _session_fields(
        self, connector: ConnectorState, request: SessionRequest
    ) -> dict[str, Any]:
        """What a transaction starts with: connector, driver, register, reservation."""
        return {
            "connector_id": connector.number,
            "id_tag": request.id_tag,
            "meter_start_wh": int(connector.register_wh),
            "started_at": utc_now(),
            "reservation_id": self._claim_reservation(connector, request),
        }

    def _session_begin(
        self, connector: ConnectorState, tx: Transaction, request: SessionRequest
    ) -> None:
        """The connector's transaction from now on, with the profile it came with."""
        connector.transaction = tx
        if request.profile is not None:
            self._install_profile(
                replace(request.profile, connector_id=connector.number)
            )

    def _session_confirmed(
        self, connector: ConnectorState, tx: Transaction, auth_status: str
    ) -> None:
        """The CMS answered the start: a driver it refused is stopped at once."""
        tx.auth_status = auth_status
        tx.confirmed.set()
        log.info(
            "%s #%d: transaction %s started for %s (%s)",
            self.ocpp_id,
            connector.number,
            tx.transaction_id,
            tx.id_tag,
            tx.auth_status,
        )
        if tx.auth_status != ACCEPTED and connector.transaction is tx:
            self._request_stop_now(connector, "DeAuthorized")

    def _start_transaction(
        self, connector: ConnectorState, request: SessionRequest
    ) -> Transaction:
        tx = Transaction(**self._session_fields(connector, request))
        tx.begin_sample = self._sample(
            connector, "Transaction.Begin", key="StopTxnSampledData"
        )
        self._session_begin(connector, tx, request)
        timestamp = smart.format_ocpp_datetime(tx.started_at)

        def on_result(result: Any) -> None:
            tx.transaction_id = int(result.transaction_id)
            status = str(dict(result.id_tag_info).get("status"))
            self._session_confirmed(connector, tx, status)

        self._enqueue(
            lambda: call.StartTransaction(
                connector_id=connector.number,
                id_tag=tx.id_tag,
                meter_start=tx.meter_start_wh,
                timestamp=timestamp,
                reservation_id=tx.reservation_id,
            ),
            is_transactional=True,
            on_result=on_result,
        )
        return tx

    def _limit_w(
        self, connector: ConnectorState, tx: Transaction, ev: ElectricVehicle
    ) -> tuple[float, float]:
        """Return (power offered to the EV, EV's own maximum) in W."""
        spec = connector.spec
        if spec.is_dc:
            phases, voltage = 1, dc_voltage_v(soc_percent=ev.soc_percent)
            hardware_w = spec.max_power_w
        else:
            phases, voltage = min(spec.phases, ev.ac_phases), NOMINAL_AC_VOLTAGE_V
            hardware_w = min(spec.max_power_w, spec.max_current_a * phases * voltage)
        profile_w = smart.limit_at(
            self.profiles,
            utc_now(),
            connector_id=connector.number,
            transaction_id=tx.transaction_id,
            transaction_started_at=tx.started_at,
            phases=phases,
            voltage_v=voltage,
        )
        offered_w = hardware_w if profile_w is None else min(hardware_w, profile_w)
        # AC cannot go below 6 A (IEC 61851): a lower limit pauses charging.
        if not spec.is_dc and offered_w < MIN_AC_CURRENT_A * phases * voltage:
            offered_w = 0.0
        return offered_w, min(ev.max_power_w(is_dc=spec.is_dc), hardware_w)

    async def _charge(
        self, connector: ConnectorState, tx: Transaction, ev: ElectricVehicle
    ) -> None:
        stay_mean = self.options.mean_stay_s * (0.5 if connector.spec.is_dc else 1.0)
        stay_s = self.rng.uniform(0.4, 1.6) * stay_mean
        elapsed_s = 0.0
        last = last_sample = time.monotonic()
        last_slot: int | None = None
        while True:
            connector.wake.clear()
            await self._pause(self.options.tick_s, connector.wake)
            now = time.monotonic()
            simulated_s = (now - last) * self.options.speedup
            last = now
            elapsed_s += simulated_s
            if self._is_shutting_down and connector.stop_request is None:
                connector.stop_request = "Other"
            if connector.stop_request is not None:
                return
            if elapsed_s >= stay_s:
                # The driver comes back: stops at the charger or just unplugs.
                connector.stop_request = self.rng.choice(("Local", "EVDisconnected"))
                return
            offered_w, ev_max_w = self._limit_w(connector, tx, ev)
            result = charge(
                soc_percent=ev.soc_percent,
                capacity_wh=ev.capacity_wh,
                max_power_w=ev_max_w,
                limit_w=offered_w,
                seconds=simulated_s,
            )
            connector.register_wh += result.energy_wh
            ev.soc_percent = result.soc_percent
            connector.power_w = result.power_w
            connector.offered_w = offered_w
            if result.power_w > 0:
                self._set_status(connector, "Charging")
            elif ev_acceptance_w(soc_percent=ev.soc_percent, max_power_w=ev_max_w) <= 0:
                self._set_status(connector, "SuspendedEV")
            else:
                self._set_status(connector, "SuspendedEVSE")
            interval_s = self.configuration.integer("MeterValueSampleInterval")
            if interval_s > 0 and now - last_sample >= interval_s:
                last_sample = now
                self._send_meter_values(connector, tx, "Sample.Periodic")
            # Clock-aligned readings fall on wall-clock multiples of the interval.
            aligned_s = self.configuration.integer("ClockAlignedDataInterval")
            if aligned_s > 0:
                slot = int(time.time() // aligned_s)
                if last_slot is not None and slot != last_slot:
                    self._send_meter_values(
                        connector, tx, "Sample.Clock", key="MeterValuesAlignedData"
                    )
                last_slot = slot

    def _stop_transaction(
        self, connector: ConnectorState, tx: Transaction, reason: str
    ) -> None:
        connector.transaction = None
        connector.power_w = 0.0
        end_sample = self._sample(
            connector, "Transaction.End", key="StopTxnSampledData"
        )
        meter_stop = int(connector.register_wh)
        stopped_at = ocpp_now()
        transaction_data = [
            {
                "timestamp": smart.format_ocpp_datetime(tx.started_at),
                "sampledValue": tx.begin_sample,
            },
            {"timestamp": stopped_at, "sampledValue": end_sample},
        ]
        self._drop_tx_profiles(connector)
        log.info(
            "%s #%d: transaction %s stopped (%s), %.2f kWh",
            self.ocpp_id,
            connector.number,
            tx.transaction_id if tx.transaction_id is not None else "(pending)",
            reason,
            (meter_stop - tx.meter_start_wh) / 1000,
        )

        def build() -> call.StopTransaction | None:
            if tx.transaction_id is None:
                log.warning(
                    "%s #%d: no transaction id for StopTransaction, dropped",
                    self.ocpp_id,
                    connector.number,
                )
                return None
            return call.StopTransaction(
                meter_stop=meter_stop,
                timestamp=stopped_at,
                transaction_id=tx.transaction_id,
                reason=reason,
                id_tag=tx.id_tag if reason in ("Local", "DeAuthorized") else None,
                transaction_data=transaction_data,
            )

        self._enqueue(build, is_transactional=True)

    async def _after_session(self, connector: ConnectorState, reason: str) -> None:
        if reason in ("SoftReset", "HardReset", "Reboot") or self._is_shutting_down:
            return
        if connector.fault is not None:
            self._set_status(connector, "Faulted")
            return
        if reason not in ("EVDisconnected", "UnlockCommand"):
            self._set_status(connector, "Finishing")
            # The car often stays parked a while after charging ends.
            idle_s = self.rng.choice((5.0, 30.0, 120.0, 600.0))
            await self._pause(self._real_seconds(idle_s), connector.wake)
        self._set_status(connector, self._idle_status(connector))

    def _sample(
        self,
        connector: ConnectorState,
        context: str,
        *,
        key: str = "MeterValuesSampledData",
    ) -> list[dict[str, Any]]:
        """Build sampledValue entries for the configured measurands (§9.1)."""
        measurands = self.configuration.items(key) or [ENERGY_REGISTER]
        spec = connector.spec
        ev = connector.ev
        values: list[dict[str, Any]] = []

        def add(measurand: str, value: float | int, unit: str, **extra: str) -> None:
            entry = {
                "value": str(value),
                "context": context,
                "format": "Raw",
                "measurand": measurand,
                "unit": unit,
                **extra,
            }
            entry.setdefault("location", "Outlet")
            values.append(entry)

        if spec.is_dc:
            voltage = dc_voltage_v(soc_percent=ev.soc_percent if ev else 50.0)
            phases: list[str] = []
        else:
            voltage = NOMINAL_AC_VOLTAGE_V
            used = min(spec.phases, ev.ac_phases if ev else spec.phases)
            phases = ["L1", "L2", "L3"][: spec.phases]
        for measurand in measurands:
            if measurand == ENERGY_REGISTER:
                add(measurand, int(connector.register_wh), "Wh")
            elif measurand == POWER:
                add(measurand, round(connector.power_w), "W")
            elif measurand in (CURRENT, CURRENT_OFFERED):
                watts = (
                    connector.power_w if measurand == CURRENT else connector.offered_w
                )
                if spec.is_dc:
                    add(measurand, round(watts / voltage, 1), "A")
                    continue
                for index, phase in enumerate(phases):
                    amps = watts / (used * voltage) if index < used else 0.0
                    add(measurand, round(amps, 1), "A", phase=phase)
            elif measurand == VOLTAGE:
                if spec.is_dc:
                    add(measurand, round(voltage, 1), "V")
                    continue
                for phase in phases:
                    jitter = self.rng.uniform(-3.0, 3.0)
                    add(measurand, round(voltage + jitter, 1), "V", phase=f"{phase}-N")
            elif measurand == SOC and spec.is_dc and ev is not None:
                add(measurand, int(ev.soc_percent), "Percent", location="EV")
        return values

    def _send_meter_values(
        self,
        connector: ConnectorState,
        tx: Transaction | None,
        context: str,
        *,
        key: str = "MeterValuesSampledData",
    ) -> None:
        timestamp = ocpp_now()
        sampled = self._sample(connector, context, key=key)
        self._enqueue(
            lambda: call.MeterValues(
                connector_id=connector.number,
                transaction_id=tx.transaction_id if tx else None,
                meter_value=[{"timestamp": timestamp, "sampledValue": sampled}],
            ),
            # Only sampled transaction meter values are kept while offline.
            is_transactional=tx is not None and context != "Trigger",
        )

    # -------------------------------------------------------------- control

    @property
    def queued_messages(self) -> int:
        """Messages waiting to be sent (transaction messages survive going offline)."""
        return len(self._outbox)

    def arrive(self, connector_id: int, id_tag: str) -> bool:
        """A driver plugs in at the connector and presents ``id_tag`` (scripting)."""
        connector = self.connector(connector_id)
        if connector is None or not self._can_start(connector, id_tag):
            return False
        connector.request = SessionRequest(id_tag=id_tag)
        connector.wake.set()
        return True

    def leave(self, connector_id: int, reason: str = "Local") -> bool:
        """The driver ends the session at the charger (``Local``) or unplugs."""
        connector = self.connector(connector_id)
        if connector is None or not connector.is_busy:
            return False
        self._request_stop_now(connector, reason)
        return True

    async def request_stop(self, connector: ConnectorState, reason: str) -> None:
        self._request_stop_now(connector, reason)

    def _request_stop_now(self, connector: ConnectorState, reason: str) -> None:
        if connector.is_busy and connector.stop_request is None:
            connector.stop_request = reason
        connector.wake.set()

    def accept_remote_start(
        self,
        *,
        id_tag: str,
        connector_id: int | None,
        charging_profile: dict[str, Any] | None,
        defer: Defer,
        remote_start_id: int | None = None,
    ) -> str:
        """Decide RemoteStartTransaction (§5.11); start the session after answering."""
        if self.registration_status != ACCEPTED or self._is_rebooting:
            return "Rejected"
        profile = None
        if charging_profile is not None:
            try:
                profile = smart.parse_profile(
                    charging_profile,
                    connector_id=connector_id or 0,
                    received_at=utc_now(),
                )
            except (smart.ProfileError, KeyError, TypeError, ValueError):
                return "Rejected"
            if profile.purpose != smart.TX_PROFILE:
                return "Rejected"
        if connector_id is not None and connector_id != 0:
            candidates = [self.connector(connector_id)]
        else:
            candidates = list(self.connectors)
        for connector in candidates:
            if connector is None or not self._can_start(connector, id_tag):
                continue
            connector.request = SessionRequest(
                id_tag=id_tag,
                is_remote=True,
                profile=profile,
                remote_start_id=remote_start_id,
            )
            log.info(
                "%s #%d: remote start for %s accepted",
                self.ocpp_id,
                connector.number,
                id_tag,
            )

            async def begin(target: ConnectorState = connector) -> None:
                target.wake.set()

            defer(begin)
            return ACCEPTED
        return "Rejected"

    def _can_start(self, connector: ConnectorState, id_tag: str) -> bool:
        if connector.is_busy or connector.request is not None:
            return False
        if connector.fault is not None or not connector.is_operative:
            return False
        reservation = connector.reservation
        return reservation is None or id_tag in (
            reservation.id_tag,
            reservation.parent_id_tag,
        )

    def change_availability(
        self, *, connector_id: int, is_operative: bool, defer: Defer
    ) -> str:
        """ChangeAvailability (§5.2): Scheduled while a transaction runs."""
        if connector_id == 0:
            targets = list(self.connectors)
        else:
            target = self.connector(connector_id)
            if target is None:
                return "Rejected"
            targets = [target]
        is_scheduled = False
        for connector in targets:
            connector.is_operative = is_operative
            if connector.is_busy and not is_operative:
                is_scheduled = True

        async def apply() -> None:
            if connector_id == 0:
                self._send_status(0, self._charger_status())
            for connector in targets:
                if not connector.is_busy:
                    self._set_status(connector, self._idle_status(connector))
                connector.wake.set()

        defer(apply)
        return "Scheduled" if is_scheduled else ACCEPTED

    def change_configuration(self, key: str, value: str) -> str:
        status = self.configuration.change(key, value)
        if status == ACCEPTED and key == "HeartbeatInterval":
            self._heartbeat_changed.set()
        log.info(
            "%s: ChangeConfiguration %s=%s -> %s", self.ocpp_id, key, value, status
        )
        return status

    def accept_trigger(
        self, requested_message: str, connector_id: int | None, defer: Defer
    ) -> str:
        """TriggerMessage (§5.17): answer, then actually send the message."""
        if connector_id and self.connector(connector_id) is None:
            return "Rejected"
        targets = (
            [c for c in [self.connector(connector_id)] if c is not None]
            if connector_id
            else list(self.connectors)
        )

        async def boot() -> None:
            if self.registration_status != ACCEPTED:
                self._boot_now.set()
                return
            response = await self._request(self._boot_payload)
            if response is not None:
                self.registration_status = response.status

        async def heartbeat() -> None:
            self._enqueue(call.Heartbeat)

        async def status() -> None:
            if connector_id is None or connector_id == 0:
                self._send_status(0, self._charger_status())
            for connector in targets:
                self._send_status(connector.number, connector.status, connector.fault)

        async def meter_values() -> None:
            for connector in targets:
                self._send_meter_values(connector, connector.transaction, "Trigger")

        async def diagnostics() -> None:
            self._notify_diagnostics(self.diagnostics_status)

        async def firmware() -> None:
            self._notify_firmware(self.firmware_status)

        actions: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
            "BootNotification": boot,
            "Heartbeat": heartbeat,
            "StatusNotification": status,
            "MeterValues": meter_values,
            "DiagnosticsStatusNotification": diagnostics,
            "FirmwareStatusNotification": firmware,
        }
        action = actions.get(requested_message)
        if action is None:
            return "NotImplemented"
        defer(action)
        return ACCEPTED

    def _boot_payload(self) -> Any:
        return call.BootNotification(
            charge_point_model=self.spec.model,
            charge_point_vendor=self.spec.vendor,
            charge_box_serial_number=self.serial_number,
            charge_point_serial_number=self.serial_number,
            firmware_version=self.firmware_version,
            iccid=f"8949{_digits(self.ocpp_id, 15)}",
            imsi=f"26201{_digits(self.serial_number, 10)}",
            meter_type=self.spec.meter_type,
            meter_serial_number=f"M{self.serial_number}",
        )

    def _notify_firmware(self, status: str) -> None:
        self.firmware_status = status
        self._enqueue(lambda: call.FirmwareStatusNotification(status=status))

    def _notify_diagnostics(self, status: str) -> None:
        self.diagnostics_status = status
        self._enqueue(lambda: call.DiagnosticsStatusNotification(status=status))

    async def update_firmware(self, location: str, retrieve_date: str) -> None:
        """Download and install new firmware, then reboot with it (§5.19)."""
        try:
            retrieve_at = smart.parse_ocpp_datetime(retrieve_date)
        except ValueError:
            retrieve_at = utc_now()
        wait_s = (retrieve_at - utc_now()).total_seconds()
        await self._pause(self._real_seconds(max(wait_s, 0.0)))
        log.info("%s: downloading firmware from %s", self.ocpp_id, location)
        self._notify_firmware("Downloading")
        await self._pause(self._real_seconds(self.rng.uniform(5, 15)))
        if "fail" in location.lower() or self.firmware_failure == "download":
            log.info("%s: firmware download failed", self.ocpp_id)
            self._notify_firmware("DownloadFailed")
            self.firmware_status = "Idle"
            return
        self._notify_firmware("Downloaded")
        await self._pause(self._real_seconds(2))
        self._notify_firmware("Installing")
        await self._pause(self._real_seconds(self.rng.uniform(5, 10)))
        if self.firmware_failure == "install":
            # §7.25: the charger keeps its old firmware and does not reboot.
            log.info("%s: firmware installation failed", self.ocpp_id)
            self._notify_firmware("InstallationFailed")
            self.firmware_status = "Idle"
            return
        self.firmware_version = _firmware_version_from(location, self.firmware_version)
        self._firmware_installed = self.firmware_version
        self.firmware_status = "Installed"
        await self.reboot(reason="Reboot")

    async def upload_diagnostics(self, location: str) -> None:
        """Report an upload of the diagnostics file (§5.9).

        No bytes leave the simulator: it only ever talks to the CMS URL.
        """
        self._notify_diagnostics("Uploading")
        await self._pause(self._real_seconds(self.rng.uniform(3, 10)))
        failed = "fail" in location.lower()
        self._notify_diagnostics("UploadFailed" if failed else "Uploaded")
        log.info(
            "%s: diagnostics upload %s", self.ocpp_id, "failed" if failed else "done"
        )

    async def reboot(self, *, reason: str) -> None:
        """Stop transactions, deliver what can be delivered, reconnect and boot."""
        if self._is_rebooting or self._is_shutting_down:
            return
        self._is_rebooting = True
        log.info("%s: rebooting (%s)", self.ocpp_id, reason)
        try:
            for connector in self.connectors:
                connector.request = None
                self._request_stop_now(connector, reason)
            await self._wait_until(self._is_settled, 10.0)
            for connector in self.connectors:
                connector.status = self._idle_status(connector)
            self._reconnect_after_s = self._real_seconds(self.options.reboot_s)
            self._disconnect.set()
        except BaseException:
            self._is_rebooting = False
            raise
        # ``_is_rebooting`` stays set until the next connection boots.

    def reserve(self, reservation: Reservation, *, defer: Defer) -> str:
        """ReserveNow (§5.13)."""
        if reservation.connector_id == 0:
            return "Rejected"  # ReserveConnectorZeroSupported is false
        connector = self.connector(reservation.connector_id)
        if connector is None:
            return "Rejected"
        if connector.fault is not None:
            return "Faulted"
        if not connector.is_operative:
            return "Unavailable"
        current = connector.reservation
        is_same = (
            current is not None and current.reservation_id == reservation.reservation_id
        )
        if connector.is_busy or (current is not None and not is_same):
            return "Occupied"
        for other in self.connectors:
            existing = other.reservation
            if (
                other is not connector
                and existing is not None
                and existing.reservation_id == reservation.reservation_id
            ):
                other.reservation = None
                self._set_status(other, self._idle_status(other))
        connector.reservation = reservation

        async def apply() -> None:
            self._set_status(connector, self._idle_status(connector))
            connector.wake.set()

        defer(apply)
        return ACCEPTED

    def cancel_reservation(self, reservation_id: int, *, defer: Defer) -> str:
        for connector in self.connectors:
            reservation = connector.reservation
            if reservation is not None and reservation.reservation_id == reservation_id:
                connector.reservation = None

                async def apply(target: ConnectorState = connector) -> None:
                    if not target.is_busy:
                        self._set_status(target, self._idle_status(target))

                defer(apply)
                return ACCEPTED
        return "Rejected"

    def update_local_list(
        self, version: int, update_type: str, entries: list[dict[str, Any]]
    ) -> str:
        """SendLocalList (§5.15): full replace or differential update."""
        if not self.configuration.flag("LocalAuthListEnabled"):
            return "NotSupported"
        if len(entries) > self.configuration.integer("SendLocalListMaxLength"):
            return "Failed"
        if update_type == "Full":
            new_list = {
                entry["id_tag"]: dict(entry["id_tag_info"])
                for entry in entries
                if entry.get("id_tag_info")
            }
        else:
            if version <= self.local_list_version:
                return "VersionMismatch"
            new_list = dict(self.local_list)
            for entry in entries:
                if entry.get("id_tag_info"):
                    new_list[entry["id_tag"]] = dict(entry["id_tag_info"])
                else:
                    new_list.pop(entry["id_tag"], None)
        if len(new_list) > self.configuration.integer("LocalAuthListMaxLength"):
            return "Failed"
        self.local_list = new_list
        self.local_list_version = version
        log.info(
            "%s: local list v%d (%s, %d tags)",
            self.ocpp_id,
            version,
            update_type,
            len(new_list),
        )
        return ACCEPTED

    def set_charging_profile(self, connector_id: int, data: dict[str, Any]) -> str:
        """SetChargingProfile (§5.16, §3.13): validate and install."""
        if connector_id != 0 and self.connector(connector_id) is None:
            return "Rejected"
        try:
            profile = smart.parse_profile(
                data, connector_id=connector_id, received_at=utc_now()
            )
        except (smart.ProfileError, KeyError, TypeError, ValueError) as error:
            log.info("%s: charging profile rejected: %s", self.ocpp_id, error)
            return "Rejected"
        if profile.stack_level > self.configuration.integer(
            "ChargeProfileMaxStackLevel"
        ) or len(profile.periods) > self.configuration.integer(
            "ChargingScheduleMaxPeriods"
        ):
            return "Rejected"
        if profile.purpose == smart.CHARGE_POINT_MAX and connector_id != 0:
            return "Rejected"
        if profile.purpose == smart.TX_PROFILE:
            connector = self.connector(connector_id)
            tx = connector.transaction if connector else None
            # A TxProfile needs a running transaction on that connector (§3.13.1).
            if tx is None:
                return "Rejected"
            if profile.transaction_id is not None and profile.transaction_id != (
                tx.transaction_id
            ):
                return "Rejected"
        if not self._install_profile(profile):
            return "Rejected"
        log.info(
            "%s: charging profile %d (%s, stack %d) on connector %d",
            self.ocpp_id,
            profile.id,
            profile.purpose,
            profile.stack_level,
            connector_id,
        )
        for connector in self.connectors:
            connector.wake.set()
        return ACCEPTED

    def _install_profile(self, profile: smart.ChargingProfile) -> bool:
        # Same id, or same stackLevel + purpose on the connector, is replaced.
        kept = [
            p
            for p in self.profiles
            if p.id != profile.id
            and not (
                p.connector_id == profile.connector_id
                and p.stack_level == profile.stack_level
                and p.purpose == profile.purpose
            )
        ]
        if len(kept) >= self.configuration.integer("MaxChargingProfilesInstalled"):
            return False
        self.profiles = [*kept, profile]
        return True

    def clear_charging_profiles(
        self,
        *,
        profile_id: int | None,
        connector_id: int | None,
        purpose: str | None,
        stack_level: int | None,
    ) -> str:
        """ClearChargingProfile (§5.5): by id, or by the given criteria."""

        def matches(profile: smart.ChargingProfile) -> bool:
            if profile_id is not None:
                return profile.id == profile_id
            return (
                (connector_id is None or profile.connector_id == connector_id)
                and (purpose is None or profile.purpose == purpose)
                and (stack_level is None or profile.stack_level == stack_level)
            )

        kept = [p for p in self.profiles if not matches(p)]
        if len(kept) == len(self.profiles):
            return "Unknown"
        self.profiles = kept
        for connector in self.connectors:
            connector.wake.set()
        return ACCEPTED

    def composite_schedule(
        self, connector_id: int, duration_s: int, unit: str | None
    ) -> dict[str, Any] | None:
        if connector_id == 0:
            hardware_w = sum(c.spec.max_power_w for c in self.connectors)
            phases = (
                1 if self.spec.is_dc else max(c.spec.phases for c in self.connectors)
            )
            tx = None
        else:
            connector = self.connector(connector_id)
            if connector is None:
                return None
            hardware_w = connector.spec.max_power_w
            phases = connector.spec.phases
            tx = connector.transaction
        voltage = 400.0 if self.spec.is_dc else NOMINAL_AC_VOLTAGE_V
        default_unit = "W" if self.spec.is_dc else "A"
        return smart.composite_schedule(
            self.profiles,
            start=utc_now().replace(microsecond=0),
            duration_s=duration_s,
            connector_id=connector_id,
            unit=unit or default_unit,
            hardware_limit_w=hardware_w,
            transaction_id=tx.transaction_id if tx else None,
            transaction_started_at=tx.started_at if tx else None,
            phases=phases,
            voltage_v=voltage,
        )

    # ------------------------------------------------------------ incidents

    async def _incident_loop(self) -> None:
        """Random faults and connection drops at the configured hourly rates."""
        step_s = 60.0  # simulated
        while not self._stopping.is_set():
            await self._pause(self._real_seconds(step_s))
            if self._stopping.is_set():
                return
            if self.rng.random() < self.options.fault_rate * step_s / 3600:
                self.spawn(self._fault(self.rng.choice(self.connectors)))
            if (
                self._is_online
                and not self._is_rebooting
                and not self._is_shutting_down
                and self.rng.random() < self.options.drop_rate * step_s / 3600
            ):
                self.drop_connection(offline_s=self.rng.uniform(30, 600))

    def drop_connection(self, *, offline_s: float) -> None:
        """Close the socket as a flaky modem would; come back after ``offline_s``."""
        log.info(
            "%s: connection lost (simulated), back in ~%.0fs", self.ocpp_id, offline_s
        )
        self._reconnect_after_s = self._real_seconds(offline_s)
        self._disconnect.set()

    async def _fault(self, connector: ConnectorState) -> None:
        if connector.fault is not None:
            return
        connector.fault = self.rng.choice(FAULTS)
        if connector.is_busy:
            self._request_stop_now(connector, "Other")
            await self._wait_until(lambda: not connector.is_busy, 3600.0)
        self._set_status(connector, "Faulted")
        await self._pause(self._real_seconds(self.rng.uniform(120, 900)))
        if self._is_shutting_down:
            return
        log.info("%s #%d: fault cleared", self.ocpp_id, connector.number)
        connector.fault = None
        if not connector.is_busy:
            self._set_status(connector, self._idle_status(connector))

    # ------------------------------------------------------------- shutdown

    async def stop(self) -> None:
        """End running sessions, deliver queued messages (bounded) and disconnect."""
        self._is_shutting_down = True
        for connector in self.connectors:
            connector.request = None
            self._request_stop_now(connector, "Other")
        await self._wait_until(self._is_settled, self.options.shutdown_timeout_s)
        # Cars are unplugged: leave the CMS with the connectors' final state.
        for connector in self.connectors:
            self._set_status(connector, self._idle_status(connector))
        await self._wait_until(self._is_settled, 2.0)
        self._stopping.set()
        self._disconnect.set()


_VERSION = re.compile(r"(\d+\.\d+(?:\.\d+)?)")


def _firmware_version_from(location: str, current: str) -> str:
    """The version in the firmware file name, or the next patch release."""
    found = _VERSION.findall(location.rsplit("/", 1)[-1])
    if found:
        return found[-1]
    parts = current.split(".")
    if parts and parts[-1].isdigit():
        parts[-1] = str(int(parts[-1]) + 1)
        return ".".join(parts)
    return f"{current}.1"


def _digits(text: str, count: int) -> str:
    """Stable pseudo-serial digits derived from a name (same every run)."""
    return f"{zlib.crc32(text.encode()) * 2654435761 % 10**count:0{count}d}"


def next_backoff(
    failures: int, *, min_s: float, max_s: float, rng: random.Random
) -> float:
    """Exponential backoff with ±50 % jitter, capped."""
    return min(max_s, min_s * math.pow(2, min(failures, 16))) * rng.uniform(0.5, 1.5)
