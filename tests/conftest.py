"""A fixed cast: two networks and a user per role scoped to network A."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from accounts.models import Role, User
from stations.models import ChargePoint, Connector, Network, Station
from tests.factories import (
    ChargePointFactory,
    ConnectorFactory,
    NetworkFactory,
    StationFactory,
    UserFactory,
    user_with_role,
)

PASSWORD = "pw-test-1234"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remove the SQLite test database's WAL sidecars (Django deletes only the file).

    A server subprocess that had the test database open leaves ``-wal``/``-shm``
    behind when it is stopped; on PostgreSQL there is nothing to remove.
    """
    from django.conf import settings

    name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if not name or not str(name).endswith(f"test_{os.getpid()}.sqlite3"):
        return
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{name}{suffix}").unlink(missing_ok=True)


@pytest.fixture
def network_a(db: None) -> Network:
    return NetworkFactory(name="Network A")


@pytest.fixture
def network_b(db: None) -> Network:
    return NetworkFactory(name="Network B")


@pytest.fixture
def station_a(network_a: Network) -> Station:
    return StationFactory(network=network_a, name="City Mall")


@pytest.fixture
def station_b(network_b: Network) -> Station:
    return StationFactory(network=network_b, name="Airport")


@pytest.fixture
def charge_point_a(station_a: Station) -> ChargePoint:
    return ChargePointFactory(station=station_a, ocpp_id="CP-A-01")


@pytest.fixture
def charge_point_b(station_b: Station) -> ChargePoint:
    return ChargePointFactory(station=station_b, ocpp_id="CP-B-01")


@pytest.fixture
def connector_a(charge_point_a: ChargePoint) -> Connector:
    return ConnectorFactory(charge_point=charge_point_a, connector_id=1)


@pytest.fixture
def operator(network_a: Network) -> User:
    return user_with_role(Role.OPERATIONS, network_a, username="operator")


@pytest.fixture
def support(network_a: Network) -> User:
    return user_with_role(Role.SUPPORT, network_a, username="support")


@pytest.fixture
def finance(network_a: Network) -> User:
    return user_with_role(Role.FINANCE, network_a, username="finance")


@pytest.fixture
def administrator(db: None) -> User:
    return user_with_role(Role.ADMINISTRATOR, username="administrator")


@pytest.fixture
def outsider(network_b: Network) -> User:
    """An operations user of network B only."""
    return user_with_role(Role.OPERATIONS, network_b, username="outsider")


@pytest.fixture
def no_role_user(db: None) -> User:
    return UserFactory(username="norole")


ROLE_FIXTURES = ["operator", "support", "finance", "administrator", "outsider"]


pytest_plugins = ["tests.live_server"]


@pytest.fixture
def subscribed():
    """``subscribed(kind, handler, external=False)``: subscribe for this test only."""
    from cms.events import subscribe, unsubscribe

    added = []

    def add(kind, handler, *, external=False):
        subscribe(kind, handler, external=external)
        added.append((kind, handler))

    yield add
    for kind, handler in added:
        unsubscribe(kind, handler)


@pytest.fixture
def live_published(monkeypatch):
    """The live events sync code published (the bus replaced by a recorder)."""
    from cms import events

    published: list[tuple[list[str], dict]] = []
    monkeypatch.setattr(events, "_live_publishers", [published.extend])
    return published
