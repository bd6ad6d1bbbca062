"""The published OpenAPI schema: valid, public, and no input makes the server fail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error

from accounts.models import Role
from tests.factories import (
    ChargePointFactory,
    ConnectorFactory,
    IdTokenFactory,
    NetworkFactory,
    StationFactory,
    UserFactory,
    user_with_role,
)


def test_schema_and_docs_are_published_without_login(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/driver/starts/" in paths
    assert "/api/v1/charge-points/{id}/commands/" in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"cdn" not in docs.content.lower()  # vendored assets only


@pytest.fixture
def api_keys(db: None) -> dict[str, str]:
    """An administrator for operator paths, a driver for driver paths, some data."""
    network = NetworkFactory(name="Fuzz network")
    station = StationFactory(network=network, name="Fuzz station")
    charge_point = ChargePointFactory(station=station, ocpp_id="FUZZ-1")
    ConnectorFactory(charge_point=charge_point, connector_id=1)
    administrator = user_with_role(Role.ADMINISTRATOR, username="fuzz-admin")
    driver = UserFactory(username="fuzz-driver", is_driver=True)
    IdTokenFactory(token="FUZZ-TAG", owner=driver)
    return {
        "administrator": Token.objects.create(user=administrator).key,
        "driver": Token.objects.create(user=driver).key,
    }


@pytest.mark.django_db(transaction=True)
def test_the_schema_generates_without_a_warning(tmp_path: Path) -> None:
    """A warning (e.g. two operations under one id) also fails ``check --deploy``."""
    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "s.yaml"))
    assert "api_v1_fleet_campaigns_action" in (tmp_path / "s.yaml").read_text()


def test_no_input_makes_the_api_answer_5xx(api_keys, asgi_server):
    """Fuzz every GET and POST operation of the schema (a few examples each)."""
    schema = schemathesis.openapi.from_url(
        f"{asgi_server.http_url}/api/schema/?format=json"
    ).include(method=["GET", "POST"])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 30

    for operation in operations:
        role = (
            "driver"
            if operation.path.startswith("/api/v1/driver/")
            else "administrator"
        )
        _fuzz(
            operation,
            asgi_server.http_url,
            {"Authorization": f"Token {api_keys[role]}"},
        )


def _fuzz(operation: Any, base_url: str, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=6,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def call(case: Any) -> None:
        response = case.call(base_url=base_url, headers=headers, timeout=10)
        case.validate_response(response, checks=[not_a_server_error])

    call()
