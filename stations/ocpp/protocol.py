"""OCPP-J 1.6 framing: datetimes, frame parsing and the CallError codes.

python-ocpp's ``unpack`` only logs a frame it cannot parse and answers nothing,
and it uses the OCPP 2.0.1 spelling ``FormatViolation``. The gateway parses
frames itself so that every malformed frame gets the OCPP-J 1.6 §4.2.3 answer:

=========================================  =============================
frame                                      CALLERROR code
=========================================  =============================
not JSON                                   FormationViolation (id "-1")
JSON but not an array, too short/long      ProtocolError
unknown MessageTypeId                      PropertyConstraintViolation
unique id not a string / too long          ProtocolError (a too long id
                                           is echoed whole: the charger
                                           matches the answer by it)
CALL action not a string / payload no obj  FormationViolation
=========================================  =============================

These follow python-ocpp's ``unpack`` (ProtocolError for a broken envelope,
PropertyConstraintViolation for an unknown MessageTypeId), spelled as in 1.6.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from ocpp.exceptions import OCPPError

CALL = 2
CALLRESULT = 3
CALLERROR = 4
INVALID = 0

# OCPP-J §4.1.4: "The message ID ... maximum of 36 characters".
UNIQUE_ID_MAX_LENGTH = 36
# Used when the frame's unique id cannot be read (OCPP-J 1.6 §4.2.3 leaves this
# open; "-1" is what most central systems send).
UNKNOWN_UNIQUE_ID = "-1"


class FormationViolationError(OCPPError):
    """OCPP 1.6 spelling (errata 5.2) of python-ocpp's ``FormatViolationError``."""

    code = "FormationViolation"
    default_description = (
        "Payload for Action is syntactically incorrect or not conform the PDU "
        "structure for Action"
    )


class FrameError(Exception):
    """A frame that must be answered with a CALLERROR (or dropped)."""

    def __init__(
        self, code: str, description: str, *, unique_id: str | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.unique_id = unique_id


@dataclass(frozen=True)
class Frame:
    message_type: int
    unique_id: str
    action: str = ""
    payload: Any = None
    error_code: str = ""
    error_description: str = ""
    error_details: Any = None


def _unique_id_of(message: list[Any]) -> str | None:
    # Echoed as sent, even over 36 characters: a shortened id matches no request
    # of the charger (OCPP-J 1.6 §4.2.3: the CALLERROR carries the CALL's id).
    if len(message) > 1 and isinstance(message[1], str):
        return message[1]
    return None


def parse_frame(text: str) -> tuple[Frame, Any]:
    """Parse one OCPP-J text frame; raise ``FrameError`` with the right code.

    Returns the frame and the decoded JSON (for the message log).
    """
    try:
        message = json.loads(text)
    except ValueError as error:
        raise FrameError(
            FormationViolationError.code, f"Frame is not valid JSON: {error}"
        ) from None
    if not isinstance(message, list):
        raise FrameError("ProtocolError", "Frame must be a JSON array")
    unique_id = _unique_id_of(message)
    if len(message) < 3:
        raise FrameError(
            "ProtocolError", "Frame has too few elements", unique_id=unique_id
        )
    message_type = message[0]
    if message_type not in (CALL, CALLRESULT, CALLERROR) or isinstance(
        message_type, bool
    ):
        raise FrameError(
            "PropertyConstraintViolation",
            f"MessageTypeId {message_type!r} is not valid",
            unique_id=unique_id,
        )
    raw_id = message[1]
    if not isinstance(raw_id, str) or not raw_id:
        raise FrameError("ProtocolError", "UniqueId must be a non-empty string")
    if len(raw_id) > UNIQUE_ID_MAX_LENGTH:
        raise FrameError(
            "ProtocolError",
            f"UniqueId longer than {UNIQUE_ID_MAX_LENGTH} characters",
            unique_id=unique_id,
        )
    if message_type == CALL:
        if len(message) != 4:
            raise FrameError(
                "ProtocolError", "CALL must have 4 elements", unique_id=raw_id
            )
        action, payload = message[2], message[3]
        if not isinstance(action, str) or not action:
            raise FrameError(
                FormationViolationError.code,
                "Action must be a string",
                unique_id=raw_id,
            )
        if not isinstance(payload, dict):
            raise FrameError(
                FormationViolationError.code,
                "Payload must be a JSON object",
                unique_id=raw_id,
            )
        return Frame(CALL, raw_id, action=action, payload=payload), message
    if message_type == CALLRESULT:
        if len(message) != 3:
            raise FrameError(
                "ProtocolError", "CALLRESULT must have 3 elements", unique_id=raw_id
            )
        return Frame(CALLRESULT, raw_id, payload=message[2]), message
    if len(message) != 5 or not isinstance(message[2], str):
        raise FrameError(
            "ProtocolError", "CALLERROR must have 5 elements", unique_id=raw_id
        )
    return (
        Frame(
            CALLERROR,
            raw_id,
            error_code=message[2],
            error_description=str(message[3]),
            error_details=message[4],
        ),
        message,
    )


def call_error_frame(
    unique_id: str, code: str, description: str, details: Any = None
) -> str:
    return json.dumps(
        [CALLERROR, unique_id, code, description[:255], details or {}],
        separators=(",", ":"),
    )


class TimestampError(OCPPError):
    code = "TypeConstraintViolation"
    default_description = "A timestamp is not a valid RFC 3339 date-time"


_DATETIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
    r"(Z|z|[+-]\d{2}:?\d{2})?$"
)


def ocpp_datetime_has_zone(value: str) -> bool:
    """Whether an OCPP timestamp names its zone (``Z`` or an offset)."""
    match = _DATETIME_RE.match(value) if isinstance(value, str) else None
    return match is not None and match.group(8) is not None


def parse_ocpp_datetime(value: str, *, naive_zone: tzinfo | None = None) -> datetime:
    """Return an aware UTC datetime for an OCPP timestamp.

    Accepts ``Z`` or a numeric offset and any number of fractional digits. A
    timestamp without offset is read as UTC: OCPP 1.6 requires UTC, and many
    chargers leave the ``Z`` out; ``naive_zone`` reads it in that zone instead
    (a vendor profile's). Anything else raises ``TimestampError`` (answered as
    TypeConstraintViolation).
    """
    match = _DATETIME_RE.match(value) if isinstance(value, str) else None
    if match is None:
        raise TimestampError(details={"cause": f"Not a date-time: {value!r}"})
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    microsecond = int((fraction or "0")[:6].ljust(6, "0"))
    text = f"{year}-{month}-{day}T{hour}:{minute}:{second}"
    if offset and offset not in ("Z", "z"):
        text += offset if ":" in offset else f"{offset[:3]}:{offset[3:]}"
    try:
        parsed = datetime.fromisoformat(text).replace(microsecond=microsecond)
    except ValueError:
        raise TimestampError(details={"cause": f"Not a date-time: {value!r}"}) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=naive_zone or UTC)
    return parsed.astimezone(UTC)


def is_ocpp_datetime(value: object) -> bool:
    """fastjsonschema ``date-time`` format check, same rules as the parser."""
    if not isinstance(value, str):
        return True
    try:
        parse_ocpp_datetime(value)
    except TimestampError:
        return False
    return True


def format_ocpp_datetime(value: datetime) -> str:
    """UTC with millisecond precision and ``Z``, as chargers expect."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
