"""Wire helpers every version's command mapping shares (OCPP-J field conventions).

Both 1.6 and 2.0.1 write times as RFC 3339 UTC, leave an absent optional field
out of the JSON object, number schedule periods in ``chargingSchedulePeriod``
with ``startPeriod``/``limit``/``numberPhases``, and carry a status in most
answers; python-ocpp's ``OCPPError.details`` carry the cause and the field.
"""

from __future__ import annotations

import itertools
import time
from datetime import UTC, datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from ocpp.exceptions import OCPPError

from stations.ocpp import commands as neutral

# requestId of the CALLs that carry one (2.0.1 UpdateFirmware, GetLog, ...;
# 1.6 whitepaper SignedUpdateFirmware): unique within a process.
_request_ids = itertools.count(int(time.time()) % 1_000_000)


def request_id() -> int:
    return next(_request_ids)


def wire_time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_wire_time(value: Any) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(str(value))
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def parse_required_wire_time(value: Any) -> datetime:
    """A stored CALL's required time; now when it does not read (an old row)."""
    return parse_wire_time(value) or datetime.now(tz=UTC)


def put_optional(payload: dict[str, Any], key: str, value: Any) -> None:
    """Put an optional field: None (and "") stay out of the CALL."""
    if value is not None and value != "":
        payload[key] = value


def error_cause(error: OCPPError) -> tuple[str, str]:
    """(cause, wire field) of a schema violation."""
    details = error.details if isinstance(error.details, dict) else {}
    return (
        str(details.get("cause") or error.description),
        str(details.get("field") or ""),
    )


def action_name(action: str) -> str:
    """``remote_start_transaction`` / ``RemoteStartTransaction`` -> ``RemoteStartTransaction``."""
    action = str(action or "").strip()
    if "_" in action or action[:1].islower():
        return "".join(part[:1].upper() + part[1:] for part in action.split("_"))
    return action


def schedule_periods(schedule: dict[str, Any]) -> tuple[neutral.SchedulePeriod, ...]:
    """The periods of a ``chargingSchedule`` object."""
    return tuple(
        neutral.SchedulePeriod(
            start_s=int(period.get("startPeriod", 0)),
            limit=float(period.get("limit", 0)),
            phases=period.get("numberPhases"),
        )
        for period in schedule.get("chargingSchedulePeriod") or []
    )
