"""Desired-state configuration: precedence, drift converged, refusals and reverts alerted."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from alerts.models import Alert
from stations.fleet.configuration import (
    configuration_converge,
    desired_declare,
    desired_for,
)
from stations.fleet.models import ChargerTag, ConfigurationDrift, DriftState
from stations.models import ChargePoint
from stations.remote.dispatch import command_wait
from stations.remote.services import configuration_boot_sweep, configuration_fetch
from tests.factories import ChargePointFactory
from tests.ocpp.client import wait_for
from tests.simulator.support import running


@pytest.mark.django_db
def test_the_most_specific_scope_wins(operator, station_a):
    on_station = ChargePointFactory(station=station_a, ocpp_id="PREC-1")
    tagged = ChargePointFactory(station__network=station_a.network, ocpp_id="PREC-2")
    same_model = ChargePointFactory(
        station__network=station_a.network, ocpp_id="PREC-3"
    )
    other_model = ChargePointFactory(
        station__network=station_a.network, ocpp_id="PREC-4", model="Other"
    )
    tag = ChargerTag.objects.create(network=station_a.network, name="pilot")
    tag.charge_points.add(tagged, on_station)
    network = station_a.network
    declare = {"network": network, "key": "HeartbeatInterval", "actor": operator}
    desired_declare(value="300", **declare)
    desired_declare(value="600", vendor="ACME", model="Wallbox 22", **declare)
    desired_declare(value="120", tag=tag, **declare)
    desired_declare(value="60", station=station_a, **declare)

    def winner(charge_point: ChargePoint) -> tuple[str, list[str]]:
        rule, overridden = desired_for(charge_point)["HeartbeatInterval"]
        return rule.value, [other.value for other in overridden]

    assert winner(on_station) == ("60", ["120", "600", "300"])
    assert winner(tagged) == ("120", ["600", "300"])
    assert winner(same_model) == ("600", ["300"])
    assert winner(other_model) == ("300", [])


def wait(query: Callable[[], Any], *, deadline_s: float = 30.0, what: str) -> Any:
    return wait_for(query, deadline_s, what=what)


def converge_until(
    charge_point: ChargePoint, key: str, state: str
) -> ConfigurationDrift:
    def done() -> ConfigurationDrift | None:
        configuration_converge(charge_point_id=charge_point.pk)
        return ConfigurationDrift.objects.filter(
            charge_point=charge_point, key=key, state=state
        ).first()

    return wait(done, what=f"{key} {state}")


@pytest.fixture
def own_server(server_factory):
    return server_factory(OCPP_UNKNOWN_CHARGERS="reject")


@pytest.mark.django_db(transaction=True)
def test_drift_is_converged_and_refusals_and_reverts_are_alerted(
    own_server, operator, station_a, settings
):
    settings.DESIRED_CONFIGURATION_REVERT_ALERT = 2
    ChargePointFactory(station=station_a, ocpp_id="SIM-CFG-1")
    network = station_a.network

    def scenario(simulated) -> None:
        charge_point = wait(
            lambda: ChargePoint.objects.filter(
                ocpp_id="SIM-CFG-1", is_connected=True, last_boot_at__isnull=False
            ).first(),
            what="the charger booted",
        )
        # The read after boot gives the actual values.
        configuration_boot_sweep()
        command_wait(charge_point.commands.get(action="GetConfiguration").pk, 25)
        desired_declare(
            network=network,
            key="HeartbeatInterval",
            value="120",
            station=station_a,
            actor=operator,
        )
        desired_declare(
            network=network, key="FleetPilotMode", value="on", actor=operator
        )
        in_sync = converge_until(charge_point, "HeartbeatInterval", DriftState.IN_SYNC)
        assert in_sync.changes_sent == 1
        assert simulated.configuration.keys["HeartbeatInterval"].value == "120"
        refused = converge_until(charge_point, "FleetPilotMode", DriftState.REJECTED)
        assert refused.charger_answer == "NotSupported"
        # The charger falls back to its old value twice (a firmware habit).
        for reverts in (1, 2):
            simulated.configuration.keys["HeartbeatInterval"].value = "300"
            read = configuration_fetch(
                charge_point=charge_point,
                requested_by=None,
                keys=["HeartbeatInterval"],
            )
            command_wait(read.pk, 25)
            wait(
                lambda: charge_point.configuration_keys.filter(
                    key="HeartbeatInterval", value="300"
                ).exists(),
                what="the revert read back",
            )
            drift = converge_until(
                charge_point, "HeartbeatInterval", DriftState.IN_SYNC
            )
            assert drift.reverts == reverts
            assert simulated.configuration.keys["HeartbeatInterval"].value == "120"

    async def main() -> None:
        async with running(f"{own_server.ws_url}/ocpp", ocpp_id="SIM-CFG-1") as sim:
            await asyncio.to_thread(scenario, sim)

    asyncio.run(main())

    alerts = {
        alert.subject_key.rsplit(":", 1)[-1]: alert
        for alert in Alert.objects.filter(rule="configuration_drift")
    }
    assert set(alerts) == {"FleetPilotMode", "HeartbeatInterval"}
    assert alerts["FleetPilotMode"].title == "SIM-CFG-1 refuses FleetPilotMode=on"
    assert alerts["HeartbeatInterval"].title == (
        "SIM-CFG-1 keeps reverting HeartbeatInterval (2 times off 120)"
    )
    assert all(alert.status == "open" for alert in alerts.values())
