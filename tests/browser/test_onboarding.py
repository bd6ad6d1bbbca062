"""An operator onboards every waiting charger from the Unassigned page in one step."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from stations.models import ChargePoint, RegistrationStatus
from tests.browser.conftest import log_in
from tests.factories import ChargePointFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_operator_assigns_and_accepts_every_unassigned_charger_at_once(
    page: Page, portal_server, operator, station_a
) -> None:
    for index in range(60):  # more than a page of them
        ChargePointFactory(
            station=None,
            ocpp_id=f"SIM-{index:03d}",
            registration_status=RegistrationStatus.PENDING,
        )
    log_in(page, portal_server, operator.username, "/unassigned/")

    expect(page.locator("[data-testid=unassigned-table] tbody tr")).to_have_count(50)
    page.get_by_label("Assign to station").select_option(label=str(station_a))
    page.get_by_test_id("onboard-everything").check()
    page.get_by_role("button", name="Assign chosen chargers").click()

    expect(page.locator(".message")).to_contain_text(
        "60 chargers assigned to City Mall and accepted."
    )
    expect(page.get_by_text("No unassigned chargers.")).to_be_visible()
    assert not ChargePoint.objects.filter(station__isnull=True).exists()
    assert not ChargePoint.objects.exclude(
        registration_status=RegistrationStatus.ACCEPTED
    ).exists()
