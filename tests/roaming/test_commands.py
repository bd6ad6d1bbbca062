"""Commands from an eMSP through to a simulated charger and back as CommandResults."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from roaming.models import RoamingCommand, RoamingSession
from roaming.publication import location_publication_set
from roaming.tasks import command_results_retry_sweep
from sessions_app.models import ChargingSession, SessionStatus
from stations.remote.models import Reservation
from tests.factories import ChargePointFactory, ConnectorFactory
from tests.ocpp.client import wait_for
from tests.roaming.emsp import EmspPlatform
from tests.simulator.support import running

pytestmark = pytest.mark.django_db(transaction=True)

SIM_PASSWORD = "sim-pass-123"


@pytest.fixture
def site(network_a, station_a):
    location_publication_set(network=network_a, is_published=True)
    charge_point = ChargePointFactory(
        station=station_a, ocpp_id="ROAM-SIM-1", password=SIM_PASSWORD
    )
    ConnectorFactory(
        charge_point=charge_point, connector_id=1, max_power_kw=Decimal("22")
    )
    return station_a, charge_point


async def _poll(
    check: Callable[[], Any], *, what: str, deadline_s: float = 30.0
) -> Any:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        result = await asyncio.to_thread(check)
        if result:
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.asynccontextmanager
async def _online(asgi_server, charge_point) -> AsyncIterator[None]:
    """The site's charger, simulated, connected and booted for the block."""
    async with running(
        f"{asgi_server.ws_url}/ocpp/",
        ocpp_id=charge_point.ocpp_id,
        password=SIM_PASSWORD,
        id_tags=(),
    ) as charger:
        await _poll(lambda: charger.is_online, what="boot accepted")
        yield


def _command(emsp: EmspPlatform, kind: str, body: dict[str, Any]):
    url = f"{emsp.cpo_endpoints[('commands', 'RECEIVER')]}/{kind}"
    return emsp.call("POST", url, body=body, routing=True)


def test_start_and_stop_session_reach_the_charger_and_report_back(
    registered, asgi_server, site
):
    station, charge_point = site
    evse = f"{charge_point.ocpp_id}-1"

    async def scenario():
        async with _online(asgi_server, charge_point):
            start = await asyncio.to_thread(
                _command,
                registered,
                "START_SESSION",
                {
                    "response_url": registered.response_url("start-1"),
                    "token": registered.token(
                        "APPUSER1", type="APP_USER", whitelist="NEVER"
                    ),
                    "location_id": str(station.pk),
                    "evse_uid": evse,
                    "connector_id": "1",
                    "authorization_reference": "AUTH-1",
                },
            )
            results = await _poll(
                lambda: registered.command_results("start-1"), what="the start result"
            )
            session = await _poll(
                lambda: ChargingSession.objects.filter(
                    charge_point=charge_point, status=SessionStatus.ACTIVE
                ).first(),
                what="the session",
            )
            link = await _poll(
                lambda: RoamingSession.objects.filter(session=session).first(),
                what="the session's partner",
            )
            stop = await asyncio.to_thread(
                _command,
                registered,
                "STOP_SESSION",
                {
                    "response_url": registered.response_url("stop-1"),
                    "session_id": str(session.pk),
                },
            )
            stop_results = await _poll(
                lambda: registered.command_results("stop-1"), what="the stop result"
            )
            await _poll(
                lambda: ChargingSession.objects.filter(
                    pk=session.pk, status=SessionStatus.COMPLETED
                ).exists(),
                what="the session stopped",
            )
            return start, results, session, link, stop, stop_results

    start, results, session, link, stop, stop_results = asyncio.run(scenario())

    assert (start.status, start.status_code) == (200, 1000)
    assert start.data["result"] == "ACCEPTED"
    assert start.data["timeout"] > 0
    assert results == [{"result": "ACCEPTED"}]
    assert session.id_tag == "APPUSER1"
    assert link.partner.party_id == "EMS"
    assert stop.data["result"] == "ACCEPTED"
    assert stop_results == [{"result": "ACCEPTED"}]
    # The eMSP was not asked again in real time: START_SESSION authorized it.
    assert not [
        r for r in registered.received if r.path.split("?")[0].endswith("/authorize")
    ]


def test_reserve_cancel_and_unlock_report_the_chargers_answers(
    registered, asgi_server, site
):
    station, charge_point = site
    evse = f"{charge_point.ocpp_id}-1"
    expiry = (datetime.now(tz=UTC) + timedelta(minutes=30)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )

    async def scenario():
        async with _online(asgi_server, charge_point):
            answers = {}
            answers["reserve"] = await asyncio.to_thread(
                _command,
                registered,
                "RESERVE_NOW",
                {
                    "response_url": registered.response_url("reserve-1"),
                    "token": registered.token("RFID0001"),
                    "expiry_date": expiry,
                    "reservation_id": "R-1",
                    "location_id": str(station.pk),
                    "evse_uid": evse,
                },
            )
            await _poll(lambda: registered.command_results("reserve-1"), what="reserve")
            answers["cancel"] = await asyncio.to_thread(
                _command,
                registered,
                "CANCEL_RESERVATION",
                {
                    "response_url": registered.response_url("cancel-1"),
                    "reservation_id": "R-1",
                },
            )
            await _poll(lambda: registered.command_results("cancel-1"), what="cancel")
            answers["unlock"] = await asyncio.to_thread(
                _command,
                registered,
                "UNLOCK_CONNECTOR",
                {
                    "response_url": registered.response_url("unlock-1"),
                    "location_id": str(station.pk),
                    "evse_uid": evse,
                    "connector_id": "1",
                },
            )
            await _poll(lambda: registered.command_results("unlock-1"), what="unlock")
            return answers

    answers = asyncio.run(scenario())

    assert {name: a.data["result"] for name, a in answers.items()} == {
        "reserve": "ACCEPTED",
        "cancel": "ACCEPTED",
        "unlock": "ACCEPTED",
    }
    assert registered.command_results("reserve-1") == [{"result": "ACCEPTED"}]
    assert registered.command_results("cancel-1") == [{"result": "ACCEPTED"}]
    assert registered.command_results("unlock-1")[0]["result"] in {"ACCEPTED", "FAILED"}
    reservation = Reservation.objects.get()
    assert reservation.id_tag == "RFID0001"


def test_a_command_to_an_offline_charger_reports_failed(registered, site):
    station, charge_point = site
    answer = _command(
        registered,
        "UNLOCK_CONNECTOR",
        {
            "response_url": registered.response_url("unlock-off"),
            "location_id": str(station.pk),
            "evse_uid": f"{charge_point.ocpp_id}-1",
            "connector_id": "1",
        },
    )
    assert answer.data["result"] == "ACCEPTED"
    [result] = wait_for(lambda: registered.command_results("unlock-off"), timeout=20)
    assert result["result"] == "FAILED"
    assert "offline" in result["message"][0]["text"]


def test_a_failing_response_url_is_retried_with_back_off(registered, site):
    station, charge_point = site
    registered.command_result_failures = 2
    _command(
        registered,
        "UNLOCK_CONNECTOR",
        {
            "response_url": registered.response_url("unlock-retry"),
            "location_id": str(station.pk),
            "evse_uid": f"{charge_point.ocpp_id}-1",
            "connector_id": "1",
        },
    )
    record = wait_for(
        lambda: RoamingCommand.objects.filter(result_attempts=1).first(), timeout=20
    )
    assert record.result_delivered_at is None
    assert "500" in record.result_error
    assert command_results_retry_sweep(now=timezone.now()) == 0  # not due yet
    first_retry = record.result_retry_at
    assert command_results_retry_sweep(now=first_retry) == 1
    record.refresh_from_db()
    assert record.result_attempts == 2
    assert record.result_retry_at - first_retry == timedelta(seconds=10)  # doubled
    assert command_results_retry_sweep(now=record.result_retry_at) == 1
    record.refresh_from_db()
    assert record.result_delivered_at is not None
    assert record.result_attempts == 3
    posts = [r for r in registered.received if r.path.endswith("/unlock-retry")]
    assert [p.body["result"] for p in posts] == ["FAILED"] * 3
    assert command_results_retry_sweep(now=timezone.now() + timedelta(days=1)) == 0


@pytest.mark.parametrize(
    ("kind", "body", "status_code", "result", "needle"),
    [
        ("START_SESSION", {"location_id": "1"}, 2001, None, "response_url"),
        (
            "UNLOCK_CONNECTOR",
            {"location_id": "999999", "evse_uid": "x", "connector_id": "1"},
            2003,
            None,
            "location",
        ),
        ("STOP_SESSION", {"session_id": "999999"}, 1000, "UNKNOWN_SESSION", None),
        ("CANCEL_RESERVATION", {"reservation_id": "nope"}, 1000, "REJECTED", None),
        ("CHARGE_FASTER", {}, 1000, "NOT_SUPPORTED", None),
    ],
)
def test_bad_commands_are_answered_and_send_nothing(
    registered, site, kind, body, status_code, result, needle
):
    if "response_url" not in body and needle != "response_url":
        body = {**body, "response_url": registered.response_url("bad")}
    answer = _command(registered, kind, body)
    assert answer.status_code == status_code
    if result is not None:
        assert answer.data["result"] == result
    if needle is not None:
        assert needle in answer.body["status_message"]
    assert not RoamingCommand.objects.filter(command__isnull=False).exists()
