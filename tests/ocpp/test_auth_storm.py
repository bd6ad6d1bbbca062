"""A wrong-password storm on one charger id: backed off, recorded sparingly, and
other chargers keep connecting at once (a real server process, real sockets)."""

from __future__ import annotations

import asyncio
import time

import pytest
import websockets
import websockets.exceptions
from ocpp.v16 import call

from stations.models import ConnectionEvent
from tests.factories import ChargePointFactory
from tests.ocpp.client import auth_header, charger, raw_socket

pytestmark = pytest.mark.django_db(transaction=True)


async def _wrong_password(server, ocpp_id: str) -> int:
    try:
        async with raw_socket(server, ocpp_id, headers=auth_header(ocpp_id, "nope")):
            return 101
    except websockets.exceptions.InvalidStatus as refused:
        return refused.response.status_code


def test_a_password_storm_is_backed_off_and_spares_other_chargers(server_factory):
    server = server_factory(OCPP_AUTH_BACKOFF_SECONDS="30")
    ChargePointFactory(ocpp_id="CP-STORM-TARGET", password="right-password-1")
    ChargePointFactory(ocpp_id="CP-STORM-BYSTANDER", password="bystander-pass-1")

    async def scenario() -> tuple[list[int], float, str]:
        storm = asyncio.gather(
            *(_wrong_password(server, "CP-STORM-TARGET") for _ in range(60))
        )
        started = time.monotonic()
        async with charger(
            server, "CP-STORM-BYSTANDER", password="bystander-pass-1"
        ) as client:
            await client.call(call.Heartbeat())
        bystander_s = time.monotonic() - started
        statuses = await storm
        # The right password, during the back-off: refused without a hash check.
        late = await _wrong_password(server, "CP-STORM-TARGET")
        return [*statuses, late], bystander_s, server.log()

    statuses, bystander_s, log = asyncio.run(scenario())

    assert set(statuses) == {401}
    assert bystander_s < 5.0
    assert "too many failed attempts" in log
    rows = ConnectionEvent.objects.filter(
        charge_point__ocpp_id="CP-STORM-TARGET", kind="rejected"
    )
    # 61 refusals, a handful of history rows: no row per attempt.
    assert 1 <= rows.count() <= 6
