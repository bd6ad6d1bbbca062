"""Our cached key conversion gives exactly the ``ocpp`` package's keys."""

from __future__ import annotations

from ocpp.charge_point import camel_to_snake_case as package_to_snake
from ocpp.charge_point import snake_to_camel_case as package_to_camel

from stations.ocpp.casing import camel_to_snake_case, snake_to_camel_case

PAYLOADS = [
    {
        "connectorId": 1,
        "transactionId": 7,
        "meterValue": [
            {
                "timestamp": "2026-01-01T00:00:00Z",
                "sampledValue": [
                    {"value": "1", "measurand": "SoC", "unitOfMeasure": "Wh"}
                ],
            }
        ],
    },
    {"idTagInfo": {"status": "Accepted", "parentIdTag": "X"}, "ocppCSMSURL": "u"},
    {"csChargingProfiles": {"chargingSchedule": {"minChargingRate": 1.5}}},
    {"evseV2XSupport": True, "V2GCertificate": "c", "key": ["a", {"innerKey": None}]},
    [],
    "plain",
]


def test_camel_to_snake_matches_the_package():
    for payload in PAYLOADS:
        assert camel_to_snake_case(payload) == package_to_snake(payload)


def test_snake_to_camel_matches_the_package():
    for payload in PAYLOADS:
        snake = package_to_snake(payload)
        assert snake_to_camel_case(snake) == package_to_camel(snake)
        assert snake_to_camel_case(
            {"soc_limit_reached": 1, "url_x": 2}
        ) == package_to_camel({"soc_limit_reached": 1, "url_x": 2})
