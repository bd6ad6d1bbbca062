"""Objects that live once per event loop (one per process in production)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_lock = threading.Lock()


def loop_local(
    store: dict[asyncio.AbstractEventLoop, T],
    factory: Callable[[asyncio.AbstractEventLoop], T],
) -> T:
    """``store``'s object for the running loop, made by ``factory(loop)`` the first time.

    Tests and the embedded server may run several loops in one process, one
    after the other; entries of closed loops are dropped when a new one is made.
    """
    loop = asyncio.get_running_loop()
    value = store.get(loop)
    if value is None:
        with _lock:
            value = store.get(loop)
            if value is None:
                for stale in [known for known in store if known.is_closed()]:
                    del store[stale]
                value = store[loop] = factory(loop)
    return value
