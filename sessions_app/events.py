"""Hooks other apps attach to session changes, run after the transaction commits.

Billing, alerts and remote operations append a callable
``handler(session_id: int) -> None`` to ``SESSION_STARTED_HANDLERS`` or
``SESSION_STOPPED_HANDLERS`` from their ``AppConfig.ready()``. Handlers should only
dispatch work (e.g. ``task.delay``); they run in the thread that handled the
charger's message, or in the gateway's hook thread (``stations.live.events.hooks_deferred``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from stations.live.events import hook_on_commit

SessionHandler = Callable[[int], None]

SESSION_STARTED_HANDLERS: list[SessionHandler] = []
SESSION_STOPPED_HANDLERS: list[SessionHandler] = []


def _on_commit(handlers: list[SessionHandler], session_id: int) -> None:
    for handler in list(handlers):
        # A failing hook is logged and never undoes the change nor keeps the
        # other hooks from running.
        hook_on_commit(functools.partial(handler, session_id))


def session_started_on_commit(session_id: int) -> None:
    """Call every start handler with ``session_id`` once the transaction commits."""
    _on_commit(SESSION_STARTED_HANDLERS, session_id)


def session_stopped_on_commit(session_id: int) -> None:
    """Call every stop handler with ``session_id`` once the transaction commits."""
    _on_commit(SESSION_STOPPED_HANDLERS, session_id)
