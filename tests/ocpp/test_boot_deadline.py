"""Sockets without a boot: closed at the deadline unless the charger was accepted
before, and capped per source address (a real server process, real sockets)."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import websockets.exceptions
from django.utils import timezone

from stations.models import ConnectionAttempt, ConnectionEvent
from tests.factories import ChargePointFactory
from tests.ocpp.client import exchange, heartbeat_answers, raw_socket, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

BOOT = [
    2,
    "boot-1",
    "BootNotification",
    {"chargePointVendor": "ACME", "chargePointModel": "Wallbox 22"},
]


async def _closed_code(socket, timeout_s: float) -> int | None:
    await asyncio.wait_for(socket.wait_closed(), timeout_s)
    return socket.close_code


def test_a_never_accepted_charger_is_closed_at_its_boot_deadline(server_factory):
    server = server_factory(OCPP_BOOT_DEADLINE_S="1.5")
    ChargePointFactory(ocpp_id="CP-BOOTED-BEFORE", last_boot_at=timezone.now())
    ChargePointFactory(ocpp_id="CP-BOOTS-NOW")
    ChargePointFactory(ocpp_id="CP-NEVER-BOOTS")

    async def scenario() -> tuple[int | None, float, str, bool, bool]:
        async with (
            raw_socket(server, "CP-BOOTED-BEFORE") as known,
            raw_socket(server, "CP-BOOTS-NOW") as booter,
        ):
            answer = await exchange(booter, BOOT)
            async with raw_socket(server, "CP-NEVER-BOOTS") as silent:
                connected = time.monotonic()
                code = await _closed_code(silent, 15)
                waited_s = time.monotonic() - connected
            # Both others connected before the silent one: their deadline (had
            # they one) has passed too, yet both still answer.
            known_answers = await heartbeat_answers(known)
            booter_answers = await heartbeat_answers(booter, "hb-2")
            return code, waited_s, answer[2]["status"], known_answers, booter_answers

    code, waited_s, boot_status, known_answers, booter_answers = asyncio.run(scenario())

    assert code == 1008
    assert waited_s >= 1.4
    assert boot_status == "Accepted"
    assert known_answers is True
    assert booter_answers is True
    # The server records the close after the socket is gone.
    closed = wait_for(
        ConnectionEvent.objects.filter(
            charge_point__ocpp_id="CP-NEVER-BOOTS",
            kind=ConnectionEvent.Kind.DISCONNECTED,
        ).first
    )
    assert "no BootNotification accepted within 1.5 s" in closed.detail
    # Operations see it among the connection attempts.
    assert wait_for(
        ConnectionAttempt.objects.filter(
            ocpp_id="CP-NEVER-BOOTS", reason=ConnectionAttempt.Reason.BOOT_DEADLINE
        ).exists,
        what="the boot deadline recorded as a connection attempt",
    )
    assert not ConnectionEvent.objects.filter(
        charge_point__ocpp_id__in=["CP-BOOTED-BEFORE", "CP-BOOTS-NOW"],
        kind=ConnectionEvent.Kind.DISCONNECTED,
        at__lt=closed.at,
    ).exists()


def test_a_rejected_boot_does_not_stop_the_deadline(server_factory):
    server = server_factory(OCPP_BOOT_DEADLINE_S="1.5")
    ChargePointFactory(ocpp_id="CP-REJECTED", registration_status="Rejected")

    async def scenario() -> tuple[str, int | None]:
        async with raw_socket(server, "CP-REJECTED") as socket:
            answer = await exchange(socket, BOOT)
            return answer[2]["status"], await _closed_code(socket, 15)

    status, code = asyncio.run(scenario())

    assert status == "Rejected"
    assert code == 1008


async def _handshake_status(server, ocpp_id: str) -> int:
    try:
        async with raw_socket(server, ocpp_id):
            return 101
    except websockets.exceptions.InvalidStatus as refused:
        return refused.response.status_code


def test_unbooted_sockets_per_address_are_capped_until_one_boots(server_factory):
    server = server_factory(OCPP_UNBOOTED_PER_ADDRESS="2", OCPP_BOOT_DEADLINE_S="60")
    for ocpp_id in ("CP-CAP-A", "CP-CAP-B", "CP-CAP-C"):
        ChargePointFactory(ocpp_id=ocpp_id)

    async def scenario() -> tuple[int, str, bool]:
        async with (
            raw_socket(server, "CP-CAP-A") as first,
            raw_socket(server, "CP-CAP-B"),
        ):
            refused = await _handshake_status(server, "CP-CAP-C")
            answer = await exchange(first, BOOT)
            # A's boot gave its place back: C connects now and is served.
            async with raw_socket(server, "CP-CAP-C") as third:
                third_answers = await heartbeat_answers(third)
            return refused, json.dumps(answer), third_answers

    refused, answer, third_answers = asyncio.run(scenario())

    assert refused == 403
    assert '"Accepted"' in answer
    assert third_answers is True
    refusal = ConnectionEvent.objects.get(
        charge_point__ocpp_id="CP-CAP-C", kind=ConnectionEvent.Kind.REJECTED
    )
    assert "too many sockets without a boot" in refusal.detail
    attempt = wait_for(
        ConnectionAttempt.objects.filter(
            ocpp_id="CP-CAP-C", reason=ConnectionAttempt.Reason.ADDRESS_CAP
        ).first,
        what="the per-address cap recorded as a connection attempt",
    )
    assert attempt.remote_address == "127.0.0.1"
