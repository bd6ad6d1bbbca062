"""One simulated OCPP 2.0.1 charging station (OCPP 2.0.1 Part 2, Part 4).

The station shares the 1.6 charger's hardware, EVs, sessions, faults and
offline queue (``SimulatedCharger``) and speaks 2.0.1 on the wire:

- its own OCPP-J RPC (``Link201``, Part 4 §4): ``[2, id, action, payload]``
  CALLs, ``[3, id, payload]`` results, ``[4, id, code, description, details]``
  errors, one outstanding CALL per direction; every payload it sends or
  receives is checked against the OCA's 2.0.1 JSON schemas;
- the device model (Part 1 §4, Part 2 Appendix 3 standardized components):
  the variables a central system reads and writes with GetVariables /
  SetVariables and receives in NotifyReport after GetBaseReport; the
  controller variables are backed by the same settings the 1.6 charger keeps
  as configuration keys, so setting ``SampledDataCtrlr.TxUpdatedInterval``
  changes the meter interval;
- EVSE *n* with one connector (``connectorId`` 1) for each hardware
  connector; StatusNotification per connector with the 2.0.1 connector
  statuses, the charging state inside TransactionEvent;
- transactions (E): the station names them (``transactionId``, §2.50),
  numbers each transaction's events from 0 (``seqNo``), carries meter values
  inside ``Updated`` events and marks events that happened while the
  connection was down (``offline: true``, E04), replayed in order after
  reconnecting;
- faults as a Faulted connector plus NotifyEvent on the Connector's
  ``Problem`` variable (N07), cleared the same way.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ocpp.exceptions import FormatViolationError, OCPPError
from ocpp.exceptions import (
    NotImplementedError as OcppNotImplementedError,
)
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from stations.ocpp.v201.validation import validate
from stations.simulator import profiles as smart
from stations.simulator.charger import (
    ACCEPTED,
    ConnectorState,
    Link,
    Reservation,
    SessionRequest,
    SimulatedCharger,
    Transaction,
    _digits,
    _firmware_version_from,
    ocpp_now,
    utc_now,
)
from stations.simulator.hardware import ConnectorSpec

log = logging.getLogger("stations.simulator")

SUBPROTOCOL_201 = "ocpp2.0.1"
CALL, CALLRESULT, CALLERROR = 2, 3, 4

# 1.6 connector statuses the shared charger logic uses -> 2.0.1
# ConnectorStatusEnumType (G01) and ChargingStateEnumType (§3.15).
_CONNECTOR_STATUS = {
    "Available": "Available",
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEV": "Occupied",
    "SuspendedEVSE": "Occupied",
    "Finishing": "Occupied",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}
_CHARGING_STATE = {
    "Preparing": "EVConnected",
    "Charging": "Charging",
    "SuspendedEV": "SuspendedEV",
    "SuspendedEVSE": "SuspendedEVSE",
    "Finishing": "EVConnected",
}
# The shared logic's stop reasons -> (triggerReason, stoppedReason) of the
# Ended event (§3.77 TriggerReasonEnumType, §3.67 ReasonEnumType).
_STOP = {
    "Local": ("StopAuthorized", "Local"),
    "EVDisconnected": ("EVCommunicationLost", "EVDisconnected"),
    "Remote": ("RemoteStop", "Remote"),
    "DeAuthorized": ("Deauthorized", "DeAuthorized"),
    "ImmediateReset": ("ResetCommand", "ImmediateReset"),
    "OnIdleReset": ("ResetCommand", "Reboot"),
    "Reboot": ("ResetCommand", "Reboot"),
    "Other": ("AbnormalCondition", "Other"),
}
# ConnectorEnumType (§3.23): c = fixed cable, s = socket.
_CONNECTOR_TYPE = {
    "CCS1": "cCCS1",
    "CCS2": "cCCS2",
    "CHAdeMO": "cG105",
    "NACS": "cTesla",
    "Type1": "cType1",
}
_SUPPORTED_TRIGGERS = frozenset(
    {
        "BootNotification",
        "Heartbeat",
        "StatusNotification",
        "MeterValues",
        "TransactionEvent",
        "FirmwareStatusNotification",
        "LogStatusNotification",
    }
)
_PURPOSE_16 = {"ChargingStationMaxProfile": smart.CHARGE_POINT_MAX}
REPORT_ITEMS_PER_MESSAGE = 12


class CallErrorReceived(OCPPError):
    """The central system answered a CALL with a CALLERROR."""

    def __init__(self, code: str, description: str, details: Any) -> None:
        super().__init__(description=description, details=details)
        self.code = code


@dataclass(frozen=True)
class Call201:
    """A CALL the station sends: action and camelCase payload as on the wire."""

    action: str
    payload: dict[str, Any]


# An answered CALL's side effect, run once the CALLRESULT is on the wire.
After = Callable[[], Coroutine[Any, Any, None]]
Answer = tuple[dict[str, Any], After | None]


class Link201:
    """OCPP-J 2.0.1 RPC over one WebSocket (Part 4 §4)."""

    def __init__(
        self, station: SimulatedStation201, websocket: ClientConnection, timeout: float
    ) -> None:
        self.station = station
        self.websocket = websocket
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[list[Any]]] = {}

    async def start(self) -> None:
        """Read frames until the socket closes."""
        try:
            async for text in self.websocket:
                await self._route(text if isinstance(text, str) else text.decode())
        except ConnectionClosed:
            pass
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.cancel()

    async def _route(self, text: str) -> None:
        try:
            frame = json.loads(text)
        except ValueError:
            log.warning("%s: unreadable frame from the CSMS", self.station.ocpp_id)
            return
        if not isinstance(frame, list) or len(frame) < 3:
            return
        if frame[0] == CALL and len(frame) == 4:
            await self._answer(str(frame[1]), str(frame[2]), frame[3])
        elif frame[0] in (CALLRESULT, CALLERROR):
            future = self._pending.pop(str(frame[1]), None)
            if future is not None and not future.done():
                future.set_result(frame)

    async def _answer(self, unique_id: str, action: str, payload: Any) -> None:
        after: After | None = None
        try:
            validate(action, CALL, payload)
            answer, after = self.station.handle_call(action, payload)
            validate(action, CALLRESULT, answer)
            frame: list[Any] = [CALLRESULT, unique_id, answer]
        except OCPPError as error:
            after = None
            frame = [
                CALLERROR,
                unique_id,
                error.code,
                str(error.description or ""),
                error.details or {},
            ]
        await self.websocket.send(json.dumps(frame))
        if after is not None:
            self.station.spawn(after())

    async def call(self, payload: Any, suppress: bool = True) -> Any:
        """Send a CALL and return the CALLRESULT payload; raise on CALLERROR."""
        if not isinstance(payload, Call201):
            raise TypeError(f"not a 2.0.1 CALL: {payload!r}")
        validate(payload.action, CALL, payload.payload)
        unique_id = f"{self.station.ocpp_id[-8:]}-{next(self._ids)}"
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._pending[unique_id] = future
        await self.websocket.send(
            json.dumps([CALL, unique_id, payload.action, payload.payload])
        )
        try:
            frame = await asyncio.wait_for(future, self.timeout)
        finally:
            self._pending.pop(unique_id, None)
        if frame[0] == CALLERROR:
            raise CallErrorReceived(
                str(frame[2]), str(frame[3]) if len(frame) > 3 else "", frame[4:]
            )
        answer = frame[2]
        validate(payload.action, CALLRESULT, answer)
        return answer


# --------------------------------------------------------------- device model


@dataclass
class Variable:
    """One variable of a component (Actual attribute only)."""

    component: str
    name: str
    data_type: str
    # A 1.6 configuration key backing the value, or a fixed value.
    key: str | None = None
    value: str = ""
    is_writable: bool = False
    evse: int | None = None
    connector: int | None = None
    component_instance: str | None = None
    instance: str | None = None
    unit: str | None = None
    values_list: str | None = None
    read: Callable[[], str] | None = None

    def matches(self, component: dict[str, Any], variable: dict[str, Any]) -> bool:
        evse = component.get("evse") or {}
        return (
            component.get("name") == self.component
            and component.get("instance") == self.component_instance
            and evse.get("id") == self.evse
            and evse.get("connectorId", self.connector) == self.connector
            and variable.get("name") == self.name
            and variable.get("instance") == self.instance
        )

    def component_type(self) -> dict[str, Any]:
        component: dict[str, Any] = {"name": self.component}
        if self.component_instance:
            component["instance"] = self.component_instance
        if self.evse is not None:
            component["evse"] = {"id": self.evse}
            if self.connector is not None:
                component["evse"]["connectorId"] = self.connector
        return component

    def variable_type(self) -> dict[str, Any]:
        variable: dict[str, Any] = {"name": self.name}
        if self.instance:
            variable["instance"] = self.instance
        return variable


@dataclass
class Transaction201(Transaction):
    """A transaction the station numbers itself (§2.50 TransactionType)."""

    seq_no: int = 0
    remote_start_id: int | None = None
    charging_state: str = ""
    trigger: str = "Authorized"
    evse_announced: bool = False

    def next_seq_no(self) -> int:
        # E.FR / §2.57: seqNo counts the transaction's events from 0.
        number = self.seq_no
        self.seq_no += 1
        return number


def _connector_type(spec: ConnectorSpec) -> str:
    if spec.connector_type in _CONNECTOR_TYPE:
        return _CONNECTOR_TYPE[spec.connector_type]
    if spec.connector_type == "Type2":
        return "cType2" if spec.is_tethered else "sType2"
    return "Unknown"


def profile_in_16_shape(profile: dict[str, Any]) -> dict[str, Any]:
    """A 2.0.1 ChargingProfileType (§2.10) in the shape the profile arithmetic reads.

    2.0.1 allows up to three schedules (one per charging rate unit choice,
    K01.FR.?); the station follows the first, as a charger with one meter does.
    """
    schedules = profile.get("chargingSchedule") or [{}]
    purpose = str(profile.get("chargingProfilePurpose"))
    shaped = {
        "chargingProfileId": profile["id"],
        "stackLevel": profile["stackLevel"],
        "chargingProfilePurpose": _PURPOSE_16.get(purpose, purpose),
        "chargingProfileKind": profile.get("chargingProfileKind"),
        "chargingSchedule": schedules[0],
    }
    for name in ("recurrencyKind", "validFrom", "validTo", "transactionId"):
        if profile.get(name) is not None:
            shaped[name] = profile[name]
    return shaped


class SimulatedStation201(SimulatedCharger):
    """A charging station speaking OCPP 2.0.1 over the shared charger behaviour."""

    subprotocol = SUBPROTOCOL_201

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sent_status: dict[int, str] = {}
        self._reported_fault: dict[int, tuple[str, str, str]] = {}
        self._event_ids = itertools.count(1)
        self._reset_when_idle: asyncio.Task[Any] | None = None
        self.firmware_request_id: int | None = None
        self.log_request_id: int | None = None
        self.log_status = "Idle"
        self.variables = self._device_model()
        # The cost the station's display shows per transaction (CostUpdated).
        self.displayed_costs: dict[str, Decimal] = {}

    # ------------------------------------------------------- device model

    def _device_model(self) -> list[Variable]:
        """The station's components and variables (Part 2 Appendix 3)."""
        rw = True
        model = [
            Variable("ChargingStation", "Model", "string", value=self.spec.model),
            Variable("ChargingStation", "VendorName", "string", value=self.spec.vendor),
            Variable(
                "ChargingStation",
                "AvailabilityState",
                "OptionList",
                read=lambda: self._charger_status(),
                values_list="Available,Unavailable,Faulted",
            ),
            Variable(
                "ChargingStation",
                "SupplyPhases",
                "integer",
                value="0" if self.spec.is_dc else "3",
            ),
            Variable("SecurityCtrlr", "Identity", "string", value=self.ocpp_id[:48]),
            # Basic authentication over plain or TLS WebSocket (A00, profile 1).
            Variable("SecurityCtrlr", "SecurityProfile", "integer", value="1"),
            Variable(
                "OCPPCommCtrlr",
                "HeartbeatInterval",
                "integer",
                key="HeartbeatInterval",
                is_writable=rw,
                unit="s",
            ),
            Variable(
                "OCPPCommCtrlr",
                "WebSocketPingInterval",
                "integer",
                key="WebSocketPingInterval",
                is_writable=rw,
                unit="s",
            ),
            Variable(
                "OCPPCommCtrlr",
                "MessageAttempts",
                "integer",
                key="TransactionMessageAttempts",
                is_writable=rw,
                instance="TransactionEvent",
            ),
            Variable(
                "OCPPCommCtrlr",
                "MessageAttemptInterval",
                "integer",
                key="TransactionMessageRetryInterval",
                is_writable=rw,
                instance="TransactionEvent",
                unit="s",
            ),
            Variable(
                "OCPPCommCtrlr",
                "ResetRetries",
                "integer",
                key="ResetRetries",
                is_writable=rw,
            ),
            Variable(
                "SampledDataCtrlr",
                "TxUpdatedInterval",
                "integer",
                key="MeterValueSampleInterval",
                is_writable=rw,
                unit="s",
            ),
            Variable(
                "SampledDataCtrlr",
                "TxUpdatedMeasurands",
                "MemberList",
                key="MeterValuesSampledData",
                is_writable=rw,
                values_list=",".join(self.configuration.measurands),
            ),
            Variable(
                "SampledDataCtrlr",
                "TxEndedMeasurands",
                "MemberList",
                key="StopTxnSampledData",
                is_writable=rw,
                values_list=",".join(self.configuration.measurands),
            ),
            Variable(
                "AlignedDataCtrlr",
                "Interval",
                "integer",
                key="ClockAlignedDataInterval",
                is_writable=rw,
                unit="s",
            ),
            Variable(
                "AlignedDataCtrlr",
                "Measurands",
                "MemberList",
                key="MeterValuesAlignedData",
                is_writable=rw,
                values_list=",".join(self.configuration.measurands),
            ),
            Variable(
                "AuthCtrlr",
                "AuthorizeRemoteStart",
                "boolean",
                key="AuthorizeRemoteTxRequests",
                is_writable=rw,
            ),
            Variable(
                "AuthCtrlr",
                "LocalPreAuthorize",
                "boolean",
                key="LocalPreAuthorize",
                is_writable=rw,
            ),
            Variable(
                "AuthCtrlr",
                "LocalAuthorizeOffline",
                "boolean",
                key="LocalAuthorizeOffline",
                is_writable=rw,
            ),
            Variable(
                "AuthCtrlr",
                "OfflineTxForUnknownIdEnabled",
                "boolean",
                key="AllowOfflineTxForUnknownId",
                is_writable=rw,
            ),
            Variable(
                "AuthCacheCtrlr",
                "Enabled",
                "boolean",
                key="AuthorizationCacheEnabled",
                is_writable=rw,
            ),
            Variable(
                "LocalAuthListCtrlr",
                "Enabled",
                "boolean",
                key="LocalAuthListEnabled",
                is_writable=rw,
            ),
            Variable(
                "LocalAuthListCtrlr",
                "Entries",
                "integer",
                read=lambda: str(len(self.local_list)),
            ),
            Variable(
                "LocalAuthListCtrlr",
                "ItemsPerMessage",
                "integer",
                key="SendLocalListMaxLength",
            ),
            Variable(
                "TxCtrlr",
                "StopTxOnEVSideDisconnect",
                "boolean",
                key="StopTransactionOnEVSideDisconnect",
                is_writable=rw,
            ),
            Variable(
                "TxCtrlr",
                "StopTxOnInvalidId",
                "boolean",
                key="StopTransactionOnInvalidId",
                is_writable=rw,
            ),
            Variable(
                "TxCtrlr",
                "EVConnectionTimeOut",
                "integer",
                key="ConnectionTimeOut",
                is_writable=rw,
                unit="s",
            ),
            Variable(
                "TxCtrlr",
                "TxStartPoint",
                "MemberList",
                value="Authorized,EVConnected",
                values_list="Authorized,EVConnected,PowerPathClosed",
            ),
            Variable(
                "SmartChargingCtrlr",
                "ProfileStackLevel",
                "integer",
                key="ChargeProfileMaxStackLevel",
            ),
            Variable(
                "SmartChargingCtrlr",
                "PeriodsPerSchedule",
                "integer",
                key="ChargingScheduleMaxPeriods",
            ),
            Variable(
                "SmartChargingCtrlr",
                "RateUnit",
                "MemberList",
                value="W" if self.spec.is_dc else "A",
                values_list="A,W",
            ),
            Variable("ReservationCtrlr", "Enabled", "boolean", value="true"),
            Variable(
                "FirmwareCtrlr",
                "FirmwareVersion",
                "string",
                read=lambda: self.firmware_version,
            ),
        ]
        for number, connector in enumerate(self.spec.connectors, start=1):
            state = self.connectors[number - 1]
            model.extend(
                [
                    Variable(
                        "EVSE",
                        "AvailabilityState",
                        "OptionList",
                        evse=number,
                        read=self._status_reader(state),
                        values_list="Available,Occupied,Reserved,Unavailable,Faulted",
                    ),
                    Variable(
                        "EVSE",
                        "Power",
                        "decimal",
                        evse=number,
                        value=f"{connector.max_power_w:.0f}",
                        unit="W",
                    ),
                    Variable(
                        "EVSE",
                        "SupplyPhases",
                        "integer",
                        evse=number,
                        value="0" if connector.is_dc else str(connector.phases),
                    ),
                    Variable(
                        "Connector",
                        "ConnectorType",
                        "string",
                        evse=number,
                        connector=1,
                        value=_connector_type(connector),
                    ),
                    Variable(
                        "Connector",
                        "Problem",
                        "boolean",
                        evse=number,
                        connector=1,
                        read=_problem_reader(state),
                    ),
                ]
            )
        return model

    def _status_reader(self, state: ConnectorState) -> Callable[[], str]:
        return lambda: self._connector_status(state.status)

    def variable_value(self, variable: Variable) -> str:
        if variable.read is not None:
            return variable.read()
        if variable.key is not None:
            return self.configuration.keys[variable.key].value
        return variable.value

    def _find(
        self, component: dict[str, Any], variable: dict[str, Any]
    ) -> tuple[Variable | None, str]:
        """The variable addressed, or None with UnknownComponent/UnknownVariable."""
        found = next(
            (v for v in self.variables if v.matches(component, variable)), None
        )
        if found is not None:
            return found, ACCEPTED
        known_component = any(
            v.component == component.get("name")
            and v.evse == (component.get("evse") or {}).get("id")
            for v in self.variables
        )
        return None, "UnknownVariable" if known_component else "UnknownComponent"

    def get_variables(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """GetVariables (B06): each requested attribute's value or why not."""
        results = []
        for request in requests:
            attribute = request.get("attributeType", "Actual")
            result: dict[str, Any] = {
                "attributeType": attribute,
                "component": request["component"],
                "variable": request["variable"],
            }
            found, status = self._find(request["component"], request["variable"])
            if found is not None and attribute != "Actual":
                status = "NotSupportedAttributeType"
            elif found is not None:
                result["attributeValue"] = self.variable_value(found)[:2500]
            result["attributeStatus"] = status
            results.append(result)
        return results

    def set_variables(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """SetVariables (B05): write each attribute the station allows."""
        results = []
        for request in requests:
            attribute = request.get("attributeType", "Actual")
            found, status = self._find(request["component"], request["variable"])
            if found is not None:
                status = self._set(found, attribute, str(request["attributeValue"]))
            results.append(
                {
                    "attributeType": attribute,
                    "attributeStatus": status,
                    "component": request["component"],
                    "variable": request["variable"],
                }
            )
        return results

    def _set(self, variable: Variable, attribute: str, value: str) -> str:
        if attribute != "Actual":
            return "NotSupportedAttributeType"
        if not variable.is_writable or variable.key is None:
            return "Rejected"
        status = self.change_configuration(variable.key, value)
        if status == "RebootRequired":
            return "RebootRequired"
        return ACCEPTED if status == ACCEPTED else "Rejected"

    def report_data(self, report_base: str) -> list[dict[str, Any]]:
        """ReportDataType entries of a base report (B07)."""
        if report_base == "ConfigurationInventory":
            chosen = [v for v in self.variables if v.is_writable]
        elif report_base == "SummaryInventory":
            chosen = [v for v in self.variables if v.name == "AvailabilityState"]
        else:
            chosen = list(self.variables)
        data = []
        for variable in chosen:
            characteristics: dict[str, Any] = {
                "dataType": variable.data_type,
                "supportsMonitoring": False,
            }
            if variable.unit:
                characteristics["unit"] = variable.unit
            if variable.values_list:
                characteristics["valuesList"] = variable.values_list
            data.append(
                {
                    "component": variable.component_type(),
                    "variable": variable.variable_type(),
                    "variableAttribute": [
                        {
                            "type": "Actual",
                            "value": self.variable_value(variable)[:2500],
                            "mutability": "ReadWrite"
                            if variable.is_writable
                            else "ReadOnly",
                            "persistent": True,
                            "constant": not variable.is_writable
                            and variable.read is None,
                        }
                    ],
                    "variableCharacteristics": characteristics,
                }
            )
        return data

    async def send_report(self, request_id: int, report_base: str) -> None:
        """NotifyReport in parts: seqNo from 0, ``tbc`` on all but the last (B07)."""
        data = self.report_data(report_base)
        generated_at = ocpp_now()
        parts = [
            data[start : start + REPORT_ITEMS_PER_MESSAGE]
            for start in range(0, len(data), REPORT_ITEMS_PER_MESSAGE)
        ]
        for seq_no, part in enumerate(parts):
            payload = {
                "requestId": request_id,
                "generatedAt": generated_at,
                "seqNo": seq_no,
                "tbc": seq_no < len(parts) - 1,
                "reportData": part,
            }
            self._enqueue(_builder("NotifyReport", payload))

    # --------------------------------------------------------- wire hooks

    def _open_link(self, websocket: ClientConnection) -> Link:
        return Link201(self, websocket, self.options.response_timeout_s)

    def _boot_payload(self) -> Call201:
        reason = "PowerUp" if self.boot_count <= 1 else "RemoteReset"
        if self._firmware_installed:
            reason = "FirmwareUpdate"
        return Call201(
            "BootNotification",
            {
                "reason": reason,
                "chargingStation": {
                    "model": self.spec.model,
                    "vendorName": self.spec.vendor,
                    "serialNumber": self.serial_number,
                    "firmwareVersion": self.firmware_version,
                    "modem": {
                        "iccid": f"8949{_digits(self.ocpp_id, 15)}",
                        "imsi": f"26201{_digits(self.serial_number, 10)}",
                    },
                },
            },
        )

    def _boot_answer(self, response: Any) -> tuple[str, int]:
        return str(response["status"]), int(response["interval"])

    def _heartbeat_message(self) -> Call201:
        return Call201("Heartbeat", {})

    @staticmethod
    def _connector_status(status: str) -> str:
        return _CONNECTOR_STATUS.get(status, "Available")

    def _send_status(
        self, number: int, status: str, fault: tuple[str, str, str] | None = None
    ) -> None:
        # 2.0.1 has no connector 0: the station's availability is the
        # ChargingStation component's AvailabilityState (device model).
        if number == 0:
            return
        self._report_fault(number, fault if status == "Faulted" else None)
        connector_status = self._connector_status(status)
        self._sent_status[number] = connector_status
        timestamp = ocpp_now()
        self._enqueue(
            lambda: Call201(
                "StatusNotification",
                {
                    "timestamp": timestamp,
                    "connectorStatus": connector_status,
                    "evseId": number,
                    "connectorId": 1,
                },
            )
        )

    def _set_status(self, connector: ConnectorState, status: str) -> None:
        if connector.status == status:
            return
        connector.status = status
        tx = connector.transaction
        charging_state = _CHARGING_STATE.get(status)
        if (
            isinstance(tx, Transaction201)
            and charging_state
            and charging_state != tx.charging_state
        ):
            tx.charging_state = charging_state
            self._transaction_event(
                connector, tx, "Updated", trigger="ChargingStateChanged"
            )
        if self._sent_status.get(connector.number) != self._connector_status(status):
            self._send_status(connector.number, status, connector.fault)

    def _report_fault(self, number: int, fault: tuple[str, str, str] | None) -> None:
        """NotifyEvent on the Connector's Problem variable (N07), raised or cleared."""
        reported = self._reported_fault.get(number)
        if fault == reported:
            return
        if fault is None:
            if reported is not None:
                self._reported_fault.pop(number)
                self._notify_problem(number, reported, cleared=True)
        else:
            self._reported_fault[number] = fault
            self._notify_problem(number, fault, cleared=False)

    def _notify_problem(
        self, number: int, fault: tuple[str, str, str], *, cleared: bool
    ) -> None:
        error_code, vendor_code, info = fault
        event: dict[str, Any] = {
            "eventId": next(self._event_ids),
            "timestamp": ocpp_now(),
            "trigger": "Delta",
            "actualValue": "false" if cleared else "true",
            "techCode": vendor_code,
            "techInfo": f"{error_code}: {info}",
            "cleared": cleared,
            "eventNotificationType": "HardWiredNotification",
            "component": {
                "name": "Connector",
                "evse": {"id": number, "connectorId": 1},
            },
            "variable": {"name": "Problem"},
        }
        payload = {
            "generatedAt": event["timestamp"],
            "seqNo": 0,
            "tbc": False,
            "eventData": [event],
        }
        self._enqueue(lambda: Call201("NotifyEvent", payload))

    def _report_all_statuses(self) -> None:
        self._sent_status.clear()
        for connector in self.connectors:
            self._send_status(connector.number, connector.status, connector.fault)

    # ------------------------------------------------- authorization (C)

    async def authorize(self, id_tag: str) -> str:
        """Authorize an idToken: local list first if allowed, else the CSMS (C01)."""
        local = self._local_status(id_tag, include_cache=False)
        if self.configuration.flag("LocalPreAuthorize") and local == ACCEPTED:
            return ACCEPTED
        response = (
            await self._request(
                lambda: Call201("Authorize", {"idToken": _id_token(id_tag)})
            )
            if self._is_online
            else None
        )
        if response is not None:
            info = dict(response["idTokenInfo"])
            if self.configuration.flag("AuthorizationCacheEnabled"):
                self.auth_cache[id_tag] = _cached(info)
            return str(info.get("status"))
        # Offline (C13/C15): the same local list, cache and unknown-id policy.
        return self._offline_authorization(id_tag)

    # ---------------------------------------------------- transactions (E)

    def _transaction_event(
        self,
        connector: ConnectorState,
        tx: Transaction201,
        event_type: str,
        *,
        trigger: str,
        meter_value: list[dict[str, Any]] | None = None,
        stopped_reason: str | None = None,
        with_id_token: bool = False,
        on_result: Callable[[Any], None] | None = None,
    ) -> None:
        """Queue a TransactionEvent; numbered and dated now, sent in order (E01)."""
        payload: dict[str, Any] = {
            "eventType": event_type,
            "timestamp": ocpp_now(),
            "triggerReason": trigger,
            "seqNo": tx.next_seq_no(),
            "transactionInfo": {"transactionId": str(tx.transaction_id)},
        }
        info = payload["transactionInfo"]
        if tx.charging_state:
            info["chargingState"] = tx.charging_state
        if stopped_reason is not None:
            info["stoppedReason"] = stopped_reason
        if tx.remote_start_id is not None and event_type == "Started":
            info["remoteStartId"] = tx.remote_start_id
        if not self._is_online:
            # E04: an event that happened while the connection was down.
            payload["offline"] = True
        if not tx.evse_announced:
            # E01.FR.16: the first event names the EVSE (and connector).
            tx.evse_announced = True
            payload["evse"] = {"id": connector.number, "connectorId": 1}
        if with_id_token:
            payload["idToken"] = _id_token(tx.id_tag)
        if tx.reservation_id is not None and event_type == "Started":
            payload["reservationId"] = tx.reservation_id
        if meter_value:
            payload["meterValue"] = meter_value
        self._enqueue(
            lambda: Call201("TransactionEvent", payload),
            is_transactional=True,
            on_result=on_result,
        )

    def _start_transaction(
        self, connector: ConnectorState, request: SessionRequest
    ) -> Transaction:
        tx = Transaction201(
            **self._session_fields(connector, request),
            # §2.50: the station's own id, unique on the station (max 36).
            transaction_id=f"{self.rng.getrandbits(64):016x}",
            remote_start_id=request.remote_start_id,
            charging_state="EVConnected",
            trigger="RemoteStart" if request.is_remote else "Authorized",
        )
        self._session_begin(connector, tx, request)

        def on_result(result: Any) -> None:
            info = result.get("idTokenInfo") or {"status": ACCEPTED}
            self._session_confirmed(connector, tx, str(info.get("status")))

        self._transaction_event(
            connector,
            tx,
            "Started",
            trigger=tx.trigger,
            meter_value=[self._meter_value(connector, "Transaction.Begin")],
            with_id_token=True,
            on_result=on_result,
        )
        if not self._is_online:
            tx.confirmed.set()
        return tx

    def _meter_value(
        self,
        connector: ConnectorState,
        context: str,
        *,
        key: str = "MeterValuesSampledData",
    ) -> dict[str, Any]:
        """A MeterValueType (§2.33) with numeric values and their units (§2.51)."""
        sampled = []
        for entry in self._sample(connector, context, key=key):
            value: dict[str, Any] = {
                "value": float(entry["value"]),
                "context": entry["context"],
                "measurand": entry["measurand"],
                "unitOfMeasure": {"unit": entry["unit"]},
            }
            for name in ("phase", "location"):
                if entry.get(name):
                    value[name] = entry[name]
            sampled.append(value)
        return {"timestamp": ocpp_now(), "sampledValue": sampled}

    def _send_meter_values(
        self,
        connector: ConnectorState,
        tx: Transaction | None,
        context: str,
        *,
        key: str = "MeterValuesSampledData",
    ) -> None:
        meter_value = self._meter_value(connector, context, key=key)
        if isinstance(tx, Transaction201):
            trigger = {
                "Sample.Clock": "MeterValueClock",
                "Trigger": "Trigger",
            }.get(context, "MeterValuePeriodic")
            self._transaction_event(
                connector, tx, "Updated", trigger=trigger, meter_value=[meter_value]
            )
            return
        # J01: meter values outside a transaction.
        self._enqueue(
            lambda: Call201(
                "MeterValues", {"evseId": connector.number, "meterValue": [meter_value]}
            )
        )

    def _stop_transaction(
        self, connector: ConnectorState, tx: Transaction, reason: str
    ) -> None:
        if not isinstance(tx, Transaction201):
            raise TypeError("a 2.0.1 station runs 2.0.1 transactions only")
        connector.transaction = None
        connector.power_w = 0.0
        end = self._meter_value(connector, "Transaction.End", key="StopTxnSampledData")
        trigger, stopped_reason = _STOP.get(reason, ("AbnormalCondition", "Other"))
        if reason in ("Local", "EVDisconnected"):
            tx.charging_state = "Idle"
        self._drop_tx_profiles(connector)
        log.info(
            "%s #%d: transaction %s ended (%s), %.2f kWh",
            self.ocpp_id,
            connector.number,
            tx.transaction_id,
            stopped_reason,
            (int(connector.register_wh) - tx.meter_start_wh) / 1000,
        )
        self._transaction_event(
            connector,
            tx,
            "Ended",
            trigger=trigger,
            meter_value=[end],
            stopped_reason=stopped_reason,
            with_id_token=reason in ("Local", "DeAuthorized"),
        )

    async def _after_session(self, connector: ConnectorState, reason: str) -> None:
        # A reset ends the session without the Finishing pause, as a reboot does.
        if reason in ("ImmediateReset", "OnIdleReset"):
            reason = "Reboot"
        await super()._after_session(connector, reason)

    def _expire_reservation(self, connector: ConnectorState) -> None:
        reservation = connector.reservation
        super()._expire_reservation(connector)
        if reservation is not None and connector.reservation is None:
            # H01.FR.?: the CSMS learns of an expired reservation.
            self._enqueue(
                lambda: Call201(
                    "ReservationStatusUpdate",
                    {
                        "reservationId": reservation.reservation_id,
                        "reservationUpdateStatus": "Expired",
                    },
                )
            )

    # ---------------------------------------------- firmware (L), logs (N)

    def _notify_firmware(self, status: str) -> None:
        self.firmware_status = status
        payload: dict[str, Any] = {"status": status}
        if self.firmware_request_id is not None:
            payload["requestId"] = self.firmware_request_id
        self._enqueue(lambda: Call201("FirmwareStatusNotification", payload))

    def _notify_log(self, status: str) -> None:
        self.log_status = status
        payload: dict[str, Any] = {"status": status}
        if self.log_request_id is not None:
            payload["requestId"] = self.log_request_id
        self._enqueue(lambda: Call201("LogStatusNotification", payload))

    async def update_firmware_201(
        self, location: str, retrieve_date: str, signature: str | None
    ) -> None:
        """L01: download, verify the signature, install, reboot, report Installed."""
        retrieve_at = smart.parse_ocpp_datetime(retrieve_date)
        wait_s = (retrieve_at - utc_now()).total_seconds()
        if wait_s > 0:
            self._notify_firmware("DownloadScheduled")
            await self._pause(self._real_seconds(wait_s))
        self._notify_firmware("Downloading")
        await self._pause(self._real_seconds(self.rng.uniform(5, 15)))
        if "fail" in location.lower():
            self._notify_firmware("DownloadFailed")
            self.firmware_status = "Idle"
            return
        self._notify_firmware("Downloaded")
        if signature is not None:
            # L01.FR.03: a signed firmware is verified before installing.
            if "invalid" in signature.lower():
                self._notify_firmware("InvalidSignature")
                self.firmware_status = "Idle"
                return
            self._notify_firmware("SignatureVerified")
        await self._pause(self._real_seconds(2))
        self._notify_firmware("Installing")
        await self._pause(self._real_seconds(self.rng.uniform(5, 10)))
        self.firmware_version = _firmware_version_from(location, self.firmware_version)
        self._firmware_installed = self.firmware_version
        self._notify_firmware("InstallRebooting")
        await self.reboot(reason="Reboot")

    async def upload_log(self, location: str) -> None:
        """N01: report the log upload (no bytes leave the simulator)."""
        self._notify_log("Uploading")
        await self._pause(self._real_seconds(self.rng.uniform(3, 10)))
        self._notify_log("UploadFailure" if "fail" in location.lower() else "Uploaded")

    # ------------------------------------------------ CSMS -> station CALLs

    def handle_call(self, action: str, payload: dict[str, Any]) -> Answer:
        """Answer one CALL of the CSMS; the side effect runs after the answer."""
        handler = getattr(self, f"_on_{_snake(action)}", None)
        if handler is None:
            raise OcppNotImplementedError(
                description=f"{action} is not supported by this station"
            )
        try:
            answer: Answer = handler(payload)
        except (KeyError, TypeError, ValueError) as error:
            raise FormatViolationError(description=str(error)) from None
        return answer

    def _on_get_variables(self, p: dict[str, Any]) -> Answer:
        return {"getVariableResult": self.get_variables(p["getVariableData"])}, None

    def _on_set_variables(self, p: dict[str, Any]) -> Answer:
        return {"setVariableResult": self.set_variables(p["setVariableData"])}, None

    def _on_get_base_report(self, p: dict[str, Any]) -> Answer:
        request_id, base = int(p["requestId"]), str(p["reportBase"])

        async def report() -> None:
            await self.send_report(request_id, base)

        return {"status": ACCEPTED}, report

    def _on_request_start_transaction(self, p: dict[str, Any]) -> Answer:
        actions: list[After] = []
        status = self.accept_remote_start(
            id_tag=str(p["idToken"]["idToken"]),
            connector_id=p.get("evseId"),
            charging_profile=profile_in_16_shape(p["chargingProfile"])
            if p.get("chargingProfile")
            else None,
            defer=actions.append,
            remote_start_id=int(p["remoteStartId"]),
        )
        return {"status": status}, actions[0] if actions else None

    def _on_cost_updated(self, p: dict[str, Any]) -> Answer:
        """I02/I03: show the running cost of a transaction to the driver."""
        transaction_id = str(p["transactionId"])
        if self.connector_with_transaction(transaction_id) is not None:
            self.displayed_costs[transaction_id] = Decimal(str(p["totalCost"]))
        # CostUpdatedResponse has no fields; an unknown transaction is not an error.
        return {}, None

    def _on_request_stop_transaction(self, p: dict[str, Any]) -> Answer:
        connector = self.connector_with_transaction(str(p["transactionId"]))
        if connector is None:
            return {"status": "Rejected"}, None
        target = connector

        async def stop() -> None:
            self._request_stop_now(target, "Remote")

        return {"status": ACCEPTED}, stop

    def _on_reset(self, p: dict[str, Any]) -> Answer:
        kind, evse_id = str(p["type"]), p.get("evseId")
        if evse_id is not None:
            connector = self.connector(int(evse_id))
            if connector is None:
                return {"status": "Rejected"}, None
            if kind == "OnIdle" and connector.is_busy:
                self._reset_evse_when_idle(connector)
                return {"status": "Scheduled"}, None
            return {"status": ACCEPTED}, lambda: self._reset_evse(connector)
        if kind == "OnIdle" and any(c.is_busy for c in self.connectors):
            # B12.FR.?: OnIdle waits for running transactions to end.
            self._reset_when_idle = self.spawn(self._reboot_when_idle())
            return {"status": "Scheduled"}, None

        async def reboot() -> None:
            await self.reboot(
                reason="ImmediateReset" if kind == "Immediate" else "Reboot"
            )

        return {"status": ACCEPTED}, reboot

    async def _reboot_when_idle(self) -> None:
        await self._wait_until(
            lambda: not any(c.is_busy for c in self.connectors), 86_400.0
        )
        await self.reboot(reason="OnIdleReset")

    def _reset_evse_when_idle(self, connector: ConnectorState) -> None:
        async def later() -> None:
            await self._wait_until(lambda: not connector.is_busy, 86_400.0)
            await self._reset_evse(connector)

        self.spawn(later())

    async def _reset_evse(self, connector: ConnectorState) -> None:
        """B11/B12 for one EVSE: end its transaction, restart it, report it again."""
        self._request_stop_now(connector, "ImmediateReset")
        await self._wait_until(lambda: not connector.is_busy, 30.0)
        self._set_status(connector, "Unavailable")
        await self._pause(self._real_seconds(self.options.reboot_s))
        self._set_status(connector, self._idle_status(connector))

    def _on_change_availability(self, p: dict[str, Any]) -> Answer:
        actions: list[After] = []
        evse = p.get("evse") or {}
        status = self.change_availability(
            connector_id=int(evse.get("id") or 0),
            is_operative=p["operationalStatus"] == "Operative",
            defer=actions.append,
        )
        return {"status": status}, actions[0] if actions else None

    def _on_unlock_connector(self, p: dict[str, Any]) -> Answer:
        connector = self.connector(int(p["evseId"]))
        if connector is None or int(p["connectorId"]) != 1:
            return {"status": "UnknownConnector"}, None
        # F05.FR.02: not while a transaction is authorized on the connector.
        if connector.transaction is not None:
            return {"status": "OngoingAuthorizedTransaction"}, None
        if connector.spec.is_tethered:
            return {"status": "UnlockFailed"}, None
        return {"status": "Unlocked"}, None

    def _on_trigger_message(self, p: dict[str, Any]) -> Answer:
        message = str(p["requestedMessage"])
        evse = p.get("evse") or {}
        evse_id = evse.get("id")
        if message not in _SUPPORTED_TRIGGERS:
            return {"status": "NotImplemented"}, None
        if evse_id and self.connector(int(evse_id)) is None:
            return {"status": "Rejected"}, None
        targets = (
            [c for c in [self.connector(int(evse_id))] if c is not None]
            if evse_id
            else list(self.connectors)
        )

        async def send() -> None:
            if message == "BootNotification":
                response = await self._request(self._boot_payload)
                if response is not None:
                    self.registration_status = str(response["status"])
            elif message == "Heartbeat":
                self._enqueue(self._heartbeat_message)
            elif message == "StatusNotification":
                for connector in targets:
                    self._send_status(
                        connector.number, connector.status, connector.fault
                    )
            elif message == "MeterValues":
                for connector in targets:
                    self._send_meter_values(connector, None, "Trigger")
            elif message == "TransactionEvent":
                for connector in targets:
                    tx = connector.transaction
                    if isinstance(tx, Transaction201):
                        self._send_meter_values(connector, tx, "Trigger")
            elif message == "FirmwareStatusNotification":
                self._notify_firmware(self.firmware_status)
            else:
                self._notify_log(self.log_status)

        return {"status": ACCEPTED}, send

    def _on_set_charging_profile(self, p: dict[str, Any]) -> Answer:
        profile = p["chargingProfile"]
        if (
            profile.get("chargingProfilePurpose")
            == "ChargingStationExternalConstraints"
        ):
            # K01.FR.22: set by an external system, never by the CSMS.
            return {"status": "Rejected"}, None
        status = self.set_charging_profile(
            int(p["evseId"]), profile_in_16_shape(profile)
        )
        return {"status": status}, None

    def _on_clear_charging_profile(self, p: dict[str, Any]) -> Answer:
        criteria = p.get("chargingProfileCriteria") or {}
        purpose = criteria.get("chargingProfilePurpose")
        status = self.clear_charging_profiles(
            profile_id=p.get("chargingProfileId"),
            connector_id=criteria.get("evseId"),
            purpose=_PURPOSE_16.get(purpose, purpose) if purpose else None,
            stack_level=criteria.get("stackLevel"),
        )
        return {"status": status}, None

    def _on_get_composite_schedule(self, p: dict[str, Any]) -> Answer:
        evse_id = int(p["evseId"])
        schedule = self.composite_schedule(
            evse_id, int(p["duration"]), p.get("chargingRateUnit")
        )
        if schedule is None:
            return {"status": "Rejected"}, None
        return {
            "status": ACCEPTED,
            "schedule": {
                "evseId": evse_id,
                "duration": schedule["duration"],
                "scheduleStart": schedule["startSchedule"],
                "chargingRateUnit": schedule["chargingRateUnit"],
                "chargingSchedulePeriod": schedule["chargingSchedulePeriod"],
            },
        }, None

    def _on_reserve_now(self, p: dict[str, Any]) -> Answer:
        actions: list[After] = []
        evse_id = p.get("evseId")
        if evse_id is None:
            # H01.FR.?: no EVSE named: any free one of the station.
            free = next(
                (c for c in self.connectors if not c.is_busy and not c.reservation),
                None,
            )
            evse_id = free.number if free else 1
        group = p.get("groupIdToken") or {}
        status = self.reserve(
            Reservation(
                reservation_id=int(p["id"]),
                connector_id=int(evse_id),
                id_tag=str(p["idToken"]["idToken"]),
                expires_at=smart.parse_ocpp_datetime(p["expiryDateTime"]),
                parent_id_tag=group.get("idToken"),
            ),
            defer=actions.append,
        )
        return {"status": status}, actions[0] if actions else None

    def _on_cancel_reservation(self, p: dict[str, Any]) -> Answer:
        actions: list[After] = []
        status = self.cancel_reservation(int(p["reservationId"]), defer=actions.append)
        return {"status": status}, actions[0] if actions else None

    def _on_send_local_list(self, p: dict[str, Any]) -> Answer:
        entries = [
            {
                "id_tag": entry["idToken"]["idToken"],
                "id_tag_info": _cached(entry["idTokenInfo"])
                if entry.get("idTokenInfo")
                else None,
            }
            for entry in p.get("localAuthorizationList") or ()
        ]
        status = self.update_local_list(
            int(p["versionNumber"]), str(p["updateType"]), entries
        )
        # D01: 2.0.1 answers Accepted, Failed or VersionMismatch.
        return {"status": "Failed" if status == "NotSupported" else status}, None

    def _on_get_local_list_version(self, p: dict[str, Any]) -> Answer:
        return {"versionNumber": self.local_list_version}, None

    def _on_clear_cache(self, p: dict[str, Any]) -> Answer:
        self.auth_cache.clear()
        return {"status": ACCEPTED}, None

    def _on_data_transfer(self, p: dict[str, Any]) -> Answer:
        if p["vendorId"] != self.spec.vendor:
            return {"status": "UnknownVendorId"}, None
        if p.get("messageId") in (None, "Ping"):
            return {"status": ACCEPTED, "data": p.get("data") or "Pong"}, None
        return {"status": "UnknownMessageId"}, None

    def _on_update_firmware(self, p: dict[str, Any]) -> Answer:
        firmware = p["firmware"]
        self.firmware_request_id = int(p["requestId"])
        location = str(firmware["location"])
        retrieve = str(firmware["retrieveDateTime"])
        signature = firmware.get("signature")

        async def update() -> None:
            await self.update_firmware_201(location, retrieve, signature)

        return {"status": ACCEPTED}, update

    def _on_get_log(self, p: dict[str, Any]) -> Answer:
        self.log_request_id = int(p["requestId"])
        location = str(p["log"]["remoteLocation"])
        file_name = (
            f"{self.ocpp_id}-{p['logType']}-{utc_now().strftime('%Y%m%dT%H%M%SZ')}.log"
        )

        async def upload() -> None:
            await self.upload_log(location)

        return {"status": ACCEPTED, "filename": file_name[:255]}, upload


def _snake(action: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in action).lstrip("_")


def _id_token(token: str) -> dict[str, Any]:
    # §2.27 IdTokenType: our drivers' RFID cards are ISO 14443 UIDs.
    return {"idToken": token, "type": "ISO14443"}


def _cached(info: dict[str, Any]) -> dict[str, Any]:
    """An IdTokenInfoType as the local list / cache keeps it (status, expiry)."""
    cached = {"status": info.get("status")}
    if info.get("cacheExpiryDateTime"):
        cached["expiryDate"] = info["cacheExpiryDateTime"]
    return cached


def _problem_reader(state: ConnectorState) -> Callable[[], str]:
    return lambda: "true" if state.fault else "false"


def _builder(action: str, payload: dict[str, Any]) -> Callable[[], Call201]:
    return lambda: Call201(action, payload)
