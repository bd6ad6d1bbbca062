"""Live events: published to browser groups after the transaction commits.

Every state change the portal shows (connector status, connection, sessions,
meter values, command results, alerts) is announced here, after commit, so a
browser never sees a state that was rolled back. Events travel on the live bus
(``stations.live.bus``: one Redis pub/sub message per batch, fanned out in each
process); browser sockets (``stations.live.sockets.LiveConsumer``) subscribe to these
groups; the payload is small JSON and the consumer decides what to re-render.

Group names are ASCII and at most 100 characters (channel-layer rule).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import transaction

from stations.live import bus as livebus

logger = logging.getLogger(__name__)


def network_group(network_id: int) -> str:
    return f"live.network.{network_id}"


def station_group(station_id: int) -> str:
    return f"live.station.{station_id}"


def charge_point_live_group(charge_point_pk: int) -> str:
    """Browsers watching one charge point page."""
    return f"live.cp.{charge_point_pk}"


UNASSIGNED_GROUP = "live.unassigned"


def groups_for(
    *, network_id: int | None, station_id: int | None, charge_point_pk: int | None
) -> list[str]:
    groups: list[str] = []
    if network_id is not None:
        groups.append(network_group(network_id))
    else:
        groups.append(UNASSIGNED_GROUP)
    if station_id is not None:
        groups.append(station_group(station_id))
    if charge_point_pk is not None:
        groups.append(charge_point_live_group(charge_point_pk))
    return groups


def publish_now(groups: list[str], event: dict[str, Any]) -> None:
    """Send ``event`` to the browsers of ``groups`` now; failures are logged, never raised."""
    livebus.publish_sync([(groups, event)])


def publish_on_commit(groups: list[str], event: dict[str, Any]) -> None:
    """Publish after the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: publish_now(groups, event))


# --- Domain hooks ---------------------------------------------------------------
# Other apps react to charger events (alerts evaluate rules, billing ends idle
# time when a car leaves) by appending ``handler(event)`` from their
# ``AppConfig.ready()``. Handlers run after commit in the thread that handled the
# charger's message and must only dispatch work (``task.delay(...)``), filtering on
# ``event["kind"]``.
DomainEventHandler = Callable[[dict[str, Any]], None]
DOMAIN_EVENT_HANDLERS: list[DomainEventHandler] = []


def domain_event_on_commit(event: dict[str, Any]) -> None:
    for handler in list(DOMAIN_EVENT_HANDLERS):
        hook_on_commit(functools.partial(handler, event))


_deferred = threading.local()


def hook_on_commit(hook: Callable[[], None]) -> None:
    """Run a domain hook after commit, or hand it over inside ``hooks_deferred``.

    Robust: a failing hook is logged and never undoes the charger's change.
    """
    sink = getattr(_deferred, "sink", None)
    if sink is None:
        transaction.on_commit(hook, robust=True)
    else:
        transaction.on_commit(functools.partial(sink.append, hook))


@contextmanager
def hooks_deferred() -> Iterator[list[Callable[[], None]]]:
    """Collect, instead of running, the hooks of transactions committed in this block.

    The gateway runs them on another thread: a hook's ``task.delay()`` is a
    broker round trip that must not queue on the ORM thread every charger
    message waits for.
    """
    sink: list[Callable[[], None]] = []
    previous = getattr(_deferred, "sink", None)
    _deferred.sink = sink
    try:
        yield sink
    finally:
        _deferred.sink = previous
