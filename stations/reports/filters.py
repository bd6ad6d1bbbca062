"""What a report covers: its query filters and the caller's stations in scope.

Every report needs ``stations.view_station`` (operations, support, finance and
administrators hold it; support sees the operational reports too because they
answer "is this charger down") and covers only the caller's networks. Dates are
station-local days.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied

from accounts.http import AnyUser
from stations.models import Connector, Station
from stations.reports.tallies import station_id_of
from stations.selectors import (
    network_get_for_user,
    station_get_for_user,
    station_list_for_user,
)

REPORT_PERMISSION = "stations.view_station"
MAX_RANGE_DAYS = 366


class ReportInputError(ValueError):
    """A bad filter value; ``field`` names the query parameter."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name


@dataclass(frozen=True)
class ReportFilters:
    date_from: date
    date_to: date
    network_id: int | None = None
    station_id: int | None = None

    @property
    def days(self) -> int:
        """Local days in the range, both ends included."""
        return (self.date_to - self.date_from).days + 1


def parse_filters(params: Mapping[str, Any], *, today: date) -> ReportFilters:
    """Filters from query parameters; a bad value raises ``ReportInputError``."""

    def _date(name: str, default: date) -> date:
        raw = (params.get(name) or "").strip()
        if not raw:
            return default
        try:
            return date.fromisoformat(raw)
        except ValueError:
            raise ReportInputError(name, "Enter a date as YYYY-MM-DD.") from None

    def _id(name: str) -> int | None:
        raw = (params.get(name) or "").strip()
        if not raw:
            return None
        if not raw.isdigit() or not 0 < int(raw) < 2**63:
            raise ReportInputError(name, "Enter a valid id.")
        return int(raw)

    date_to = _date("date_to", today)
    date_from = _date("date_from", date_to - timedelta(days=6))
    if date_from > date_to:
        raise ReportInputError("date_from", "The start must not be after the end.")
    if (date_to - date_from).days > MAX_RANGE_DAYS:
        raise ReportInputError("date_to", "Choose a range of at most 367 days.")
    return ReportFilters(date_from, date_to, _id("network"), _id("station"))


def reports_require(*, user: AnyUser, permission: str = REPORT_PERMISSION) -> None:
    """Raise ``PermissionDenied`` unless ``user`` is staff holding ``permission``."""
    if getattr(user, "is_driver", False) or not user.has_perm(permission):
        raise PermissionDenied("Your role does not allow reports.")


def report_stations_for_user(*, user: AnyUser, filters: ReportFilters) -> list[Station]:
    """Stations the report covers; 404 for a station or network outside the scope."""
    reports_require(user=user)
    stations = station_list_for_user(user=user).order_by("network__name", "name")
    if filters.station_id is not None:
        station = station_get_for_user(
            user=user, pk=filters.station_id, perm=REPORT_PERMISSION
        )
        stations = stations.filter(pk=station.pk)
    if filters.network_id is not None:
        network_get_for_user(user=user, pk=filters.network_id)
        stations = stations.filter(network_id=filters.network_id)
    return list(stations)


def local_range(station: Station, first: date, last: date) -> tuple[datetime, datetime]:
    """UTC bounds of the station-local days ``first``..``last`` (a DST day is 23/25 h)."""
    return zone_range(station.time_zone, first, last)


def zone_range(zone: str, first: date, last: date) -> tuple[datetime, datetime]:
    """UTC bounds of the local days ``first``..``last`` in ``zone`` (blank: UTC)."""
    tz = ZoneInfo(zone or "UTC")
    begin = datetime.combine(first, time(0), tz).astimezone(UTC)
    finish = datetime.combine(last + timedelta(days=1), time(0), tz).astimezone(UTC)
    return begin, finish


def connectors_by_station(stations: list[Station]) -> dict[int, list[Connector]]:
    """The connectors of ``stations`` (with their charge point) per station id."""
    by_station: dict[int, list[Connector]] = defaultdict(list)
    for connector in Connector.objects.filter(
        charge_point__station__in=stations
    ).select_related("charge_point"):
        by_station[station_id_of(connector.charge_point)].append(connector)
    return by_station


def stations_by_zone(stations: list[Station]) -> dict[str, list[Station]]:
    """``stations`` per time zone name (blank: UTC): reports query one zone at a time."""
    zones: dict[str, list[Station]] = defaultdict(list)
    for station in stations:
        zones[station.time_zone or "UTC"].append(station)
    return zones


def station_ids_by_range(
    stations: list[Station], filters: ReportFilters
) -> dict[tuple[datetime, datetime, str], list[int]]:
    """Station ids per (UTC range of the local dates, zone): one query per zone."""
    groups: dict[tuple[datetime, datetime, str], list[int]] = defaultdict(list)
    for station in stations:
        start, end = local_range(station, filters.date_from, filters.date_to)
        groups[(start, end, station.time_zone or "UTC")].append(station.pk)
    return groups
