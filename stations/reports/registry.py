"""The report registry: a report is one module that registers a ``Report``.

The index page, the report page, its CSV export and ``/api/v1/reports/<key>/``
all iterate this registry, so a new report needs no edit anywhere else. The
stations room registers its reports from ``StationsConfig.ready()``; a higher
app registers its own from its ``ready()`` (sessions_app: session histograms;
billing: revenue), which keeps the imports pointing down.

Reports that keep day rows beside the connector roll-ups (session histograms,
revenue) give ``day_rollups``; the roll-up run (``stations.reports.tasks``)
builds and updates them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import import_module
from typing import Any, Literal

from django.core.exceptions import PermissionDenied
from django.http import Http404

from accounts.http import AnyUser
from stations.reports.filters import REPORT_PERMISSION, reports_require
from stations.reports.models import ReportRollupState
from stations.reports.rows import ReportRow

Rows = Callable[..., list[ReportRow]]  # (*, user, filters) -> rows
Chart = dict[str, Any]


@dataclass(frozen=True)
class Column:
    """One CSV column (and table column) of a report: its name and its value."""

    name: str
    value: Callable[[ReportRow], Any]


def extra_columns(*names: str) -> tuple[Column, ...]:
    """Columns whose values are ``row.extra[name]`` (table reports)."""

    def extra(name: str) -> Callable[[ReportRow], Any]:
        return lambda row: row.extra[name]

    return tuple(Column(name, extra(name)) for name in names)


# The first two columns of most reports: the row's level and label.
LEVEL_AND_NAME = (
    Column("level", lambda row: row.level),
    Column("name", lambda row: row.label),
)


@dataclass(frozen=True)
class DayRollups:
    """Day rows a report keeps up to date during the roll-up run.

    ``build(state=, now=)`` writes them all (first run, after an upgrade);
    ``update(state=, since=)`` rewrites the days touched since the last run.
    Both must be safe to run twice.
    """

    build: Callable[..., None]
    update: Callable[..., None]


@dataclass(frozen=True)
class Report:
    """How a report is computed, shown, exported and served.

    ``api_kind``: ``"tally"`` answers the typed status/energy rows of
    ``ReportSerializer``; ``"table"`` answers the CSV columns as strings.
    ``permission`` is needed on top of ``REPORT_PERMISSION`` (the index hides
    the report, the page, CSV and API answer 403). ``chart`` / ``heatmap`` turn
    the rows into what the page draws; ``note`` explains the numbers in one
    paragraph, ``note_template`` (if given) renders it instead, and
    ``footer_template`` renders below the table.
    """

    key: str
    title: str
    rows: Rows
    columns: tuple[Column, ...]
    api_kind: Literal["tally", "table"] = "table"
    permission: str | None = None
    chart: Callable[[list[ReportRow]], Chart] | None = None
    heatmap: (
        Callable[[list[ReportRow]], list[tuple[str, list[dict[str, Any]]]]] | None
    ) = None
    note: str = ""
    note_template: str | None = None
    footer_template: str | None = None
    day_rollups: DayRollups | None = field(default=None, compare=False)

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    def values(self, row: ReportRow) -> list[Any]:
        """The row's cells in column order (the page table and the CSV line)."""
        return [column.value(row) for column in self.columns]

    def is_allowed(self, user: AnyUser) -> bool:
        """Whether ``user`` may see this report at all (scope is checked later)."""
        if getattr(user, "is_driver", False) or not user.has_perm(REPORT_PERMISSION):
            return False
        return self.permission is None or user.has_perm(self.permission)


_REPORTS: dict[str, Report] = {}
# The stations room's report modules, in the order the index lists them.
STATIONS_REPORT_MODULES = (
    "stations.reports.availability",
    "stations.reports.utilization",
    "stations.reports.energy",
    "stations.reports.peak_hours",
    "stations.reports.faults",
    "stations.reports.quirks",
    "stations.reliability.reports",
)


def stations_reports_load() -> None:
    """Import (and so register) the stations room's reports; from ``ready()``."""
    for name in STATIONS_REPORT_MODULES:
        import_module(name)


def report_register(report: Report) -> Report:
    """Add ``report`` (a re-import replaces it under the same key, keeping its place)."""
    _REPORTS[report.key] = report
    return report


def report_list() -> list[Report]:
    """Every registered report, in registration order."""
    return list(_REPORTS.values())


def report_get_for_user(*, user: AnyUser, key: str) -> Report:
    """The report ``key`` if ``user`` may open it: 404 unknown, 403 not allowed."""
    reports_require(user=user)
    report = _REPORTS.get(key)
    if report is None:
        raise Http404("No such report.")
    if not report.is_allowed(user):
        raise PermissionDenied("Your role does not allow this report.")
    return report


def report_list_for_user(*, user: AnyUser) -> list[Report]:
    """The reports ``user`` may open, in registration order."""
    return [report for report in _REPORTS.values() if report.is_allowed(user)]


def day_rollups_build(*, state: ReportRollupState, now: datetime) -> None:
    """First build of every report's day rows."""
    for report in _REPORTS.values():
        if report.day_rollups is not None:
            report.day_rollups.build(state=state, now=now)


def day_rollups_update(*, state: ReportRollupState, since: datetime) -> None:
    """Rewrite the day rows touched since ``since`` for every report that has them."""
    for report in _REPORTS.values():
        if report.day_rollups is not None:
            report.day_rollups.update(state=state, since=since)
