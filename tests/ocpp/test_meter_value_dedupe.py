"""A resent MeterValues is stored once: the database keeps one row per reading."""

from __future__ import annotations

import asyncio

import pytest

from sessions_app.models import MeterValue
from tests.factories import ChargePointFactory, ConnectorFactory, IdTokenFactory
from tests.ocpp.client import exchange, raw_socket

pytestmark = pytest.mark.django_db(transaction=True)

READING = [
    {
        "timestamp": "2030-03-01T08:30:00Z",
        "sampledValue": [
            {
                "value": "3.5",
                "unit": "kWh",
                "measurand": "Energy.Active.Import.Register",
            },
            {"value": "7100", "unit": "W", "measurand": "Power.Active.Import"},
            {"value": "230.1", "unit": "V", "measurand": "Voltage", "phase": "L1-N"},
        ],
    }
]


def test_the_same_meter_values_sent_twice_are_stored_once(asgi_server):
    charge_point = ChargePointFactory(ocpp_id="CP-DUP-1")
    ConnectorFactory(charge_point=charge_point, connector_id=1)
    IdTokenFactory(token="CARD-D")
    start = {"connectorId": 1, "idTag": "CARD-D", "meterStart": 1000, "timestamp": "2030-03-01T08:00:00Z"}  # fmt: skip

    async def scenario() -> list[list]:
        async with raw_socket(asgi_server, "CP-DUP-1") as socket:
            started = await exchange(socket, [2, "s", "StartTransaction", start])
            tx = started[2]["transactionId"]
            payload = {"connectorId": 1, "transactionId": tx, "meterValue": READING}
            no_tx = {"connectorId": 1, "meterValue": READING}
            answers = [
                await exchange(socket, [2, "mv-1", "MeterValues", payload]),
                # The answer was lost: the charger resends under a new unique id.
                await exchange(socket, [2, "mv-2", "MeterValues", payload]),
                await exchange(socket, [2, "mv-3", "MeterValues", no_tx]),
                await exchange(
                    socket,
                    [
                        2,
                        "stop",
                        "StopTransaction",
                        {
                            "transactionId": tx,
                            "meterStop": 3500,
                            "timestamp": "2030-03-01T08:30:00Z",
                            "transactionData": READING,
                        },
                    ],
                ),
            ]
            return answers

    answers = asyncio.run(scenario())

    assert [answer[0] for answer in answers] == [3, 3, 3, 3]  # all acknowledged
    stored = MeterValue.objects.filter(charge_point=charge_point)
    assert stored.count() == 3
    assert sorted(stored.values_list("measurand", flat=True)) == [
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Voltage",
    ]
