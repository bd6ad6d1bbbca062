"""Charger messages over a real WebSocket: answers, stored state, message log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from ocpp.v16 import call

from stations.models import (
    ChargePoint,
    Connector,
    DataTransferMessage,
    OcppMessage,
    StatusChange,
)
from tests.factories import ChargePointFactory
from tests.ocpp.client import charger, exchange, raw_socket, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def run(server, ocpp_id: str, *calls):
    async def scenario():
        async with charger(server, ocpp_id) as client:
            return [await client.call(request) for request in calls]

    return asyncio.run(scenario())


def status(
    connector_id: int, value: str, timestamp: str, **extra
) -> call.StatusNotification:
    return call.StatusNotification(
        connector_id=connector_id,
        error_code=extra.pop("error_code", "NoError"),
        status=value,
        timestamp=timestamp,
        **extra,
    )


def test_heartbeat_answers_current_time_and_marks_charger_seen(asgi_server):
    ChargePointFactory(ocpp_id="CP-HB-1")

    (answer,) = run(asgi_server, "CP-HB-1", call.Heartbeat())

    current = datetime.fromisoformat(answer.current_time)
    assert abs((current - datetime.now(UTC)).total_seconds()) < 60
    assert ChargePoint.objects.get(ocpp_id="CP-HB-1").last_seen_at is not None


def test_status_notification_creates_unknown_connector_and_keeps_details(asgi_server):
    charge_point = ChargePointFactory(ocpp_id="CP-ST-1")

    run(
        asgi_server,
        "CP-ST-1",
        status(
            2,
            "Faulted",
            "2030-01-01T10:00:00Z",
            error_code="GroundFailure",
            info="RCD tripped",
            vendor_id="ACME",
            vendor_error_code="E42",
        ),
    )

    connector = Connector.objects.get(charge_point=charge_point, connector_id=2)
    assert connector.status == "Faulted"
    assert connector.error_code == "GroundFailure"
    assert connector.vendor_error_code == "E42"
    assert connector.info == "RCD tripped"
    assert connector.status_at == datetime(2030, 1, 1, 10, tzinfo=UTC)


def test_older_status_notification_is_kept_but_does_not_overwrite(asgi_server):
    charge_point = ChargePointFactory(ocpp_id="CP-ST-2")

    run(
        asgi_server,
        "CP-ST-2",
        status(1, "Charging", "2030-01-01T10:05:00Z"),
        status(1, "Available", "2030-01-01T10:00:00+00:00"),
    )

    connector = Connector.objects.get(charge_point=charge_point, connector_id=1)
    assert connector.status == "Charging"
    assert connector.status_at == datetime(2030, 1, 1, 10, 5, tzinfo=UTC)
    stale = StatusChange.objects.get(connector=connector, status="Available")
    assert stale.is_applied is False


def test_connector_zero_status_is_stored_on_the_charger(asgi_server):
    charge_point = ChargePointFactory(ocpp_id="CP-ST-3")

    run(
        asgi_server,
        "CP-ST-3",
        status(
            0, "Unavailable", "2030-01-01T10:00:00Z", error_code="PowerMeterFailure"
        ),
    )

    charge_point.refresh_from_db()
    assert charge_point.status == "Unavailable"
    assert charge_point.error_code == "PowerMeterFailure"
    assert not Connector.objects.filter(charge_point=charge_point).exists()


def test_data_transfer_from_unknown_vendor_is_kept_and_answered(asgi_server):
    charge_point = ChargePointFactory(ocpp_id="CP-DT-1")

    (answer,) = run(
        asgi_server,
        "CP-DT-1",
        call.DataTransfer(vendor_id="com.example", message_id="temp", data="41.5"),
    )

    assert answer.status == "UnknownVendorId"
    stored = DataTransferMessage.objects.get(charge_point=charge_point)
    assert (stored.vendor_id, stored.message_id, stored.data) == (
        "com.example",
        "temp",
        "41.5",
    )


def test_firmware_and_diagnostics_status_are_stored(asgi_server):
    charge_point = ChargePointFactory(ocpp_id="CP-FW-1")

    run(
        asgi_server,
        "CP-FW-1",
        call.FirmwareStatusNotification(status="Downloading"),
        call.DiagnosticsStatusNotification(status="Uploaded"),
    )

    charge_point.refresh_from_db()
    assert charge_point.firmware_status == "Downloading"
    assert charge_point.firmware_status_at is not None
    assert charge_point.diagnostics_status == "Uploaded"


def test_every_frame_in_and_out_is_logged(asgi_server):
    charge_point = ChargePointFactory(ocpp_id="CP-LOG-1")

    async def scenario():
        async with raw_socket(asgi_server, "CP-LOG-1") as socket:
            await exchange(socket, [2, "log-1", "Heartbeat", {}])
            await exchange(socket, [2, "log-2", "Nope", {}])

    asyncio.run(scenario())

    rows = wait_for(
        lambda: (
            list(
                OcppMessage.objects.filter(charge_point=charge_point).order_by(
                    "at", "id"
                )
            )
            if OcppMessage.objects.filter(charge_point=charge_point).count() == 4
            else None
        )
    )
    summary = [
        (r.direction, r.message_type, r.unique_id, r.action, r.error_code) for r in rows
    ]
    assert summary == [
        ("in", 2, "log-1", "Heartbeat", ""),
        ("out", 3, "log-1", "Heartbeat", ""),
        ("in", 2, "log-2", "Nope", ""),
        ("out", 4, "log-2", "Nope", "NotImplemented"),
    ]
    assert "currentTime" in rows[1].payload


@pytest.mark.parametrize(
    ("frame", "unique_id", "code"),
    [
        pytest.param("this is not json", "-1", "FormationViolation", id="not-json"),
        pytest.param('{"a": 1}', "-1", "ProtocolError", id="not-an-array"),
        pytest.param('[2, "bad-1"]', "bad-1", "ProtocolError", id="too-short"),
        pytest.param(
            '[2, "bad-2", "Heartbeat", {}, 5]',
            "bad-2",
            "ProtocolError",
            id="call-too-long",
        ),
        pytest.param(
            '[7, "bad-3", "Heartbeat", {}]',
            "bad-3",
            "PropertyConstraintViolation",
            id="unknown-message-type",
        ),
        pytest.param(
            '[2, 17, "Heartbeat", {}]', "-1", "ProtocolError", id="id-not-string"
        ),
        pytest.param(
            '[2, "bad-4", "Heartbeat", []]',
            "bad-4",
            "FormationViolation",
            id="payload-not-object",
        ),
        pytest.param(
            '[2, "bad-5", "FlyToTheMoon", {}]',
            "bad-5",
            "NotImplemented",
            id="unknown-action",
        ),
        pytest.param(
            '[2, "bad-6", "Reset", {"type": "Soft"}]',
            "bad-6",
            "NotSupported",
            id="cms-only-action",
        ),
        pytest.param(
            '[2, "bad-7", "StatusNotification", {"connectorId": "one", "errorCode": "NoError", "status": "Available"}]',
            "bad-7",
            "TypeConstraintViolation",
            id="wrong-type",
        ),
        pytest.param(
            '[2, "bad-8", "StatusNotification", {"connectorId": 1, "status": "Available"}]',
            "bad-8",
            "ProtocolError",
            id="missing-required",
        ),
        pytest.param(
            '[2, "bad-9", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Dancing"}]',
            "bad-9",
            "FormationViolation",
            id="bad-enum",
        ),
        pytest.param(
            '[2, "bad-10", "Heartbeat", {"extra": true}]',
            "bad-10",
            "FormationViolation",
            id="additional-property",
        ),
        pytest.param(
            '[2, "bad-11", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available", "info": "'
            + "x" * 51
            + '"}]',
            "bad-11",
            "PropertyConstraintViolation",
            id="too-long-string",
        ),
        pytest.param(
            '[2, "' + "u" * 37 + '", "Heartbeat", {}]',
            "u" * 37,
            "ProtocolError",
            id="unique-id-of-37-characters-echoed-whole",
        ),
        pytest.param(
            '[2, "bad-12", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Available", "timestamp": "yesterday"}]',
            "bad-12",
            "FormationViolation",
            id="malformed-timestamp",
        ),
        pytest.param(
            '[2, "bad-13", "Heartbeat", {"pad": "' + "x" * 1_100_000 + '"}]',
            "bad-13",
            "GenericError",
            id="oversize",
        ),
    ],
)
def test_bad_frame_gets_the_right_call_error_and_connection_stays_up(
    asgi_server, frame, unique_id, code
):
    charge_point = ChargePointFactory(ocpp_id="CP-BAD-1")

    async def scenario():
        async with raw_socket(asgi_server, "CP-BAD-1") as socket:
            error = await exchange(socket, frame)
            after = await exchange(socket, [2, "next-1", "Heartbeat", {}])
            return error, after

    error, after = asyncio.run(scenario())

    assert error[:3] == [4, unique_id, code]
    assert after[0] == 3
    assert after[1] == "next-1"
    assert not Connector.objects.filter(charge_point=charge_point).exists()
    assert not StatusChange.objects.filter(charge_point=charge_point).exists()


def test_binary_frame_and_stray_answer_are_dropped_and_connection_stays_up(asgi_server):
    charge_point = ChargePointFactory(ocpp_id="CP-BAD-2")

    async def scenario():
        async with raw_socket(asgi_server, "CP-BAD-2") as socket:
            await socket.send(b"\x00\x01binary")
            await socket.send('[3, "never-asked", {"status": "Accepted"}]')
            return await exchange(socket, [2, "next-2", "Heartbeat", {}])

    answer = asyncio.run(scenario())

    # The next frame the charger receives is the Heartbeat answer: nothing
    # was sent back for the binary frame or the stray CALLRESULT.
    assert answer[:2] == [3, "next-2"]
    logged = wait_for(
        lambda: OcppMessage.objects.filter(
            charge_point=charge_point, unique_id="never-asked"
        ).first()
    )
    assert logged.message_type == 3
    assert OcppMessage.objects.filter(
        charge_point=charge_point, error_code="BinaryFrame"
    ).exists()
