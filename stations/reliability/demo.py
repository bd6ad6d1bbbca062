"""Demo outages: a few weeks of status and connection history on the demo network's
first chargers, their outage records, and one grid outage classified as excluded,
so the outage page and the uptime reports show something in ``make run``."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.utils import timezone

from accounts.models import User
from cms.demo import DemoLoad
from stations.demo import DEMO_NETWORK
from stations.models import ChargePoint, ConnectionEvent, Connector, StatusChange
from stations.reliability.outages import outages_refresh
from stations.reliability.services import outages_classify_event

MARKER = "demo history"


def _status(connector: Connector, at: datetime, status: str) -> None:
    StatusChange.objects.create(
        charge_point=connector.charge_point,
        connector=connector,
        status=status,
        error_code="NoError" if status != "Faulted" else "GroundFailure",
        info=MARKER,
        at=at,
        received_at=at,
        is_applied=True,
    )


def _connection(charge_point: ChargePoint, at: datetime, kind: str) -> None:
    ConnectionEvent.objects.create(
        charge_point=charge_point, kind=kind, at=at, detail=MARKER
    )


def reliability_demo_load(load: DemoLoad) -> None:
    if StatusChange.objects.filter(info=MARKER).exists():
        return
    chargers = list(
        ChargePoint.objects.filter(station__network__name=DEMO_NETWORK).order_by("pk")[
            :2
        ]
    )
    if len(chargers) < 2:
        return
    midnight = datetime.combine(timezone.now().date(), time(0), UTC)
    start = midnight - timedelta(days=45)
    first, second = chargers
    ports = list(Connector.objects.filter(charge_point__in=chargers).order_by("pk"))
    for charger in chargers:
        _connection(charger, start, ConnectionEvent.Kind.CONNECTED)
    for port in ports:
        _status(port, start, "Available")
    port = ports[0]
    _status(port, midnight - timedelta(days=20, hours=-9), "Faulted")
    _status(port, midnight - timedelta(days=20, hours=-12), "Available")
    outage_at = midnight - timedelta(days=12, hours=-6)
    _connection(first, outage_at, ConnectionEvent.Kind.DISCONNECTED)
    _connection(first, outage_at + timedelta(hours=5), ConnectionEvent.Kind.CONNECTED)
    other = next((p for p in ports if p.charge_point_id == second.pk), None)
    if other is not None:
        _status(other, midnight - timedelta(days=5, hours=-14), "Unavailable")
        _status(other, midnight - timedelta(days=5, hours=-16), "Available")
    now = timezone.now()
    outages_refresh(connectors=ports, now=now, lookback=now - start)
    actor = User.objects.filter(username="ops").first()
    if actor is not None:
        outages_classify_event(
            connectors=[p for p in ports if p.charge_point_id == first.pk],
            actor=actor,
            window_start=outage_at + timedelta(hours=1),
            window_end=outage_at + timedelta(hours=3),
            exclusion_reason="grid",
            event_label="Utility feeder outage (demo)",
            note="The utility confirmed a feeder outage.",
            evidence="Utility ticket DEMO-1",
        )
    load.tally.add("outage histories", True)
