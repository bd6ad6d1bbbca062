"""The message log writer: buffered frames reach the database, busy or quiet."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from stations.models import OcppMessage
from stations.ocpp.messagelog import FLUSH_INTERVAL_S, LogEntry, MessageLogWriter

pytestmark = pytest.mark.django_db(transaction=True)


def _entry(unique_id: str) -> LogEntry:
    return LogEntry(
        ocpp_id="CP-LOG-W",
        charge_point_id=None,
        direction="in",
        message_type=2,
        unique_id=unique_id,
        action="Heartbeat",
        payload={},
    )


def _logged() -> list[str]:
    return list(
        OcppMessage.objects.filter(ocpp_id="CP-LOG-W")
        .order_by("id")
        .values_list("unique_id", flat=True)
    )


def test_a_quiet_gateway_writes_the_log_on_its_timer() -> None:
    async def scenario() -> list[str]:
        writer = MessageLogWriter()
        writer.add(_entry("quiet-1"))
        await asyncio.sleep(FLUSH_INTERVAL_S * 4)
        return await sync_to_async(_logged)()

    assert asyncio.run(scenario()) == ["quiet-1"]


def test_while_batches_are_written_they_carry_the_log_and_the_timer_waits() -> None:
    async def scenario() -> tuple[list[str], list[str], list[str]]:
        writer = MessageLogWriter()
        writer.rounds_in_flight = 1  # a group-commit round is under way
        writer.add(_entry("busy-1"))
        await asyncio.sleep(FLUSH_INTERVAL_S * 3)
        during = await sync_to_async(_logged)()
        taken = [entry.unique_id for entry in writer.take()]  # the round takes them
        writer.add(_entry("busy-2"))
        writer.rounds_in_flight = 0  # the round ended: the timer writes the rest
        await asyncio.sleep(FLUSH_INTERVAL_S * 4)
        return during, taken, await sync_to_async(_logged)()

    during, taken, after = asyncio.run(scenario())
    assert during == []
    assert taken == ["busy-1"]
    assert after == ["busy-2"]
