"""Frame size: offline-queue replays fit, a charger's own limit, CALLERROR not close."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from stations.models import ChargePoint, OcppMessage
from tests.factories import ChargePointFactory, ConnectorFactory
from tests.live_server import ROOT
from tests.ocpp.client import exchange, heartbeat_answers, raw_socket, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

MEASURANDS = [
    ("Energy.Active.Import.Register", "Wh"),
    ("Power.Active.Import", "W"),
    ("Current.Import", "A"),
    ("Voltage", "V"),
]


def offline_queue_replay(samples: int) -> list:
    """One MeterValues with ``samples`` queued readings (what a charger replays)."""
    meter_value = [
        {
            "timestamp": f"2026-03-01T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "sampledValue": [
                {
                    "value": str(1000 + i),
                    "context": "Sample.Periodic",
                    "measurand": measurand,
                    "unit": unit,
                    "location": "Outlet",
                }
                for measurand, unit in MEASURANDS
            ],
        }
        for i in range(samples)
    ]
    return [2, "replay-1", "MeterValues", {"connectorId": 1, "meterValue": meter_value}]


def test_an_offline_queue_replay_of_400_samples_is_accepted(asgi_server):
    charge_point = ChargePointFactory(ocpp_id="CP-FRAME-1")
    ConnectorFactory(charge_point=charge_point, connector_id=1)
    frame = offline_queue_replay(400)
    assert len(json.dumps(frame)) > 100_000  # over the old 64 KiB default

    async def scenario():
        async with raw_socket(asgi_server, "CP-FRAME-1") as socket:
            return await exchange(socket, frame)

    assert asyncio.run(scenario()) == [3, "replay-1", {}]


def test_a_frame_over_the_chargers_own_limit_gets_generic_error_and_the_socket_stays(
    asgi_server,
):
    ChargePointFactory(ocpp_id="CP-FRAME-2", max_frame_bytes=2048)
    big = [2, "big-1", "DataTransfer", {"vendorId": "com.example", "data": "x" * 3000}]
    small = [2, "small-1", "DataTransfer", {"vendorId": "com.example", "data": "x"}]

    async def scenario():
        async with raw_socket(asgi_server, "CP-FRAME-2") as socket:
            refused = await exchange(socket, big)
            answered = await exchange(socket, small)
            return refused, answered, await heartbeat_answers(socket)

    refused, answered, still_up = asyncio.run(scenario())

    assert refused[:3] == [4, "big-1", "GenericError"]
    assert "limit of 2048 bytes" in refused[3]
    assert answered[:2] == [3, "small-1"]
    assert still_up
    logged = wait_for(
        lambda: OcppMessage.objects.filter(
            charge_point__ocpp_id="CP-FRAME-2", unique_id="big-1", direction="in"
        ).first()
    )
    assert logged.error_code == "GenericError"


@override_settings(OCPP_TRANSPORT_MAX_FRAME_BYTES=4 * 1024 * 1024)
def test_a_chargers_limit_cannot_exceed_the_transport_cap():
    charge_point = ChargePointFactory.build(
        ocpp_id="CP-FRAME-3", max_frame_bytes=8 * 1024 * 1024
    )
    with pytest.raises(ValidationError) as refused:
        charge_point.clean_fields(exclude=["station"])
    assert "max_frame_bytes" in refused.value.message_dict
    assert not ChargePoint.objects.filter(ocpp_id="CP-FRAME-3").exists()


def test_a_frame_limit_at_or_over_the_transport_cap_fails_the_system_check(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        CMS_VAR_DIR=str(tmp_path),
        DEBUG="true",
        OCPP_MAX_FRAME_BYTES=str(2 * 1024 * 1024),
        OCPP_TRANSPORT_MAX_FRAME_BYTES=str(1024 * 1024),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert result.returncode != 0
    assert "cms.E001" in result.stderr
