"""Connector checks: connector 0's statuses, no phantom connectors, an alert instead."""

from __future__ import annotations

import asyncio

import pytest
from django.utils import timezone

from alerts.models import Alert, Rule
from sessions_app.models import ChargingSession
from stations.models import ChargePoint, ConfigurationKey, Connector, StatusChange
from tests.factories import ChargePointFactory, ConnectorFactory, IdTokenFactory
from tests.ocpp.client import exchange, raw_socket, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def status(connector_id: int, value: str, unique_id: str = "st-1") -> list:
    return [
        2, unique_id, "StatusNotification",
        {"connectorId": connector_id, "errorCode": "NoError", "status": value},
    ]  # fmt: skip


def send(server, ocpp_id: str, *frames: list) -> list[list]:
    async def scenario() -> list[list]:
        async with raw_socket(server, ocpp_id) as socket:
            return [await exchange(socket, frame) for frame in frames]

    return asyncio.run(scenario())


def quarantine_alert(**filters) -> Alert:
    return wait_for(
        lambda: Alert.objects.filter(rule=Rule.REPORT_QUARANTINED, **filters).first()
    )


def number_of_connectors(charge_point: ChargePoint, count: int) -> None:
    ConfigurationKey.objects.create(
        charge_point=charge_point, key="NumberOfConnectors", value=str(count),
        fetched_at=timezone.now(),
    )  # fmt: skip


def test_connector_zero_charging_is_kept_in_history_not_applied(asgi_server):
    charge_point = ChargePointFactory(ocpp_id="CP-CON-0")

    answers = send(
        asgi_server, "CP-CON-0", status(0, "Available", "a"), status(0, "Charging", "b")
    )

    assert [answer[:2] for answer in answers] == [[3, "a"], [3, "b"]]
    charge_point.refresh_from_db()
    assert charge_point.status == "Available"
    kept = StatusChange.objects.get(charge_point=charge_point, status="Charging")
    assert kept.connector is None
    assert not kept.is_applied
    alert = quarantine_alert(charge_point=charge_point)
    assert "connector 0" in alert.detail


def test_a_connector_beyond_the_limit_is_not_created_before_configuration_is_read(
    asgi_server,
):
    charge_point = ChargePointFactory(ocpp_id="CP-CON-99")

    [answer] = send(asgi_server, "CP-CON-99", status(99, "Available"))

    assert answer[:2] == [3, "st-1"]
    assert not Connector.objects.filter(charge_point=charge_point).exists()
    assert "connector 99" in quarantine_alert(charge_point=charge_point).detail


def test_number_of_connectors_bounds_the_connectors_a_charger_may_report(
    asgi_server,
):
    charge_point = ChargePointFactory(ocpp_id="CP-CON-2")
    number_of_connectors(charge_point, 2)

    send(asgi_server, "CP-CON-2", status(2, "Available", "two"), status(3, "Available", "three"))  # fmt: skip

    numbers = set(
        Connector.objects.filter(charge_point=charge_point).values_list(
            "connector_id", flat=True
        )
    )
    assert numbers == {2}
    assert "NumberOfConnectors" in quarantine_alert(charge_point=charge_point).detail


def test_a_session_on_an_unknown_connector_is_kept_without_a_phantom_connector(
    asgi_server,
):
    charge_point = ChargePointFactory(ocpp_id="CP-CON-TX")
    ConnectorFactory(charge_point=charge_point, connector_id=1)
    number_of_connectors(charge_point, 1)
    IdTokenFactory(token="CARD-C")
    start = {"connectorId": 7, "idTag": "CARD-C", "meterStart": 0, "timestamp": "2030-03-01T08:00:00Z"}  # fmt: skip

    [started] = send(asgi_server, "CP-CON-TX", [2, "s", "StartTransaction", start])

    session = ChargingSession.objects.get(pk=started[2]["transactionId"])
    assert session.connector is None
    assert session.connector_number == 7
    assert list(
        Connector.objects.filter(charge_point=charge_point).values_list(
            "connector_id", flat=True
        )
    ) == [1]
    assert "StartTransaction" in quarantine_alert(charge_point=charge_point).detail


def test_odd_meter_values_raise_one_alert_per_charger_model(asgi_server):
    first = ChargePointFactory(ocpp_id="CP-ODD-1", vendor="Acme", model="Furlong 9")
    second = ChargePointFactory(
        ocpp_id="CP-ODD-2", vendor="Acme", model="Furlong 9", station=first.station
    )
    for charge_point in (first, second):
        ConnectorFactory(charge_point=charge_point, connector_id=1)
    odd = [
        2, "mv", "MeterValues",
        {"connectorId": 1, "meterValue": [{"timestamp": "2030-03-01T08:00:00Z", "sampledValue": [{"value": "1", "unit": "Furlong"}]}]},
    ]  # fmt: skip

    assert send(asgi_server, "CP-ODD-1", odd)[0] == [3, "mv", {}]
    assert send(asgi_server, "CP-ODD-2", odd)[0] == [3, "mv", {}]

    alert = quarantine_alert(subject_key__contains="Acme Furlong 9")
    wait_for(lambda: "CP-ODD-2" in Alert.objects.get(pk=alert.pk).detail)
    assert Alert.objects.filter(rule=Rule.REPORT_QUARANTINED).count() == 1
