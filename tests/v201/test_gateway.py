"""An OCPP 2.0.1 charging station on the same domain as 1.6: real sockets, raw frames."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
import websockets

from alerts.models import Alert, Rule
from sessions_app.models import (
    ChargingSession,
    MeterValue,
    SessionStatus,
    UnmatchedStop,
)
from stations.models import (
    ChargePoint,
    ConnectionEvent,
    Connector,
    DataTransferMessage,
    DeviceVariable,
)
from tests.factories import ChargePointFactory, IdTokenFactory
from tests.ocpp.client import raw_socket, wait_for
from tests.v201.station import boot_payload, energy, now, station, transaction_event

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2030, 5, 1, 8, 0, tzinfo=UTC)


def _at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def test_a_station_offering_both_versions_gets_2_0_1_unless_its_setting_caps_it(
    asgi_server,
):
    ChargePointFactory(ocpp_id="CP-201-NEG")
    ChargePointFactory(ocpp_id="CP-201-CAP", ocpp_protocol_max="ocpp1.6")

    async def scenario() -> tuple[str | None, str | None]:
        offered = ("ocpp1.6", "ocpp2.0.1")
        async with raw_socket(asgi_server, "CP-201-NEG", subprotocols=offered) as a:
            newest = a.subprotocol
        async with raw_socket(asgi_server, "CP-201-CAP", subprotocols=offered) as b:
            capped = b.subprotocol
        return newest, capped

    assert asyncio.run(scenario()) == ("ocpp2.0.1", "ocpp1.6")
    assert ChargePoint.objects.get(ocpp_id="CP-201-NEG").ocpp_protocol == "ocpp2.0.1"
    assert ChargePoint.objects.get(ocpp_id="CP-201-CAP").ocpp_protocol == "ocpp1.6"


def test_boot_heartbeat_and_status_per_evse(asgi_server, station_a):
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-201-BOOT")

    async def scenario() -> tuple[dict, dict]:
        async with station(asgi_server, charge_point.ocpp_id) as client:
            booted = await client.call("BootNotification", boot_payload())
            beat = await client.call("Heartbeat", {})
            for evse, status in ((1, "Available"), (2, "Occupied")):
                await client.call(
                    "StatusNotification",
                    {
                        "timestamp": now(),
                        "connectorStatus": status,
                        "evseId": evse,
                        "connectorId": 1,
                    },
                )
            return booted, beat

    booted, beat = asyncio.run(scenario())

    assert booted["status"] == "Accepted"
    assert booted["interval"] > 0
    assert "currentTime" in beat
    charge_point.refresh_from_db()
    assert (charge_point.vendor, charge_point.model, charge_point.iccid) == (
        "ACME",
        "DC-150",
        "8949000000000000002",
    )
    assert charge_point.firmware_version == "2.0.1-r4"
    statuses = dict(
        Connector.objects.filter(charge_point=charge_point).values_list(
            "connector_id", "status"
        )
    )
    assert statuses == {1: "Available", 2: "Preparing"}


def test_a_whole_transaction_with_meter_values_gaps_offline_replay_and_resend(
    asgi_server, station_a, network_a
):
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-201-TX")
    IdTokenFactory(token="CARD-201", network=network_a)
    token = {"idToken": "CARD-201", "type": "ISO14443"}

    async def scenario() -> dict[str, dict]:
        answers = {}
        async with station(asgi_server, charge_point.ocpp_id) as client:
            await client.call("BootNotification", boot_payload())
            answers["authorize"] = await client.call("Authorize", {"idToken": token})
            answers["started"] = await client.call(
                "TransactionEvent",
                transaction_event(
                    "Started",
                    0,
                    at=_at(0),
                    trigger="Authorized",
                    idToken=token,
                    chargingState="EVConnected",
                    meterValue=[energy(10_000, _at(0), "Transaction.Begin")],
                ),
            )
            updated = transaction_event(
                "Updated",
                1,
                at=_at(10),
                trigger="ChargingStateChanged",
                chargingState="Charging",
                meterValue=[energy(15_000, _at(10))],
            )
            await client.call("TransactionEvent", updated)
            await client.call("TransactionEvent", updated)  # resent: no change
            # Event 2 is queued in the station; 3 arrives first (a gap).
            await client.call(
                "TransactionEvent",
                transaction_event(
                    "Updated",
                    3,
                    at=_at(30),
                    evse=None,
                    meterValue=[energy(25_000, _at(30))],
                ),
            )
            answers["gap"] = {
                "missing": await asyncio.to_thread(
                    lambda: (
                        ChargingSession.objects.get(
                            charger_transaction_id="TX-201-1"
                        ).seq_no_missing
                    )
                )
            }
            await client.call(
                "TransactionEvent",
                transaction_event(
                    "Updated",
                    2,
                    at=_at(20),
                    evse=None,
                    offline=True,
                    meterValue=[energy(20_000, _at(20))],
                ),
            )
            await client.call(
                "TransactionEvent",
                transaction_event(
                    "Ended",
                    4,
                    at=_at(40),
                    evse=None,
                    trigger="EVCommunicationLost",
                    stoppedReason="EVDisconnected",
                    chargingState="Idle",
                    meterValue=[energy(30_000, _at(40), "Transaction.End")],
                ),
            )
        return answers

    answers = asyncio.run(scenario())

    assert answers["authorize"]["idTokenInfo"]["status"] == "Accepted"
    assert answers["started"]["idTokenInfo"]["status"] == "Accepted"
    assert answers["gap"]["missing"] == [2]
    session = ChargingSession.objects.get(charger_transaction_id="TX-201-1")
    assert session.charge_point == charge_point
    assert session.connector_number == 1
    assert session.id_tag == "CARD-201"
    assert session.auth_status == "Accepted"
    assert session.status == SessionStatus.COMPLETED
    assert (session.meter_start_wh, session.meter_stop_wh, session.energy_wh) == (
        10_000,
        30_000,
        20_000,
    )
    assert session.started_at == T0
    assert session.stopped_at == T0 + timedelta(minutes=40)
    assert session.stop_reason == "EVDisconnected"
    assert session.trigger_reason == "EVCommunicationLost"
    assert session.seq_no_missing == []
    assert not session.has_seq_gap
    # Every reading once, in the one meter-value store (the resend added none).
    registers = MeterValue.objects.filter(
        session=session, measurand="Energy.Active.Import.Register"
    ).order_by("timestamp")
    assert [v.value for v in registers] == [10_000, 15_000, 20_000, 25_000, 30_000]
    power = MeterValue.objects.filter(session=session, measurand="Power.Active.Import")
    assert {v.value for v in power} == {50_000}
    assert (
        Connector.objects.get(charge_point=charge_point, connector_id=1).status
        == "Charging"
    )


def test_an_unknown_token_is_answered_invalid_and_the_session_rejected(
    asgi_server, station_a
):
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-201-BAD")

    async def scenario() -> dict:
        async with station(asgi_server, charge_point.ocpp_id) as client:
            await client.call("BootNotification", boot_payload())
            return await client.call(
                "TransactionEvent",
                transaction_event(
                    "Started",
                    0,
                    transaction_id="TX-BAD",
                    at=_at(0),
                    trigger="Authorized",
                    idToken={"idToken": "NOBODY", "type": "ISO14443"},
                ),
            )

    answer = asyncio.run(scenario())

    assert answer["idTokenInfo"]["status"] == "Invalid"
    session = ChargingSession.objects.get(charger_transaction_id="TX-BAD")
    assert session.status == SessionStatus.REJECTED


def test_an_ended_without_started_is_kept_for_reconciliation(asgi_server, station_a):
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-201-END")

    async def scenario() -> None:
        async with station(asgi_server, charge_point.ocpp_id) as client:
            await client.call("BootNotification", boot_payload())
            ended = transaction_event(
                "Ended",
                7,
                transaction_id="TX-LOST",
                at=_at(50),
                trigger="StopAuthorized",
                stoppedReason="Local",
                meterValue=[energy(42_000, _at(50), "Transaction.End")],
            )
            await client.call("TransactionEvent", ended)
            await client.call("TransactionEvent", ended)  # resent

    asyncio.run(scenario())

    unmatched = UnmatchedStop.objects.get(charge_point=charge_point)
    assert unmatched.charger_transaction_id == "TX-LOST"
    assert unmatched.meter_stop_wh == 42_000
    assert unmatched.payload["transactionInfo"]["transactionId"] == "TX-LOST"
    assert not ChargingSession.objects.filter(charge_point=charge_point).exists()


def test_a_problem_event_is_a_fault_the_alert_engine_raises(asgi_server, station_a):
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-201-FAULT")

    async def scenario() -> None:
        async with station(asgi_server, charge_point.ocpp_id) as client:
            await client.call("BootNotification", boot_payload())
            await client.call(
                "NotifyEvent",
                {
                    "generatedAt": now(),
                    "seqNo": 0,
                    "eventData": [
                        {
                            "eventId": 1,
                            "timestamp": now(),
                            "trigger": "Alerting",
                            "actualValue": "true",
                            "techCode": "GF-17",
                            "techInfo": "ground fault",
                            "eventNotificationType": "HardWiredNotification",
                            "component": {"name": "EVSE", "evse": {"id": 1}},
                            "variable": {"name": "Problem"},
                        },
                        {
                            "eventId": 2,
                            "timestamp": now(),
                            "trigger": "Delta",
                            "actualValue": "42",
                            "eventNotificationType": "HardWiredMonitor",
                            "component": {"name": "TemperatureSensor"},
                            "variable": {"name": "Temperature"},
                        },
                    ],
                },
            )
            await asyncio.to_thread(
                wait_for,
                lambda: Alert.objects.filter(
                    rule=Rule.CONNECTOR_FAULTED, charge_point=charge_point
                ).exists(),
            )

    asyncio.run(scenario())

    connector = Connector.objects.get(charge_point=charge_point, connector_id=1)
    assert connector.status == "Faulted"
    assert connector.vendor_error_code == "GF-17"
    charge_point.refresh_from_db()
    assert charge_point.status != "Faulted"  # the temperature reading is no fault


def test_device_model_report_and_the_other_notifications(asgi_server, station_a):
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-201-DM")

    async def scenario() -> dict[str, dict]:
        answers = {}
        async with station(asgi_server, charge_point.ocpp_id) as client:
            await client.call("BootNotification", boot_payload())
            await client.call(
                "NotifyReport",
                {
                    "requestId": 1,
                    "generatedAt": now(),
                    "seqNo": 0,
                    "reportData": [
                        {
                            "component": {"name": "OCPPCommCtrlr"},
                            "variable": {"name": "HeartbeatInterval"},
                            "variableAttribute": [
                                {
                                    "type": "Actual",
                                    "value": "300",
                                    "mutability": "ReadWrite",
                                }
                            ],
                            "variableCharacteristics": {
                                "dataType": "integer",
                                "unit": "s",
                                "supportsMonitoring": False,
                            },
                        },
                        {
                            "component": {"name": "EVSE", "evse": {"id": 1}},
                            "variable": {"name": "Power"},
                            "variableAttribute": [
                                {"type": "Actual", "value": "150000"},
                                {"type": "MaxSet", "value": "150000"},
                            ],
                        },
                    ],
                },
            )
            answers["firmware"] = await client.call(
                "FirmwareStatusNotification", {"status": "Downloading", "requestId": 3}
            )
            answers["log"] = await client.call(
                "LogStatusNotification", {"status": "Uploading", "requestId": 4}
            )
            answers["security"] = await client.call(
                "SecurityEventNotification",
                {"type": "FirmwareUpdated", "timestamp": now()},
            )
            answers["data"] = await client.call(
                "DataTransfer", {"vendorId": "com.acme", "data": {"k": 1}}
            )
            answers["needs"] = await client.call(
                "NotifyEVChargingNeeds",
                {
                    "evseId": 1,
                    "chargingNeeds": {"requestedEnergyTransfer": "DC"},
                },
            )
            answers["profiles"] = await client.call(
                "ReportChargingProfiles",
                {
                    "requestId": 9,
                    "chargingLimitSource": "CSO",
                    "evseId": 1,
                    "chargingProfile": [
                        {
                            "id": 1,
                            "stackLevel": 0,
                            "chargingProfilePurpose": "TxDefaultProfile",
                            "chargingProfileKind": "Absolute",
                            "chargingSchedule": [
                                {
                                    "id": 1,
                                    "chargingRateUnit": "W",
                                    "chargingSchedulePeriod": [
                                        {"startPeriod": 0, "limit": 11000}
                                    ],
                                }
                            ],
                        }
                    ],
                },
            )
        return answers

    answers = asyncio.run(scenario())

    rows = {
        (v.component, v.evse, v.variable, v.attribute_type): v
        for v in DeviceVariable.objects.filter(charge_point=charge_point)
    }
    heartbeat = rows[("OCPPCommCtrlr", 0, "HeartbeatInterval", "Actual")]
    assert (heartbeat.value, heartbeat.mutability, heartbeat.unit) == (
        "300",
        "ReadWrite",
        "s",
    )
    assert rows[("EVSE", 1, "Power", "MaxSet")].value == "150000"
    charge_point.refresh_from_db()
    assert charge_point.firmware_status == "Downloading"
    assert charge_point.diagnostics_status == "Uploading"
    assert answers["data"]["status"] in {"Accepted", "UnknownVendorId"}
    assert DataTransferMessage.objects.filter(charge_point=charge_point).exists()
    assert answers["needs"]["status"] == "Accepted"


def test_bad_frames_get_the_2_0_1_call_error_codes(asgi_server, station_a):
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-201-ERR")

    async def scenario() -> list[list]:
        async with station(asgi_server, charge_point.ocpp_id) as client:
            return [
                await client.send([2, "e1", "BootNotification", {"reason": "PowerUp"}]),
                await client.send(
                    [
                        2,
                        "e2",
                        "BootNotification",
                        {
                            "reason": "Nope",
                            "chargingStation": {"model": "m", "vendorName": "v"},
                        },
                    ]
                ),
                await client.send([2, "e3", "MakeCoffee", {}]),
                await client.send([2, "e4", "Heartbeat"]),
            ]

    missing, bad_enum, unknown, broken = asyncio.run(scenario())

    assert missing[:3] == [4, "e1", "OccurrenceConstraintViolation"]
    assert bad_enum[:3] == [4, "e2", "PropertyConstraintViolation"]
    assert unknown[:3] == [4, "e3", "NotImplemented"]
    assert broken[0] == 4
    assert broken[2] == "ProtocolError"  # OCPP-J 2.0.1 Part 4 §4.3: incomplete frame


def test_a_station_capped_at_1_6_offering_only_2_0_1_is_refused_and_it_is_recorded(
    asgi_server,
):
    ChargePointFactory(ocpp_id="CP-201-ONLY", ocpp_protocol_max="ocpp1.6")

    async def scenario() -> tuple[str | None, int | None]:
        async with raw_socket(
            asgi_server, "CP-201-ONLY", subprotocols=("ocpp2.0.1",)
        ) as socket:
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), timeout=10)
            return (
                socket.subprotocol,
                closed.value.rcvd.code if closed.value.rcvd else None,
            )

    subprotocol, code = asyncio.run(scenario())

    assert subprotocol is None
    assert code is not None
    refusal = ConnectionEvent.objects.get(
        charge_point__ocpp_id="CP-201-ONLY", kind="rejected"
    )
    assert "allowed up to ocpp1.6" in refusal.detail
