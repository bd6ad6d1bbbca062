"""Layout measured in Chromium: wide pages use their width, nothing spills out of
its card, long pages stay short (payloads collapsed, the timeline paged)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Page, expect

from stations.models import OcppMessage
from stations.smart.services import site_replan
from tests.browser.conftest import log_in, screenshot
from tests.factories import ChargePointFactory, ConnectorFactory
from tests.smart.support import site_connectors, start_session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _page(browser: Browser, width: int, height: int = 900) -> Page:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def _box(page: Page, selector: str) -> dict[str, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box


def _document_width(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth"))


def test_load_management_cards_use_the_width_and_the_chart_has_height(
    browser: Browser, portal_server, operator, station_a
) -> None:
    station_a.power_limit_kw = Decimal("22")
    station_a.save()
    for connector in site_connectors(station_a, chargers=2):
        start_session(connector)
    site_replan(station_id=station_a.pk, trigger="test")
    page = _page(browser, 1920, 1000)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(
        page,
        portal_server,
        operator.username,
        f"/smart-charging/stations/{station_a.pk}/",
    )

    cards = page.locator("[data-testid=smart-cards] > section")
    expect(cards).to_have_count(2)
    widths = [cards.nth(i).bounding_box()["width"] for i in range(2)]  # type: ignore[index]
    # two cards share the ~1,680 px of content, not 300 px each with empty tracks
    assert min(widths) > 700, widths
    table = page.locator("table[data-testid=smart-allocations]")
    expect(table).to_be_visible()
    card = _box(page, "[data-testid=smart-cards] > section")
    table_box = table.bounding_box()
    assert table_box is not None
    assert table_box["x"] + table_box["width"] <= card["x"] + card["width"] + 1
    page.wait_for_function("window.Chart && Chart.getChart('smart-chart')")
    chart = _box(page, "#smart-chart")
    assert 270 <= chart["height"] <= 290, chart
    assert chart["width"] > 600, chart
    assert _document_width(page) <= 1920
    screenshot(page, "load-management")
    assert errors == []


def test_charge_point_page_fits_a_1400_px_window(
    browser: Browser, portal_server, operator, station_a
) -> None:
    charge_point = ChargePointFactory(station=station_a, is_online=True)
    for number in (1, 2):
        ConnectorFactory(charge_point=charge_point, connector_id=number)
    now = timezone.now()
    long_payload = {
        "connectorId": 1,
        "transactionId": 4711,
        "meterValue": [
            {
                "timestamp": (now - dt.timedelta(seconds=i)).isoformat(),
                "sampledValue": [
                    {
                        "value": str(1000 + i),
                        "measurand": "Energy.Active.Import.Register",
                        "unit": "Wh",
                        "context": "Sample.Periodic",
                        "location": "Outlet",
                    }
                ],
            }
            for i in range(12)
        ],
    }
    OcppMessage.objects.bulk_create(
        OcppMessage(
            charge_point=charge_point,
            ocpp_id=charge_point.ocpp_id,
            direction="in",
            message_type=2,
            unique_id=f"a-very-long-unique-id-that-does-not-break-{index:04d}",
            action="MeterValues",
            payload=long_payload,
            at=now - dt.timedelta(minutes=index),
        )
        for index in range(60)
    )
    page = _page(browser, 1400)
    log_in(page, portal_server, operator.username, f"/charge-points/{charge_point.pk}/")

    rows = page.locator("[data-testid=ocpp-timeline] tbody tr")
    expect(rows).to_have_count(25)  # paged: 25 of 60
    assert _document_width(page) <= 1400
    # payloads are collapsed: a one-line summary, the whole payload on demand
    first = page.locator("[data-testid=ocpp-timeline] details.payload").first
    expect(first.locator("pre")).to_be_hidden()
    expect(first.locator("summary")).to_contain_text('"connectorId": 1')
    height = int(page.evaluate("document.documentElement.scrollHeight"))
    assert height < 5000, height
    first.locator("summary").click()
    expect(first.locator("pre")).to_be_visible()
    assert _document_width(page) <= 1400  # an opened payload wraps inside its cell
    for panel in page.locator("main .panel").all():
        box = panel.bounding_box()
        assert box is not None
        assert box["x"] + box["width"] <= 1400


PHONE = {"width": 390, "height": 844}


def test_on_a_phone_the_navigation_folds_and_the_board_is_cards(
    browser: Browser, portal_server, operator, station_a
) -> None:
    for index in range(3):
        charge_point = ChargePointFactory(
            station=station_a, ocpp_id=f"PHONE-CHARGER-{index:02d}", is_online=True
        )
        for number in (1, 2):
            ConnectorFactory(
                charge_point=charge_point, connector_id=number, status="Available"
            )
    page = _page(browser, PHONE["width"], PHONE["height"])
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, portal_server, operator.username, "/live/")

    navigation = page.get_by_role("navigation", name="Main")
    expect(navigation).to_be_hidden()  # it does not fill the screen
    header = _box(page, ".topbar")
    assert header["height"] < 200, header
    assert _document_width(page) <= 390
    cards = page.locator("#live-board tbody tr")
    expect(cards).to_have_count(6)
    expect(page.locator("#live-board thead")).to_be_hidden()
    for index in range(6):
        card = cards.nth(index).bounding_box()
        assert card is not None
        assert card["x"] >= 0
        assert card["x"] + card["width"] <= 390
    label = page.evaluate(
        "getComputedStyle(document.querySelector('#live-board td:nth-child(6)'),"
        " '::before').content"
    )
    assert label == '"Status"'
    screenshot(page, "phone-board")

    page.get_by_test_id("nav-toggle").click()
    expect(navigation).to_be_visible()
    expect(page.get_by_test_id("nav-toggle")).to_have_attribute("aria-expanded", "true")
    navigation.get_by_role("link", name="Stations").click()
    page.wait_for_url("**/stations/")
    assert _document_width(page) <= 390
    for path in (
        "/",
        f"/stations/{station_a.pk}/",
        "/charging/sessions/",
        "/accounts/audit/",
    ):
        page.goto(f"{portal_server.http_url}{path}")
        assert _document_width(page) <= 390, path
    assert errors == []
