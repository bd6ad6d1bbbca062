"""OCPP 1.6J commands: neutral command <-> CALL payload, CALLRESULT -> neutral answer.

``call_for`` builds the CALL of a neutral command (``stations.ocpp.commands``)
and validates it against the 1.6 schema; ``raw_call`` validates a raw 1.6
payload typed by an operator (console, bulk form, API, CLI) and
``command_of`` reads a stored CALL back as the neutral command, so the domain
applies answers without knowing a 1.6 field name. ``answer_of`` reads a
CALLRESULT.
"""

from __future__ import annotations

import re
from typing import Any

from ocpp.charge_point import remove_nones, serialize_as_dict
from ocpp.exceptions import OCPPError
from ocpp.v16 import call as v16_call
from ocpp.v16.enums import Action

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
from stations.ocpp.v16.validation import validate
from stations.ocpp.versions import WireCall

AUTHORIZATION_KEY = "AuthorizationKey"
# Actions only the charger initiates (DataTransfer goes both ways).
CHARGER_INITIATED_ACTIONS = frozenset(
    {
        "Authorize",
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "LogStatusNotification",
        "MeterValues",
        "SecurityEventNotification",
        "SignCertificate",
        "SignedFirmwareStatusNotification",
        "StartTransaction",
        "StatusNotification",
        "StopTransaction",
    }
)
CMS_ACTIONS = frozenset(
    action.value
    for action in Action
    if action.value not in CHARGER_INITIATED_ACTIONS and hasattr(v16_call, action.value)
)
# A raw payload may leave these out (issue 23: a bulk Reset with ``{}``).
_RAW_DEFAULTS: dict[str, dict[str, Any]] = {"Reset": {"type": "Soft"}}
# Fields the CMS fills in itself; a raw payload naming one is refused. ReserveNow's
# reservationId is the reservation row's number (stations.remote.services
# reservation_create), so that CancelReservation and the charger's
# StartTransaction.reservationId find it; 0 holds its place until then.
_CMS_ASSIGNED: dict[str, dict[str, Any]] = {"ReserveNow": {"reservationId": 0}}
# AcceptedCanceled, InvalidCertificate, RevokedCertificate: the 1.6 security
# whitepaper's UpdateFirmwareStatusEnumType (SignedUpdateFirmware.conf).
_ACCEPTED_ANSWERS = frozenset({"Accepted", "Unlocked", "AcceptedCanceled"})
_REJECTED_ANSWERS = frozenset(
    {"Rejected", "UnlockFailed", "InvalidCertificate", "RevokedCertificate"}
)
# The neutral attribute a 1.6 field of a command's CALL comes from, so that an
# invalid neutral command names the attribute, not the wire field.
_NEUTRAL_FIELD = {
    "connectorId": "connector",
    "idTag": "id_token",
    "parentIdTag": "parent_id_token",
    "transactionId": "transaction_id",
    "reservationId": "reservation_id",
    "expiryDate": "expires_at",
    "retrieveDate": "retrieve_at",
    "retryInterval": "retry_interval_s",
    "startTime": "start_time",
    "stopTime": "stop_time",
    "requestedMessage": "message",
    "vendorId": "vendor_id",
    "messageId": "message_id",
    "duration": "duration_s",
    "chargingRateUnit": "rate_unit",
    "type": "kind",
    "listVersion": "version",
    "updateType": "update",
    "localAuthorizationList": "entries",
    "chargingProfile": "profile",
    "csChargingProfiles": "profile",
}


def _neutral_field(action: str, wire_field: str) -> str:
    top = re.split(r"[.\[]", wire_field)[0]
    if action == "ChangeAvailability" and top == "type":
        return "availability"
    if action == "GetConfiguration" and top == "key":
        return "keys"
    return _NEUTRAL_FIELD.get(top, top or "payload")


# --- neutral -> CALL ----------------------------------------------------------------


def _profile_payload(profile: neutral.ChargingProfileSpec) -> dict[str, Any]:
    """The 1.6 ``csChargingProfiles`` / ``chargingProfile`` object (§7.8)."""
    periods = []
    for period in profile.periods:
        item: dict[str, Any] = {"startPeriod": period.start_s, "limit": period.limit}
        _set(item, "numberPhases", period.phases)
        periods.append(item)
    schedule: dict[str, Any] = {
        "chargingRateUnit": profile.rate_unit,
        "chargingSchedulePeriod": periods,
    }
    _set(schedule, "duration", profile.duration_s or None)
    if profile.start_schedule is not None:
        schedule["startSchedule"] = _time(profile.start_schedule)
    _set(schedule, "minChargingRate", profile.min_charging_rate)
    data: dict[str, Any] = {
        "chargingProfileId": profile.profile_id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": profile.purpose,
        "chargingProfileKind": profile.kind,
        "chargingSchedule": schedule,
    }
    _set(data, "transactionId", profile.transaction_id or None)
    _set(data, "recurrencyKind", profile.recurrency_kind)
    if profile.valid_from is not None:
        data["validFrom"] = _time(profile.valid_from)
    if profile.valid_to is not None:
        data["validTo"] = _time(profile.valid_to)
    return data


def _local_list_entry(entry: neutral.LocalListEntry) -> dict[str, Any]:
    item: dict[str, Any] = {"idTag": entry.id_token}
    if entry.status is not None:  # no idTagInfo: remove the token (§5.15)
        info: dict[str, Any] = {"status": entry.status}
        if entry.expires_at is not None:
            info["expiryDate"] = _time(entry.expires_at)
        _set(info, "parentIdTag", entry.parent_id_token)
        item["idTagInfo"] = info
    return item


def _wire(command: neutral.Command) -> WireCall:
    match command:
        case neutral.Reset(kind=kind):
            return WireCall("Reset", {"type": str(kind)})
        case neutral.UnlockConnector(connector=connector):
            return WireCall("UnlockConnector", {"connectorId": connector})
        case neutral.RemoteStart():
            payload: dict[str, Any] = {"idTag": command.id_token}
            _set(payload, "connectorId", command.connector or None)
            if command.profile is not None:
                payload["chargingProfile"] = _profile_payload(command.profile)
            return WireCall("RemoteStartTransaction", payload)
        case neutral.RemoteStop(transaction_id=transaction_id):
            return WireCall("RemoteStopTransaction", {"transactionId": transaction_id})
        case neutral.ChangeAvailability():
            return WireCall(
                "ChangeAvailability",
                {"connectorId": command.connector, "type": str(command.availability)},
            )
        case neutral.SetChargingProfile():
            return WireCall(
                "SetChargingProfile",
                {
                    "connectorId": command.connector,
                    "csChargingProfiles": _profile_payload(command.profile),
                },
            )
        case neutral.ClearChargingProfile():
            payload = {}
            _set(payload, "id", command.profile_id)
            _set(payload, "connectorId", command.connector)
            _set(payload, "chargingProfilePurpose", command.purpose)
            _set(payload, "stackLevel", command.stack_level)
            return WireCall("ClearChargingProfile", payload)
        case neutral.GetConfiguration(keys=keys):
            return WireCall("GetConfiguration", {"key": list(keys)} if keys else {})
        case neutral.ChangeConfiguration(key=key, value=value):
            return WireCall("ChangeConfiguration", {"key": key, "value": value})
        case neutral.UpdateFirmware() if command.signature:
            # 1.6 security whitepaper L01, SignedUpdateFirmware.req: the image
            # as a FirmwareType with its signing certificate and signature.
            firmware = {
                "location": command.location,
                "retrieveDateTime": _time(command.retrieve_at),
                "signingCertificate": command.signing_certificate,
                "signature": command.signature,
            }
            payload = {"requestId": _request_id(), "firmware": firmware}
            _set(payload, "retries", command.retries)
            _set(payload, "retryInterval", command.retry_interval_s)
            return WireCall("SignedUpdateFirmware", payload)
        case neutral.UpdateFirmware():
            payload = {
                "location": command.location,
                "retrieveDate": _time(command.retrieve_at),
            }
            _set(payload, "retries", command.retries)
            _set(payload, "retryInterval", command.retry_interval_s)
            return WireCall("UpdateFirmware", payload)
        case neutral.GetDiagnostics():
            payload = {"location": command.location}
            if command.start_time is not None:
                payload["startTime"] = _time(command.start_time)
            if command.stop_time is not None:
                payload["stopTime"] = _time(command.stop_time)
            _set(payload, "retries", command.retries)
            _set(payload, "retryInterval", command.retry_interval_s)
            return WireCall("GetDiagnostics", payload)
        case neutral.ReserveNow():
            payload = {
                "connectorId": command.connector,
                "expiryDate": _time(command.expires_at),
                "idTag": command.id_token,
                "reservationId": command.reservation_id,
            }
            _set(payload, "parentIdTag", command.parent_id_token)
            return WireCall("ReserveNow", payload)
        case neutral.CancelReservation(reservation_id=reservation_id):
            return WireCall("CancelReservation", {"reservationId": reservation_id})
        case neutral.SendLocalList():
            return WireCall(
                "SendLocalList",
                {
                    "listVersion": command.version,
                    "updateType": str(command.update),
                    "localAuthorizationList": [
                        _local_list_entry(entry) for entry in command.entries
                    ],
                },
            )
        case neutral.GetLocalListVersion():
            return WireCall("GetLocalListVersion", {})
        case neutral.ClearCache():
            return WireCall("ClearCache", {})
        case neutral.TriggerMessage():
            payload = {"requestedMessage": command.message}
            _set(payload, "connectorId", command.connector)
            return WireCall("TriggerMessage", payload)
        case neutral.DataTransfer():
            payload = {"vendorId": command.vendor_id}
            _set(payload, "messageId", command.message_id)
            _set(payload, "data", command.data)
            return WireCall("DataTransfer", payload)
        case neutral.GetCompositeSchedule():
            payload = {"connectorId": command.connector, "duration": command.duration_s}
            _set(payload, "chargingRateUnit", command.rate_unit)
            return WireCall("GetCompositeSchedule", payload)
        case neutral.CertificateSigned(certificate_chain=chain):
            # 1.6 security whitepaper, CertificateSigned.req: the chain only
            # (a 1.6 charger has one client certificate, no certificateType).
            return WireCall("CertificateSigned", {"certificateChain": chain})
        case neutral.RenewCertificate():
            # 1.6 security whitepaper: ExtendedTriggerMessage.req with
            # SignChargePointCertificate makes the charger send SignCertificate.
            return WireCall(
                "ExtendedTriggerMessage",
                {"requestedMessage": "SignChargePointCertificate"},
            )
        case neutral.SetBasicAuthPassword(password=password):
            # 1.6 security whitepaper, configuration key AuthorizationKey:
            # write-only, the password hexadecimal-encoded.
            return WireCall(
                "ChangeConfiguration",
                {"key": AUTHORIZATION_KEY, "value": password.encode().hex()},
            )
        case neutral.CostUpdate():
            # OCPP 1.6 has no running-cost message (2.0.1 I02 added CostUpdated).
            raise CommandPayloadError(
                "OCPP 1.6 chargers have no CostUpdated message.", field="action"
            )
        case neutral.CustomerInformation():
            raise CommandPayloadError(
                "OCPP 1.6 chargers have no CustomerInformation message.",
                field="action",
            )
        case neutral.RawCall(action=action, payload=raw):
            return raw_call(action, raw)
    raise CommandPayloadError(f"{command!r} is not a command.", field="action")


def without_secrets(action: str, payload: Any) -> Any:
    """The CALL payload as it may be kept: AuthorizationKey's value replaced."""
    if (
        action == "ChangeConfiguration"
        and isinstance(payload, dict)
        and payload.get("key") == AUTHORIZATION_KEY
    ):
        return {**payload, "value": neutral.REDACTED}
    return payload


def call_for(command: neutral.Command) -> WireCall:
    """The 1.6 CALL of a neutral command, valid against the 1.6 schema."""
    call = _wire(command)
    try:
        validate(call.action, CALL, call.payload)
    except OCPPError as error:
        cause, wire_field = _cause(error)
        raise CommandPayloadError(
            f"{call.action}: {cause}", field=_neutral_field(call.action, wire_field)
        ) from None
    return call


# --- raw payload -> CALL -------------------------------------------------------------


def _fields_from_type_error(error: TypeError) -> list[str]:
    """``missing ... arguments: 'key' and 'value'`` -> ``["key", "value"]`` (wire names)."""
    match = re.search(r"arguments?:? (.*)$", str(error))
    names = re.findall(r"'(\w+)'", match.group(1)) if match else []
    return [str(snake_to_camel_case({name: None}).popitem()[0]) for name in names]


def _field_from_type_error(error: TypeError) -> str:
    """``missing ... argument: 'id_tag'`` -> ``idTag`` (the form/API field)."""
    fields = _fields_from_type_error(error)
    return fields[0] if fields else "payload"


def _type_error_text(name: str, error: TypeError) -> str:
    """The dataclass's complaint in a user's words: which field, what is wrong."""
    fields = _fields_from_type_error(error)
    listed = " and ".join(fields) or "a field"
    if "missing" in str(error):
        verb = "are" if len(fields) > 1 else "is"
        return f"{name}: {listed} {verb} required."
    if "unexpected keyword" in str(error):
        return f"{name}: {listed} is not a field of {name}."
    return f"{name}: the payload does not have the fields of {name}."


def raw_call(action: str, payload: Any, *, connector: int | None = None) -> WireCall:
    """Validate a raw 1.6 payload (camelCase or snake_case keys) for an action.

    ``connector`` (the CLI's ``--connector``) is the payload's ``connectorId``
    unless the payload names one.
    """
    name = action_name(action)
    if name not in CMS_ACTIONS:
        raise CommandPayloadError(
            f"“{action}” is not an OCPP 1.6 command a central system can send.",
            field="action",
        )
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise CommandPayloadError("The payload must be a JSON object.", field="payload")
    for wire_field, placeholder in _CMS_ASSIGNED.get(name, {}).items():
        if wire_field in snake_to_camel_case(payload):  # either spelling
            raise CommandPayloadError(
                f"{name}: the CMS assigns {wire_field} (its own record's number); "
                "leave it out.",
                field=wire_field,
            )
        payload = {**payload, wire_field: placeholder}
    payload = {**_RAW_DEFAULTS.get(name, {}), **payload}
    if connector is not None and "connector_id" not in payload:
        payload.setdefault("connectorId", connector)
    try:
        request = getattr(v16_call, name)(**camel_to_snake_case(payload))
    except TypeError as error:
        raise CommandPayloadError(
            _type_error_text(name, error), field=_field_from_type_error(error)
        ) from None
    camel = snake_to_camel_case(remove_nones(serialize_as_dict(request)))
    try:
        validate(name, CALL, camel)
    except OCPPError as error:
        cause, wire_field = _cause(error)
        # The schema validator names the payload "data" (``data.type must be ...``).
        cause = re.sub(r"^data\.", "", cause)
        # ``one of ['Hard', 'Soft']`` -> ``one of Hard, Soft``
        cause = re.sub(r"\[('[^\]]*')\]", lambda m: m.group(1).replace("'", ""), cause)
        raise CommandPayloadError(
            f"{name}: {cause}.".replace("..", "."), field=wire_field or "payload"
        ) from None
    return WireCall(name, camel)


def request_for(call: WireCall) -> Any:
    """The python-ocpp ``ocpp.v16.call.<Action>`` dataclass that sends ``call``."""
    return getattr(v16_call, call.action)(**camel_to_snake_case(call.payload))


# --- CALL -> neutral (raw input, stored audit rows) -----------------------------------


def _profile_of(data: dict[str, Any]) -> neutral.ChargingProfileSpec:
    schedule = data.get("chargingSchedule") or {}
    return neutral.ChargingProfileSpec(
        profile_id=int(data.get("chargingProfileId", 0)),
        stack_level=int(data.get("stackLevel", 0)),
        purpose=str(data.get("chargingProfilePurpose", "")),
        kind=str(data.get("chargingProfileKind", "")),
        rate_unit=str(schedule.get("chargingRateUnit", "")),
        periods=_periods_of(schedule),
        duration_s=schedule.get("duration"),
        start_schedule=_parse_time(schedule.get("startSchedule")),
        min_charging_rate=schedule.get("minChargingRate"),
        transaction_id=data.get("transactionId"),
        recurrency_kind=str(data.get("recurrencyKind", "")),
        valid_from=_parse_time(data.get("validFrom")),
        valid_to=_parse_time(data.get("validTo")),
    )


def command_of(action: str, payload: dict[str, Any]) -> neutral.Command:
    """Read a (validated or stored) 1.6 CALL as the neutral command it carries."""
    p = payload or {}
    match action:
        case "Reset":
            return neutral.Reset(kind=neutral.ResetKind(p.get("type", "Soft")))
        case "UnlockConnector":
            return neutral.UnlockConnector(connector=int(p["connectorId"]))
        case "RemoteStartTransaction":
            profile = p.get("chargingProfile")
            return neutral.RemoteStart(
                id_token=str(p["idTag"]),
                connector=p.get("connectorId"),
                profile=_profile_of(profile) if profile else None,
            )
        case "RemoteStopTransaction":
            return neutral.RemoteStop(transaction_id=int(p["transactionId"]))
        case "ChangeAvailability":
            return neutral.ChangeAvailability(
                connector=int(p["connectorId"]),
                availability=neutral.Availability(p["type"]),
            )
        case "SetChargingProfile":
            return neutral.SetChargingProfile(
                connector=int(p["connectorId"]),
                profile=_profile_of(p["csChargingProfiles"]),
            )
        case "ClearChargingProfile":
            return neutral.ClearChargingProfile(
                profile_id=p.get("id"),
                connector=p.get("connectorId"),
                purpose=str(p.get("chargingProfilePurpose", "")),
                stack_level=p.get("stackLevel"),
            )
        case "GetConfiguration":
            return neutral.GetConfiguration(keys=tuple(p.get("key") or ()))
        case "ChangeConfiguration" if p.get("key") == AUTHORIZATION_KEY:
            try:
                password = bytes.fromhex(str(p.get("value", ""))).decode()
            except ValueError:
                password = ""
            return neutral.SetBasicAuthPassword(password=password)
        case "ExtendedTriggerMessage" if (
            p.get("requestedMessage") == "SignChargePointCertificate"
        ):
            return neutral.RenewCertificate()
        case "CertificateSigned":
            return neutral.CertificateSigned(
                certificate_chain=str(p.get("certificateChain", ""))
            )
        case "ChangeConfiguration":
            return neutral.ChangeConfiguration(
                key=str(p.get("key", "")), value=str(p.get("value", ""))
            )
        case "UpdateFirmware":
            return neutral.UpdateFirmware(
                location=str(p["location"]),
                retrieve_at=_required_time(p.get("retrieveDate")),
                retries=p.get("retries"),
                retry_interval_s=p.get("retryInterval"),
            )
        case "SignedUpdateFirmware":
            firmware = p.get("firmware") or {}
            return neutral.UpdateFirmware(
                location=str(firmware["location"]),
                retrieve_at=_required_time(firmware.get("retrieveDateTime")),
                retries=p.get("retries"),
                retry_interval_s=p.get("retryInterval"),
                signing_certificate=str(firmware.get("signingCertificate", "")),
                signature=str(firmware.get("signature", "")),
            )
        case "GetDiagnostics":
            return neutral.GetDiagnostics(
                location=str(p["location"]),
                start_time=_parse_time(p.get("startTime")),
                stop_time=_parse_time(p.get("stopTime")),
                retries=p.get("retries"),
                retry_interval_s=p.get("retryInterval"),
            )
        case "ReserveNow":
            return neutral.ReserveNow(
                reservation_id=int(p.get("reservationId", 0)),
                connector=int(p["connectorId"]),
                id_token=str(p["idTag"]),
                expires_at=_required_time(p.get("expiryDate")),
                parent_id_token=str(p.get("parentIdTag", "")),
            )
        case "CancelReservation":
            return neutral.CancelReservation(reservation_id=int(p["reservationId"]))
        case "SendLocalList":
            return neutral.SendLocalList(
                version=int(p.get("listVersion", 0)),
                update=neutral.LocalListUpdate(p.get("updateType", "Full")),
                entries=tuple(
                    neutral.LocalListEntry(
                        id_token=str(entry["idTag"]),
                        status=(entry.get("idTagInfo") or {}).get("status"),
                        expires_at=_parse_time(
                            (entry.get("idTagInfo") or {}).get("expiryDate")
                        ),
                        parent_id_token=str(
                            (entry.get("idTagInfo") or {}).get("parentIdTag", "")
                        ),
                    )
                    for entry in p.get("localAuthorizationList") or []
                ),
            )
        case "GetLocalListVersion":
            return neutral.GetLocalListVersion()
        case "ClearCache":
            return neutral.ClearCache()
        case "TriggerMessage":
            return neutral.TriggerMessage(
                message=str(p["requestedMessage"]), connector=p.get("connectorId")
            )
        case "DataTransfer":
            return neutral.DataTransfer(
                vendor_id=str(p["vendorId"]),
                message_id=str(p.get("messageId", "")),
                data=str(p.get("data", "")),
            )
        case "GetCompositeSchedule":
            return neutral.GetCompositeSchedule(
                connector=int(p["connectorId"]),
                duration_s=int(p["duration"]),
                rate_unit=str(p.get("chargingRateUnit", "")),
            )
    return neutral.RawCall(action=action, payload=dict(p))


# --- CALLRESULT -> neutral answer ----------------------------------------------------


def _fact(action: str, answer: dict[str, Any]) -> neutral.Fact | None:
    if action == "GetConfiguration":
        return neutral.ConfigurationRead(
            entries=tuple(
                neutral.ConfigurationEntry(
                    key=str(item.get("key", "")),
                    value=item.get("value"),
                    is_readonly=bool(item.get("readonly", False)),
                )
                for item in answer.get("configurationKey") or []
                if isinstance(item, dict)
            ),
            unknown_keys=tuple(str(key) for key in answer.get("unknownKey") or []),
        )
    if action == "GetLocalListVersion" and isinstance(answer.get("listVersion"), int):
        return neutral.LocalListVersion(version=answer["listVersion"])
    if action == "GetDiagnostics":
        return neutral.DiagnosticsFile(file_name=str(answer.get("fileName") or ""))
    schedule = answer.get("chargingSchedule")
    if action == "GetCompositeSchedule" and isinstance(schedule, dict):
        return neutral.CompositeSchedule(
            connector=answer.get("connectorId"),
            start=_parse_time(answer.get("scheduleStart")),
            rate_unit=str(schedule.get("chargingRateUnit", "")),
            periods=_periods_of(schedule),
            duration_s=schedule.get("duration"),
        )
    return None


def answer_of(action: str, payload: Any) -> neutral.Answer:
    """Read a charger's CALLRESULT payload (stored on the audit row)."""
    answer = payload if isinstance(payload, dict) else {}
    status = answer.get("status")
    charger_status = str(status) if status is not None else ""
    return neutral.Answer(
        charger_status=charger_status,
        # No status (e.g. GetConfiguration): an answer is success.
        is_accepted=status is None or charger_status in _ACCEPTED_ANSWERS,
        is_rejected=charger_status in _REJECTED_ANSWERS,
        fact=_fact(action, answer),
    )


def answer_error(action: str, payload: Any) -> OCPPError | None:
    """Why a CALLRESULT payload is not a valid answer to ``action``, or None."""
    try:
        validate(action, CALLRESULT, payload)
    except OCPPError as error:
        return error
    return None
