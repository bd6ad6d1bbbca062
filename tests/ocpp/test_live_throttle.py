"""The gateway's live events: a running session's updates are coalesced, nothing is lost."""

from __future__ import annotations

import asyncio

from stations.ocpp import groupcommit


def _update(session_id: int, energy_wh: int, *, stopped: bool = False):
    return (
        [f"live.cp.{session_id}"],
        {
            "kind": "session.updated",
            "session_id": session_id,
            "energy_wh": energy_wh,
            "stopped_at": "2026-11-22T10:00:00+00:00" if stopped else None,
        },
    )


def _run(scenario, monkeypatch):
    sent: list[dict] = []

    async def capture(events):
        sent.extend(event for _, event in events)

    monkeypatch.setattr(groupcommit, "send_now", capture)
    asyncio.run(scenario())
    return sent


def test_a_burst_of_updates_sends_the_first_at_once_and_the_last_after_the_interval(
    monkeypatch,
):
    throttle = groupcommit.LiveThrottle(interval_s=0.2)

    async def scenario():
        admitted = throttle.admit([_update(1, 100)])
        assert [event["energy_wh"] for _, event in admitted] == [100]
        for energy in (200, 300, 400):
            assert throttle.admit([_update(1, energy)]) == []
        await asyncio.sleep(0.4)

    sent = _run(scenario, monkeypatch)
    # The intermediate states are skipped; the latest one always arrives.
    assert [event["energy_wh"] for event in sent] == [400]


def test_other_sessions_and_other_events_are_never_held_back(monkeypatch):
    throttle = groupcommit.LiveThrottle(interval_s=10)

    async def scenario():
        throttle.admit([_update(1, 100)])
        status = (["live.cp.1"], {"kind": "connector.status", "status": "Faulted"})
        admitted = throttle.admit([_update(1, 150), _update(2, 50), status])
        assert [event.get("session_id") for _, event in admitted] == [2, None]

    _run(scenario, monkeypatch)


def test_a_stop_goes_at_once_and_cancels_the_held_update(monkeypatch):
    throttle = groupcommit.LiveThrottle(interval_s=0.2)

    async def scenario():
        throttle.admit([_update(1, 100)])
        throttle.admit([_update(1, 200)])  # held
        admitted = throttle.admit([_update(1, 250, stopped=True)])
        assert [event["energy_wh"] for _, event in admitted] == [250]
        await asyncio.sleep(0.4)

    sent = _run(scenario, monkeypatch)
    # The held running-state update must not arrive after the stop.
    assert sent == []
