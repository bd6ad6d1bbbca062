from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from accounts.models import AuditLog, User
from sessions_app.models import IdToken
from stations.models import ChargePoint, Connector, Network, Station
from stations.selectors import network_list_for_user

pytestmark = pytest.mark.django_db

DEMO_PASSWORD = "demo-test-password-42"


@pytest.fixture
def demo_mode(settings: Any) -> Any:
    settings.DEMO_MODE = True
    settings.DEMO_PASSWORD = DEMO_PASSWORD
    return settings


def _load() -> str:
    out = StringIO()
    call_command("load_demo_data", stdout=out)
    return out.getvalue()


def _database_state() -> dict[str, Any]:
    return {
        "networks": list(Network.objects.values()),
        "stations": list(Station.objects.values()),
        "charge_points": list(ChargePoint.objects.values()),
        "connectors": list(Connector.objects.values()),
        "tokens": list(IdToken.objects.values()),
        "users": list(User.objects.values()),
        "memberships": list(User.groups.through.objects.values()),
        "audit": AuditLog.objects.count(),
    }


def test_demo_data_is_refused_outside_demo_mode(settings: Any) -> None:
    settings.DEMO_MODE = False
    with pytest.raises(CommandError, match="DEMO_MODE=true"):
        _load()
    assert not Network.objects.exists()
    assert not User.objects.exists()


def test_demo_data_creates_the_demo_network(demo_mode: Any) -> None:
    _load()

    demo = Network.objects.get(name="Demo Network")
    assert (demo.currency, demo.time_zone) == ("EUR", "Europe/Berlin")
    assert set(demo.stations.values_list("name", flat=True)) == {
        "City Mall", "Central Station", "Airport P3", "Harbour Depot",
    }  # fmt: skip
    charge_points = ChargePoint.objects.filter(station__network=demo)
    assert sorted(charge_points.values_list("ocpp_id", flat=True)) == [
        f"DEMO-CP-{n:02d}" for n in range(1, 13)
    ]
    assert all(cp.check_password("demo-cp-password") for cp in charge_points)
    for cp in charge_points:
        assert 1 <= cp.connectors.count() <= 2
    kinds = set(
        Connector.objects.filter(charge_point__station__network=demo).values_list(
            "connector_type", "max_power_kw"
        )
    )
    assert {(t, int(p)) for t, p in kinds} == {
        ("CCS2", 150), ("CCS2", 50), ("Type2", 22), ("CHAdeMO", 50),
    }  # fmt: skip
    tokens = IdToken.objects.filter(network=demo)
    assert tokens.count() == 20
    assert tokens.get(token="DEMO-TAG-019").status == "Blocked"
    assert tokens.get(token="DEMO-TAG-020").status == "Expired"
    assert tokens.filter(status="Accepted").count() == 18
    for station in Station.objects.all():
        assert station.latitude is not None
        assert station.longitude is not None


def test_demo_users_log_in_and_see_only_their_scope(demo_mode: Any) -> None:
    _load()

    expected_roles = {
        "admin": ["Administrator"], "ops": ["Operations"],
        "support": ["Support"], "finance": ["Finance"],
    }  # fmt: skip
    for username, roles in expected_roles.items():
        user = User.objects.get(username=username)
        assert user.role_names == roles
        assert Client().login(username=username, password=DEMO_PASSWORD)
        visible = set(network_list_for_user(user=user).values_list("name", flat=True))
        if username == "admin":
            assert visible == {"Demo Network", "Northside Energy"}
        else:
            assert visible == {"Demo Network"}
    driver = User.objects.get(username="driver")
    assert driver.is_driver
    assert list(driver.id_tokens.values_list("token", flat=True)) == ["DEMO-TAG-001"]
    assert not network_list_for_user(user=driver).exists()
    north = Network.objects.get(name="Northside Energy")
    assert north.stations.count() == 1
    assert ChargePoint.objects.filter(station__network=north).count() == 2


def test_demo_data_second_run_changes_nothing(demo_mode: Any) -> None:
    _load()
    first = _database_state()

    output = _load()

    assert _database_state() == first
    assert "nothing changed" in output


def test_demo_data_restores_a_changed_demo_password(demo_mode: Any) -> None:
    _load()
    ops = User.objects.get(username="ops")
    ops.set_password("something-else-entirely")
    ops.save()

    _load()

    assert Client().login(username="ops", password=DEMO_PASSWORD)
