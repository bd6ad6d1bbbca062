"""Operations browse partner CPOs' locations in a real browser: read-only, apart
from our own stations, with live EVSE status and the partner's prices."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in, screenshot
from tests.factories import StationFactory
from tests.live_server import LiveServer
from tests.roaming.portal_data import partner_cpo_data

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_operations_see_partner_locations_apart_from_our_stations(
    page: Page, portal_server: LiveServer, operator, network_a
):
    StationFactory(network=network_a, name="Our Mitte")
    partner_cpo_data()
    log_in(page, portal_server, "operator")

    page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Partner locations"
    ).click()
    table = page.get_by_test_id("partner-location-table")
    row = table.locator("tr[data-location='LOC1']")
    expect(row).to_contain_text("Blitz Laden GmbH")
    expect(row).to_contain_text("Europe/Berlin")
    expect(table).not_to_contain_text("Our Mitte")

    row.get_by_role("link", name="Partner site LOC1").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("partner")
    evses = page.get_by_test_id("partner-evse-table")
    expect(evses.locator("tr[data-evse='LOC1-1']")).to_contain_text("CHARGING")
    expect(evses.locator("tr[data-evse='LOC1-2']")).to_contain_text("REMOVED")
    prices = page.get_by_test_id("partner-tariff-table").locator(
        "tr[data-tariff='FAST']"
    )
    expect(prices).to_contain_text("0.7021 EUR")  # 0.59/kWh + 19 % VAT
    expect(prices).to_contain_text("0.1000 EUR")  # parking 6.00/h, no VAT
    expect(page.locator("main form")).to_have_count(0)  # read-only: nothing to change
    screenshot(page, "partner-locations")

    page.goto(f"{portal_server.http_url}/stations/")
    expect(page.locator("main")).to_contain_text("Our Mitte")
    expect(page.locator("main")).not_to_contain_text("Partner site LOC1")
