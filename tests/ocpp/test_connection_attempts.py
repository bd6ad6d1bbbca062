"""Refused handshakes are kept for operations, unknown ids too, one row per
storm: real WebSocket clients against a live server."""

from __future__ import annotations

import asyncio

import pytest
import websockets

from stations.models import ConnectionAttempt
from tests.factories import ChargePointFactory
from tests.ocpp.client import auth_header, boot, charger, raw_socket, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

Reason = ConnectionAttempt.Reason


async def _refused_status(server, ocpp_id: str, **kwargs) -> int:
    try:
        async with raw_socket(server, ocpp_id, **kwargs):
            return 101
    except websockets.exceptions.InvalidStatus as refused:
        return refused.response.status_code


def _attempt(ocpp_id: str, reason: str, count: int = 1):
    return wait_for(
        ConnectionAttempt.objects.filter(
            ocpp_id=ocpp_id, reason=reason, count=count
        ).first,
        what=f"{count} refusal(s) of {ocpp_id} recorded as {reason}",
    )


def test_a_storm_from_an_unknown_id_is_one_row_with_its_count(asgi_server):
    async def storm() -> list[int]:
        return [
            await _refused_status(asgi_server, "CP-NOBODY-KNOWS")
            for _attempt_number in range(25)
        ]

    statuses = asyncio.run(storm())

    assert set(statuses) == {403}
    attempt = _attempt("CP-NOBODY-KNOWS", Reason.UNKNOWN_ID, count=25)
    assert ConnectionAttempt.objects.filter(ocpp_id="CP-NOBODY-KNOWS").count() == 1
    assert attempt.remote_address == "127.0.0.1"
    assert attempt.subprotocols == "ocpp1.6"
    assert attempt.first_seen_at <= attempt.last_seen_at
    assert "unknown charge point" in attempt.detail


def test_wrong_password_and_unsupported_subprotocol_are_recorded(asgi_server):
    ChargePointFactory(ocpp_id="CP-ATTEMPT-PW", password="right-password-1")
    ChargePointFactory(ocpp_id="CP-ATTEMPT-PROTO")

    async def scenario() -> tuple[int, int | None]:
        wrong = await _refused_status(
            asgi_server,
            "CP-ATTEMPT-PW",
            headers=auth_header("CP-ATTEMPT-PW", "wrong-password-1"),
        )
        # OCPP-J §3.1.2: no common subprotocol, the socket is closed at once.
        async with raw_socket(
            asgi_server, "CP-ATTEMPT-PROTO", subprotocols=("ocpp9.9",)
        ) as socket:
            await socket.wait_closed()
            return wrong, socket.close_code

    wrong, close_code = asyncio.run(scenario())

    assert wrong == 401
    assert close_code == 1002
    assert "wrong password" in _attempt("CP-ATTEMPT-PW", Reason.WRONG_PASSWORD).detail
    proto = _attempt("CP-ATTEMPT-PROTO", Reason.SUBPROTOCOL)
    assert proto.subprotocols == "ocpp9.9"


def test_a_charger_that_connects_leaves_no_attempt(asgi_server):
    ChargePointFactory(ocpp_id="CP-ATTEMPT-OK")

    async def scenario() -> str:
        async with charger(asgi_server, "CP-ATTEMPT-OK") as client:
            answer = await client.call(boot())
            return answer.status

    assert asyncio.run(scenario()) == "Accepted"
    # Proven absent after a later refusal's row appears (the same flush path).
    asyncio.run(_refused_status(asgi_server, "CP-ATTEMPT-AFTER"))
    _attempt("CP-ATTEMPT-AFTER", Reason.UNKNOWN_ID)
    assert not ConnectionAttempt.objects.filter(ocpp_id="CP-ATTEMPT-OK").exists()
