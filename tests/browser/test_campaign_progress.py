"""An operator watches a firmware campaign's progress page update live while it
runs against simulated chargers, and pauses and resumes it from there."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection
from django.urls import reverse
from playwright.sync_api import Page, expect

from stations.fleet.models import CampaignStatus, FirmwareCampaign
from stations.fleet.services import campaign_create, campaigns_sweep
from tests.browser.conftest import log_in
from tests.factories import ChargePointFactory
from tests.fleet.test_campaign_live import IMAGE, booted, drive, fleet, updates_sent

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CONFIRMED = "Confirmed by BootNotification"


@contextmanager
def scheduler() -> Iterator[None]:
    """The fleet sweep every 0.3 s, as the periodic task runs it in production."""
    stop = threading.Event()

    def run() -> None:
        try:
            while not stop.wait(0.3):
                campaigns_sweep()
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


# A server of its own, simulated chargers and Chromium on a shared machine.
@pytest.mark.timeout(300)
def test_the_progress_page_follows_the_campaign_live_and_pauses_it(
    page: Page, portal_server, operator, station_a
) -> None:
    ids = ["SIM-BRW-1", "SIM-BRW-2"]
    for ocpp_id in ids:
        ChargePointFactory(station=station_a, ocpp_id=ocpp_id)

    with fleet(f"{portal_server.ws_url}/ocpp", ids) as chargers:
        drive(
            lambda: booted(ids) and all(c.is_online for c in chargers.values()),
            what="both chargers booted",
        )
        campaign = campaign_create(
            network=station_a.network, name="Live 2.4.0", location=IMAGE,
            version="2.4.0", created_by=operator, canary_percent=50, batch_size=1,
            pause_s=3, only_when_idle=False,
        )  # fmt: skip
        url = reverse("fleet:campaign_detail", kwargs={"pk": campaign.pk})
        log_in(page, portal_server, operator.username, url)
        status = page.get_by_test_id("campaign-status")
        counts = page.get_by_test_id("campaign-counts")
        expect(status).to_have_text("Not started")

        with scheduler():
            page.get_by_role("button", name="Start").click()
            expect(status).to_have_text("Running")
            # The canary confirms while the page stays open: the counts change
            # without a reload.
            expect(counts).to_contain_text(f"{CONFIRMED}: 1", timeout=60_000)
            page.get_by_role("button", name="Pause").click()
            expect(status).to_have_text("Paused")
            paused = FirmwareCampaign.objects.get(pk=campaign.pk)
            assert paused.status == CampaignStatus.PAUSED
            # Past the 3 s pause between batches, and a sweep after it (the
            # event): the paused campaign sent nothing to the next batch.
            time.sleep(paused.pause_s + 1)
            campaigns_sweep()
            assert updates_sent(["SIM-BRW-2"]) == 0
            expect(counts).to_contain_text(f"{CONFIRMED}: 1")

            page.get_by_role("button", name="Resume").click()
            expect(status).to_have_text("Completed", timeout=60_000)
            expect(counts).to_contain_text(f"{CONFIRMED}: 2")

    assert updates_sent(ids) == 2
