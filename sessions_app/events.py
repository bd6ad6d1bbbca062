"""Hooks other apps attach to session changes, run after the transaction commits.

Billing, alerts and remote operations append a callable
``handler(session_id: int) -> None`` to ``SESSION_STARTED_HANDLERS`` or
``SESSION_STOPPED_HANDLERS`` from their ``AppConfig.ready()``. Handlers should only
dispatch work (e.g. ``task.delay_on_commit``); they run in the thread that
handled the charger's message.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.db import transaction

SessionHandler = Callable[[int], None]

SESSION_STARTED_HANDLERS: list[SessionHandler] = []
SESSION_STOPPED_HANDLERS: list[SessionHandler] = []


def _on_commit(handlers: list[SessionHandler], session_id: int) -> None:
    for handler in list(handlers):
        # robust: a failing hook is logged by Django and never undoes the change
        # nor keeps the other hooks from running.
        transaction.on_commit(functools.partial(handler, session_id), robust=True)


def session_started_on_commit(session_id: int) -> None:
    """Call every start handler with ``session_id`` once the transaction commits."""
    _on_commit(SESSION_STARTED_HANDLERS, session_id)


def session_stopped_on_commit(session_id: int) -> None:
    """Call every stop handler with ``session_id`` once the transaction commits."""
    _on_commit(SESSION_STOPPED_HANDLERS, session_id)
