"""The row every report returns: a level, a label, a tally and named values.

Status and energy reports (availability, utilization, energy, peak hours) fill
the ``tally``; table reports (faults, sessions, revenue and later ones) carry
their values in ``extra`` under the names of their CSV columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stations.reports.tallies import Tally


def percent(share: float | None) -> str:
    """A share as a percentage with two decimals; blank when nothing is known."""
    return "" if share is None else f"{share * 100:.2f}"


@dataclass
class ReportRow:
    level: str
    label: str
    tally: Tally
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def availability_pct(self) -> str:
        return percent(self.tally.availability)

    @property
    def occupied_pct(self) -> str:
        return percent(self.tally.occupied_share)

    @property
    def charging_pct(self) -> str:
        return percent(self.tally.charging_share)

    @property
    def known_hours(self) -> str:
        return f"{self.tally.known_s / 3600:.2f}"

    @property
    def downtime_hours(self) -> str:
        return f"{self.tally.downtime_s / 3600:.2f}"

    @property
    def energy_kwh(self) -> str:
        return f"{self.tally.energy_wh / 1000:.3f}"


_NO_TALLY = Tally()  # shared: table rows never read or change it


def table_row(level: str, label: str, **values: Any) -> ReportRow:
    """A row of a table report: its values under the CSV column names."""
    return ReportRow(level, label, _NO_TALLY, values)
