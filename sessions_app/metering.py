"""Interpret meter samples: pure functions, no database.

The samples are version-neutral (``stations.facts.Sample``); the OCPP adapters
read them off the wire (``stations/ocpp/v16/wire.py``, ``stations/ocpp/v201/``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from stations.facts import (
    ENERGY_INTERVAL,
    ENERGY_REGISTER,
    POWER_ACTIVE_IMPORT,
    STATE_OF_CHARGE,
    Sample,
)

__all__ = [
    "ENERGY_INTERVAL",
    "ENERGY_REGISTER",
    "POWER_ACTIVE_IMPORT",
    "STATE_OF_CHARGE",
    "Sample",
    "pick_per_phase_mean",
    "pick_quantity",
    "samples_by_instant",
]

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


VOLTAGE = "Voltage"
CURRENT_IMPORT = "Current.Import"


def pick_per_phase_mean(samples: Iterable[Sample], measurand: str) -> float | None:
    """A phase-less reading of ``measurand``, else the mean of its L1..L3 readings.

    For voltage and current, where per-phase values do not add up to a total.
    """
    candidates = [
        s for s in samples if s.measurand == measurand and s.value is not None
    ]
    for sample in candidates:
        if not sample.phase:
            return sample.value
    per_line: dict[str, float] = {}
    for sample in candidates:
        line = _PHASE_LINE.get(sample.phase)
        if line is not None and sample.value is not None:
            per_line.setdefault(line, sample.value)
    return sum(per_line.values()) / len(per_line) if per_line else None


def samples_by_instant(
    samples: Iterable[Sample],
) -> list[tuple[datetime, list[Sample]]]:
    """Group samples by their timestamp, oldest first."""
    grouped: dict[datetime, list[Sample]] = {}
    for sample in samples:
        grouped.setdefault(sample.timestamp, []).append(sample)
    return sorted(grouped.items(), key=lambda item: item[0])
