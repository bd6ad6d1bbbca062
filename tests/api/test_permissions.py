"""Every endpoint against every kind of caller: status code, and nothing changed."""

from __future__ import annotations

from typing import Any

import pytest

from alerts.models import Rule
from alerts.services import alert_raise
from tests.api.conftest import snapshot_state

ROLES = [
    "anonymous",
    "driver",
    "operator",
    "support",
    "finance",
    "administrator",
    "outsider",
]


@pytest.fixture
def world(
    network_a, station_a, charge_point_a, connector_a, tariff_a, receipt, driver_token
) -> dict[str, Any]:
    alert = alert_raise(
        rule=Rule.BILLING_FAILURE,
        subject_key="session:x",
        title="Rating failed",
        network_id=network_a.pk,
    )
    return {
        "network": network_a.pk,
        "station": station_a.pk,
        "charge_point": charge_point_a.pk,
        "connector": connector_a.pk,
        "session": receipt.session_id,
        "alert": alert.pk,
        "tariff": tariff_a.pk,
        "cdr": receipt.pk,
        "driver_token": driver_token.pk,
    }


def _expect(table: dict[str, int], role: str) -> int:
    defaults = {"anonymous": 401, "driver": 403}
    return table.get(role, defaults.get(role, table.get("*", 0)))


TARIFF_BODY = {
    "name": "Night",
    "currency": "EUR",
    "vat_percent": "19.00",
    "elements": [{"energy_price_per_kwh": "0.3000"}],
}

# (method, path template, body, expected status per role; "*" = everyone else)
MATRIX: list[tuple[str, str, dict[str, Any] | None, dict[str, int]]] = [
    ("get", "/api/v1/networks/", None, {"*": 200}),
    ("post", "/api/v1/networks/create/", {"name": "N3", "currency": "EUR", "time_zone": "UTC"},
     {"*": 403, "administrator": 201}),
    ("get", "/api/v1/networks/{network}/", None, {"*": 200, "outsider": 404}),
    ("patch", "/api/v1/networks/{network}/update/", {"name": "Renamed"},
     {"*": 403, "administrator": 200, "outsider": 404}),
    ("get", "/api/v1/stations/", None, {"*": 200}),
    ("post", "/api/v1/stations/create/", {"network": "{network}", "name": "New site"},
     {"*": 403, "operator": 201, "administrator": 201, "outsider": 400}),
    ("get", "/api/v1/stations/{station}/", None, {"*": 200, "outsider": 404}),
    ("patch", "/api/v1/stations/{station}/update/", {"name": "Renamed"},
     {"*": 403, "operator": 200, "administrator": 200, "outsider": 404}),
    ("get", "/api/v1/charge-points/", None, {"*": 200}),
    ("post", "/api/v1/charge-points/create/", {"ocpp_id": "CP-NEW", "station": "{station}"},
     {"*": 403, "operator": 201, "administrator": 201, "outsider": 400}),
    ("get", "/api/v1/charge-points/{charge_point}/", None, {"*": 200, "outsider": 404}),
    ("patch", "/api/v1/charge-points/{charge_point}/update/", {"display_name": "Bay 1"},
     {"*": 403, "operator": 200, "administrator": 200, "outsider": 404}),
    ("post", "/api/v1/charge-points/{charge_point}/commands/",
     {"action": "Reset", "payload": {"type": "Soft"}},
     {"*": 202, "finance": 403, "outsider": 404}),
    ("get", "/api/v1/commands/", None, {"*": 200}),
    ("get", "/api/v1/connectors/", None, {"*": 200}),
    ("post", "/api/v1/connectors/create/",
     {"charge_point": "{charge_point}", "connector_id": 2, "connector_type": "CCS2", "max_power_kw": "50"},
     {"*": 403, "operator": 201, "administrator": 201, "outsider": 400}),
    ("get", "/api/v1/connectors/{connector}/", None, {"*": 200, "outsider": 404}),
    ("patch", "/api/v1/connectors/{connector}/update/", {"max_power_kw": "11"},
     {"*": 403, "operator": 200, "administrator": 200, "outsider": 404}),
    ("delete", "/api/v1/connectors/{connector}/delete/", None,
     {"*": 403, "operator": 204, "administrator": 204, "outsider": 404}),
    ("get", "/api/v1/sessions/", None, {"*": 200}),
    ("get", "/api/v1/sessions/{session}/", None, {"*": 200, "outsider": 404}),
    ("get", "/api/v1/sessions/{session}/meter-values/", None, {"*": 200, "outsider": 404}),
    ("get", "/api/v1/alerts/", None, {"*": 200, "finance": 403}),
    ("get", "/api/v1/alerts/{alert}/", None, {"*": 200, "finance": 403, "outsider": 404}),
    ("post", "/api/v1/alerts/{alert}/acknowledge/", {"note": "on it"},
     {"*": 200, "finance": 403, "outsider": 404}),
    ("get", "/api/v1/tariffs/", None, {"*": 200}),
    ("post", "/api/v1/tariffs/create/", {**TARIFF_BODY, "network": "{network}"},
     {"*": 403, "finance": 201, "administrator": 201}),
    ("get", "/api/v1/tariffs/{tariff}/", None, {"*": 200, "outsider": 404}),
    ("put", "/api/v1/tariffs/{tariff}/update/", TARIFF_BODY,
     {"*": 403, "finance": 200, "administrator": 200, "outsider": 404}),
    ("get", "/api/v1/cdrs/", None, {"*": 403, "finance": 200, "administrator": 200}),
    ("get", "/api/v1/cdrs/{cdr}/", None,
     {"*": 403, "finance": 200, "administrator": 200, "outsider": 404}),
    ("get", "/api/v1/cdrs/export.csv", None, {"*": 403, "finance": 200, "administrator": 200}),
    # Driver endpoints: driver accounts only.
    ("get", "/api/v1/driver/stations/?lat=52.52&lng=13.40", None, {"*": 403, "driver": 200}),
    ("get", "/api/v1/driver/stations/{station}/", None, {"*": 403, "driver": 200}),
    ("get", "/api/v1/driver/tokens/", None, {"*": 403, "driver": 200}),
    ("post", "/api/v1/driver/starts/", {"connector": "{connector}", "id_token": "{driver_token}"},
     {"*": 403, "driver": 202}),
    ("get", "/api/v1/driver/sessions/", None, {"*": 403, "driver": 200}),
    ("get", "/api/v1/driver/sessions/active/", None, {"*": 403, "driver": 200}),
    ("get", "/api/v1/driver/sessions/{session}/", None, {"*": 403, "driver": 200}),
    ("post", "/api/v1/driver/sessions/{session}/stop/", None, {"*": 403, "driver": 409}),
    ("get", "/api/v1/driver/receipts/", None, {"*": 403, "driver": 200}),
    ("get", "/api/v1/driver/receipts/{cdr}/", None, {"*": 403, "driver": 200}),
    ("get", "/api/v1/driver/receipts/{cdr}/pdf/", None, {"*": 403, "driver": 200}),
]  # fmt: skip


def _fill(value: Any, ids: dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
        return ids[value[1:-1]]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("method", "path", "body", "table"),
    MATRIX,
    ids=[f"{m.upper()} {p}" for m, p, _b, _t in MATRIX],
)
def test_endpoint_answers_each_caller_by_role_and_scope(
    api, world, role, method, path, body, table
):
    expected = _expect(table, role)
    client = api(role)
    before = snapshot_state()
    url = path.format(**world)
    kwargs = {"format": "json"} if body is not None else {}
    response = getattr(client, method)(url, _fill(body, world), **kwargs)
    assert response.status_code == expected, response.content[:500]
    if expected >= 400:
        assert snapshot_state() == before
        assert "errors" in response.json()
