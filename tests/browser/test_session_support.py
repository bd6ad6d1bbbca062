"""Support watches a session live and stops it from its page, as a driver on the
phone asks; the charger is a real OCPP client."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from websockets.sync.client import connect

from tests.browser.conftest import charger_boot, charger_call, log_in
from tests.factories import ChargePointFactory, ConnectorFactory, IdTokenFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _meter(socket, unique_id: str, transaction_id: int, register_wh: int) -> None:
    charger_call(
        socket,
        unique_id,
        "MeterValues",
        {
            "connectorId": 1,
            "transactionId": transaction_id,
            "meterValue": [
                {
                    "timestamp": timezone.now().isoformat(),
                    "sampledValue": [
                        {
                            "value": str(register_wh),
                            "measurand": "Energy.Active.Import.Register",
                            "unit": "Wh",
                        },
                        {
                            "value": "7400",
                            "measurand": "Power.Active.Import",
                            "unit": "W",
                        },
                    ],
                }
            ],
        },
    )


def test_support_sees_the_session_tick_and_stops_it(
    page: Page, portal_server, support, station_a
) -> None:
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-SUPPORT-1")
    ConnectorFactory(charge_point=charge_point, status="Available")
    IdTokenFactory(token="TAG-CALLER", network=station_a.network)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    with connect(
        f"{portal_server.ws_url}/ocpp/{charge_point.ocpp_id}", subprotocols=["ocpp1.6"]
    ) as charger:
        charger_boot(charger)
        start = charger_call(
            charger,
            "start-1",
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": "TAG-CALLER",
                "meterStart": 1000,
                "timestamp": timezone.now().isoformat(),
            },
        )
        transaction_id = start[2]["transactionId"]
        log_in(
            page,
            portal_server,
            support.username,
            f"/charging/sessions/{transaction_id}/",
        )
        expect(page.locator("html")).to_have_attribute("data-live", "connected")
        expect(page.get_by_test_id("energy")).to_have_text("0.00 kWh")

        _meter(charger, "meter-1", transaction_id, 3500)

        # pushed, not reloaded: the figures follow the charger
        expect(page.get_by_test_id("energy")).to_have_text("2.50 kWh")
        expect(page.get_by_test_id("power")).to_have_text("7.40 kW")

        page.get_by_test_id("action-stop").click()
        while True:  # the charger receives the remote stop for its transaction
            frame = json.loads(charger.recv(timeout=10))
            if frame[0] == 2 and frame[2] == "RemoteStopTransaction":
                break
            if frame[0] == 2:
                charger.send(json.dumps([4, frame[1], "NotImplemented", "", {}]))
        assert frame[3] == {"transactionId": transaction_id}
        charger.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
        expect(page.locator(".message")).to_contain_text(
            "Remote stop sent to CP-SUPPORT-1"
        )
    assert errors == []
