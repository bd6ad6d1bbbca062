"""The live board in a real browser keeps up with a charger's bursts of status changes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from websockets.sync.client import connect

from stations.models import Connector
from tests.browser.conftest import charger_boot, charger_call, log_in
from tests.factories import ChargePointFactory, ConnectorFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ROUNDS = 5  # Preparing, Available, ..., Preparing: unlike the status after boot


def test_a_burst_of_status_changes_ends_with_every_connector_current_on_the_board(
    page: Page, portal_server, operator, station_a
) -> None:
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-BURST-1")
    connectors = [
        ConnectorFactory(charge_point=charge_point, connector_id=number)
        for number in (1, 2)
    ]
    log_in(page, portal_server, operator.username, f"/live/?station={station_a.pk}")
    expect(page.locator("html")).to_have_attribute("data-live", "connected")
    page.evaluate("window.sameDocument = true")
    statuses = [
        page.locator(f"#connector-{connector.pk} [data-testid=status]")
        for connector in connectors
    ]
    for status in statuses:
        expect(status).to_have_text("Offline")  # the charger has never connected

    with connect(
        f"{portal_server.ws_url}/ocpp/{charge_point.ocpp_id}", subprotocols=["ocpp1.6"]
    ) as charger:
        charger_boot(charger)
        expect(statuses[0]).to_have_text("Available")

        # The board renders the rows of the events of a short window together,
        # so this burst reaches the browser as fragments of both rows.
        started = timezone.now()
        for round_number in range(ROUNDS):
            status = "Preparing" if round_number % 2 == 0 else "Available"
            # Connector 2 first: a row pushed alone is always applied, and a
            # fragment of both rows lists connector 1 first.
            for connector_id in (2, 1):
                sent = charger_call(
                    charger,
                    f"status-{round_number}-{connector_id}",
                    "StatusNotification",
                    {
                        "connectorId": connector_id,
                        "errorCode": "NoError",
                        "status": status,
                        # Increasing: an older status never overwrites a newer one.
                        "timestamp": (
                            started + dt.timedelta(milliseconds=10 * round_number)
                        ).isoformat(),
                    },
                )
                assert sent[0] == 3

        # Every status was stored: what follows checks the board, not the database.
        assert set(
            Connector.objects.filter(charge_point=charge_point).values_list(
                "status", flat=True
            )
        ) == {"Preparing"}
        for status in statuses:
            expect(status).to_have_text("Preparing", timeout=3_000)

    assert page.evaluate("window.sameDocument") is True  # no reload happened
