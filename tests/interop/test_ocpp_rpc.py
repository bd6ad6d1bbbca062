"""A station from an independent implementation, ocpp-rpc in strict mode (every
frame both ways validated against the official OCPP 2.0.1 / 1.6 JSON schemas),
boots, charges, is stopped and reset from the portal, and is billed.

The station is tests/interop/station/station.js (Node.js); ``make test`` installs
its pinned dependencies with ``npm ci``. Without Node.js or those dependencies
these tests fail, saying so: they are never skipped.
"""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse

from billing import services as billing
from billing.models import Cdr
from sessions_app.models import ChargingSession
from stations.models import ChargePoint, CommandStatus, ConnectionEvent
from tests.factories import ChargePointFactory, IdTokenFactory
from tests.ocpp.client import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

STATION_DIR = Path(__file__).resolve().parent / "station"
WAIT_S = 60.0


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is not installed (make test installs nodejs and npm)")
    if not (STATION_DIR / "node_modules" / "ocpp-rpc").is_dir():
        pytest.fail(
            f"ocpp-rpc is not installed: run `npm ci` in {STATION_DIR} (make test does)"
        )
    return node


class StationRun:
    """The Node station's process and the events it prints, one JSON a line."""

    def __init__(self, args: list[str]) -> None:
        self.process = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.events.put(json.loads(line))
        self.events.put({"event": "exit"})

    def wait(self, name: str) -> dict[str, Any]:
        while True:
            try:
                event = self.events.get(timeout=WAIT_S)
            except queue.Empty:
                self.process.kill()
                raise AssertionError(
                    f"the station printed no {name!r} within {WAIT_S:g} s: {self.seen}"
                ) from None
            self.seen.append(event)
            if event["event"] == name:
                return event
            if event["event"] in {"error", "exit"}:
                stderr = self.process.stderr.read() if self.process.stderr else ""
                raise AssertionError(
                    f"the station ended before {name!r}: {self.seen} {stderr}"
                )

    def failures(self) -> list[dict[str, Any]]:
        return [e for e in self.seen if e["event"] == "strict_validation_failure"]


def _post(client, session: ChargingSession, action: str) -> None:
    response = client.post(
        reverse("charging:session_action", args=[session.pk, action])
    )
    assert response.status_code == 302, response.content


@pytest.mark.parametrize(
    ("protocol", "ocpp_id"),
    [("ocpp2.0.1", "CP-RPC-201"), ("ocpp1.6", "CP-RPC-16")],
)
def test_an_independent_strict_station_charges_is_stopped_billed_and_reset(
    protocol, ocpp_id, asgi_server, station_a, support, client
):
    node = _node()
    tariff = billing.tariff_create(
        actor=None,
        network=station_a.network,
        data={"name": "Energy", "currency": "EUR", "vat_percent": 0},
        elements=[{"energy_price_per_kwh": Decimal("0.50")}],
    )
    billing.tariff_assignment_add(actor=None, tariff=tariff)
    IdTokenFactory(token="RPC-DRIVER", network=station_a.network)
    charge_point = ChargePointFactory(station=station_a, ocpp_id=ocpp_id)
    client.force_login(support)

    run = StationRun(
        [
            node,
            str(STATION_DIR / "station.js"),
            f"{asgi_server.ws_url}/ocpp",
            ocpp_id,
            protocol,
            "RPC-DRIVER",
        ]
    )
    try:
        booted = run.wait("booted")
        authorized = run.wait("authorized")
        charging = run.wait("charging")
        session = wait_for(
            lambda: ChargingSession.objects.filter(
                charge_point=charge_point, stopped_at__isnull=True
            ).first(),
            what="the session open in the CMS",
        )
        # Support stops the session from its page, as for a driver who called.
        _post(client, session, "stop")
        run.wait("stopped")
        cdr = wait_for(
            lambda: Cdr.objects.filter(session=session).first(), what="the CDR"
        )
        # Then resets the charger from the same page.
        _post(client, session, "reset")
        reset = run.wait("reset_requested")
        done = run.wait("done")
        assert run.process.wait(timeout=WAIT_S) == 0
    finally:
        if run.process.poll() is None:
            run.process.kill()

    # No frame of the CMS failed the official schemas, in either direction.
    assert run.failures() == []
    assert booted["status"] == "Accepted"
    assert authorized["status"] == "Accepted"
    session.refresh_from_db()
    assert session.stopped_at is not None
    assert session.energy_wh == 11_000
    if protocol == "ocpp2.0.1":
        assert session.charger_transaction_id == charging["transactionId"]
    # 11 kWh at 0.50 EUR.
    assert cdr.energy_wh == 11_000
    assert cdr.total_amount == Decimal("5.50")
    assert reset["params"]["type"] == ("OnIdle" if protocol == "ocpp2.0.1" else "Soft")
    commands = {c.action: c.status for c in charge_point.commands.order_by("pk")}
    assert commands["Reset"] == CommandStatus.ACCEPTED
    assert commands, "no command rows"
    stopped_with = {a: st for a, st in commands.items() if "Stop" in a}
    assert list(stopped_with.values()) == [CommandStatus.ACCEPTED], commands
    stop_action = (
        "RequestStopTransaction" if protocol == "ocpp2.0.1" else "RemoteStopTransaction"
    )
    asked = [m for m in done["received"] if m in {stop_action, "Reset"}]
    assert asked == [stop_action, "Reset"]
    # It came back after the reset and booted again.
    assert (
        ConnectionEvent.objects.filter(
            charge_point=charge_point, kind=ConnectionEvent.Kind.CONNECTED
        ).count()
        == 2
    )
    assert ChargePoint.objects.get(pk=charge_point.pk).last_boot_at is not None
