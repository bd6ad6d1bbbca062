"""The OCPP 1.6 adapter's commands: neutral command -> valid CALL, answer -> neutral."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stations.ocpp import commands as ocpp
from stations.ocpp.commands import CommandPayloadError
from stations.ocpp.protocol import CALL
from stations.ocpp.v16 import commands
from stations.ocpp.v16.validation import validate

AT = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)
PROFILE = ocpp.ChargingProfileSpec(
    profile_id=7,
    stack_level=1,
    purpose="TxDefaultProfile",
    kind="Absolute",
    rate_unit="A",
    periods=(
        ocpp.SchedulePeriod(start_s=0, limit=16.0, phases=3),
        ocpp.SchedulePeriod(start_s=3600, limit=8.0),
    ),
    duration_s=7200,
    start_schedule=AT,
    min_charging_rate=6.0,
    valid_from=AT,
)

CASES = [
    (ocpp.Reset(), "Reset", {"type": "Soft"}),
    (ocpp.Reset(kind=ocpp.ResetKind.HARD), "Reset", {"type": "Hard"}),
    (ocpp.UnlockConnector(connector=2), "UnlockConnector", {"connectorId": 2}),
    (
        ocpp.RemoteStart(id_token="TAG-1", connector=1),
        "RemoteStartTransaction",
        {"idTag": "TAG-1", "connectorId": 1},
    ),
    (
        ocpp.RemoteStop(transaction_id=42),
        "RemoteStopTransaction",
        {"transactionId": 42},
    ),
    (
        ocpp.ChangeAvailability(
            connector=0, availability=ocpp.Availability.INOPERATIVE
        ),
        "ChangeAvailability",
        {"connectorId": 0, "type": "Inoperative"},
    ),
    (
        ocpp.ClearChargingProfile(connector=1, purpose="TxProfile", stack_level=0),
        "ClearChargingProfile",
        {"connectorId": 1, "chargingProfilePurpose": "TxProfile", "stackLevel": 0},
    ),
    (ocpp.ClearChargingProfile(profile_id=7), "ClearChargingProfile", {"id": 7}),
    (ocpp.GetConfiguration(), "GetConfiguration", {}),
    (
        ocpp.GetConfiguration(keys=("HeartbeatInterval",)),
        "GetConfiguration",
        {"key": ["HeartbeatInterval"]},
    ),
    (
        ocpp.ChangeConfiguration(key="HeartbeatInterval", value="60"),
        "ChangeConfiguration",
        {"key": "HeartbeatInterval", "value": "60"},
    ),
    (
        ocpp.UpdateFirmware(
            location="https://fw/1.bin", retrieve_at=AT, retries=2, retry_interval_s=30
        ),
        "UpdateFirmware",
        {
            "location": "https://fw/1.bin",
            "retrieveDate": "2026-03-01T12:30:00Z",
            "retries": 2,
            "retryInterval": 30,
        },
    ),
    (
        ocpp.GetDiagnostics(location="ftp://logs/", start_time=AT),
        "GetDiagnostics",
        {"location": "ftp://logs/", "startTime": "2026-03-01T12:30:00Z"},
    ),
    (
        ocpp.ReserveNow(
            reservation_id=5,
            connector=1,
            id_token="TAG-1",
            expires_at=AT,
            parent_id_token="FLEET",
        ),
        "ReserveNow",
        {
            "connectorId": 1,
            "expiryDate": "2026-03-01T12:30:00Z",
            "idTag": "TAG-1",
            "reservationId": 5,
            "parentIdTag": "FLEET",
        },
    ),
    (
        ocpp.CancelReservation(reservation_id=5),
        "CancelReservation",
        {"reservationId": 5},
    ),
    (
        ocpp.SendLocalList(
            version=3,
            update=ocpp.LocalListUpdate.DIFFERENTIAL,
            entries=(
                ocpp.LocalListEntry(id_token="A", status="Accepted", expires_at=AT),
                ocpp.LocalListEntry(id_token="GONE"),
            ),
        ),
        "SendLocalList",
        {
            "listVersion": 3,
            "updateType": "Differential",
            "localAuthorizationList": [
                {
                    "idTag": "A",
                    "idTagInfo": {
                        "status": "Accepted",
                        "expiryDate": "2026-03-01T12:30:00Z",
                    },
                },
                {"idTag": "GONE"},
            ],
        },
    ),
    (ocpp.GetLocalListVersion(), "GetLocalListVersion", {}),
    (ocpp.ClearCache(), "ClearCache", {}),
    (
        ocpp.TriggerMessage(message="MeterValues", connector=1),
        "TriggerMessage",
        {"requestedMessage": "MeterValues", "connectorId": 1},
    ),
    (
        ocpp.DataTransfer(vendor_id="ACME", message_id="ping", data="{}"),
        "DataTransfer",
        {"vendorId": "ACME", "messageId": "ping", "data": "{}"},
    ),
    (
        ocpp.GetCompositeSchedule(connector=0, duration_s=3600, rate_unit="W"),
        "GetCompositeSchedule",
        {"connectorId": 0, "duration": 3600, "chargingRateUnit": "W"},
    ),
]


@pytest.mark.parametrize(
    ("command", "action", "payload"), CASES, ids=[case[1] for case in CASES]
)
def test_neutral_command_becomes_a_valid_16_call(command, action, payload):
    call = commands.call_for(command)

    assert (call.action, call.payload) == (action, payload)
    validate(call.action, CALL, call.payload)  # raises if not valid OCPP 1.6


@pytest.mark.parametrize(("command", "_action", "_payload"), CASES)
def test_stored_call_reads_back_as_the_same_command(command, _action, _payload):
    call = commands.call_for(command)

    assert commands.command_of(call.action, call.payload) == command


def test_charging_profile_becomes_the_16_profile_object():
    call = commands.call_for(ocpp.SetChargingProfile(connector=1, profile=PROFILE))

    assert call.action == "SetChargingProfile"
    assert call.payload == {
        "connectorId": 1,
        "csChargingProfiles": {
            "chargingProfileId": 7,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "validFrom": "2026-03-01T12:30:00Z",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
                    {"startPeriod": 3600, "limit": 8.0},
                ],
                "duration": 7200,
                "startSchedule": "2026-03-01T12:30:00Z",
                "minChargingRate": 6.0,
            },
        },
    }
    assert commands.command_of(call.action, call.payload) == ocpp.SetChargingProfile(
        connector=1, profile=PROFILE
    )
    remote_start = commands.call_for(
        ocpp.RemoteStart(id_token="T", connector=1, profile=PROFILE)
    )
    assert remote_start.payload["chargingProfile"] == call.payload["csChargingProfiles"]


def test_invalid_neutral_command_names_the_command_attribute():
    with pytest.raises(CommandPayloadError) as refused:
        commands.call_for(ocpp.ChangeConfiguration(key="k" * 51, value="1"))

    assert refused.value.field == "key"
    with pytest.raises(CommandPayloadError) as refused:
        commands.call_for(ocpp.TriggerMessage(message="Coffee", connector=1))
    assert refused.value.field == "message"


def test_raw_reset_without_type_defaults_to_soft():
    """Issue 23: a bulk Reset with ``{}`` is a Soft reset, not a Python error."""
    call = commands.raw_call("Reset", {})

    assert (call.action, call.payload) == ("Reset", {"type": "Soft"})
    assert commands.command_of(call.action, call.payload) == ocpp.Reset()


def test_raw_payload_error_names_the_wire_field():
    with pytest.raises(CommandPayloadError) as refused:
        commands.raw_call("RemoteStopTransaction", {})

    assert refused.value.field == "transactionId"


def test_configuration_answer_becomes_entries_and_unknown_keys():
    answer = commands.answer_of(
        "GetConfiguration",
        {
            "configurationKey": [
                {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
            ],
            "unknownKey": ["Nope"],
        },
    )

    assert answer.is_accepted  # an answer without status is a success
    assert answer.fact == ocpp.ConfigurationRead(
        entries=(
            ocpp.ConfigurationEntry(key="HeartbeatInterval", value="300"),
            ocpp.ConfigurationEntry(
                key="NumberOfConnectors", value="2", is_readonly=True
            ),
        ),
        unknown_keys=("Nope",),
    )


@pytest.mark.parametrize(
    ("action", "payload", "status", "accepted", "rejected"),
    [
        ("Reset", {"status": "Accepted"}, "Accepted", True, False),
        ("Reset", {"status": "Rejected"}, "Rejected", False, True),
        ("UnlockConnector", {"status": "Unlocked"}, "Unlocked", True, False),
        ("UnlockConnector", {"status": "UnlockFailed"}, "UnlockFailed", False, True),
        ("UnlockConnector", {"status": "NotSupported"}, "NotSupported", False, False),
        (
            "ChangeConfiguration",
            {"status": "RebootRequired"},
            "RebootRequired",
            False,
            False,
        ),
    ],
)
def test_answer_status_is_read_as_accepted_rejected_or_other(
    action, payload, status, accepted, rejected
):
    answer = commands.answer_of(action, payload)

    assert (answer.charger_status, answer.is_accepted, answer.is_rejected) == (
        status,
        accepted,
        rejected,
    )


def test_local_list_version_and_diagnostics_file_answers():
    version = commands.answer_of("GetLocalListVersion", {"listVersion": 4})
    upload = commands.answer_of("GetDiagnostics", {"fileName": "diag.zip"})
    nothing = commands.answer_of("GetDiagnostics", {})

    assert version.fact == ocpp.LocalListVersion(version=4)
    assert upload.fact == ocpp.DiagnosticsFile(file_name="diag.zip")
    assert nothing.fact == ocpp.DiagnosticsFile(file_name="")


def test_composite_schedule_answer():
    answer = commands.answer_of(
        "GetCompositeSchedule",
        {
            "status": "Accepted",
            "connectorId": 1,
            "scheduleStart": "2026-03-01T12:30:00Z",
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "duration": 600,
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 11000}],
            },
        },
    )

    assert answer.fact == ocpp.CompositeSchedule(
        connector=1,
        start=AT,
        rate_unit="W",
        periods=(ocpp.SchedulePeriod(start_s=0, limit=11000.0),),
        duration_s=600,
    )


def test_answer_missing_a_required_field_is_reported_invalid():
    assert commands.answer_error("Reset", {"status": "Accepted"}) is None
    assert commands.answer_error("Reset", {}) is not None
