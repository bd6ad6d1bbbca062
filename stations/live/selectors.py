"""Read-side aggregates for the portal: overview figures, board rows, utilization.

Everything here starts from a scoped queryset of ``stations.selectors`` and runs
a small, fixed number of queries however many connectors there are.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.utils import timezone

from sessions_app.models import ChargingSession, MeterValue, SessionStatus
from stations.models import (
    ChargePoint,
    Connector,
    ConnectorStatus,
    Network,
    Station,
    StatusChange,
)

OFFLINE = "Offline"
# The order the overview shows; Unknown only appears when a connector has it.
OVERVIEW_STATUSES: tuple[str, ...] = (
    ConnectorStatus.AVAILABLE,
    ConnectorStatus.PREPARING,
    ConnectorStatus.CHARGING,
    ConnectorStatus.SUSPENDED_EV,
    ConnectorStatus.SUSPENDED_EVSE,
    ConnectorStatus.FINISHING,
    ConnectorStatus.RESERVED,
    ConnectorStatus.UNAVAILABLE,
    ConnectorStatus.FAULTED,
    OFFLINE,
)
STATUS_CHOICES: tuple[str, ...] = (*OVERVIEW_STATUSES, ConnectorStatus.UNKNOWN)
# Out of service for availability: the connector could not serve a driver now.
OUT_OF_SERVICE = frozenset(
    {ConnectorStatus.UNAVAILABLE, ConnectorStatus.FAULTED, OFFLINE}
)
# A vehicle is plugged in (OCPP 1.6 §4.9 states between Preparing and Finishing).
OCCUPIED = frozenset(
    {
        ConnectorStatus.PREPARING,
        ConnectorStatus.CHARGING,
        ConnectorStatus.SUSPENDED_EV,
        ConnectorStatus.SUSPENDED_EVSE,
        ConnectorStatus.FINISHING,
    }
)

UTC = zoneinfo.ZoneInfo("UTC")


def zone(name: str | None) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name) if name else UTC
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


def with_effective_status(connectors: QuerySet[Connector]) -> QuerySet[Connector]:
    """Annotate ``effective_status``: the reported status, or Offline when the charger is."""
    return connectors.annotate(
        effective_status=Case(
            When(charge_point__is_online=False, then=Value(OFFLINE)),
            default=F("status"),
            output_field=CharField(),
        )
    )


def effective_status(connector: Connector) -> str:
    annotated = getattr(connector, "effective_status", None)
    if annotated is not None:
        return str(annotated)
    return OFFLINE if not connector.charge_point.is_online else connector.status


@dataclass
class StatusCount:
    status: str
    count: int


@dataclass
class NetworkOverview:
    status_counts: list[StatusCount]
    connectors_total: int
    connectors_available: int
    availability_percent: Decimal | None
    active_sessions: int
    power_now_kw: Decimal
    energy_today_kwh: Decimal
    charge_points_total: int
    charge_points_offline: int
    open_alerts: int | None = None
    networks: list[Network] = field(default_factory=list)


def _start_of_today(network: Network, now: dt.datetime) -> dt.datetime:
    local_now = now.astimezone(zone(network.time_zone))
    return local_now.replace(hour=0, minute=0, second=0, microsecond=0)


# Alerts sit above stations: the alerts app registers how to count its open
# alerts (``AlertsConfig.ready()``) instead of this module reaching up into it.
_open_alert_counters: list[Callable[..., int]] = []


def open_alert_counter_register(counter: Callable[..., int]) -> None:
    """Let ``counter(network_ids=...)`` answer the overview's open-alert figure."""
    _open_alert_counters[:] = [counter]


def open_alert_count(*, network_ids: Sequence[int]) -> int | None:
    """Alerts not yet resolved, or None where no alerts app registered a counter."""
    if not _open_alert_counters:
        return None
    return _open_alert_counters[0](network_ids=network_ids)


def network_overview(
    *,
    networks: Sequence[Network],
    now: dt.datetime | None = None,
    include_alerts: bool = False,
) -> NetworkOverview:
    """Figures for the landing page over ``networks`` (already scoped by the caller)."""
    now = now or timezone.now()
    network_ids = [network.pk for network in networks]
    connectors = with_effective_status(
        Connector.objects.filter(charge_point__station__network_id__in=network_ids)
    )
    counts = {
        row["effective_status"]: row["n"]
        for row in connectors.order_by()
        # ``effective_status`` is with_effective_status()'s annotation, which the
        # ORM plugin cannot see through the helper.
        .values("effective_status")  # type: ignore[misc]
        .annotate(n=Count("pk"))
    }
    total = sum(counts.values())
    status_counts = [StatusCount(s, counts.get(s, 0)) for s in OVERVIEW_STATUSES]
    if counts.get(ConnectorStatus.UNKNOWN):
        status_counts.append(
            StatusCount(ConnectorStatus.UNKNOWN, counts[ConnectorStatus.UNKNOWN])
        )
    in_service = total - sum(counts.get(s, 0) for s in OUT_OF_SERVICE)
    availability = (
        (Decimal(in_service) * 100 / Decimal(total)).quantize(Decimal("0.1"))
        if total
        else None
    )

    sessions_in_scope = ChargingSession.objects.filter(
        charge_point__station__network_id__in=network_ids
    )
    active = sessions_in_scope.filter(status=SessionStatus.ACTIVE).aggregate(
        n=Count("pk"), power_w=Sum("power_w")
    )
    # "Today" is each network's own calendar day.
    today = Q(pk__in=[])
    for network in networks:
        today |= Q(
            charge_point__station__network_id=network.pk,
            started_at__gte=_start_of_today(network, now),
        )
    energy_wh = (
        sessions_in_scope.filter(today)
        .exclude(status=SessionStatus.REJECTED)
        .aggregate(wh=Sum("energy_wh"))["wh"]
        or 0
    )
    charge_points = ChargePoint.objects.filter(
        station__network_id__in=network_ids
    ).aggregate(n=Count("pk"), offline=Count("pk", filter=Q(is_online=False)))
    return NetworkOverview(
        status_counts=status_counts,
        connectors_total=total,
        connectors_available=counts.get(ConnectorStatus.AVAILABLE, 0),
        availability_percent=availability,
        active_sessions=active["n"] or 0,
        power_now_kw=(Decimal(str(active["power_w"] or 0)) / 1000).quantize(
            Decimal("0.01")
        ),
        energy_today_kwh=(Decimal(energy_wh) / 1000).quantize(Decimal("0.01")),
        charge_points_total=charge_points["n"] or 0,
        charge_points_offline=charge_points["offline"] or 0,
        open_alerts=open_alert_count(network_ids=network_ids)
        if include_alerts
        else None,
        networks=list(networks),
    )


@dataclass
class ConnectorRow:
    """One connector as the live board, station and charge point pages show it."""

    connector: Connector
    status: str
    session: ChargingSession | None
    time_zone: str

    @property
    def pk(self) -> int:
        return int(self.connector.pk)


def connector_rows(connectors: Iterable[Connector]) -> list[ConnectorRow]:
    """Rows for connectors (with charge_point and station loaded): one query for sessions."""
    connectors = list(connectors)
    charge_point_ids = {c.charge_point_id for c in connectors}
    sessions: dict[tuple[int, int], ChargingSession] = {}
    if charge_point_ids:
        for session in ChargingSession.objects.filter(
            charge_point_id__in=charge_point_ids, status=SessionStatus.ACTIVE
        ).order_by("started_at", "pk"):
            # The newest active session on a connector wins (older ones await a stop).
            sessions[(session.charge_point_id, session.connector_number)] = session
    rows = []
    for connector in connectors:
        station = connector.charge_point.station
        rows.append(
            ConnectorRow(
                connector=connector,
                status=effective_status(connector),
                session=sessions.get(
                    (connector.charge_point_id, connector.connector_id)
                ),
                time_zone=station.time_zone if station else "UTC",
            )
        )
    return rows


@dataclass
class Utilization:
    occupied_percent: Decimal | None
    charging_percent: Decimal | None
    window_start: dt.datetime
    connectors: int


def station_utilization_today(
    *, station: Station, now: dt.datetime | None = None
) -> Utilization:
    """Share of connector-time since local midnight spent occupied and charging.

    Built from the applied status history: the state at midnight is the last change
    before it, then each change holds until the next one (or now). A connector with
    no history before a change counts as free until that change.
    """
    now = now or timezone.now()
    local_now = now.astimezone(zone(station.time_zone))
    start = local_now.replace(hour=0, minute=0, second=0, microsecond=0)
    last_before = StatusChange.objects.filter(
        connector=OuterRef("pk"), is_applied=True, at__lt=start
    ).order_by("-at", "-id")
    connectors = list(
        Connector.objects.filter(charge_point__station=station).annotate(
            status_at_start=Subquery(last_before.values("status")[:1])
        )
    )
    if not connectors:
        return Utilization(None, None, start, 0)
    changes: dict[int, list[tuple[dt.datetime, str]]] = defaultdict(list)
    for connector_pk, at, status in (
        StatusChange.objects.filter(
            connector__charge_point__station=station,
            is_applied=True,
            at__gte=start,
            at__lte=now,
        )
        .order_by("at", "id")
        .values_list("connector_id", "at", "status")
    ):
        changes[connector_pk].append((at, status))
    window = (now - start).total_seconds()
    if window <= 0:
        return Utilization(None, None, start, len(connectors))
    occupied = charging = 0.0
    for connector in connectors:
        current = connector.status_at_start or ""
        history = changes.get(connector.pk, [])
        reported_at = connector.status_at
        # A status the history does not hold yet (history recorded after the fact,
        # or data loaded without it) still counts from the charger's timestamp.
        if reported_at is not None and reported_at <= now:
            if reported_at < start and not current and not history:
                current = connector.status
            elif reported_at >= start and (not history or history[-1][0] < reported_at):
                history = [*history, (reported_at, connector.status)]
        since = start
        for at, status in [*history, (now, "")]:
            held = (at - since).total_seconds()
            if current in OCCUPIED:
                occupied += held
            if current == ConnectorStatus.CHARGING:
                charging += held
            current, since = status, at
    capacity = window * len(connectors)

    def percent(seconds: float) -> Decimal:
        return (Decimal(str(seconds)) * 100 / Decimal(str(capacity))).quantize(
            Decimal("0.1")
        )

    return Utilization(percent(occupied), percent(charging), start, len(connectors))


def session_chart_points(
    *, session: ChargingSession, limit: int = 2000
) -> list[dict[str, object]]:
    """Power (kW) and energy delivered (kWh) per sample time of a session.

    A phase-less value is the total; per-phase values are summed only when no
    total was reported at that time.
    """
    rows = (
        MeterValue.objects.filter(
            session=session,
            measurand__in=["Power.Active.Import", "Energy.Active.Import.Register"],
            value__isnull=False,
        )
        .order_by("-timestamp")
        .values_list("timestamp", "measurand", "phase", "value")[: limit * 4]
    )
    totals: dict[tuple[dt.datetime, str], float] = {}
    phases: dict[tuple[dt.datetime, str], float] = defaultdict(float)
    for at, measurand, phase, value in rows:
        if value is None:  # excluded by the query; narrows the type
            continue
        key = (at, measurand)
        if phase in ("", None):
            totals[key] = float(value)
        elif phase in ("L1", "L2", "L3"):
            phases[key] += float(value)
    merged = {**phases, **totals}
    by_time: dict[dt.datetime, dict[str, float]] = defaultdict(dict)
    for (at, measurand), value in merged.items():
        by_time[at][measurand] = value
    points: list[dict[str, object]] = []
    for at in sorted(by_time)[-limit:]:
        values = by_time[at]
        power = values.get("Power.Active.Import")
        register = values.get("Energy.Active.Import.Register")
        points.append(
            {
                "t": at.isoformat(),
                "power_kw": round(power / 1000, 3) if power is not None else None,
                "energy_kwh": round((register - session.meter_start_wh) / 1000, 3)
                if register is not None
                else None,
            }
        )
    return points
