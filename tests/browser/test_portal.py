"""The operator portal in a real browser: role-aware navigation and live status."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from websockets.sync.client import connect

from sessions_app.models import MeterValue
from stations.models import ConnectionEvent, OcppMessage
from tests.browser.conftest import charger_boot, log_in, screenshot
from tests.browser.conftest import charger_call as _call
from tests.factories import (
    ChargePointFactory,
    ChargingSessionFactory,
    ConnectorFactory,
    IdTokenFactory,
    StationFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

MY_PAGES = ["Overview", "Networks", "Stations", "Charge points", "Unassigned"]

# role fixture -> (links shown, links hidden, a page the role is refused, status)
ROLE_VIEWS = {
    "operator": (MY_PAGES, ["Users"], "/networks/new/", 403),
    "support": (
        ["Overview", "Networks", "Stations", "Charge points"],
        ["Unassigned", "Users"],
        "/unassigned/",
        403,
    ),
    "finance": (
        ["Overview", "Networks", "Stations", "Charge points"],
        ["Unassigned", "Id tokens", "Users"],
        "/charge-points/new/",
        403,
    ),
    "administrator": (MY_PAGES, [], None, None),
}


def nav_labels(page: Page) -> list[str]:
    links = page.get_by_role("navigation", name="Main").get_by_role("link")
    return [text.strip() for text in links.all_inner_texts()]


def test_navigation_and_refusals_follow_each_role(
    request: pytest.FixtureRequest, browser, portal_server, station_a, outsider
) -> None:
    for role, (shown, hidden, refused_path, refused_status) in ROLE_VIEWS.items():
        user = request.getfixturevalue(role)
        context = browser.new_context()
        page = context.new_page()
        log_in(page, portal_server, user.username)

        expect(page.get_by_role("heading", name="Network overview")).to_be_visible()
        labels = nav_labels(page)
        for label in shown:
            assert label in labels, (role, labels)
        for label in hidden:
            assert label not in labels, (role, labels)
        if refused_path:
            response = page.goto(f"{portal_server.http_url}{refused_path}")
            assert response is not None
            assert response.status == refused_status, role
        station_page = page.goto(f"{portal_server.http_url}/stations/{station_a.pk}/")
        assert station_page is not None
        assert station_page.status == 200, role
        context.close()

    # A user of network B: network A's station does not exist for them.
    context = browser.new_context()
    page = context.new_page()
    log_in(page, portal_server, outsider.username)
    response = page.goto(f"{portal_server.http_url}/stations/{station_a.pk}/")
    assert response is not None
    assert response.status == 404
    context.close()


def test_status_notification_appears_on_the_live_board_without_reload(
    page: Page, portal_server, operator, station_a
) -> None:
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-LIVE-1")
    connector = ConnectorFactory(charge_point=charge_point, status="Available")
    log_in(page, portal_server, operator.username, "/live/")
    expect(page.locator("html")).to_have_attribute("data-live", "connected")
    page.evaluate("window.sameDocument = true")
    status = page.locator(f"#connector-{connector.pk} [data-testid=status]")
    expect(status).to_have_text("Offline")  # the charger has never connected

    with connect(
        f"{portal_server.ws_url}/ocpp/{charge_point.ocpp_id}", subprotocols=["ocpp1.6"]
    ) as charger:
        charger_boot(charger)
        expect(status).to_have_text("Available")

        charger.send(
            json.dumps(
                [
                    2,
                    "status-1",
                    "StatusNotification",
                    {
                        "connectorId": 1,
                        "errorCode": "GroundFailure",
                        "status": "Faulted",
                        "timestamp": timezone.now().isoformat(),
                    },
                ]
            )
        )
        # Pushed over the live socket: the row changes within a second.
        expect(status).to_have_text("Faulted", timeout=1_000)

    assert page.evaluate("window.sameDocument") is True  # no reload happened
    expect(page.locator(f"#connector-{connector.pk}")).to_contain_text("GroundFailure")


def test_a_session_started_by_the_charger_is_charted_live(
    page: Page, portal_server, support, station_a
) -> None:
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-CHART-1")
    ConnectorFactory(charge_point=charge_point, status="Available")
    IdTokenFactory(token="TAG-CHART", network=station_a.network)
    log_in(page, portal_server, support.username, f"/charge-points/{charge_point.pk}/")
    expect(page.locator("html")).to_have_attribute("data-live", "connected")
    expect(page.locator("#session-chart")).to_be_hidden()

    with connect(
        f"{portal_server.ws_url}/ocpp/{charge_point.ocpp_id}", subprotocols=["ocpp1.6"]
    ) as charger:
        charger_boot(charger)
        started = timezone.now()
        start = _call(
            charger,
            "start-1",
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "TAG-CHART",
                "meterStart": 1000,
                "timestamp": started.isoformat(),
            },
        )
        assert start[2]["idTagInfo"]["status"] == "Accepted"
        for minute, (register_wh, power_w) in enumerate([(2000, 11000), (3500, 9000)]):
            at = started + dt.timedelta(minutes=minute + 1)
            _call(
                charger,
                f"meter-{minute}",
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": start[2]["transactionId"],
                    "meterValue": [
                        {
                            "timestamp": at.isoformat(),
                            "sampledValue": [
                                {
                                    "value": str(register_wh),
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "Wh",
                                },
                                {
                                    "value": str(power_w),
                                    "measurand": "Power.Active.Import",
                                    "unit": "W",
                                },
                            ],
                        }
                    ],
                },
            )

        expect(page.get_by_test_id("session-power")).to_have_text("9.00 kW")
        expect(page.get_by_test_id("session-energy")).to_have_text("2.50 kWh")
        expect(page.locator("#session-chart")).to_be_visible()
        page.wait_for_function(
            "Chart.getChart('session-chart')"
            " && Chart.getChart('session-chart').data.datasets[0].data.length >= 2"
        )


def _demo_network(station_a) -> dict:
    """A small but lively network for the main screens."""
    now = timezone.now()
    airport = StationFactory(network=station_a.network, name="Airport P3")
    chargers = []
    for index, (station, statuses) in enumerate(
        [
            (station_a, ["Charging", "Available"]),
            (station_a, ["Available", "Preparing"]),
            (station_a, ["Faulted"]),
            (airport, ["Charging", "SuspendedEV"]),
            (airport, ["Available", "Available"]),
        ],
        start=1,
    ):
        charge_point = ChargePointFactory(
            station=station,
            ocpp_id=f"DEMO-CP-{index:02d}",
            display_name=f"Bay {index}",
            is_online=index != 5,
            is_connected=index != 5,
            connected_at=now - dt.timedelta(hours=3),
            last_seen_at=now - dt.timedelta(seconds=20),
            firmware_version="1.4.2",
        )
        for number, status in enumerate(statuses, start=1):
            ConnectorFactory(
                charge_point=charge_point,
                connector_id=number,
                connector_type="CCS2" if number == 1 else "Type2",
                max_power_kw=Decimal("150") if number == 1 else Decimal("22"),
                status=status,
                status_at=now - dt.timedelta(minutes=40 + 25 * index + 5 * number),
            )
        chargers.append(charge_point)
    main = chargers[0]
    session = ChargingSessionFactory(
        charge_point=main,
        connector_number=1,
        id_tag="RFID-0042",
        started_at=now - dt.timedelta(minutes=71),
        power_w=48_200.0,
        energy_wh=46_200,
    )
    ChargingSessionFactory(
        charge_point=chargers[3],
        connector_number=1,
        id_tag="APP-7781",
        power_w=11_000.0,
        energy_wh=8_100,
    )
    samples = []
    for minute in range(0, 71, 2):
        at = session.started_at + dt.timedelta(minutes=minute)
        power = 50_000.0 - minute * 25
        samples.append(
            MeterValue(
                charge_point=main,
                session=session,
                connector_number=1,
                timestamp=at,
                measurand="Power.Active.Import",
                unit="W",
                raw_value=str(power),
                value=power,
                received_at=at,
            )
        )
        samples.append(
            MeterValue(
                charge_point=main,
                session=session,
                connector_number=1,
                timestamp=at,
                measurand="Energy.Active.Import.Register",
                unit="Wh",
                raw_value=str(1000 + minute * 660),
                value=1000 + minute * 660,
                received_at=at,
            )
        )
    MeterValue.objects.bulk_create(samples)
    ConnectionEvent.objects.create(
        charge_point=main,
        kind="connected",
        at=now - dt.timedelta(hours=3),
        remote_address="10.0.0.21",
    )
    OcppMessage.objects.create(
        charge_point=main,
        ocpp_id=main.ocpp_id,
        direction="in",
        message_type=2,
        unique_id="19223201",
        action="StatusNotification",
        payload={"connectorId": 1, "errorCode": "NoError", "status": "Charging"},
        at=now - dt.timedelta(minutes=39),
    )
    return {"main": main, "session": session}


def test_main_screens_render_with_live_data(
    page: Page, portal_server, operator, station_a
) -> None:
    """Overview, live board, station and charge point pages render without script errors."""
    data = _demo_network(station_a)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, portal_server, operator.username)

    expect(page.get_by_test_id("active-sessions")).to_have_text("2")
    expect(page.get_by_test_id("power-now")).to_have_text("59.20 kW")
    screenshot(page, "overview")

    page.goto(f"{portal_server.http_url}/live/")
    expect(page.locator("#live-board tbody tr")).to_have_count(9)
    screenshot(page, "live-board")

    page.goto(f"{portal_server.http_url}/stations/{station_a.pk}/")
    expect(page.get_by_role("heading", name="Utilization today")).to_be_visible()
    screenshot(page, "station")

    page.goto(f"{portal_server.http_url}/charge-points/{data['main'].pk}/")
    expect(page.get_by_test_id("session-power")).to_have_text("48.20 kW")
    expect(page.locator("#session-chart")).to_be_visible()
    page.wait_for_function("window.Chart && Chart.getChart('session-chart')")
    screenshot(page, "charge-point")
    assert errors == []


def _answer_calls_until(socket, action: str, status: str) -> dict:
    """Play the charger: answer the CMS's CALLs; return the payload of ``action``."""
    while True:
        frame = json.loads(socket.recv(timeout=10))
        if frame[0] != 2:
            continue
        if frame[2] == action:
            socket.send(json.dumps([3, frame[1], {"status": status}]))
            return frame[3]
        socket.send(json.dumps([4, frame[1], "NotImplemented", "", {}]))


def test_support_resets_a_charger_and_sees_the_outcome_live(
    page: Page, portal_server, support, station_a
) -> None:
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-RESET-1")
    ConnectorFactory(charge_point=charge_point, status="Available")

    with connect(
        f"{portal_server.ws_url}/ocpp/{charge_point.ocpp_id}", subprotocols=["ocpp1.6"]
    ) as charger:
        charger_boot(charger)
        log_in(
            page, portal_server, support.username, f"/charge-points/{charge_point.pk}/"
        )
        expect(page.locator("html")).to_have_attribute("data-live", "connected")
        page.evaluate("window.sameDocument = true")

        form = page.get_by_test_id("command-form-Reset")
        page.locator("#command-form-Reset summary").click()
        form.get_by_role("button", name="Send reset").click()
        sent = _answer_calls_until(charger, "Reset", "Accepted")

        outcome = page.locator("#command-rows [data-testid=command-status]").first
        expect(outcome).to_have_text("Accepted", timeout=5_000)

    assert sent["type"] in {"Soft", "Hard"}
    assert page.evaluate("window.sameDocument") is True
