"""Compare python-ocpp's jsonschema validation with the gateway's compiled validators.

DJANGO_SETTINGS_MODULE=cms.settings_test python bench/ocpp_validation.py
"""

from __future__ import annotations

import os
import sys
import timeit
from pathlib import Path
from typing import Any

import django

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings_test")
django.setup()

from ocpp.messages import Call, _validate_payload  # noqa: E402

from stations.ocpp.protocol import CALL  # noqa: E402
from stations.ocpp.v16.validation import validate  # noqa: E402

MESSAGES = {
    "StatusNotification": {
        "connectorId": 1,
        "errorCode": "NoError",
        "status": "Charging",
        "timestamp": "2030-01-01T10:00:00Z",
    },
    "MeterValues": {
        "connectorId": 1,
        "transactionId": 42,
        "meterValue": [
            {
                "timestamp": "2030-01-01T10:00:00Z",
                "sampledValue": [
                    {"value": "1234.5", "measurand": measurand, "unit": unit}
                    for measurand, unit in (
                        ("Energy.Active.Import.Register", "Wh"),
                        ("Power.Active.Import", "W"),
                        ("Current.Import", "A"),
                        ("Voltage", "V"),
                        ("SoC", "Percent"),
                    )
                ],
            }
        ],
    },
}

if __name__ == "__main__":
    rounds = 5000
    for action, payload in MESSAGES.items():
        message = Call("bench", action, payload)
        _validate_payload(message, "1.6")
        validate(action, CALL, payload)

        def slow_run(m: Call = message) -> None:
            _validate_payload(m, "1.6")

        def fast_run(a: str = action, p: dict[str, Any] = payload) -> None:
            validate(a, CALL, p)

        slow = timeit.timeit(slow_run, number=rounds)
        fast = timeit.timeit(fast_run, number=rounds)
        print(
            f"{action:20s} jsonschema {slow / rounds * 1e6:8.1f} µs  "
            f"fastjsonschema {fast / rounds * 1e6:8.1f} µs  ({slow / fast:.0f}x)"
        )
