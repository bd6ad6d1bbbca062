"""Demo fleet operations: a draft firmware campaign for the demo network's chargers
(the simulated fleet installs it: the simulator takes the version from the file
name) and a "pilot" tag on two of them. Registered into ``cms.demo``."""

from __future__ import annotations

from cms.demo import DemoLoad
from stations.demo import DEMO_NETWORK
from stations.fleet.models import ChargerTag, FirmwareCampaign
from stations.fleet.services import campaign_create
from stations.models import ChargePoint, Network

DEMO_CAMPAIGN = "SimCharge 2.4.0 for the demo fleet"
DEMO_IMAGE = "https://firmware.example.com/simcharge/simcharge-2.4.0.bin"
PILOT_CHARGERS = ("DEMO-CP-01", "DEMO-CP-02")


def fleet_demo_load(load: DemoLoad) -> None:
    network = Network.objects.filter(name=DEMO_NETWORK).first()
    if network is None:
        return
    tag, created = ChargerTag.objects.get_or_create(network=network, name="pilot")
    load.tally.add("charger tags", created)
    if created:
        tag.charge_points.set(ChargePoint.objects.filter(ocpp_id__in=PILOT_CHARGERS))
    if FirmwareCampaign.objects.filter(network=network, name=DEMO_CAMPAIGN).exists():
        return
    campaign_create(
        network=network,
        name=DEMO_CAMPAIGN,
        location=DEMO_IMAGE,
        version="2.4.0",
        created_by=None,
        canary_percent=10,
        batch_size=4,
        pause_s=60,
        target_timeout_s=600,
        only_when_idle=True,
        max_attempts=2,
        halt_failure_percent=25,
    )
    load.tally.add("firmware campaigns", True)
