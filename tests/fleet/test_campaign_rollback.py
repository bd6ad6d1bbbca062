"""Rollback per plan: a failed charger, and the whole campaign on a halt, get the
rollback image, shown on the progress page and audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditLog
from stations.fleet.models import CampaignStatus, FirmwareCampaign, RollbackState
from stations.fleet.services import CampaignInputError, campaign_create, campaign_start
from stations.models import ChargePoint, ChargePointCommand
from tests.factories import ChargePointFactory
from tests.fleet.test_campaign_live import (
    IMAGE,
    booted,
    drive,
    fleet,
    own_server,
    target,
)

__all__ = ["own_server"]  # the fixture, used by name

ROLLBACK = "https://firmware.example.com/simcharge-2.3.1.bin"


@pytest.mark.django_db
def test_a_rollback_plan_needs_its_image(operator, station_a):
    ChargePointFactory(station=station_a)
    with pytest.raises(CampaignInputError) as refused:
        campaign_create(
            network=station_a.network, name="x", location=IMAGE, version="2.4.0",
            created_by=operator, rollback_on_failure=True,
        )  # fmt: skip
    assert refused.value.field == "rollback_location"


@pytest.mark.django_db(transaction=True)
def test_a_halt_rolls_the_campaign_back_to_the_rollback_image(
    own_server, operator, station_a, client
):
    ids = ["SIM-RB-1", "SIM-RB-2"]
    for ocpp_id in ids:
        ChargePointFactory(station=station_a, ocpp_id=ocpp_id)

    with fleet(f"{own_server.ws_url}/ocpp", ids) as chargers:
        # The second charger fails every install, the rollback's too.
        chargers["SIM-RB-2"].firmware_failure = "install"
        drive(
            lambda: booted(ids) and all(c.is_online for c in chargers.values()),
            what="both chargers booted",
        )
        campaign = campaign_create(
            network=station_a.network, name="2.4.0 with rollback", location=IMAGE,
            version="2.4.0", created_by=operator, canary_percent=50, batch_size=1,
            pause_s=0, max_attempts=1, halt_failure_percent=0,
            rollback_location=ROLLBACK, rollback_version="2.3.1",
            rollback_on_failure=True, rollback_on_halt=True,
        )  # fmt: skip
        campaign_start(campaign=campaign, actor=operator)
        drive(
            lambda: (
                target(campaign.pk, "SIM-RB-1").rollback_state
                == RollbackState.CONFIRMED
                and target(campaign.pk, "SIM-RB-2").rollback_state
                == RollbackState.FAILED
            ),
            deadline_s=120,
            what="the canary rolled back and the failed charger's rollback failed",
        )

    campaign = FirmwareCampaign.objects.get(pk=campaign.pk)
    assert campaign.status == CampaignStatus.HALTED
    updated, failed = target(campaign.pk, "SIM-RB-1"), target(campaign.pk, "SIM-RB-2")
    # The canary had taken 2.4.0, and went back to 2.3.1 on the halt.
    assert updated.state == "confirmed"
    assert updated.version_after == "2.3.1"
    assert ChargePoint.objects.get(ocpp_id="SIM-RB-1").firmware_version == "2.3.1"
    assert failed.state == "failed"
    assert failed.rollback_detail == "InstallationFailed"
    locations = list(
        ChargePointCommand.objects.filter(
            charge_point__ocpp_id="SIM-RB-1", action="UpdateFirmware"
        )
        .order_by("pk")
        .values_list("payload__location", flat=True)
    )
    assert locations == [IMAGE, ROLLBACK]
    actions = set(
        AuditLog.objects.filter(action__startswith="firmware_campaign.").values_list(
            "action", flat=True
        )
    )
    assert {
        "firmware_campaign.halted",
        "firmware_campaign.rollback_sent",
        "firmware_campaign.rolled_back",
        "firmware_campaign.rollback_failed",
    } <= actions
    client.force_login(operator)
    page = client.get(reverse("fleet:campaign_detail", kwargs={"pk": campaign.pk}))
    assert b"Rolled back" in page.content
    assert b"Rollback failed" in page.content
    assert ROLLBACK.encode() in page.content
