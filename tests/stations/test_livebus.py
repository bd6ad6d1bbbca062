"""The live bus: events reach the sockets of their groups, in this and other processes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
import redis
from asgiref.sync import sync_to_async

from stations.live import bus as livebus


def _event(n: int) -> dict[str, Any]:
    return {"kind": "connector.status", "connector_pk": n, "status": "Charging"}


async def _until(predicate) -> None:
    """Wait up to 3 s for ``predicate()`` (the assertions after it tell what failed)."""
    deadline = asyncio.get_running_loop().time() + 3.0
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            return
        await asyncio.sleep(0.01)


async def test_without_redis_events_reach_only_the_sockets_of_their_groups():
    network_one: list[dict[str, Any]] = []
    station_two: list[dict[str, Any]] = []
    one = await livebus.subscribe(["live.network.1"], network_one.append)
    two = await livebus.subscribe(["live.station.2"], station_two.append)
    try:
        livebus.publish([(["live.network.1", "live.station.1"], _event(1))])
        livebus.publish([(["live.network.3", "live.station.2"], _event(2))])
        livebus.publish([(["live.network.3"], _event(3))])  # nobody's group
        await sync_to_async(livebus.publish_sync)([(["live.network.1"], _event(4))])
        await _until(lambda: len(network_one) == 2 and len(station_two) == 1)

        assert [e["connector_pk"] for e in network_one] == [1, 4]
        assert [e["connector_pk"] for e in station_two] == [2]

        livebus.unsubscribe(one)
        livebus.publish([(["live.network.1", "live.station.2"], _event(5))])
        # Events are handed out in order: once the later event 6 has arrived,
        # event 5 has reached every socket it was going to reach.
        livebus.publish([(["live.station.2"], _event(6))])
        await _until(lambda: len(station_two) == 3)
        assert [e["connector_pk"] for e in network_one] == [1, 4]
        assert [e["connector_pk"] for e in station_two] == [2, 5, 6]
    finally:
        livebus.unsubscribe(one)
        livebus.unsubscribe(two)


async def test_an_event_for_two_of_a_sockets_groups_arrives_once():
    got: list[dict[str, Any]] = []
    subscription = await livebus.subscribe(
        ["live.network.1", "live.unassigned"], got.append
    )
    try:
        livebus.publish([(["live.network.1", "live.unassigned"], _event(1))])
        # A later event: when it has arrived, a second copy of event 1 would have too.
        livebus.publish([(["live.unassigned"], _event(2))])
        await _until(lambda: any(e["connector_pk"] == 2 for e in got))
        assert [e["connector_pk"] for e in got] == [1, 2]
    finally:
        livebus.unsubscribe(subscription)


@pytest.fixture
def redis_bus(settings):
    if not settings.TEST_REDIS_URL:
        pytest.skip("needs the suite's Redis (make test)")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": settings.TEST_REDIS_URL}]},
        }
    }
    return redis.Redis.from_url(settings.TEST_REDIS_URL)


async def test_with_redis_events_of_another_process_reach_this_ones_sockets(redis_bus):
    got: list[dict[str, Any]] = []
    subscription = await livebus.subscribe(["live.network.7"], got.append)
    try:
        # What another server process or a Celery worker sends: one PUBLISH.
        other_process = json.dumps(
            [[["live.network.7"], _event(1)], [["live.network.8"], _event(2)]]
        )
        await sync_to_async(redis_bus.publish)(livebus.LIVE_CHANNEL, other_process)
        await sync_to_async(livebus.publish_sync)([(["live.network.7"], _event(3))])
        await _until(lambda: len(got) == 2)
        assert [e["connector_pk"] for e in got] == [1, 3]
    finally:
        livebus.unsubscribe(subscription)


async def test_with_redis_a_burst_leaves_in_few_messages_and_loses_nothing(redis_bus):
    watcher = redis_bus.pubsub(ignore_subscribe_messages=True)
    await sync_to_async(watcher.subscribe)(livebus.LIVE_CHANNEL)
    got: list[dict[str, Any]] = []
    subscription = await livebus.subscribe(["live.network.9"], got.append)
    try:
        for n in range(200):
            livebus.publish([(["live.network.9"], _event(n))])
        await _until(lambda: len(got) == 200)
        assert [e["connector_pk"] for e in got] == list(range(200))

        # Redis hands a channel's messages out in order: count the burst's
        # messages up to a marker published after every event had arrived.
        marker = livebus.encode([(["live.marker"], {"kind": "marker"})])
        await sync_to_async(redis_bus.publish)(livebus.LIVE_CHANNEL, marker)
        messages = 0
        deadline = asyncio.get_running_loop().time() + 3.0
        while asyncio.get_running_loop().time() < deadline:
            message = await sync_to_async(watcher.get_message)(timeout=0.2)
            if message is None:  # no message yet, or the skipped subscribe reply
                continue
            if message["data"] == marker.encode():
                break
            messages += 1
        else:
            pytest.fail("the marker published after the burst never arrived")
        # Events queued while a message was on its way travel together.
        assert 1 <= messages < 20
    finally:
        livebus.unsubscribe(subscription)
        watcher.close()


async def test_with_redis_down_publishing_is_logged_not_raised(settings, caplog):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:1/0"}]},
        }
    }
    await sync_to_async(livebus.publish_sync)([(["live.network.1"], _event(1))])
    assert "live events not published" in caplog.text
