"""Billing fixtures: the reference ₹ tariff and finished sessions on network A."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from billing import services
from billing.models import Tariff
from sessions_app.models import ChargingSession, SessionStatus
from stations.models import Connector, Network, StatusChange
from tests.factories import ChargingSessionFactory

INR_ELEMENT = {
    "energy_price_per_kwh": Decimal("18"),
    "idle_price_per_minute": Decimal("3"),
}


@pytest.fixture
def make_tariff(network_a: Network) -> Callable[..., Tariff]:
    def make(
        *,
        network: Network | None = None,
        elements: list[dict[str, Any]] | None = None,
        assign: bool = True,
        **data: Any,
    ) -> Tariff:
        network = network or network_a
        fields = {"name": "Standard", "currency": "INR", "vat_percent": Decimal("0")}
        fields.update(data)
        tariff = services.tariff_create(
            actor=None,
            network=network,
            data=fields,
            elements=elements or [dict(INR_ELEMENT)],
        )
        if assign:
            services.tariff_assignment_add(actor=None, tariff=tariff)
        return tariff

    return make


@pytest.fixture
def inr_tariff(make_tariff: Callable[..., Tariff]) -> Tariff:
    return make_tariff()


def record_status(connector: Connector, status: str, at: datetime) -> None:
    StatusChange.objects.create(
        connector=connector, status=status, at=at, received_at=at
    )


@pytest.fixture
def finished_session(connector_a: Connector) -> Callable[..., ChargingSession]:
    """A stopped session on connector A: energy, charging complete, unplugged."""

    def make(
        *,
        energy_wh: int = 22000,
        started_at: datetime | None = None,
        charging_minutes: int = 90,
        idle_minutes: int | None = 10,
        id_token: Any = None,
    ) -> ChargingSession:
        start = started_at or timezone.now() - timedelta(hours=4)
        complete = start + timedelta(minutes=charging_minutes)
        session = ChargingSessionFactory(
            charge_point=connector_a.charge_point,
            connector=connector_a,
            connector_number=connector_a.connector_id,
            id_token=id_token,
            id_tag=id_token.token if id_token else "TAG00001",
            meter_start_wh=1000,
            meter_stop_wh=1000 + energy_wh,
            started_at=start,
            stopped_at=complete,
            status=SessionStatus.COMPLETED,
            energy_wh=energy_wh,
        )
        record_status(connector_a, "Charging", start)
        record_status(connector_a, "Finishing", complete)
        if idle_minutes is not None:
            record_status(
                connector_a, "Available", complete + timedelta(minutes=idle_minutes)
            )
        return session

    return make


# 14:00 UTC in January is 15:00 in Berlin (the station's zone).
WINTER_START = datetime(2026, 1, 15, 14, 0, tzinfo=UTC)


@pytest.fixture
def eur_billed(make_tariff, finished_session) -> tuple[ChargingSession, Any]:
    """A billed EUR session: 10 kWh at 0.30, 20 idle minutes at 0.10, 19 % VAT,
    charging 15:00-16:00 Berlin time."""
    make_tariff(
        currency="EUR",
        vat_percent=Decimal("19"),
        elements=[
            {
                "energy_price_per_kwh": Decimal("0.30"),
                "idle_price_per_minute": Decimal("0.10"),
            }
        ],
    )
    session = finished_session(
        started_at=WINTER_START, charging_minutes=60, idle_minutes=20, energy_wh=10000
    )
    return session, services.session_rate(session_id=session.pk)
