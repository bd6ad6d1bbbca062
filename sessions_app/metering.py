"""Parse and interpret OCPP 1.6 MeterValues: pure functions, no database.

A ``meterValue`` list holds entries ``{"timestamp", "sampledValue": [...]}``; each
sampledValue has ``value`` plus optional ``context``, ``format``, ``measurand``,
``phase``, ``location`` and ``unit`` (OCPP 1.6 §7.45 SampledValue). Keys are
accepted in camelCase (the wire format) and snake_case (python-ocpp's).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DEFAULT_MEASURAND = "Energy.Active.Import.Register"
ENERGY_REGISTER = "Energy.Active.Import.Register"
ENERGY_INTERVAL = "Energy.Active.Import.Interval"
POWER_ACTIVE_IMPORT = "Power.Active.Import"
STATE_OF_CHARGE = "SoC"
SIGNED_DATA = "SignedData"

# Kilo units are stored in their base unit (Wh, W, varh, var, VA).
_UNIT_SCALE = {
    "kWh": 1000.0,
    "kW": 1000.0,
    "kvarh": 1000.0,
    "kvar": 1000.0,
    "kVA": 1000.0,
}
# "L1-N" is the L1 line measured against neutral: still the L1 share of the total.
_PHASE_LINE = {
    "L1": "L1",
    "L2": "L2",
    "L3": "L3",
    "L1-N": "L1",
    "L2-N": "L2",
    "L3-N": "L3",
}
_PREFERRED_LOCATIONS = ("", "Outlet")


@dataclass(frozen=True)
class Sample:
    """One sampledValue, normalized."""

    timestamp: datetime
    measurand: str
    phase: str
    location: str
    unit: str
    context: str
    value_format: str
    raw_value: str
    value: float | None


def _field(data: Mapping[str, Any], camel: str, snake: str) -> Any:
    return data[camel] if camel in data else data.get(snake)


def parse_timestamp(value: Any, *, default: datetime) -> datetime:
    """Return an aware UTC datetime from an OCPP dateTime, or ``default``."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return default
    else:
        return default
    if (
        parsed.tzinfo is None
    ):  # OCPP requires UTC; a charger omitting the zone means UTC
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def normalize_value(raw_value: str, *, unit: str, value_format: str) -> float | None:
    """Return the numeric value in base units, or None (signed or not a number)."""
    if value_format == SIGNED_DATA:
        return None
    try:
        number = float(raw_value)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return number * _UNIT_SCALE.get(unit, 1.0)


def _text(value: Any, max_length: int) -> str:
    return "" if value is None else str(value)[:max_length]


def parse_meter_values(
    meter_value: Iterable[Mapping[str, Any]], *, received_at: datetime
) -> list[Sample]:
    """Flatten a ``meterValue`` list into normalized samples, in message order."""
    samples: list[Sample] = []
    for entry in meter_value or ():
        timestamp = parse_timestamp(entry.get("timestamp"), default=received_at)
        sampled_values = _field(entry, "sampledValue", "sampled_value") or ()
        for sampled in sampled_values:
            raw_value = "" if sampled.get("value") is None else str(sampled["value"])
            unit = _text(sampled.get("unit"), 12)
            value_format = _text(sampled.get("format"), 12)
            samples.append(
                Sample(
                    timestamp=timestamp,
                    measurand=_text(sampled.get("measurand"), 60) or DEFAULT_MEASURAND,
                    phase=_text(sampled.get("phase"), 8),
                    location=_text(sampled.get("location"), 8),
                    unit=unit,
                    context=_text(sampled.get("context"), 30),
                    value_format=value_format,
                    raw_value=raw_value,
                    value=normalize_value(
                        raw_value, unit=unit, value_format=value_format
                    ),
                )
            )
    return samples


def pick_quantity(samples: Iterable[Sample], measurand: str) -> float | None:
    """Return the total of ``measurand`` among samples of one instant.

    A phase-less reading at the outlet (or with no location) wins, then any
    phase-less reading, then the sum of the per-phase L1..L3 readings.
    """
    candidates = [
        s for s in samples if s.measurand == measurand and s.value is not None
    ]
    if not candidates:
        return None
    totals = [s for s in candidates if not s.phase]
    for sample in totals:
        if sample.location in _PREFERRED_LOCATIONS:
            return sample.value
    if totals:
        return totals[0].value
    per_line: dict[str, float] = {}
    for preferred_only in (True, False):
        for sample in candidates:
            line = _PHASE_LINE.get(sample.phase)
            if line is None or line in per_line:
                continue
            if preferred_only and sample.location not in _PREFERRED_LOCATIONS:
                continue
            per_line[line] = sample.value  # type: ignore[assignment]  # candidates carry a value
        if per_line:
            break
    return sum(per_line.values()) if per_line else None


def samples_by_instant(
    samples: Iterable[Sample],
) -> list[tuple[datetime, list[Sample]]]:
    """Group samples by their timestamp, oldest first."""
    grouped: dict[datetime, list[Sample]] = {}
    for sample in samples:
        grouped.setdefault(sample.timestamp, []).append(sample)
    return sorted(grouped.items(), key=lambda item: item[0])
