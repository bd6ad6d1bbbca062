"""OCPP timestamps and frame parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stations.ocpp.protocol import (
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


def test_charging_profile_limits_with_one_decimal_validate():
    validate(
        "SetChargingProfile",
        2,
        {
            "connectorId": 1,
            "csChargingProfiles": {
                "chargingProfileId": 1,
                "stackLevel": 0,
                "chargingProfilePurpose": "TxDefaultProfile",
                "chargingProfileKind": "Absolute",
                "chargingSchedule": {
                    "chargingRateUnit": "A",
                    "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 21.4}],
                },
            },
        },
    )
