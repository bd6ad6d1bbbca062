"""Answers slower than a charger would wait are counted and reported, not dropped."""

from __future__ import annotations

import asyncio

import pytest
from ocpp.v16 import call

from tests.factories import ChargePointFactory
from tests.ocpp.client import charger, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_calls_answered_past_the_late_limit_are_counted_in_the_log(
    server_factory, station_a
):
    # Limit 0: every answer counts as late, so the report must name these calls.
    server = server_factory(OCPP_CALL_LATE_SECONDS="0", OCPP_UNKNOWN_CHARGERS="reject")
    charge_point = ChargePointFactory(station=station_a, ocpp_id="LATE-CP")

    async def scenario() -> tuple[object, object]:
        async with charger(server, charge_point.ocpp_id) as client:
            beat = await client.call(call.Heartbeat())
            status = await client.call(
                call.StatusNotification(
                    connector_id=1, error_code="NoError", status="Available"
                )
            )
            return beat, status

    beat, status = asyncio.run(scenario())

    # Late, still answered: the charger got both answers.
    assert beat.current_time
    assert status is not None
    report = wait_for(
        lambda: [
            line for line in server.log().splitlines() if "late charger calls" in line
        ],
        timeout=20,
    )
    # The first late answer is reported at once, the next within the minute's count.
    assert "1 answered after 0 s or more" in report[0]
    assert "LATE-CP Heartbeat" in report[0]
