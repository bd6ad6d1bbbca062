"""Firmware campaigns against simulated chargers through a real ASGI server."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from stations.fleet.models import CampaignStatus, CampaignTarget, TargetState
from stations.fleet.services import (
    TargetFilter,
    campaign_create,
    campaign_pause,
    campaign_resume,
    campaign_start,
    campaigns_sweep,
)
from stations.models import ChargePoint, ChargePointCommand
from stations.simulator.charger import SimulatedCharger
from tests.factories import ChargePointFactory, IdTokenFactory
from tests.simulator.support import AC_22, fast_options

live = pytest.mark.django_db(transaction=True)


@pytest.fixture
def own_server(server_factory):
    """A server of the test's own: the shared one would keep content types this
    test's flush recreates (guardian's scope checks on later live sockets)."""
    return server_factory(OCPP_UNKNOWN_CHARGERS="reject")


IMAGE = "https://firmware.example.com/simcharge-2.4.0.bin"


def drive(until: Callable[[], Any], *, deadline_s: float = 60.0, what: str) -> Any:
    """Run the fleet sweep (as the scheduler would) until ``until`` holds."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        campaigns_sweep()
        result = until()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def booted(ocpp_ids: list[str]) -> bool:
    return ChargePoint.objects.filter(
        ocpp_id__in=ocpp_ids, is_connected=True, last_boot_at__isnull=False
    ).count() == len(ocpp_ids)


def target(campaign_id: int, ocpp_id: str) -> CampaignTarget:
    return CampaignTarget.objects.get(
        campaign_id=campaign_id, charge_point__ocpp_id=ocpp_id
    )


def updates_sent(ocpp_ids: list[str]) -> int:
    return ChargePointCommand.objects.filter(
        action="UpdateFirmware", charge_point__ocpp_id__in=ocpp_ids
    ).count()


@contextmanager
def fleet(url: str, ocpp_ids: list[str]) -> Iterator[dict[str, SimulatedCharger]]:
    """Simulated chargers on their own event loop thread for the block."""
    import threading

    chargers = {
        ocpp_id: SimulatedCharger(
            ocpp_id,
            AC_22,
            fast_options(url, id_tags=("FW-TAG",)),
            rng=random.Random(index),
        )
        for index, ocpp_id in enumerate(ocpp_ids)
    }
    loop = asyncio.new_event_loop()
    tasks: list[asyncio.Future[Any]] = []

    def run_loop() -> None:
        asyncio.set_event_loop(loop)
        loop.run_forever()

    thread = threading.Thread(target=run_loop, daemon=True)
    thread.start()
    for charger in chargers.values():
        tasks.append(asyncio.run_coroutine_threadsafe(charger.run(), loop))
    try:
        yield chargers
    finally:
        for charger in chargers.values():
            asyncio.run_coroutine_threadsafe(charger.stop(), loop).result(15)
        for task in tasks:
            task.result(15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


@live
def test_campaign_runs_canary_then_batches_and_waits_for_a_busy_charger(
    own_server, operator, station_a
):
    ids = [f"SIM-FW-{n}" for n in range(1, 6)]
    for ocpp_id in ids:
        ChargePointFactory(station=station_a, ocpp_id=ocpp_id)
    IdTokenFactory(token="FW-TAG", network=station_a.network)

    with fleet(f"{own_server.ws_url}/ocpp", ids) as chargers:
        drive(
            lambda: booted(ids) and all(c.is_online for c in chargers.values()),
            what="every charger booted",
        )
        assert chargers["SIM-FW-4"].arrive(1, "FW-TAG")
        drive(
            lambda: (
                ChargePoint.objects.get(ocpp_id="SIM-FW-4")
                .connectors.filter(status="Charging")
                .exists()
            ),
            what="a session on SIM-FW-4",
        )
        # given: 20 % canary (one charger), then batches of two, no pause
        campaign = campaign_create(
            network=station_a.network,
            name="2.4.0 rollout",
            location=IMAGE,
            version="2.4.0",
            created_by=operator,
            target=TargetFilter(station=station_a),
            canary_percent=20,
            batch_size=2,
            pause_s=0,
            only_when_idle=True,
        )
        batches = dict(
            campaign.targets.values_list("charge_point__ocpp_id", "batch_number")
        )
        assert batches == {
            "SIM-FW-1": 0,
            "SIM-FW-2": 1,
            "SIM-FW-3": 1,
            "SIM-FW-4": 2,
            "SIM-FW-5": 2,
        }
        # when
        campaign_start(campaign=campaign, actor=operator)
        canary = drive(
            lambda: CampaignTarget.objects.filter(
                campaign=campaign, batch_number=0, state=TargetState.CONFIRMED
            ).first(),
            what="the canary confirmed",
        )
        # The busy charger waits while its neighbour in the batch is updated.
        drive(
            lambda: target(campaign.pk, "SIM-FW-5").state == TargetState.CONFIRMED,
            what="SIM-FW-5 confirmed",
        )
        waiting = target(campaign.pk, "SIM-FW-4")
        assert waiting.state == TargetState.WAITING
        assert waiting.detail == "Waiting: a session is running."
        assert updates_sent(["SIM-FW-4"]) == 0
        assert chargers["SIM-FW-4"].leave(1, "EVDisconnected")
        drive(
            lambda: (
                CampaignTarget.objects.get(pk=waiting.pk).state == TargetState.CONFIRMED
            ),
            what="SIM-FW-4 updated after its session",
        )
        drive(
            lambda: (
                campaign.__class__.objects.get(pk=campaign.pk).status
                == CampaignStatus.COMPLETED
            ),
            what="the campaign completed",
        )

    # then
    targets = {
        t.charge_point.ocpp_id: t
        for t in campaign.targets.select_related("charge_point")
    }
    first_batch_sent = min(
        t.sent_at for t in targets.values() if t.batch_number == 1 and t.sent_at
    )
    assert first_batch_sent >= canary.updated_at
    assert all(t.state == TargetState.CONFIRMED for t in targets.values())
    assert {t.version_after for t in targets.values()} == {"2.4.0"}
    assert set(
        ChargePoint.objects.filter(ocpp_id__in=ids).values_list(
            "firmware_version", flat=True
        )
    ) == {"2.4.0"}
    assert targets["SIM-FW-4"].sent_at > targets["SIM-FW-5"].sent_at


@live
def test_paused_campaign_sends_nothing_and_a_failing_batch_halts_it(
    own_server, operator, station_a
):
    ids = [f"SIM-FH-{n}" for n in range(1, 5)]
    for ocpp_id in ids:
        ChargePointFactory(station=station_a, ocpp_id=ocpp_id)

    with fleet(f"{own_server.ws_url}/ocpp", ids) as chargers:
        chargers["SIM-FH-2"].firmware_failure = "install"
        chargers["SIM-FH-3"].firmware_failure = "download"
        drive(
            lambda: booted(ids) and all(c.is_online for c in chargers.values()),
            what="every charger booted",
        )
        campaign = campaign_create(
            network=station_a.network,
            name="2.4.0 with failures",
            location=IMAGE,
            version="2.4.0",
            created_by=operator,
            canary_percent=25,
            batch_size=3,
            pause_s=2,
            max_attempts=1,
            halt_failure_percent=50,
        )
        campaign_start(campaign=campaign, actor=operator)
        drive(
            lambda: target(campaign.pk, "SIM-FH-1").state == TargetState.CONFIRMED,
            what="the canary confirmed",
        )
        # when: paused during the 2 s pause before the next batch
        campaign_pause(campaign=campaign, actor=operator)
        rest = ids[1:]
        for _ in range(10):
            campaigns_sweep()
            time.sleep(0.3)
        # then: ten sweeps and well past the pause, nothing went to the batch
        assert updates_sent(rest) == 0
        assert set(
            campaign.targets.filter(batch_number=1).values_list("state", flat=True)
        ) == {TargetState.PENDING}
        # when: resumed, two of the three chargers of the batch fail
        campaign_resume(campaign=campaign, actor=operator)
        drive(
            lambda: (
                campaign.__class__.objects.get(pk=campaign.pk).status
                == CampaignStatus.HALTED
            ),
            what="the campaign halted",
        )

    campaign.refresh_from_db()
    assert campaign.halt_reason == ("2 of 3 chargers failed in batch 1 (limit 50 %).")
    assert target(campaign.pk, "SIM-FH-2").detail == "InstallationFailed"
    assert target(campaign.pk, "SIM-FH-3").detail == "DownloadFailed"
    assert target(campaign.pk, "SIM-FH-4").state == TargetState.CONFIRMED
    assert ChargePoint.objects.get(ocpp_id="SIM-FH-2").firmware_version == "2.3.1"
    assert updates_sent(rest) == 3
