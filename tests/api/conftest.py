"""API fixtures: token clients for every role, a driver with tokens, a tariff."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import User
from billing import services as billing_services
from billing.models import Cdr, Tariff
from sessions_app.models import ChargingSession, IdToken, SessionStatus
from stations.models import Connector, Network, StatusChange
from tests.factories import ChargingSessionFactory, IdTokenFactory, UserFactory


@pytest.fixture(autouse=True)
def _fresh_throttles() -> Iterator[None]:
    """Throttle counters live in the cache; user ids repeat across tests."""
    cache.clear()
    yield
    cache.clear()


def token_client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        key, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {key.key}")
    return client


@pytest.fixture
def driver(db: None) -> User:
    return UserFactory(username="driver-anna", is_driver=True)


@pytest.fixture
def other_driver(db: None) -> User:
    return UserFactory(username="driver-ben", is_driver=True)


@pytest.fixture
def driver_token(driver: User) -> IdToken:
    return IdTokenFactory(token="ANNA-APP-1", owner=driver, kind=IdToken.Kind.APP)


@pytest.fixture
def other_driver_token(other_driver: User) -> IdToken:
    return IdTokenFactory(token="BEN-APP-1", owner=other_driver, kind=IdToken.Kind.APP)


@pytest.fixture
def api(request: pytest.FixtureRequest) -> Callable[[str | None], APIClient]:
    """``api("operator")`` -> a client authenticated with that fixture's token."""

    def make(name: str | None) -> APIClient:
        if name in (None, "anonymous"):
            return APIClient()
        return token_client(request.getfixturevalue(name))

    return make


@pytest.fixture
def tariff_a(network_a: Network) -> Tariff:
    tariff = billing_services.tariff_create(
        actor=None,
        network=network_a,
        data={"name": "Standard", "currency": "EUR", "vat_percent": Decimal("19")},
        elements=[{"energy_price_per_kwh": Decimal("0.50")}],
    )
    billing_services.tariff_assignment_add(actor=None, tariff=tariff)
    return tariff


@pytest.fixture
def finished_session(
    connector_a: Connector,
) -> Callable[..., ChargingSession]:
    def make(
        *, id_token: IdToken | None = None, energy_wh: int = 20_000
    ) -> ChargingSession:
        start = timezone.now() - timedelta(hours=3)
        stop = start + timedelta(hours=1)
        session = ChargingSessionFactory(
            charge_point=connector_a.charge_point,
            connector=connector_a,
            connector_number=connector_a.connector_id,
            id_token=id_token,
            id_tag=id_token.token if id_token else "TAG00001",
            meter_start_wh=1000,
            meter_stop_wh=1000 + energy_wh,
            energy_wh=energy_wh,
            started_at=start,
            stopped_at=stop,
            status=SessionStatus.COMPLETED,
        )
        for status, at in (("Charging", start), ("Available", stop)):
            StatusChange.objects.create(
                connector=connector_a, status=status, at=at, received_at=at
            )
        return session

    return make


@pytest.fixture
def receipt(
    tariff_a: Tariff,
    driver_token: IdToken,
    finished_session: Callable[..., ChargingSession],
) -> Cdr:
    session = finished_session(id_token=driver_token)
    cdr = billing_services.session_rate(session_id=session.pk)
    assert cdr is not None
    return cdr


def snapshot_state() -> dict[str, Any]:
    """What a denied request must leave untouched."""
    from accounts.models import AuditLog
    from alerts.models import Alert
    from stations.models import ChargePoint, ChargePointCommand, Station

    return {
        "networks": list(Network.objects.values_list("pk", "name", "currency")),
        "stations": list(Station.objects.values_list("pk", "name", "network_id")),
        "charge_points": list(
            ChargePoint.objects.values_list(
                "pk", "ocpp_id", "display_name", "station_id"
            )
        ),
        "connectors": list(
            Connector.objects.values_list("pk", "connector_type", "max_power_kw")
        ),
        "commands": ChargePointCommand.objects.count(),
        "tariffs": list(Tariff.objects.values_list("pk", "name", "revision")),
        "alerts": list(Alert.objects.values_list("pk", "status")),
        "audit": AuditLog.objects.count(),
    }
