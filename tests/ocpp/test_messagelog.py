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


async def _until_logged(unique_id: str) -> list[str]:
    """The log once ``unique_id`` is in it, or as it is after 5 s."""
    deadline = asyncio.get_running_loop().time() + 5.0
    while True:
        logged = await sync_to_async(_logged)()
        if unique_id in logged or asyncio.get_running_loop().time() > deadline:
            return logged
        await asyncio.sleep(FLUSH_INTERVAL_S / 5)


def test_a_quiet_gateway_writes_the_log_on_its_timer() -> None:
    async def scenario() -> list[str]:
        writer = MessageLogWriter()
        writer.add(_entry("quiet-1"))
        return await _until_logged("quiet-1")

    assert asyncio.run(scenario()) == ["quiet-1"]


def test_while_batches_are_written_they_carry_the_log_and_the_timer_waits() -> None:
    async def scenario() -> tuple[list[str], list[str], list[str]]:
        writer = MessageLogWriter()
        writer.rounds_in_flight = 1  # a group-commit round is under way
        writer.add(_entry("busy-1"))
        # A quiet writer started just after: once its timer has written its
        # entry, the busy writer's timer has fired too, and held its entry back.
        MessageLogWriter().add(_entry("quiet-1"))
        during = await _until_logged("quiet-1")
        taken = [entry.unique_id for entry in writer.take()]  # the round takes them
        writer.add(_entry("busy-2"))
        writer.rounds_in_flight = 0  # the round ended: the timer writes the rest
        return during, taken, await _until_logged("busy-2")

    during, taken, after = asyncio.run(scenario())
    assert during == ["quiet-1"]
    assert taken == ["busy-1"]
    assert after == ["quiet-1", "busy-2"]
