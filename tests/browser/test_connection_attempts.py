"""An operator finds an unknown charger among the refused connection attempts
and registers it from there."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import Page, expect

from stations.models import ConnectionAttempt
from stations.services import RefusedAttempts, connection_attempts_record
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_operator_filters_refusals_and_registers_an_unknown_charger(
    page: Page, portal_server, operator, station_a
) -> None:
    at = datetime.now(UTC)
    connection_attempts_record(
        attempts=[
            RefusedAttempts(
                ocpp_id=ocpp_id,
                remote_address="198.51.100.20",
                reason=reason,
                window_start=at,
                count=count,
                first_seen_at=at,
                last_seen_at=at,
                subprotocols="ocpp2.0.1",
            )
            for ocpp_id, reason, count in [
                ("CP-FIELD-NEW", ConnectionAttempt.Reason.UNKNOWN_ID, 37),
                ("CP-ODD-PROTO", ConnectionAttempt.Reason.SUBPROTOCOL, 2),
            ]
        ]
    )
    log_in(page, portal_server, operator.username, "/")

    page.get_by_role("link", name="Connection attempts").first.click()
    page.get_by_label("Reason").select_option(label="Unknown charger id")
    page.get_by_role("button", name="Filter").click()

    rows = page.get_by_test_id("attempt")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_test_id("count")).to_have_text("37")
    rows.first.get_by_role("link", name="Register this charger").click()
    expect(page.get_by_label("OCPP id")).to_have_value("CP-FIELD-NEW")
