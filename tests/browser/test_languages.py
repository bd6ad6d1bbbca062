"""The portal in German: a German user's pages, dates and numbers; the browser's
language before log-in; the switch back to English in the preferences."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import Browser, expect

from accounts.models import Role
from tests.browser.conftest import PASSWORD
from tests.factories import ChargePointFactory, ChargingSessionFactory, user_with_role

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# 12:00 UTC on a winter day: 13:00 at a Berlin station.
STARTED = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)


def test_a_german_user_sees_german_pages_in_the_station_zone(
    browser: Browser, portal_server, network_a, station_a
) -> None:
    user_with_role(Role.OPERATIONS, network_a, username="greta", language="de")
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-DE-1")
    session = ChargingSessionFactory(
        charge_point=charge_point,
        started_at=STARTED,
        stopped_at=STARTED + dt.timedelta(minutes=75),
        meter_stop_wh=13340,
        energy_wh=12340,
    )
    # An English browser: the user's own setting wins once logged in.
    context = browser.new_context(
        locale="en-US", viewport={"width": 1366, "height": 900}
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    base = portal_server.http_url

    page.goto(f"{base}/accounts/login/?next=/charging/sessions/{session.pk}/")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    page.get_by_label("Username").fill("greta")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(
        page.get_by_role("heading", name=f"Ladevorgang {session.pk}")
    ).to_be_visible()
    nav = page.get_by_role("navigation", name="Hauptnavigation")
    expect(nav.get_by_role("link", name="Übersicht")).to_be_visible()
    expect(page.get_by_test_id("energy")).to_have_text("12,34 kWh")
    details = page.locator("dl.props").first
    expect(details).to_contain_text("Begonnen")
    expect(details).to_contain_text("15.01.2026 13:00:00 CET")
    expect(details).to_contain_text("15.01.2026 14:15:00 CET")

    page.goto(f"{base}/accounts/preferences/")
    page.get_by_label("Sprache").select_option("en")
    page.get_by_role("button", name="Speichern").click()
    expect(page.get_by_role("status")).to_contain_text("Preferences saved.")
    page.goto(f"{base}/charging/sessions/{session.pk}/")
    expect(page.get_by_role("heading", name=f"Session {session.pk}")).to_be_visible()
    expect(page.get_by_test_id("energy")).to_have_text("12.34 kWh")
    expect(page.locator("dl.props").first).to_contain_text("2026-01-15 13:00:00 CET")
    context.close()


def test_the_log_in_page_follows_the_browsers_language(
    browser: Browser, portal_server
) -> None:
    context = browser.new_context(locale="de-DE")
    page = context.new_page()

    page.goto(f"{portal_server.http_url}/accounts/login/")

    expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    expect(page.get_by_label("Benutzername")).to_be_visible()
    context.close()
