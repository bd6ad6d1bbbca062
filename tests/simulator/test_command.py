"""``manage.py simulate_fleet`` end to end against a test central system."""

from __future__ import annotations

import asyncio
import base64
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from tests.factories import ChargePointFactory, ConnectorFactory
from tests.simulator.central import CentralSystem


@pytest.mark.django_db(transaction=True)
async def test_demo_fleet_connects_with_demo_ids_password_and_database_hardware(
    station_a_async,
):
    async with CentralSystem() as central:
        await asyncio.to_thread(
            call_command,
            "simulate_fleet",
            "--url",
            central.url,
            "--count",
            "2",
            "--demo",
            "--duration",
            "2",
            "--seed",
            "1",
            "--fault-rate",
            "0",
            "--drop-rate",
            "0",
            "--mean-idle",
            "0",
        )

    boots = {m.charger: m.payload for m in central.messages("BootNotification")}
    assert set(boots) == {"DEMO-CP-01", "DEMO-CP-02"}
    assert boots["DEMO-CP-01"]["charge_point_model"] == "SC-DC150-1"
    expected = base64.b64encode(b"DEMO-CP-01:demo-cp-password").decode()
    assert f"Basic {expected}" in [h["authorization"] for h in central.headers]
    assert central.paths[0].startswith("/ocpp/DEMO-CP-0")


@pytest.fixture
def station_a_async(station_a):
    charge_point = ChargePointFactory(station=station_a, ocpp_id="DEMO-CP-01")
    ConnectorFactory(
        charge_point=charge_point,
        connector_id=1,
        connector_type="CCS2",
        max_power_kw=Decimal("150"),
    )
    return station_a


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "http://127.0.0.1:1/ocpp/"], "ws://"),
        (["--count", "0"], "--count"),
    ],
)
def test_bad_arguments_are_refused_with_the_option_named(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("simulate_fleet", *args)
