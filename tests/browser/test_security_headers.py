"""The portal under its Content-Security-Policy: main pages load with no violation."""

from __future__ import annotations

import urllib.request

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in
from tests.browser.test_portal import _demo_network

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Runs before any page script (Playwright injects it outside the page's CSP).
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__cspViolations.push(event.violatedDirective + " " + (event.blockedURI || "inline")
    + " at " + event.sourceFile + ":" + event.lineNumber);
});
"""


def test_main_pages_load_with_no_content_security_policy_violation(
    page: Page, portal_server, operator, station_a
) -> None:
    data = _demo_network(station_a)
    page.add_init_script(RECORD_VIOLATIONS)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, portal_server, operator.username)
    base = portal_server.http_url
    paths = [
        "/",
        "/live/",
        f"/stations/{station_a.pk}/",
        f"/charge-points/{data['main'].pk}/",
        f"/charging/sessions/{data['session'].pk}/",
        "/charging/sessions/",
        "/reports/",
        "/reports/energy/",
        "/reports/peak/",
        "/alerts/",
        "/alerts/tickets/",
        "/api/docs/",
    ]
    violations: dict[str, list[str]] = {}
    for path in paths:
        response = page.goto(f"{base}{path}")
        assert response is not None, path
        assert response.status == 200, path
        assert "script-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
        if path.startswith("/charging/sessions/") and path.count("/") == 4:
            page.wait_for_function("window.Chart && Chart.getChart('session-chart')")
        if found := page.evaluate("window.__cspViolations"):
            violations[path] = found
    assert violations == {}
    assert errors == []


def test_data_attributes_replace_the_inline_handlers(
    page: Page, portal_server, operator, station_a
) -> None:
    _demo_network(station_a)
    log_in(page, portal_server, operator.username)

    page.select_option("#overview-network", str(station_a.network_id))
    expect(page).to_have_url(
        f"{portal_server.http_url}/?network={station_a.network_id}"
    )

    page.goto(f"{portal_server.http_url}/reports/peak/")
    shaded = page.locator("td[data-heat]").first
    if shaded.count():
        assert "rgba(43, 108, 176" in shaded.evaluate(
            "cell => cell.style.backgroundColor"
        )


def test_every_response_carries_the_security_headers(portal_server) -> None:
    with urllib.request.urlopen(
        f"{portal_server.http_url}/accounts/login/"
    ) as response:
        headers = response.headers
    policy = headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert "camera=()" in headers["Permissions-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
