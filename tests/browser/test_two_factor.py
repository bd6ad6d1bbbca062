"""Two-factor log-in in a real browser: set up with the QR page, log in again
with the code step, a wrong code refused, a recovery code accepted once."""

from __future__ import annotations

import pyotp
import pytest
from playwright.sync_api import Page, expect

from accounts.models import AuditLog
from tests.browser.conftest import PASSWORD, log_in
from tests.browser.test_security_headers import RECORD_VIOLATIONS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _password_step(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/?next=/stations/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


def test_an_operator_sets_up_two_factor_and_logs_in_with_a_code(
    page: Page, portal_server, operator
) -> None:
    page.add_init_script(RECORD_VIOLATIONS)
    base = portal_server.http_url
    log_in(page, portal_server, operator.username, "/accounts/two-factor/")
    page.get_by_role("button", name="Set up two-factor log-in").click()
    expect(page.get_by_test_id("two-factor-qr").locator("svg")).to_be_visible()
    secret = page.get_by_test_id("two-factor-secret").inner_text().strip()
    page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Turn on").click()
    codes = page.get_by_test_id("recovery-codes").locator("li")
    expect(codes).to_have_count(10)
    recovery = codes.first.inner_text().strip()
    assert page.evaluate("window.__cspViolations") == []
    page.get_by_role("button", name="Log out").click()

    _password_step(page, base, operator.username)
    expect(page.get_by_role("heading", name="Log-in code")).to_be_visible()
    page.get_by_label("Code").fill("000000x")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_test_id("code-error")).to_contain_text("not valid")
    page.get_by_label("Code").fill(recovery)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(f"{base}/stations/")
    expect(page.get_by_test_id("current-user")).to_have_text(operator.username)
    expect(page.get_by_role("status")).to_contain_text("9 left")
    actions = set(AuditLog.objects.values_list("action", flat=True))
    assert {"two_factor.enabled", "two_factor.recovery_code_used", "login.failed"} <= (
        actions
    )
