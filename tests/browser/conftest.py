"""A real Chromium (Debian's) driven by Playwright against the live ASGI server."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from websockets.sync.client import ClientConnection

from tests.live_server import LiveServer

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
PASSWORD = "pw-test-1234"  # tests.factories.UserFactory
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module.

    Not session-wide: Playwright's sync API keeps an event loop running in the main
    thread while it is started, and tests collected after the browser tests (OCPP
    clients using ``asyncio.run``) cannot run inside it.
    """
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    # That running loop also makes Django see "async context" in the ORM calls the
    # tests make between page actions; they are plain sync code in this thread.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def portal_server(server_factory: Callable[..., LiveServer]) -> LiveServer:
    """A fresh server per test.

    The shared ``asgi_server`` outlives the database flush after each transactional
    test; the flush recreates content types under new ids while that process keeps
    the old ones cached, so guardian's scope queries would find nothing there.
    """
    return server_factory()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def log_in(page: Page, server: LiveServer, username: str, next_path: str = "/") -> None:
    page.goto(f"{server.http_url}/accounts/login/?next={next_path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def screenshot(page: Page, name: str) -> None:
    """Save a screenshot for the docs only when CMS_SCREENSHOTS=1 (CI leaves files alone)."""
    if os.environ.get("CMS_SCREENSHOTS") != "1":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def charger_call(
    socket: ClientConnection, unique_id: str, action: str, payload: dict[str, Any]
) -> list[Any]:
    """Send a CALL as the charger and return the CMS's CALLRESULT or CALLERROR."""
    socket.send(json.dumps([2, unique_id, action, payload]))
    while True:  # skip CALLs the CMS may send on its own (e.g. TriggerMessage)
        frame = json.loads(socket.recv(timeout=10))
        if frame[0] in (3, 4) and frame[1] == unique_id:
            return frame


def charger_boot(socket: ClientConnection) -> None:
    """Boot as a charger does after connecting; the CMS accepts it."""
    boot = charger_call(
        socket,
        "boot-1",
        "BootNotification",
        {"chargePointVendor": "ACME", "chargePointModel": "Wallbox 22"},
    )
    assert boot[2]["status"] == "Accepted"
