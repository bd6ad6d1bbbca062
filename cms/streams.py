"""The canonical event stream: outbox events relayed to Redis Streams, one stream per kind.

A *stream kind* (``status``, ``meter_values``, ``transactions``, ``alerts``) is
registered by the app that knows its data (``stream_register`` from its
``ready()``: stations the status, sessions_app meter values and transactions,
alerts the alerts) with the event kinds it is made of and a ``document``
function that turns one event into the kind's canonical JSON object. The
kinds named in ``EVENT_STREAM_KINDS`` subscribe as *external* subscribers, so
their events go through the outbox and the relay (``cms.outbox``): at least
once, in order per charger, nothing lost in a crash.

Each document gets ``event_id`` (a digest of the kind and the document: a
redelivery, or a charger resending the same message, has the same id, so a
consumer de-duplicates by it) and ``schema_version``. It is appended with
``XADD`` to the stream ``EVENT_STREAM_PREFIX + kind`` with the fields
``event_id``, ``schema_version``, ``kind``, ``charge_point_id`` and ``data``
(the document as JSON), bounded by ``MAXLEN ~ EVENT_STREAM_MAXLEN`` and, when
``EVENT_STREAM_RETENTION_HOURS`` is set, ``XTRIM MINID ~`` (entries older than
that). Consumers use consumer groups (``XREADGROUP``/``XACK``) or plain
``XREAD``. Sinks (``stream_sink_register``: the webhooks of chosen kinds) get
every document too, on the same relay delivery.

Without Redis (embedded mode) nothing is appended; the sinks still run.
docs/event-stream.md documents every field.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from cms.events import Event, EventKind, TaskCalls, subscribe, unsubscribe

SCHEMA_VERSION = 1
Document = dict[str, Any]
Sink = Callable[[str, Document], TaskCalls]


@dataclass(frozen=True)
class StreamKind:
    name: str
    event_kinds: tuple[EventKind, ...]
    document: Callable[[Any], Document | None]

    def handler(self, event: Event) -> TaskCalls:
        document = self.document(event)
        if document is None:
            return None
        return stream_publish(self.name, document)


_KINDS: dict[str, StreamKind] = {}
_ON: set[str] = set()
_SINKS: list[Sink] = []
_client: Any = None


def enabled_kinds() -> list[str]:
    return [
        name.strip()
        for name in str(settings.EVENT_STREAM_KINDS).split(",")
        if name.strip()
    ]


def stream_register(
    name: str, *, event_kinds: tuple[EventKind, ...], document: Callable[..., Any]
) -> StreamKind:
    """Add a stream kind; subscribe it when ``EVENT_STREAM_KINDS`` names it."""
    kind = StreamKind(name, event_kinds, document)
    was_on = name in _ON
    stream_unsubscribe(name)
    _KINDS[name] = kind
    if was_on or name in enabled_kinds():
        stream_subscribe(name)
    return kind


def stream_subscribe(name: str) -> None:
    """Relay the kind ``name`` from now on (its events go through the outbox)."""
    kind = _KINDS[name]
    for event_kind in kind.event_kinds:
        subscribe(event_kind, kind.handler, external=True)
    _ON.add(name)


def stream_unsubscribe(name: str) -> None:
    kind = _KINDS.get(name)
    if kind is None:
        return
    for event_kind in kind.event_kinds:
        unsubscribe(event_kind, kind.handler)
    _ON.discard(name)


def stream_kinds() -> list[str]:
    return list(_KINDS)


def stream_sink_register(sink: Sink) -> None:
    """Have ``sink(kind, document)`` called for every relayed document."""
    if sink not in _SINKS:
        _SINKS.append(sink)


def stream_key(kind: str) -> str:
    return f"{settings.EVENT_STREAM_PREFIX}{kind}"


def event_id_of(kind: str, document: Document) -> str:
    """A stable id of one event: the same event relayed twice has the same id."""
    canonical = json.dumps([kind, document], sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def pseudonym(value: str) -> str:
    """An id tag as the stream shows it, per ``EVENT_STREAM_ID_TAG``.

    ``pseudonym`` (default): a keyed digest, the same for one tag every time
    (sessions of one driver can be joined) but not reversible without the
    key; ``clear``: the tag itself; ``omit``: empty.
    """
    mode = settings.EVENT_STREAM_ID_TAG
    if not value or mode == "omit":
        return ""
    if mode == "clear":
        return value
    key = hashlib.sha256(f"event-stream:{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:20]


def redis_client() -> Any:
    """The stream's Redis connection (``EVENT_STREAM_REDIS_URL``), or None."""
    global _client
    url = settings.EVENT_STREAM_REDIS_URL
    if not url:
        return None
    if _client is None or _client.url != url:
        import redis

        _client = redis.Redis.from_url(url, decode_responses=True)
        _client.url = url
    return _client


def stream_publish(kind: str, document: Document) -> TaskCalls:
    """Append one canonical document to its stream; hand it to the sinks."""
    full = {
        "event_id": event_id_of(kind, document),
        "schema_version": SCHEMA_VERSION,
        **document,
    }
    client = redis_client()
    if client is not None:
        key = stream_key(kind)
        pipe = client.pipeline(transaction=False)
        pipe.xadd(
            key,
            {
                "event_id": full["event_id"],
                "schema_version": str(SCHEMA_VERSION),
                "kind": kind,
                "charge_point_id": str(document.get("charge_point_id") or ""),
                "data": json.dumps(full, sort_keys=True, default=str),
            },
            maxlen=settings.EVENT_STREAM_MAXLEN,
            approximate=True,
        )
        hours = settings.EVENT_STREAM_RETENTION_HOURS
        if hours:
            oldest_ms = int((time.time() - hours * 3600) * 1000)
            pipe.xtrim(key, minid=f"{oldest_ms}-0", approximate=True)
        pipe.execute()  # a Redis error fails the delivery: the relay retries it
    calls: list[Any] = []
    for sink in list(_SINKS):
        calls.extend(sink(kind, full) or ())
    return calls


def entry_document(fields: dict[str, str]) -> Document:
    """The document of one stream entry (its ``data`` field)."""
    return dict(json.loads(fields["data"]))
