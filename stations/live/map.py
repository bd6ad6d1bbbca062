"""The station map: every station of the user's scope with live availability.

The page draws the stations with coordinates on a Leaflet map (vendored in
static/vendor/leaflet/; the background tiles come from ``MAP_TILE_URL`` when one
is set, otherwise the markers stand on a plain background) and lists them with
an availability heat strip of the station's day. Its live socket is the
overview's (``/ws/live/?view=overview``): on a connector or connection event the
page reads ``map/data/`` again, so a marker's colour follows the chargers.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from accounts.http import AnyUser
from stations.live.selectors import OFFLINE, zone
from stations.models import Connector, ConnectorStatus, Station
from stations.reports.availability import availability_windows
from stations.selectors import network_list_for_user, station_list_for_user

MAP_PERMISSION = "stations.view_station"
STRIP_MINUTES = 60
PAGE_SIZE = 25

# How a connector's status counts on the map.
_OCCUPIED = frozenset(
    {
        ConnectorStatus.PREPARING,
        ConnectorStatus.CHARGING,
        ConnectorStatus.SUSPENDED_EV,
        ConnectorStatus.SUSPENDED_EVSE,
        ConnectorStatus.FINISHING,
        ConnectorStatus.RESERVED,
    }
)
_OUT_OF_ORDER = frozenset({ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE})


def availability_class(status: str) -> str:
    """available | occupied | out_of_order | offline | unknown."""
    if status == ConnectorStatus.AVAILABLE:
        return "available"
    if status in _OCCUPIED:
        return "occupied"
    if status in _OUT_OF_ORDER:
        return "out_of_order"
    if status == OFFLINE:
        return "offline"
    return "unknown"


@dataclass(frozen=True)
class MapStation:
    id: int
    name: str
    network: str
    address: str
    latitude: float
    longitude: float
    url: str
    available: int
    occupied: int
    out_of_order: int
    offline: int
    unknown: int

    @property
    def connectors(self) -> int:
        return (
            self.available
            + self.occupied
            + self.out_of_order
            + self.offline
            + self.unknown
        )

    @property
    def state(self) -> str:
        """The marker's colour: free if any connector is, else what most are."""
        if self.available:
            return "available"
        if not self.connectors:
            return "unknown"
        counts = {
            "occupied": self.occupied,
            "out_of_order": self.out_of_order,
            "offline": self.offline,
            "unknown": self.unknown,
        }
        return max(counts, key=lambda key: counts[key])

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "connectors": self.connectors, "state": self.state}


def _require(user: AnyUser) -> None:
    if not user.has_perm(MAP_PERMISSION):
        raise PermissionDenied("Your role does not allow viewing stations.")


def station_map_list(
    *, user: AnyUser, network_id: int | None = None
) -> list[MapStation]:
    """The user's stations that have coordinates, with their connectors' availability."""
    _require(user)
    stations = station_list_for_user(user=user).filter(
        latitude__isnull=False, longitude__isnull=False
    )
    if network_id is not None:
        stations = stations.filter(network_id=network_id)
    stations = stations.order_by("network__name", "name")
    counts: dict[int, Counter[str]] = {}
    connectors = Connector.objects.filter(
        charge_point__station__in=stations
    ).values_list("charge_point__station_id", "status", "charge_point__is_online")
    for station_id, status, is_online in connectors:
        # As the board shows it: a connector of an offline charger is Offline.
        effective = status if is_online else OFFLINE
        counts.setdefault(station_id, Counter())[availability_class(effective)] += 1
    result = []
    for station in stations:
        tally = counts.get(station.pk, Counter())
        result.append(
            MapStation(
                id=station.pk,
                name=station.name,
                network=station.network.name,
                address=", ".join(
                    part for part in (station.address, station.city) if part
                ),
                latitude=float(station.latitude or 0),
                longitude=float(station.longitude or 0),
                url=reverse("stations:station_detail", args=[station.pk]),
                available=tally["available"],
                occupied=tally["occupied"],
                out_of_order=tally["out_of_order"],
                offline=tally["offline"],
                unknown=tally["unknown"],
            )
        )
    return result


@dataclass(frozen=True)
class StripCell:
    label: str  # "14:00" in the station's zone
    availability: float | None  # share of the hour with a connector available


def availability_strip(*, user: AnyUser, station: Station) -> list[StripCell]:
    """Today's availability of ``station`` hour by hour, in the station's zone."""
    today = timezone.now().astimezone(zone(station.time_zone)).date()
    return [
        StripCell(moment.strftime("%H:%M"), availability)
        for moment, availability in availability_windows(
            user=user, station_id=station.pk, day=today, minutes=STRIP_MINUTES
        )
    ]


def _network_param(request: HttpRequest) -> int | None:
    value = request.GET.get("network", "")
    return int(value) if value.isdigit() else None


@login_required
def station_map(request: HttpRequest) -> HttpResponse:
    _require(request.user)
    network_id = _network_param(request)
    stations = station_list_for_user(user=request.user)
    if network_id is not None:
        stations = stations.filter(network_id=network_id)
    page = Paginator(stations.order_by("network__name", "name"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = [
        (station, availability_strip(user=request.user, station=station))
        for station in page.object_list
    ]
    data_url = reverse("stations:station_map_data")
    return render(
        request,
        "stations/station_map.html",
        {
            "page": page,
            "rows": rows,
            "networks": network_list_for_user(user=request.user),
            "network_id": network_id,
            "data_url": data_url
            + (f"?network={network_id}" if network_id is not None else ""),
            "live_path": "/ws/live/?view=overview"
            + (f"&network={network_id}" if network_id is not None else ""),
            "tile_url": settings.MAP_TILE_URL,
            "tile_attribution": settings.MAP_TILE_ATTRIBUTION,
            "now": timezone.now(),
        },
    )


@login_required
def station_map_data(request: HttpRequest) -> JsonResponse:
    stations = station_map_list(user=request.user, network_id=_network_param(request))
    return JsonResponse({"stations": [station.as_json() for station in stations]})
