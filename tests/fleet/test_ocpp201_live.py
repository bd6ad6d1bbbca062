"""Fleet operations on a simulated OCPP 2.0.1 station through a real server."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from typing import Any

import pytest

from stations.fleet.configuration import configuration_converge, desired_declare
from stations.fleet.models import (
    CampaignStatus,
    ConfigurationDrift,
    DriftState,
    FirmwareCampaign,
    TargetState,
)
from stations.fleet.services import campaign_create, campaign_start, campaigns_sweep
from stations.models import ChargePoint
from stations.simulator.hardware import spec_from_connectors
from stations.simulator.v201 import SimulatedStation201
from tests.factories import ChargePointFactory
from tests.ocpp.client import wait_for
from tests.simulator.support import fast_options

pytestmark = pytest.mark.django_db(transaction=True)


def wait(query: Callable[[], Any], *, deadline_s: float = 60.0, what: str) -> Any:
    return wait_for(query, deadline_s, what=what)


def test_a_201_station_converges_a_variable_and_takes_a_campaign(
    server_factory, operator, station_a
):
    server = server_factory(OCPP_UNKNOWN_CHARGERS="reject")
    ChargePointFactory(station=station_a, ocpp_id="SIM-FL-201", password="p-201-x")
    sim = SimulatedStation201(
        "SIM-FL-201",
        spec_from_connectors([("Type2", 22.0)]),
        fast_options(f"{server.ws_url}/ocpp/", password="p-201-x", speedup=120.0),
        rng=random.Random(3),
    )
    # given: a 1.6 key and a 2.0.1 variable declared for the same station
    for key in ("HeartbeatInterval", "OCPPCommCtrlr.HeartbeatInterval"):
        desired_declare(
            network=station_a.network,
            key=key,
            value="120",
            station=station_a,
            actor=operator,
        )

    def scenario() -> None:
        charge_point = wait(
            lambda: ChargePoint.objects.filter(
                ocpp_id="SIM-FL-201",
                is_connected=True,
                last_boot_at__isnull=False,
                ocpp_protocol="ocpp2.0.1",
            ).first(),
            what="the 2.0.1 station booted",
        )

        def in_sync() -> ConfigurationDrift | None:
            configuration_converge(charge_point_id=charge_point.pk)
            return ConfigurationDrift.objects.filter(
                charge_point=charge_point, state=DriftState.IN_SYNC
            ).first()

        drift = wait(in_sync, what="the variable in sync")
        assert drift.key == "OCPPCommCtrlr.HeartbeatInterval"
        campaign = campaign_create(
            network=station_a.network,
            name="2.0.1 rollout",
            location="https://firmware.example.com/simcharge-2.4.0.bin",
            version="2.4.0",
            created_by=operator,
            canary_percent=0,
            pause_s=0,
        )
        campaign_start(campaign=campaign, actor=operator)

        def completed() -> bool:
            campaigns_sweep()
            return (
                FirmwareCampaign.objects.get(pk=campaign.pk).status
                == CampaignStatus.COMPLETED
            )

        wait(completed, what="the campaign completed")
        # The reboot took the boot answer's interval (§4.2); converged again,
        # and not counted as the station reverting.
        wait(
            lambda: (
                in_sync() and sim.configuration.keys["HeartbeatInterval"].value == "120"
            ),
            what="the variable in sync after the reboot",
        )

    async def main() -> None:
        task = asyncio.ensure_future(sim.run())
        try:
            await asyncio.to_thread(scenario)
        finally:
            await sim.stop()
            await asyncio.wait_for(task, 15)

    asyncio.run(main())

    # then: only the 2.0.1 spelling applies to it, and the version is confirmed
    assert list(ConfigurationDrift.objects.values_list("key", "state", "reverts")) == [
        ("OCPPCommCtrlr.HeartbeatInterval", "in_sync", 0)
    ]
    target = FirmwareCampaign.objects.get().targets.get()
    assert (target.state, target.version_after) == (TargetState.CONFIRMED, "2.4.0")
