"""The portal search: sections registered per app, each scoped to the user.

A section finds one kind of thing (charge points, stations; sessions_app adds
id tokens and sessions from its ``ready()``) and renders its own list, so the
search page names no app above stations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db.models import Q

from accounts.http import AnyUser
from stations.selectors import charge_point_list_for_user, station_list_for_user

SEARCH_LIMIT = 20


@dataclass(frozen=True)
class SearchSection:
    """``find(user=, query=, network_ids=, limit=)`` returns at most ``limit`` items.

    Shown only to users holding ``permission``; ``template`` renders ``items``.
    """

    key: str
    permission: str
    find: Callable[..., list[Any]]
    template: str


_SECTIONS: dict[str, SearchSection] = {}


def search_section_register(section: SearchSection) -> None:
    """Add a section (a re-import replaces it under its key, keeping its place)."""
    _SECTIONS[section.key] = section


def search_sections() -> list[SearchSection]:
    return list(_SECTIONS.values())


def search_results(
    *, user: AnyUser, query: str, network_ids: Sequence[int]
) -> dict[str, list[Any]]:
    """Per section key, what ``query`` finds in the user's scope (empty: none)."""
    results: dict[str, list[Any]] = {key: [] for key in _SECTIONS}
    if not query:
        return results
    for section in _SECTIONS.values():
        if user.has_perm(section.permission):
            results[section.key] = section.find(
                user=user, query=query, network_ids=network_ids, limit=SEARCH_LIMIT
            )
    return results


def _charge_points(
    *, user: AnyUser, query: str, network_ids: Sequence[int], limit: int
) -> list[Any]:
    return list(
        charge_point_list_for_user(user=user)
        .filter(Q(ocpp_id__icontains=query) | Q(display_name__icontains=query))
        .order_by("ocpp_id")[:limit]
    )


def _stations(
    *, user: AnyUser, query: str, network_ids: Sequence[int], limit: int
) -> list[Any]:
    return list(
        station_list_for_user(user=user)
        .filter(name__icontains=query)
        .order_by("name")[:limit]
    )


search_section_register(
    SearchSection(
        key="charge_points",
        permission="stations.view_chargepoint",
        find=_charge_points,
        template="stations/search/charge_points.html",
    )
)
search_section_register(
    SearchSection(
        key="stations",
        permission="stations.view_station",
        find=_stations,
        template="stations/search/stations.html",
    )
)
