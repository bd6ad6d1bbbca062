"""OCPP 1.6 schema validation with compiled fastjsonschema validators.

python-ocpp validates every message with ``jsonschema`` in the default thread
pool (``run_in_executor``), which costs a thread hop and an interpreted
validator per frame. The same schemas (the package's own ``ocpp/v16/schemas``)
compiled by fastjsonschema validate in-line for a fraction of that cost (see
``bench/ocpp_validation.py``). Errors map to the CallError codes python-ocpp
uses (``ocpp.messages._validate_payload``), spelled as OCPP 1.6 spells them:

======================  ===========================
schema keyword          CallError
======================  ===========================
type                    TypeConstraintViolation
maxLength               PropertyConstraintViolation
required                ProtocolError
anything else           FormationViolation
======================  ===========================

OCPP-J 1.6 §4.2.3 separates a field of the wrong data type
(TypeConstraintViolation: ``"somestring": 12``) from a field of the right type
whose value breaks a constraint (PropertyConstraintViolation): a string over its
CiString length is the latter (python-ocpp answers TypeConstraintViolation).

Three schemas use ``multipleOf: 0.1`` on floats, which binary floats fail
(21.4 / 0.1 != 214); those go through python-ocpp's Decimal-parsing validator.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
import ocpp
from ocpp.exceptions import (
    FormatViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    ProtocolError,
    TypeConstraintViolationError,
)
from ocpp.exceptions import (
    NotImplementedError as OcppNotImplementedError,
)
from ocpp.messages import Call, CallResult, _validate_payload

from stations.ocpp.protocol import (
    CALL,
    CALLRESULT,
    FormationViolationError,
    is_ocpp_datetime,
)

OCPP_VERSION = "1.6"  # python-ocpp's name for the schema set

SCHEMA_DIR = Path(ocpp.__file__).resolve().parent / "v16" / "schemas"
_DECIMAL_SCHEMAS = {
    "SetChargingProfile",
    "RemoteStartTransaction",
    "GetCompositeScheduleResponse",
}
_CODE_FOR_RULE: dict[str, type[OCPPError]] = {
    "type": TypeConstraintViolationError,
    "maxLength": PropertyConstraintViolationError,
    "required": ProtocolError,
}


# Where a CALL carries sampledValues (OCPP 1.6 §7.45 SampledValue): MeterValues'
# meterValue and StopTransaction's transactionData.
SAMPLED_VALUE_LISTS = {
    "MeterValues": "meterValue",
    "StopTransaction": "transactionData",
}


@cache
def _sampled_value_enums() -> dict[str, frozenset[str]]:
    schema = json.loads((SCHEMA_DIR / "MeterValues.json").read_text("utf-8-sig"))
    sampled = schema["properties"]["meterValue"]["items"]["properties"]
    fields = sampled["sampledValue"]["items"]["properties"]
    return {
        name: frozenset(spec["enum"]) for name, spec in fields.items() if "enum" in spec
    }


def sampled_value_oddity(sampled: Any) -> str:
    """Why a sampledValue is not one OCPP 1.6 defines ("" when it is).

    Only a string outside an enumeration counts (``"unit": "Furlong"``,
    ``"unit": "Wh "``, an unknown measurand): the reading is intact, only its
    label is unknown. A wrong type or a missing value is a broken frame.
    """
    if not isinstance(sampled, dict):
        return ""
    for name, allowed in _sampled_value_enums().items():
        value = sampled.get(name)
        if isinstance(value, str) and value not in allowed:
            return f"{name} {value!r} is not an OCPP 1.6 {name}"[:120]
    return ""


def _odd_fields(sampled: dict[str, Any]) -> set[str]:
    enums = _sampled_value_enums()
    return {
        name
        for name, value in sampled.items()
        if name in enums and isinstance(value, str) and value not in enums[name]
    }


def without_odd_sampled_values(action: str, payload: Any) -> tuple[Any, int]:
    """``payload`` without the odd labels of its sampledValues, and how many had one.

    The gateway validates this copy, so one odd label does not cost the frame's
    other readings (or a StopTransaction its stop); the odd ones are stored
    flagged (``wire.samples_of``). A charger in strict mode gets the whole
    payload validated instead.
    """
    key = SAMPLED_VALUE_LISTS.get(action)
    entries = payload.get(key) if key and isinstance(payload, dict) else None
    if not isinstance(entries, list):
        return payload, 0
    odd = 0
    cleaned_entries = []
    for entry in entries:
        values = entry.get("sampledValue") if isinstance(entry, dict) else None
        if not isinstance(values, list):
            cleaned_entries.append(entry)
            continue
        kept = []
        for value in values:
            if sampled_value_oddity(value):
                # Its odd labels are optional fields: validated without them.
                odd += 1
                value = {k: v for k, v in value.items() if k not in _odd_fields(value)}
            kept.append(value)
        cleaned_entries.append({**entry, "sampledValue": kept})
    if not odd:
        return payload, 0
    return {**payload, key: cleaned_entries}, odd


def schema_name(action: str, message_type: int) -> str:
    return f"{action}Response" if message_type == CALLRESULT else action


@cache
def _compiled(name: str) -> Any:
    path = SCHEMA_DIR / f"{name}.json"
    if not path.is_file() or "/" in name or "\\" in name:
        return None
    schema = json.loads(path.read_text(encoding="utf-8-sig"))
    return fastjsonschema.compile(schema, formats={"date-time": is_ocpp_datetime})


def has_schema(action: str, message_type: int = CALL) -> bool:
    return _compiled(schema_name(action, message_type)) is not None


def validate(action: str, message_type: int, payload: Any) -> None:
    """Validate a CALL or CALLRESULT payload; raise the matching ``OCPPError``."""
    name = schema_name(action, message_type)
    if name in _DECIMAL_SCHEMAS:
        _validate_with_python_ocpp(action, message_type, payload)
        return
    validator = _compiled(name)
    if validator is None:
        raise OcppNotImplementedError(
            details={"cause": f"No OCPP 1.6 schema for {name}"}
        )
    try:
        validator(payload)
    except fastjsonschema.JsonSchemaValueException as error:
        error_class = _CODE_FOR_RULE.get(str(error.rule), FormationViolationError)
        raise error_class(
            details={"cause": error.message, "field": _field_of(error)}
        ) from None


def _field_of(error: fastjsonschema.JsonSchemaValueException) -> str:
    """``data.meterValue[0].timestamp`` -> ``meterValue[0].timestamp``."""
    name = str(error.name or "")
    return name[5:] if name.startswith("data.") else ("" if name == "data" else name)


def _validate_with_python_ocpp(action: str, message_type: int, payload: Any) -> None:
    message: Call | CallResult
    if message_type == CALL:
        message = Call("validation", action, payload)
    else:
        message = CallResult("validation", payload, action=action)
    try:
        _validate_payload(message, OCPP_VERSION)
    except FormatViolationError as error:
        raise FormationViolationError(details=error.details) from None
