"""OCPP 2.0.1 payload parts read into neutral facts and neutral values written back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from stations.facts import (
    DEFAULT_MEASURAND,
    Authorization,
    DeviceVariable,
    Sample,
    TransactionUpdate,
    normalized_value,
)
from stations.ocpp.protocol import parse_ocpp_datetime
from stations.ocpp.v16.wire import parse_timestamp, text

NO_ERROR = "NoError"
# G01 ConnectorStatusEnumType -> the status our connectors keep (1.6's words).
# Occupied says only "not free": the transaction's charging state (below)
# tells Preparing, Charging or Suspended once a transaction runs.
_CONNECTOR_STATUS = {
    "Available": "Available",
    "Occupied": "Preparing",
    "Reserved": "Reserved",
    "Unavailable": "Unavailable",
    "Faulted": "Faulted",
}
# §3.14 ChargingStateEnumType -> our status; Idle (no energy transfer possible
# yet or any more) leaves the status to StatusNotification.
_CHARGING_STATE_STATUS = {
    "Charging": "Charging",
    "EVConnected": "Preparing",
    "SuspendedEV": "SuspendedEV",
    "SuspendedEVSE": "SuspendedEVSE",
}
# §2.27 IdTokenType.type that carries no identifier of a driver.
_NO_AUTHORIZATION = "NoAuthorization"
# The type a group token is sent with (§2.28 IdTokenInfoType.groupIdToken):
# our group tokens are the CMS's own identifiers.
GROUP_ID_KIND = "Central"


def connector_status(status: str) -> str:
    return _CONNECTOR_STATUS.get(status, "Unknown")


def status_of_charging_state(charging_state: str) -> str:
    return _CHARGING_STATE_STATUS.get(charging_state, "")


def id_token_of(id_token: Mapping[str, Any] | None) -> str:
    """The identifier of an IdTokenType, "" for none (type NoAuthorization)."""
    if not id_token or id_token.get("type") == _NO_AUTHORIZATION:
        return ""
    return str(id_token.get("idToken") or "")


def id_token_info(auth: Authorization) -> dict[str, Any]:
    """The IdTokenInfoType (§2.28) of an authorization, snake_case for python-ocpp."""
    info: dict[str, Any] = {"status": auth.status}
    if auth.expires_at is not None:
        info["cache_expiry_date_time"] = auth.expires_at.isoformat()
    if auth.group_token is not None:
        info["group_id_token"] = {
            "id_token": auth.group_token,
            "type": GROUP_ID_KIND,
        }
    return info


def samples_of(
    meter_value: Iterable[Mapping[str, Any]] | None, *, received_at: datetime
) -> list[Sample]:
    """Flatten MeterValueType entries (§2.33) into normalized samples.

    A SampledValueType's value is a number; its unit and power of ten are in
    ``unitOfMeasure`` (§2.51: unit defaults to "Wh", multiplier to 0).
    """
    samples: list[Sample] = []
    for entry in meter_value or ():
        timestamp = parse_timestamp(entry.get("timestamp"), default=received_at)
        for sampled in entry.get("sampledValue") or ():
            unit_of_measure = sampled.get("unitOfMeasure") or {}
            unit = text(unit_of_measure.get("unit") or "Wh", 12)
            multiplier = int(unit_of_measure.get("multiplier") or 0)
            raw_value = "" if sampled.get("value") is None else str(sampled["value"])
            samples.append(
                Sample(
                    timestamp=timestamp,
                    measurand=text(sampled.get("measurand"), 60) or DEFAULT_MEASURAND,
                    phase=text(sampled.get("phase"), 8),
                    location=text(sampled.get("location"), 8),
                    unit=unit,
                    context=text(sampled.get("context"), 30),
                    value_format="",
                    raw_value=raw_value,
                    value=normalized_value(
                        raw_value, unit=unit, value_format="", multiplier=multiplier
                    ),
                )
            )
    return samples


def transaction_update(
    payload: Mapping[str, Any], *, charge_point_id: int, received_at: datetime
) -> TransactionUpdate:
    """A TransactionEventRequest (E01-E15) as the neutral update of its session."""
    info = payload["transactionInfo"]
    evse = payload.get("evse") or {}
    return TransactionUpdate(
        charge_point_id=charge_point_id,
        charger_transaction_id=info["transactionId"],
        event=payload["eventType"],
        at=parse_ocpp_datetime(payload["timestamp"]),
        seq_no=payload["seqNo"],
        trigger_reason=payload["triggerReason"],
        connector_number=int(evse.get("id") or 0),
        id_token=id_token_of(payload.get("idToken")) or None,
        offline=bool(payload.get("offline", False)),
        charging_state=info.get("chargingState") or "",
        stopped_reason=info.get("stoppedReason") or "",
        remote_start_id=info.get("remoteStartId"),
        reservation_id=payload.get("reservationId"),
        samples=tuple(samples_of(payload.get("meterValue"), received_at=received_at)),
        record=dict(payload),
    )


@dataclass(frozen=True)
class Fault:
    connector_number: int
    at: datetime
    error_code: str
    info: str
    vendor_error_code: str


def _is_fault(event: Mapping[str, Any]) -> bool:
    # Appendix 3 (standardized components): a component's Problem variable is
    # true while it has a problem; AvailabilityState Faulted says the same.
    if event.get("cleared"):
        return False
    variable = event["variable"]["name"]
    value = str(event.get("actualValue", "")).strip().lower()
    return (variable == "Problem" and value == "true") or (
        variable == "AvailabilityState" and value == "faulted"
    )


def faults_of(payload: Mapping[str, Any]) -> list[Fault]:
    """The faults a NotifyEventRequest (N07) reports, by EVSE."""
    faults = []
    for event in payload.get("eventData") or ():
        if not _is_fault(event):
            continue
        component = event["component"]
        evse = component.get("evse") or {}
        name = f"{component['name']}.{event['variable']['name']}"
        detail = event.get("techInfo") or event.get("techCode") or ""
        faults.append(
            Fault(
                connector_number=int(evse.get("id") or 0),
                at=parse_ocpp_datetime(event["timestamp"]),
                # 1.6's ChargePointErrorCode for a fault it has no word for;
                # the charger's own code is kept beside it.
                error_code="OtherError",
                info=f"{name}: {detail}"[:50] if detail else name[:50],
                vendor_error_code=text(event.get("techCode") or "", 50),
            )
        )
    return faults


def device_variables_of(payload: Mapping[str, Any]) -> list[DeviceVariable]:
    """The attributes a NotifyReportRequest (B07/B08) reports (ReportDataType, §2.45)."""
    found = []
    for report in payload.get("reportData") or ():
        component = report["component"]
        variable = report["variable"]
        evse = component.get("evse") or {}
        characteristics = report.get("variableCharacteristics") or {}
        for attribute in report.get("variableAttribute") or ():
            found.append(
                DeviceVariable(
                    component=text(component["name"], 50),
                    component_instance=text(component.get("instance"), 50),
                    evse=int(evse.get("id") or 0),
                    connector=int(evse.get("connectorId") or 0),
                    variable=text(variable["name"], 50),
                    variable_instance=text(variable.get("instance"), 50),
                    attribute_type=text(attribute.get("type") or "Actual", 10),
                    value=text(attribute.get("value"), 2500),
                    mutability=text(attribute.get("mutability"), 10),
                    data_type=text(characteristics.get("dataType"), 20),
                    unit=text(characteristics.get("unit"), 16),
                    values_list=text(characteristics.get("valuesList"), 1000),
                )
            )
    return found
