"""OCPP timestamps and frame parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ocpp.exceptions import OCPPError

from stations.ocpp.protocol import (
    CALL,
    TimestampError,
    format_ocpp_datetime,
    parse_ocpp_datetime,
)
from stations.ocpp.v16.validation import validate


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2030-01-02T03:04:05Z", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2030-01-02T03:04:05.5Z", datetime(2030, 1, 2, 3, 4, 5, 500000, tzinfo=UTC)),
        (
            "2030-01-02T03:04:05.123456789Z",
            datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        ),
        ("2030-01-02T05:04:05+02:00", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2030-01-02T01:04:05-0200", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
        ("2030-01-02T03:04:05", datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)),
    ],
)
def test_ocpp_timestamps_parse_to_aware_utc(text, expected):
    parsed = parse_ocpp_datetime(text)

    assert parsed == expected
    assert parsed.tzinfo == UTC


@pytest.mark.parametrize(
    "text", ["yesterday", "2030-13-01T00:00:00Z", "", "2030-01-02"]
)
def test_malformed_timestamp_is_a_type_constraint_violation(text):
    with pytest.raises(TimestampError) as error:
        parse_ocpp_datetime(text)

    assert error.value.code == "TypeConstraintViolation"


def test_timestamps_are_sent_as_utc_with_z():
    assert (
        format_ocpp_datetime(datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC))
        == "2030-01-02T03:04:05.678Z"
    )


def _profile(limit: float, purpose: str) -> dict:
    return {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": purpose,
        "chargingProfileKind": "Absolute",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}],
        },
    }


def _set_charging_profile(limit: float) -> tuple[str, dict]:
    return "SetChargingProfile", {
        "connectorId": 1,
        "csChargingProfiles": _profile(limit, "TxDefaultProfile"),
    }


def _remote_start(limit: float) -> tuple[str, dict]:
    return "RemoteStartTransaction", {
        "connectorId": 1,
        "idTag": "TAG-1",
        "chargingProfile": _profile(limit, "TxProfile"),
    }


@pytest.mark.parametrize("command", [_set_charging_profile, _remote_start])
@pytest.mark.parametrize("limit", [21.4, 0.7, 16.1, 32])
def test_charging_profile_limits_with_one_decimal_validate(command, limit):
    """The schema's ``multipleOf: 0.1`` holds for 21.4 although 21.4 / 0.1 != 214."""
    action, payload = command(limit)

    assert validate(action, CALL, payload) is None


@pytest.mark.parametrize("command", [_set_charging_profile, _remote_start])
def test_charging_profile_limit_with_two_decimals_is_a_formation_violation(command):
    action, payload = command(21.45)

    with pytest.raises(OCPPError) as error:
        validate(action, CALL, payload)

    assert error.value.code == "FormationViolation"
