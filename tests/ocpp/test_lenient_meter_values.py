"""One odd unit or measurand no longer costs a frame its other readings or its stop."""

from __future__ import annotations

import asyncio

import pytest

from sessions_app.models import ChargingSession, MeterValue
from tests.factories import ChargePointFactory, IdTokenFactory
from tests.ocpp.client import exchange, raw_socket

pytestmark = pytest.mark.django_db(transaction=True)

START = {"connectorId": 1, "idTag": "CARD-L", "meterStart": 1000, "timestamp": "2030-03-01T08:00:00Z"}  # fmt: skip


def sampled(value: str, unit: str, measurand: str = "Energy.Active.Import.Register"):
    return {"value": value, "unit": unit, "measurand": measurand}


def readings(*values: dict, at: str = "2030-03-01T08:30:00Z") -> list[dict]:
    return [{"timestamp": at, "sampledValue": list(values)}]


def run(server, ocpp_id: str, *frames: list) -> list[list]:
    """StartTransaction, then ``frames`` with ``TX`` replaced by its transaction id."""

    async def scenario() -> list[list]:
        async with raw_socket(server, ocpp_id) as socket:
            started = await exchange(socket, [2, "start", "StartTransaction", START])
            transaction_id = started[2]["transactionId"]
            answers = [started]
            for frame in frames:
                payload = {
                    key: transaction_id if value == "TX" else value
                    for key, value in frame[3].items()
                }
                answers.append(await exchange(socket, [*frame[:3], payload]))
            return answers

    return asyncio.run(scenario())


@pytest.mark.parametrize(
    "odd",
    [
        pytest.param(sampled("12", "Furlong"), id="unknown-unit"),
        pytest.param(sampled("12", "Wh", "Energy.Teleported"), id="unknown-measurand"),
    ],
)
def test_meter_values_with_an_odd_sample_store_the_others_and_flag_it(asgi_server, odd):
    ChargePointFactory(ocpp_id="CP-LEN-1")
    IdTokenFactory(token="CARD-L")
    frame = [
        2, "mv-1", "MeterValues",
        {"connectorId": 1, "transactionId": "TX", "meterValue": readings(sampled("3.5", "kWh"), odd)},
    ]  # fmt: skip

    started, answer = run(asgi_server, "CP-LEN-1", frame)

    assert answer == [3, "mv-1", {}]
    session = ChargingSession.objects.get(pk=started[2]["transactionId"])
    stored = {row.raw_value: row for row in MeterValue.objects.filter(session=session)}
    assert stored["3.5"].value == 3500.0
    assert stored["3.5"].flag == ""
    assert stored["12"].value is None
    assert "not an OCPP 1.6" in stored["12"].flag
    session.refresh_from_db()
    assert session.meter_last_wh == 3500


def test_a_stop_with_an_odd_unit_in_its_transaction_data_is_recorded(asgi_server):
    ChargePointFactory(ocpp_id="CP-LEN-2")
    IdTokenFactory(token="CARD-L")
    stop = [
        2, "stop-1", "StopTransaction",
        {
            "transactionId": "TX", "meterStop": 6000, "timestamp": "2030-03-01T09:00:00Z",
            "reason": "EVDisconnected",
            "transactionData": readings(sampled("6000", "Wh "), at="2030-03-01T09:00:00Z"),
        },
    ]  # fmt: skip

    started, answer = run(asgi_server, "CP-LEN-2", stop)

    assert answer[:2] == [3, "stop-1"]
    session = ChargingSession.objects.get(pk=started[2]["transactionId"])
    assert session.stopped_at is not None
    assert session.meter_stop_wh == 6000
    assert session.energy_wh == 5000
    flagged = MeterValue.objects.get(session=session, raw_value="6000")
    assert flagged.unit == "Wh "
    assert "unit 'Wh '" in flagged.flag


def test_a_strict_charger_gets_the_whole_frame_refused(asgi_server):
    ChargePointFactory(ocpp_id="CP-LEN-3", strict_payloads=True)
    IdTokenFactory(token="CARD-L")
    frame = [
        2, "mv-3", "MeterValues",
        {"connectorId": 1, "transactionId": "TX", "meterValue": readings(sampled("3.5", "kWh"), sampled("1", "Furlong"))},
    ]  # fmt: skip

    started, answer = run(asgi_server, "CP-LEN-3", frame)

    assert answer[:3] == [4, "mv-3", "FormationViolation"]
    assert not MeterValue.objects.filter(
        session_id=started[2]["transactionId"]
    ).exists()
