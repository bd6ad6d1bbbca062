"""Chart time axes read in the station's zone, named on the axis, whatever the
browser's zone (Chromium in New York, the station in Berlin)."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, expect

from sessions_app.models import MeterValue
from stations.smart.services import site_replan
from tests.browser.conftest import log_in
from tests.factories import (
    ChargePointFactory,
    ChargingSessionFactory,
    ConnectorFactory,
)
from tests.smart.support import site_connectors, start_session

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# 12:00 UTC on a winter day: 13:00 in Berlin, 07:00 in New York.
SAMPLE_AT = dt.datetime(2026, 1, 15, 12, 0, tzinfo=dt.UTC)

AXIS = """(id) => {
  const chart = Chart.getChart(id);
  const x = chart.options.scales.x;
  const first = chart.data.datasets.find((d) => d.data.length).data[0].x;
  return {title: x.title.text, first: chart.scales.x._adapter.format(first, "HH:mm")};
}"""


def _new_york_page(browser: Browser):
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, timezone_id="America/New_York"
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    return page


def test_the_session_chart_of_a_charge_point_shows_station_time(
    browser: Browser, portal_server, operator, station_a
) -> None:
    charge_point = ChargePointFactory(station=station_a, is_online=True)
    ConnectorFactory(charge_point=charge_point, connector_id=1, status="Charging")
    session = ChargingSessionFactory(charge_point=charge_point, started_at=SAMPLE_AT)
    for measurand, value in (
        ("Energy.Active.Import.Register", 2000.0),
        ("Power.Active.Import", 7400.0),
    ):
        MeterValue.objects.create(
            charge_point=charge_point,
            session=session,
            connector_number=1,
            timestamp=SAMPLE_AT,
            measurand=measurand,
            raw_value=str(value),
            value=value,
            received_at=SAMPLE_AT,
        )
    page = _new_york_page(browser)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    log_in(page, portal_server, operator.username, f"/charge-points/{charge_point.pk}/")
    expect(page.locator("#session-chart")).to_be_visible()
    page.wait_for_function("window.Chart && Chart.getChart('session-chart')")
    axis = page.evaluate(AXIS, "session-chart")

    assert page.evaluate("new Date('2026-01-15T12:00:00Z').getHours()") == 7
    assert axis == {"title": "Time (Europe/Berlin)", "first": "13:00"}
    assert errors == []


def test_the_load_management_chart_shows_station_time(
    browser: Browser, portal_server, operator, station_a
) -> None:
    station_a.power_limit_kw = Decimal("22")
    station_a.save()
    for connector in site_connectors(station_a, chargers=1):
        start_session(connector)
    site_replan(station_id=station_a.pk, trigger="test")
    page = _new_york_page(browser)

    log_in(
        page,
        portal_server,
        operator.username,
        f"/smart-charging/stations/{station_a.pk}/",
    )
    # Polled from the test (the page's CSP forbids the eval a polled predicate needs).
    has_points = (
        "() => !!(window.Chart && Chart.getChart('smart-chart')"
        " && Chart.getChart('smart-chart').data.datasets[0].data.length > 0)"
    )
    deadline = time.monotonic() + 10
    while not page.evaluate(has_points):
        assert time.monotonic() < deadline, "the load chart got no points"
        page.wait_for_timeout(100)
    axis = page.evaluate(AXIS, "smart-chart")

    berlin_now = timezone.now().astimezone(ZoneInfo("Europe/Berlin"))
    assert axis["title"] == "Time (Europe/Berlin)"
    hours, minutes = (int(part) for part in axis["first"].split(":"))
    # The plan was made a moment ago: the axis reads Berlin's clock, not New York's.
    gap_min = abs(hours * 60 + minutes - (berlin_now.hour * 60 + berlin_now.minute))
    assert min(gap_min, 1440 - gap_min) < 5
