"""The live bus: browser events, one Redis message per batch, fanned out per process.

A browser socket used to join channel-layer groups, and each event was one
``group_send`` per group (three Redis round trips, then one Redis delivery per
browser socket): at fleet rates that was the gateway's largest CPU cost and
browsers fell seconds behind. Instead, every server process subscribes ONCE to
the Redis pub/sub channel ``LIVE_CHANNEL``; publishers send every event queued
meanwhile as one message (a list of ``(groups, event)``), and each process
hands each event to its own sockets registered for one of the event's groups.

Best effort, like channel-layer groups: a process that is not subscribed at
that instant misses the event (a page re-renders from the database when its
socket reconnects). Without Redis (the embedded mode's in-memory channel
layer) events go straight to the sockets of this process.

Subscribers are plain callables ``deliver(event)`` bound to the event loop
that registered them; they are called on that loop and must not block.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import json
import logging
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, cast

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

from cms.loops import loop_local

if TYPE_CHECKING:
    from accounts.models import User

logger = logging.getLogger(__name__)

LIVE_CHANNEL = "cms.live"
RECONNECT_DELAY_S = 1.0
LISTEN_POLL_S = 5.0
HEALTH_CHECK_S = 15
# A new socket waits at most this long for its process's subscription to be live.
SUBSCRIBE_WAIT_S = 5.0

LiveEvent = tuple[list[str], dict[str, Any]]
Deliver = Callable[[dict[str, Any]], None]


def redis_url() -> str | None:
    """The channel layer's Redis (the bus follows the configured layer), or None."""
    config = settings.CHANNEL_LAYERS.get("default", {})
    if not str(config.get("BACKEND", "")).endswith("RedisChannelLayer"):
        return None
    host = (config.get("CONFIG", {}).get("hosts") or [None])[0]
    if isinstance(host, dict):
        host = host.get("address")
    if isinstance(host, (list, tuple)):
        host = f"redis://{host[0]}:{host[1]}"
    return str(host) if host else None


def encode(events: list[LiveEvent]) -> str:
    return json.dumps(events, cls=DjangoJSONEncoder, separators=(",", ":"))


class _Subscription:
    __slots__ = ("deliver", "groups", "key", "loop")

    def __init__(
        self,
        key: int,
        groups: list[str],
        deliver: Deliver,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.key = key
        self.groups = groups
        self.deliver = deliver
        self.loop = loop


class _Registry:
    """The sockets of this process, by group (shared by every event loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_group: dict[str, dict[int, _Subscription]] = {}
        self._keys = itertools.count(1)

    def add(self, groups: list[str], deliver: Deliver) -> _Subscription:
        subscription = _Subscription(
            next(self._keys), list(groups), deliver, asyncio.get_running_loop()
        )
        with self._lock:
            for group in subscription.groups:
                self._by_group.setdefault(group, {})[subscription.key] = subscription
        return subscription

    def remove(self, subscription: _Subscription) -> None:
        with self._lock:
            for group in subscription.groups:
                members = self._by_group.get(group)
                if members is not None:
                    members.pop(subscription.key, None)
                    if not members:
                        del self._by_group[group]

    def dispatch(
        self, events: Iterable[LiveEvent], loop: asyncio.AbstractEventLoop | None
    ) -> None:
        """Hand each event to its sockets (only those of ``loop`` when given)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for groups, event in events:
            with self._lock:
                targets: dict[int, _Subscription] = {}
                for group in groups:
                    members = self._by_group.get(group)
                    if members:
                        targets.update(members)
            for subscription in targets.values():
                if loop is not None and subscription.loop is not loop:
                    continue
                try:
                    if subscription.loop is running:
                        subscription.deliver(event)
                    elif not subscription.loop.is_closed():
                        # A fresh context: the sender's (e.g. asgiref's executor
                        # of a sync thread) must not leak into the socket's tasks.
                        subscription.loop.call_soon_threadsafe(
                            subscription.deliver, event, context=contextvars.Context()
                        )
                except Exception:  # one broken socket never stops the others
                    logger.exception("live event delivery failed")


_registry = _Registry()


class _LoopBus:
    """Per event loop: the Redis subscriber task and the coalescing publisher."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._pending: list[LiveEvent] = []
        self._sender: asyncio.Task[None] | None = None
        self._listener: asyncio.Task[None] | None = None
        self._client: Any = None
        self._client_url: str | None = None
        self.ready = asyncio.Event()

    # --- publishing ----------------------------------------------------------

    def publish(self, events: list[LiveEvent]) -> None:
        self._pending.extend(events)
        if self._sender is None or self._sender.done():
            self._sender = self.loop.create_task(self._send())

    async def _send(self) -> None:
        # No timer: what queued while the previous message was sent goes next.
        while self._pending:
            events, self._pending = self._pending, []
            url = redis_url()
            if url is None:
                _registry.dispatch(events, loop=None)
                continue
            try:
                await self._redis(url).publish(LIVE_CHANNEL, encode(events))
            except (
                Exception
            ):  # the live view is best effort; the database holds the truth
                logger.warning(
                    "%d live events not published", len(events), exc_info=True
                )

    def _redis(self, url: str) -> Any:
        if self._client is None or self._client_url != url:
            import redis.asyncio

            self._client = redis.asyncio.Redis.from_url(url)
            self._client_url = url
        return self._client

    # --- subscribing ---------------------------------------------------------

    def ensure_listening(self) -> None:
        if redis_url() is None:
            return
        if self._listener is None or self._listener.done():
            self._listener = self.loop.create_task(self._listen())

    async def _listen(self) -> None:
        import redis.asyncio

        while True:
            url = redis_url()
            if url is None:
                return
            # No read timeout on the subscription itself (an idle channel is
            # normal); reads wake every LISTEN_POLL_S and redis-py PINGs the
            # server after HEALTH_CHECK_S of silence, so a dead link is noticed.
            client = redis.asyncio.Redis.from_url(
                url, socket_timeout=None, health_check_interval=HEALTH_CHECK_S
            )
            try:
                async with client.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(LIVE_CHANNEL)
                    self.ready.set()
                    while True:
                        message = await pubsub.get_message(
                            ignore_subscribe_messages=True, timeout=LISTEN_POLL_S
                        )
                        if message is None or message.get("type") != "message":
                            continue
                        try:
                            events = json.loads(message["data"])
                        except (TypeError, ValueError):
                            logger.warning("malformed live bus message dropped")
                            continue
                        _registry.dispatch(events, loop=self.loop)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning(
                    "live bus subscription lost; resubscribing in %.0f s",
                    RECONNECT_DELAY_S,
                    exc_info=True,
                )
                await asyncio.sleep(RECONNECT_DELAY_S)
            finally:
                self.ready.clear()
                with contextlib.suppress(Exception):  # closing a broken client
                    await client.aclose()


_buses: dict[asyncio.AbstractEventLoop, _LoopBus] = {}


def _bus() -> _LoopBus:
    return loop_local(_buses, _LoopBus)


# --- the API ----------------------------------------------------------------------


async def subscribe(groups: list[str], deliver: Deliver) -> _Subscription:
    """Call ``deliver(event)`` on this event loop for every event of ``groups``.

    Returns once this process's Redis subscription is live (events published
    after that reach the socket), or after ``SUBSCRIBE_WAIT_S`` if Redis is down.
    """
    subscription = _registry.add(groups, deliver)
    bus = _bus()
    bus.ensure_listening()
    if redis_url() is not None and not bus.ready.is_set():
        try:
            await asyncio.wait_for(bus.ready.wait(), SUBSCRIBE_WAIT_S)
        except TimeoutError:
            logger.warning("live bus not subscribed yet; the page may miss events")
    return subscription


def unsubscribe(subscription: _Subscription | None) -> None:
    if subscription is not None:
        _registry.remove(subscription)


def publish(events: list[LiveEvent]) -> None:
    """From async code: queue events; they leave in the next message (no waiting)."""
    if events:
        _bus().publish(events)


_sync_clients: dict[str, Any] = {}
_sync_lock = threading.Lock()


def publish_sync(events: list[LiveEvent]) -> None:
    """From sync code (views, tasks, commands): send now. Failures are logged."""
    if not events:
        return
    url = redis_url()
    if url is None:
        _registry.dispatch(events, loop=None)
        return
    try:
        with _sync_lock:
            client = _sync_clients.get(url)
            if client is None:
                import redis

                client = _sync_clients[url] = redis.Redis.from_url(url)
        client.publish(LIVE_CHANNEL, encode(events))
    except Exception:  # the live view is best effort; the database holds the truth
        logger.warning("%d live events not published", len(events), exc_info=True)


class PushConsumer(AsyncJsonWebsocketConsumer):
    """A browser socket the live bus feeds: the server pushes to it from tasks.

    ``live_subscribe`` in ``connect``, ``live_stop`` in ``disconnect``; pushes
    go through ``push_json``, which drops what arrives after the browser left
    (events already on their way, renders still running) instead of raising
    the server's disconnect error (uvicorn's ``ClientDisconnected``) in a task
    nobody awaits.
    """

    push_closed = False
    _live_subscription: _Subscription | None = None

    @property
    def user(self) -> User:
        """The signed-in user: ``connect`` closes the socket for anyone else."""
        return cast("User", self.scope["user"])

    async def live_subscribe(self, groups: list[str], deliver: Deliver) -> None:
        self.push_closed = False
        self._live_subscription = await subscribe(groups, deliver)

    def live_stop(self) -> None:
        unsubscribe(self._live_subscription)
        self._live_subscription = None
        self.push_closed = True

    async def push_json(self, content: Any) -> bool:
        """Send ``content``; False (and nothing more is pushed) once the browser left."""
        if self.push_closed:
            return False
        try:
            await self.send_json(content)
        except OSError:
            self.push_closed = True
            return False
        return True
