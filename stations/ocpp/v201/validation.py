"""OCPP 2.0.1 schema validation with compiled fastjsonschema validators.

The schemas are the OCA's JSON schemas that python-ocpp ships
(``ocpp/v201/schemas/<Action>Request.json`` and ``<Action>Response.json``),
compiled once. A violation is answered with the OCPP-J 2.0.1 CallError codes
(OCPP 2.0.1 Part 4 §4.3):

========================  ==============================
schema keyword            CallError
========================  ==============================
required                  OccurrenceConstraintViolation
type, maxLength           TypeConstraintViolation
enum, minimum, maximum    PropertyConstraintViolation
anything else             FormatViolation
========================  ==============================
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
    OccurrenceConstraintViolationError,
    OCPPError,
    PropertyConstraintViolationError,
    TypeConstraintViolationError,
)
from ocpp.exceptions import (
    NotImplementedError as OcppNotImplementedError,
)

from stations.ocpp.protocol import CALLRESULT, is_ocpp_datetime

SCHEMA_DIR = Path(ocpp.__file__).resolve().parent / "v201" / "schemas"
_CODE_FOR_RULE: dict[str, type[OCPPError]] = {
    "required": OccurrenceConstraintViolationError,
    "type": TypeConstraintViolationError,
    "maxLength": TypeConstraintViolationError,
    "enum": PropertyConstraintViolationError,
    "minimum": PropertyConstraintViolationError,
    "maximum": PropertyConstraintViolationError,
}


def schema_name(action: str, message_type: int) -> str:
    return f"{action}{'Response' if message_type == CALLRESULT else 'Request'}"


@cache
def _compiled(name: str) -> Any:
    path = SCHEMA_DIR / f"{name}.json"
    if "/" in name or "\\" in name or not path.is_file():
        return None
    schema = json.loads(path.read_text(encoding="utf-8-sig"))
    # The OCA schemas name draft-06 and carry an "$id" fastjsonschema would try
    # to resolve; their "$ref"s are all local ("#/definitions/...").
    schema.pop("$id", None)
    return fastjsonschema.compile(schema, formats={"date-time": is_ocpp_datetime})


def has_schema(action: str, message_type: int) -> bool:
    return _compiled(schema_name(action, message_type)) is not None


def validate(action: str, message_type: int, payload: Any) -> None:
    """Validate a CALL or CALLRESULT payload; raise the matching ``OCPPError``."""
    name = schema_name(action, message_type)
    validator = _compiled(name)
    if validator is None:
        raise OcppNotImplementedError(
            details={"cause": f"No OCPP 2.0.1 schema for {name}"}
        )
    try:
        validator(payload)
    except fastjsonschema.JsonSchemaValueException as error:
        error_class = _CODE_FOR_RULE.get(str(error.rule), FormatViolationError)
        name = str(error.name or "")
        field = (
            name[5:] if name.startswith("data.") else ("" if name == "data" else name)
        )
        raise error_class(details={"cause": error.message, "field": field}) from None
