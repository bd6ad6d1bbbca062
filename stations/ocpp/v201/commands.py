"""OCPP 2.0.1 commands: neutral command <-> CALL payload, CALLRESULT -> neutral answer.

The domain's commands (``stations.ocpp.commands``) are 1.6-shaped in a few
places; this module says how each is spelled in 2.0.1 (OCPP 2.0.1 Part 2):

- connector *n* is EVSE *n* (see ``stations.ocpp.v201.handlers``);
- Reset Soft/Hard -> ``OnIdle``/``Immediate`` (B11/B12);
- RemoteStart/RemoteStop -> RequestStart/StopTransaction (F01/F03); the stop
  names the charger's own transaction id, which the session knows;
- GetConfiguration/ChangeConfiguration -> GetVariables/SetVariables (B06/B05)
  with a key written ``Component.Variable`` (a component instance or EVSE as
  ``Component[instance]@evse``); GetConfiguration with no key asks for the
  whole device model, GetBaseReport FullInventory (B07), which the charger
  reports in NotifyReport;
- GetDiagnostics -> GetLog DiagnosticsLog (N01); charging profiles name the
  purpose ``ChargingStationMaxProfile`` where 1.6 said ``ChargePointMaxProfile``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ocpp.exceptions import OCPPError
from ocpp.v201 import call as v201_call
from ocpp.v201.enums import Action

from stations.facts import DeviceVariable, device_variable_key
from stations.ocpp import commands as neutral
from stations.ocpp.callwire import action_name
from stations.ocpp.callwire import error_cause as _cause
from stations.ocpp.callwire import parse_required_wire_time as _required_time
from stations.ocpp.callwire import parse_wire_time as _parse_time
from stations.ocpp.callwire import put_optional as _set
from stations.ocpp.callwire import request_id as _request_id
from stations.ocpp.callwire import schedule_periods as _periods_of
from stations.ocpp.callwire import wire_time as _time
from stations.ocpp.casing import camel_to_snake_case, snake_to_camel_case
from stations.ocpp.commands import CommandPayloadError
from stations.ocpp.protocol import CALL, CALLRESULT
from stations.ocpp.v16 import commands as v16_commands
from stations.ocpp.v201.validation import has_schema, validate
from stations.ocpp.v201.wire import GROUP_ID_KIND
from stations.ocpp.versions import WireCall

CHARGER_INITIATED_ACTIONS = frozenset(
    {
        "Authorize",
        "BootNotification",
        "ClearedChargingLimit",
        "FirmwareStatusNotification",
        "Get15118EVCertificate",
        "GetCertificateStatus",
        "Heartbeat",
        "LogStatusNotification",
        "MeterValues",
        "NotifyChargingLimit",
        "NotifyCustomerInformation",
        "NotifyDisplayMessages",
        "NotifyEVChargingNeeds",
        "NotifyEVChargingSchedule",
        "NotifyEvent",
        "NotifyMonitoringReport",
        "NotifyReport",
        "PublishFirmwareStatusNotification",
        "ReportChargingProfiles",
        "ReservationStatusUpdate",
        "SecurityEventNotification",
        "SignCertificate",
        "StatusNotification",
        "TransactionEvent",
    }
)
CMS_ACTIONS = frozenset(
    action.value
    for action in Action
    if action.value not in CHARGER_INITIATED_ACTIONS
    and hasattr(v201_call, action.value)
    and has_schema(action.value, CALL)
)
_ACCEPTED_ANSWERS = frozenset({"Accepted", "Unlocked", "Scheduled", "AcceptedCanceled"})
_REJECTED_ANSWERS = frozenset(
    {
        "Rejected", "UnlockFailed", "UnknownConnector", "OngoingAuthorizedTransaction",
        "InvalidCertificate", "RevokedCertificate",
    }
)  # fmt: skip
_PURPOSE = {"ChargePointMaxProfile": "ChargingStationMaxProfile"}
_PURPOSE_OF = {wire: ours for ours, wire in _PURPOSE.items()}
# Actions whose payload names an EVSE as ``evseId`` (the CLI's --connector).
_EVSE_ACTIONS = frozenset(
    {
        "Reset",
        "UnlockConnector",
        "RequestStartTransaction",
        "GetCompositeSchedule",
        "SetChargingProfile",
        "ReserveNow",
    }
)
_RESET = {neutral.ResetKind.SOFT: "OnIdle", neutral.ResetKind.HARD: "Immediate"}
_UNKNOWN_ATTRIBUTE = frozenset({"UnknownComponent", "UnknownVariable"})
_KEY = re.compile(
    r"^(?P<component>[^.\[@]+)(?:\[(?P<ci>[^\]]*)\])?(?:@(?P<evse>\d+))?"
    r"\.(?P<variable>[^\[]+)(?:\[(?P<vi>[^\]]*)\])?$"
)

# The charger's own id of a session's transaction (RequestStopTransaction
# names it) and back; sessions_app registers the readers from its ready().
_transaction_names: list[Callable[[int], str | None]] = []
_sessions_of_names: list[Callable[[str], int | None]] = []


def transaction_names_register(
    name_of: Callable[[int], str | None], session_of: Callable[[str], int | None]
) -> None:
    """``name_of(session_id)`` -> the charger's transaction id; ``session_of`` back."""
    if name_of not in _transaction_names:
        _transaction_names.append(name_of)
    if session_of not in _sessions_of_names:
        _sessions_of_names.append(session_of)


def _session_of(charger_transaction_id: str) -> int | None:
    for reader in _sessions_of_names:
        session_id = reader(charger_transaction_id)
        if session_id:
            return session_id
    return None


def _charger_transaction(transaction_id: int) -> str:
    for reader in _transaction_names:
        name = reader(transaction_id)
        if name:
            return name
    raise CommandPayloadError(
        f"Session {transaction_id} is not a transaction this OCPP 2.0.1 charger named.",
        field="transaction_id",
    )


def wire_cost(cost: Decimal) -> float:
    """A money amount as the JSON number of ``totalCost`` (I02, I03).

    A float, not a Decimal: python-ocpp's encoder writes a Decimal with one
    decimal place (7.42 would reach the display as 7.4).
    """
    return float(cost.quantize(Decimal("0.01")))


def _id_token(token: str) -> dict[str, Any]:
    # The CMS's own identifiers travel as type Central (§3.43 IdTokenEnumType).
    return {"idToken": token, "type": GROUP_ID_KIND}


def key_parts(key: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """``Component[instance]@evse.Variable[instance]`` -> (component, variable)."""
    match = _KEY.match(key.strip())
    if match is None:
        raise CommandPayloadError(
            f"“{key}” is not a device model key (Component.Variable).", field="key"
        )
    component: dict[str, Any] = {"name": match["component"]}
    _set(component, "instance", match["ci"])
    if match["evse"]:
        component["evse"] = {"id": int(match["evse"])}
    variable: dict[str, Any] = {"name": match["variable"]}
    _set(variable, "instance", match["vi"])
    return component, variable


def key_of(component: dict[str, Any], variable: dict[str, Any]) -> str:
    evse = component.get("evse") or {}
    return device_variable_key(
        component=str(component.get("name", "")),
        component_instance=str(component.get("instance") or ""),
        evse=int(evse.get("id") or 0),
        variable=str(variable.get("name", "")),
        variable_instance=str(variable.get("instance") or ""),
    )


def _profile(
    profile: neutral.ChargingProfileSpec, *, transaction: str | None = None
) -> dict[str, Any]:
    """A ChargingProfileType (§2.10) of a neutral profile."""
    periods = []
    for period in profile.periods:
        item: dict[str, Any] = {"startPeriod": period.start_s, "limit": period.limit}
        _set(item, "numberPhases", period.phases)
        periods.append(item)
    schedule: dict[str, Any] = {
        "id": profile.profile_id,
        "chargingRateUnit": profile.rate_unit,
        "chargingSchedulePeriod": periods,
    }
    _set(schedule, "duration", profile.duration_s or None)
    if profile.start_schedule is not None:
        schedule["startSchedule"] = _time(profile.start_schedule)
    _set(schedule, "minChargingRate", profile.min_charging_rate)
    data: dict[str, Any] = {
        "id": profile.profile_id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": _PURPOSE.get(profile.purpose, profile.purpose),
        "chargingProfileKind": profile.kind,
        "chargingSchedule": [schedule],
    }
    _set(data, "recurrencyKind", profile.recurrency_kind)
    if profile.valid_from is not None:
        data["validFrom"] = _time(profile.valid_from)
    if profile.valid_to is not None:
        data["validTo"] = _time(profile.valid_to)
    if profile.transaction_id is not None:
        data["transactionId"] = transaction or _charger_transaction(
            profile.transaction_id
        )
    return data


def _wire(command: neutral.Command) -> WireCall:
    match command:
        case neutral.Reset(kind=kind):
            return WireCall("Reset", {"type": _RESET[kind]})
        case neutral.UnlockConnector(connector=connector):
            return WireCall("UnlockConnector", {"evseId": connector, "connectorId": 1})
        case neutral.RemoteStart():
            payload: dict[str, Any] = {
                "idToken": _id_token(command.id_token),
                "remoteStartId": _request_id(),
            }
            _set(payload, "evseId", command.connector or None)
            if command.profile is not None:
                payload["chargingProfile"] = _profile(command.profile)
            return WireCall("RequestStartTransaction", payload)
        case neutral.RemoteStop(transaction_id=transaction_id):
            return WireCall(
                "RequestStopTransaction",
                {"transactionId": _charger_transaction(transaction_id)},
            )
        case neutral.ChangeAvailability():
            payload = {"operationalStatus": str(command.availability)}
            if command.connector:
                payload["evse"] = {"id": command.connector}
            return WireCall("ChangeAvailability", payload)
        case neutral.SetChargingProfile():
            return WireCall(
                "SetChargingProfile",
                {
                    "evseId": command.connector,
                    "chargingProfile": _profile(command.profile),
                },
            )
        case neutral.ClearChargingProfile():
            payload = {}
            _set(payload, "chargingProfileId", command.profile_id)
            criteria: dict[str, Any] = {}
            _set(criteria, "evseId", command.connector)
            _set(
                criteria,
                "chargingProfilePurpose",
                _PURPOSE.get(command.purpose, command.purpose),
            )
            _set(criteria, "stackLevel", command.stack_level)
            if criteria:
                payload["chargingProfileCriteria"] = criteria
            return WireCall("ClearChargingProfile", payload)
        case neutral.GetConfiguration(keys=keys):
            if not keys:
                return WireCall(
                    "GetBaseReport",
                    {"requestId": _request_id(), "reportBase": "FullInventory"},
                )
            data = []
            for key in keys:
                component, variable = key_parts(key)
                data.append({"component": component, "variable": variable})
            return WireCall("GetVariables", {"getVariableData": data})
        case neutral.ChangeConfiguration(key=key, value=value):
            component, variable = key_parts(key)
            return WireCall(
                "SetVariables",
                {
                    "setVariableData": [
                        {
                            "attributeValue": value,
                            "component": component,
                            "variable": variable,
                        }
                    ]
                },
            )
        case neutral.UpdateFirmware():
            payload = {
                "requestId": _request_id(),
                "firmware": {
                    "location": command.location,
                    "retrieveDateTime": _time(command.retrieve_at),
                },
            }
            # 2.0.1 FirmwareType (§2.24): signingCertificate and signature.
            _set(
                payload["firmware"],
                "signingCertificate",
                command.signing_certificate or None,
            )
            _set(payload["firmware"], "signature", command.signature or None)
            _set(payload, "retries", command.retries)
            _set(payload, "retryInterval", command.retry_interval_s)
            return WireCall("UpdateFirmware", payload)
        case neutral.GetDiagnostics():
            log: dict[str, Any] = {"remoteLocation": command.location}
            if command.start_time is not None:
                log["oldestTimestamp"] = _time(command.start_time)
            if command.stop_time is not None:
                log["latestTimestamp"] = _time(command.stop_time)
            payload = {
                "logType": "DiagnosticsLog",
                "requestId": _request_id(),
                "log": log,
            }
            _set(payload, "retries", command.retries)
            _set(payload, "retryInterval", command.retry_interval_s)
            return WireCall("GetLog", payload)
        case neutral.ReserveNow():
            payload = {
                "id": command.reservation_id,
                "expiryDateTime": _time(command.expires_at),
                "idToken": _id_token(command.id_token),
            }
            _set(payload, "evseId", command.connector or None)
            if command.parent_id_token:
                payload["groupIdToken"] = _id_token(command.parent_id_token)
            return WireCall("ReserveNow", payload)
        case neutral.CancelReservation(reservation_id=reservation_id):
            return WireCall("CancelReservation", {"reservationId": reservation_id})
        case neutral.SendLocalList():
            entries = []
            for entry in command.entries:
                item: dict[str, Any] = {"idToken": _id_token(entry.id_token)}
                if entry.status is not None:
                    info: dict[str, Any] = {"status": entry.status}
                    if entry.expires_at is not None:
                        info["cacheExpiryDateTime"] = _time(entry.expires_at)
                    if entry.parent_id_token:
                        info["groupIdToken"] = _id_token(entry.parent_id_token)
                    item["idTokenInfo"] = info
                entries.append(item)
            payload = {
                "versionNumber": command.version,
                "updateType": str(command.update),
            }
            if entries:
                payload["localAuthorizationList"] = entries
            return WireCall("SendLocalList", payload)
        case neutral.GetLocalListVersion():
            return WireCall("GetLocalListVersion", {})
        case neutral.ClearCache():
            return WireCall("ClearCache", {})
        case neutral.TriggerMessage():
            payload = {"requestedMessage": command.message}
            if command.connector:
                payload["evse"] = {"id": command.connector}
            return WireCall("TriggerMessage", payload)
        case neutral.DataTransfer():
            payload = {"vendorId": command.vendor_id}
            _set(payload, "messageId", command.message_id)
            _set(payload, "data", command.data)
            return WireCall("DataTransfer", payload)
        case neutral.GetCompositeSchedule():
            payload = {"evseId": command.connector, "duration": command.duration_s}
            _set(payload, "chargingRateUnit", command.rate_unit)
            return WireCall("GetCompositeSchedule", payload)
        case neutral.CertificateSigned():
            # A02/A03: CertificateSignedRequest, the chain and its type.
            return WireCall(
                "CertificateSigned",
                {
                    "certificateChain": command.certificate_chain,
                    "certificateType": command.certificate_type,
                },
            )
        case neutral.RenewCertificate():
            # F06 TriggerMessage SignChargingStationCertificate -> A02/A03.
            return WireCall(
                "TriggerMessage", {"requestedMessage": "SignChargingStationCertificate"}
            )
        case neutral.SetBasicAuthPassword(password=password):
            # A01 (update the Basic auth password): SetVariables
            # SecurityCtrlr.BasicAuthPassword.
            return WireCall(
                "SetVariables",
                {
                    "setVariableData": [
                        {
                            "attributeValue": password,
                            "component": {"name": "SecurityCtrlr"},
                            "variable": {"name": "BasicAuthPassword"},
                        }
                    ]
                },
            )
        case neutral.CostUpdate(transaction_id=transaction_id, total_cost=cost):
            # I02: the running total cost (incl. tax) of the station's own
            # transaction, in the currency of TariffCostCtrlr.Currency.
            return WireCall(
                "CostUpdated",
                {
                    "totalCost": wire_cost(cost),
                    "transactionId": _charger_transaction(transaction_id),
                },
            )
        case neutral.CustomerInformation():
            # N09/N10: report and/or clear, the customer named one way.
            payload = {
                "requestId": command.request_id,
                "report": command.report,
                "clear": command.clear,
            }
            _set(payload, "customerIdentifier", command.customer_identifier)
            if command.id_token:
                # The customer as the station knows them: a card keeps its type.
                payload["idToken"] = {
                    "idToken": command.id_token,
                    "type": command.id_token_kind or GROUP_ID_KIND,
                }
            return WireCall("CustomerInformation", payload)
        case neutral.RawCall(action=action, payload=raw):
            return raw_call(action, raw)
    raise CommandPayloadError(f"{command!r} is not a command.", field="action")


def call_for(command: neutral.Command) -> WireCall:
    """The 2.0.1 CALL of a neutral command, valid against the 2.0.1 schema."""
    call = _wire(command)
    try:
        validate(call.action, CALL, call.payload)
    except OCPPError as error:
        cause, wire_field = _cause(error)
        raise CommandPayloadError(
            f"{call.action}: {cause}", field=wire_field or "payload"
        ) from None
    return call


def raw_call(action: str, payload: Any, *, connector: int | None = None) -> WireCall:
    """Validate a raw payload for an action and return the 2.0.1 CALL.

    The portal, API and CLI name commands as the permission table does (OCPP
    1.6's names: RemoteStartTransaction, GetConfiguration...); a 1.6-named
    action or a 1.6-spelled payload is read as the neutral command it carries
    and spelled in 2.0.1. A 2.0.1 action with a 2.0.1 payload is taken as is.
    ``connector`` (the CLI's ``--connector``) is the EVSE of an action that
    takes one, unless the payload names it.
    """
    name = action_name(action)
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise CommandPayloadError("The payload must be a JSON object.", field="payload")
    native_error: CommandPayloadError | None = None
    if name in CMS_ACTIONS:
        try:
            return _native_call(name, payload, connector=connector)
        except CommandPayloadError as error:
            native_error = error
    if name in v16_commands.CMS_ACTIONS:
        try:
            command = v16_commands.command_of(
                name, v16_commands.raw_call(name, payload, connector=connector).payload
            )
        except CommandPayloadError:
            if native_error is not None:
                raise native_error from None
            raise
        if not isinstance(command, neutral.RawCall):
            return call_for(command)
    if native_error is not None:
        raise native_error
    raise CommandPayloadError(
        f"“{action}” is not an OCPP 2.0.1 command a CSMS can send.", field="action"
    )


def _native_call(
    name: str, payload: dict[str, Any], *, connector: int | None
) -> WireCall:
    payload = snake_to_camel_case(payload)
    if connector is not None and name in _EVSE_ACTIONS:
        payload.setdefault("evseId", connector)
    try:
        validate(name, CALL, payload)
    except OCPPError as error:
        cause, wire_field = _cause(error)
        raise CommandPayloadError(
            f"{name}: {cause}", field=wire_field or "payload"
        ) from None
    return WireCall(name, payload)


def request_for(call: WireCall) -> Any:
    """The python-ocpp ``ocpp.v201.call.<Action>`` dataclass that sends ``call``."""
    return getattr(v201_call, call.action)(**camel_to_snake_case(call.payload))


def command_of(action: str, payload: dict[str, Any]) -> neutral.Command:
    """Read a stored 2.0.1 CALL as the neutral command it carries (else RawCall).

    A row that does not read as 2.0.1 (sent while the charger spoke 1.6) stays
    the raw call it was.
    """
    try:
        return _command_of(action, payload or {})
    except (KeyError, TypeError, ValueError):
        return neutral.RawCall(action=action, payload=dict(payload or {}))


def _command_of(action: str, p: dict[str, Any]) -> neutral.Command:
    match action:
        case "Reset":
            kind = {v: k for k, v in _RESET.items()}.get(p.get("type", "OnIdle"))
            return neutral.Reset(kind=kind or neutral.ResetKind.SOFT)
        case "UnlockConnector":
            return neutral.UnlockConnector(connector=int(p["evseId"]))
        case "RequestStartTransaction":
            return neutral.RemoteStart(
                id_token=str(p["idToken"]["idToken"]), connector=p.get("evseId")
            )
        case "RequestStopTransaction" if _session_of(str(p["transactionId"])):
            return neutral.RemoteStop(
                transaction_id=_session_of(str(p["transactionId"])) or 0
            )
        case "ChangeAvailability":
            return neutral.ChangeAvailability(
                connector=int((p.get("evse") or {}).get("id") or 0),
                availability=neutral.Availability(p["operationalStatus"]),
            )
        case "CancelReservation":
            return neutral.CancelReservation(reservation_id=int(p["reservationId"]))
        case "ReserveNow":
            return neutral.ReserveNow(
                reservation_id=int(p["id"]),
                connector=int(p.get("evseId") or 0),
                id_token=str(p["idToken"]["idToken"]),
                expires_at=_required_time(p.get("expiryDateTime")),
                parent_id_token=str((p.get("groupIdToken") or {}).get("idToken", "")),
            )
        case "SendLocalList":
            return neutral.SendLocalList(
                version=int(p["versionNumber"]),
                update=neutral.LocalListUpdate(p["updateType"]),
                entries=tuple(
                    _local_list_entry(entry)
                    for entry in p.get("localAuthorizationList") or []
                ),
            )
        case "SetChargingProfile":
            return neutral.SetChargingProfile(
                connector=int(p["evseId"]), profile=_profile_of(p["chargingProfile"])
            )
        case "ClearChargingProfile":
            criteria = p.get("chargingProfileCriteria") or {}
            purpose = str(criteria.get("chargingProfilePurpose", ""))
            return neutral.ClearChargingProfile(
                profile_id=p.get("chargingProfileId"),
                connector=criteria.get("evseId"),
                purpose=_PURPOSE_OF.get(purpose, purpose),
                stack_level=criteria.get("stackLevel"),
            )
        case "GetCompositeSchedule":
            return neutral.GetCompositeSchedule(
                connector=int(p["evseId"]),
                duration_s=int(p["duration"]),
                rate_unit=str(p.get("chargingRateUnit", "")),
            )
        case "UpdateFirmware":
            firmware = p["firmware"]
            return neutral.UpdateFirmware(
                location=str(firmware["location"]),
                retrieve_at=_required_time(firmware.get("retrieveDateTime")),
                retries=p.get("retries"),
                retry_interval_s=p.get("retryInterval"),
                signing_certificate=str(firmware.get("signingCertificate", "")),
                signature=str(firmware.get("signature", "")),
            )
        case "GetLog" if p.get("logType") == "DiagnosticsLog":
            log = p["log"]
            return neutral.GetDiagnostics(
                location=str(log["remoteLocation"]),
                start_time=_parse_time(log.get("oldestTimestamp")),
                stop_time=_parse_time(log.get("latestTimestamp")),
                retries=p.get("retries"),
                retry_interval_s=p.get("retryInterval"),
            )
        case "GetLocalListVersion":
            return neutral.GetLocalListVersion()
        case "ClearCache":
            return neutral.ClearCache()
        case "TriggerMessage" if (
            p.get("requestedMessage") == "SignChargingStationCertificate"
        ):
            return neutral.RenewCertificate()
        case "CertificateSigned":
            return neutral.CertificateSigned(
                certificate_chain=str(p.get("certificateChain", "")),
                certificate_type=str(
                    p.get("certificateType", "ChargingStationCertificate")
                ),
            )
        case "CostUpdated" if _session_of(str(p["transactionId"])):
            return neutral.CostUpdate(
                transaction_id=_session_of(str(p["transactionId"])) or 0,
                total_cost=Decimal(str(p["totalCost"])),
            )
        case "CustomerInformation" if not p.get("customerCertificate"):
            return neutral.CustomerInformation(
                request_id=int(p["requestId"]),
                report=bool(p["report"]),
                clear=bool(p["clear"]),
                customer_identifier=str(p.get("customerIdentifier") or ""),
                id_token=str((p.get("idToken") or {}).get("idToken") or ""),
                id_token_kind=str((p.get("idToken") or {}).get("type") or ""),
            )
        case "SetVariables" if _is_basic_auth_password(p):
            return neutral.SetBasicAuthPassword(
                password=str(p["setVariableData"][0]["attributeValue"])
            )
        case "SetVariables" if len(p.get("setVariableData") or []) == 1:
            item = p["setVariableData"][0]
            return neutral.ChangeConfiguration(
                key=key_of(item["component"], item["variable"]),
                value=str(item["attributeValue"]),
            )
        case "GetVariables":
            return neutral.GetConfiguration(
                keys=tuple(
                    key_of(item["component"], item["variable"])
                    for item in p.get("getVariableData") or []
                )
            )
    return neutral.RawCall(action=action, payload=dict(p))


def _local_list_entry(entry: dict[str, Any]) -> neutral.LocalListEntry:
    """An AuthorizationData (§2.2) of a SendLocalList; no idTokenInfo removes it."""
    info = entry.get("idTokenInfo")
    return neutral.LocalListEntry(
        id_token=str(entry["idToken"]["idToken"]),
        status=info.get("status") if info else None,
        expires_at=_parse_time(info.get("cacheExpiryDateTime")) if info else None,
        parent_id_token=str(
            ((info or {}).get("groupIdToken") or {}).get("idToken", "")
        ),
    )


def _profile_of(data: dict[str, Any]) -> neutral.ChargingProfileSpec:
    """The neutral profile of a ChargingProfileType (§2.10), its first schedule."""
    schedule = (data.get("chargingSchedule") or [{}])[0]
    purpose = str(data.get("chargingProfilePurpose", ""))
    charger_transaction = data.get("transactionId")
    return neutral.ChargingProfileSpec(
        profile_id=int(data.get("id", 0)),
        stack_level=int(data.get("stackLevel", 0)),
        purpose=_PURPOSE_OF.get(purpose, purpose),
        kind=str(data.get("chargingProfileKind", "")),
        rate_unit=str(schedule.get("chargingRateUnit", "")),
        periods=_periods_of(schedule),
        duration_s=schedule.get("duration"),
        start_schedule=_parse_time(schedule.get("startSchedule")),
        min_charging_rate=schedule.get("minChargingRate"),
        transaction_id=_session_of(str(charger_transaction))
        if charger_transaction
        else None,
        recurrency_kind=str(data.get("recurrencyKind", "")),
        valid_from=_parse_time(data.get("validFrom")),
        valid_to=_parse_time(data.get("validTo")),
    )


def _device_variable(item: dict[str, Any], *, value: str = "") -> DeviceVariable:
    """The variable a Get/SetVariableResultType (§2.31, §2.46) names."""
    component = item.get("component") or {}
    variable = item.get("variable") or {}
    evse = component.get("evse") or {}
    return DeviceVariable(
        component=str(component.get("name", ""))[:50],
        component_instance=str(component.get("instance") or "")[:50],
        evse=int(evse.get("id") or 0),
        connector=int(evse.get("connectorId") or 0),
        variable=str(variable.get("name", ""))[:50],
        variable_instance=str(variable.get("instance") or "")[:50],
        attribute_type=str(item.get("attributeType") or "Actual")[:10],
        value=value[:2500],
    )


def without_secrets(action: str, payload: Any) -> Any:
    """The CALL payload as it may be kept: BasicAuthPassword's value replaced."""
    if (
        action == "SetVariables"
        and isinstance(payload, dict)
        and _is_basic_auth_password(payload)
    ):
        item = {**payload["setVariableData"][0], "attributeValue": neutral.REDACTED}
        return {**payload, "setVariableData": [item]}
    return payload


def _is_basic_auth_password(payload: dict[str, Any]) -> bool:
    data = payload.get("setVariableData") or []
    return (
        len(data) == 1
        and (data[0].get("component") or {}).get("name") == "SecurityCtrlr"
        and (data[0].get("variable") or {}).get("name") == "BasicAuthPassword"
    )


def _fact(action: str, answer: dict[str, Any]) -> neutral.Fact | None:
    if action in ("GetVariables", "SetVariables"):
        entries, unknown = [], []
        is_read = action == "GetVariables"
        results = answer.get("getVariableResult" if is_read else "setVariableResult")
        for item in results or []:
            key = key_of(item.get("component") or {}, item.get("variable") or {})
            status = str(item.get("attributeStatus", ""))
            if status in _UNKNOWN_ATTRIBUTE:
                unknown.append(key)
                continue
            value = item.get("attributeValue") if is_read else None
            entries.append(
                neutral.ConfigurationEntry(
                    key=key,
                    value=value,
                    status=status,
                    # B06.FR.?: only an Accepted read carries the value.
                    device_variable=_device_variable(item, value=str(value or ""))
                    if status == "Accepted" or not is_read
                    else None,
                )
            )
        return neutral.ConfigurationRead(
            entries=tuple(entries), unknown_keys=tuple(unknown)
        )
    if action == "GetLocalListVersion" and isinstance(answer.get("versionNumber"), int):
        return neutral.LocalListVersion(version=answer["versionNumber"])
    if action == "GetLog":
        return neutral.DiagnosticsFile(file_name=str(answer.get("filename") or ""))
    schedule = answer.get("schedule")
    if action == "GetCompositeSchedule" and isinstance(schedule, dict):
        return neutral.CompositeSchedule(
            connector=schedule.get("evseId"),
            start=_parse_time(schedule.get("scheduleStart")),
            rate_unit=str(schedule.get("chargingRateUnit", "")),
            periods=_periods_of(schedule),
            duration_s=schedule.get("duration"),
        )
    return None


def _status_of(action: str, answer: dict[str, Any]) -> str:
    if action == "SetVariables":
        results = answer.get("setVariableResult") or []
        return str(results[0].get("attributeStatus", "")) if results else ""
    status = answer.get("status")
    return str(status) if status is not None else ""


def answer_of(action: str, payload: Any) -> neutral.Answer:
    """Read a charger's CALLRESULT payload (stored on the audit row)."""
    answer = payload if isinstance(payload, dict) else {}
    status = _status_of(action, answer)
    return neutral.Answer(
        charger_status=status,
        # No status (GetVariables, GetLocalListVersion): an answer is success.
        is_accepted=not status or status in _ACCEPTED_ANSWERS,
        is_rejected=status in _REJECTED_ANSWERS,
        fact=_fact(action, answer),
    )


def answer_error(action: str, payload: Any) -> OCPPError | None:
    """Why a CALLRESULT payload is not a valid answer to ``action``, or None."""
    try:
        validate(action, CALLRESULT, payload)
    except OCPPError as error:
        return error
    return None
