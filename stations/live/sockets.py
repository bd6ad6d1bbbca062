"""The browser side of live updates: ``/ws/live/``.

``LiveConsumer`` checks the user and the requested scope in ``connect()``, joins
the live groups of ``stations.live.events`` the user may see, and turns each event into
HTML fragments of the page that opened the socket (``?view=``): connector rows
on the board, station and charge point pages; the figures on the overview. The
browser swaps fragments by element id, so rows are patched, never the page.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import operator
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.template.loader import render_to_string
from django.utils import translation

from accounts.middleware import user_language
from accounts.models import User
from cms.loops import loop_local
from stations.live import bus as livebus
from stations.live.events import (
    UNASSIGNED_GROUP,
    charge_point_live_group,
    network_group,
    station_group,
)
from stations.live.rows import connector_row_html
from stations.live.selectors import (
    connector_rows,
    network_overview,
    with_effective_status,
)
from stations.selectors import (
    can_see_unassigned,
    charge_point_get_for_user,
    connector_list_for_user,
    network_get_for_user,
    network_ids_for_user,
    network_list_for_user,
    station_get_for_user,
)
from stations.views import charge_point_sessions_context

logger = logging.getLogger(__name__)

VIEWS = frozenset({"overview", "board", "station", "charge_point"})
# Close codes in the 4000-4999 application range (RFC 6455 §7.4.2).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
# The overview re-counts the network; a burst of events is folded into one update.
OVERVIEW_DEBOUNCE_S = 0.3
# Events arriving within this window are rendered in one go (one query for all rows).
RENDER_BATCH_S = 0.05
# The board and station pages show one row per connector: under a burst of events
# they are re-rendered at most this often (each row shows its latest state).
ROWS_BATCH_S = 0.25


class _SharedRender:
    """One render for the sockets of one user that flush the same events together.

    Several browsers of one user (a wall of screens, tabs) receive the same
    events at the same instant and would each run the same query and templates.
    A render is shared only if it started after the newest event of the
    caller's batch arrived, so nobody gets rows older than its events.
    """

    def __init__(self) -> None:
        self._renders: dict[tuple[Any, ...], tuple[float, asyncio.Future[str]]] = {}

    async def render(
        self,
        key: tuple[Any, ...],
        received_at: float,
        start: Callable[[], Awaitable[str]],
    ) -> str:
        loop = asyncio.get_running_loop()
        known = self._renders.get(key)
        if known is not None and known[0] >= received_at:
            return await asyncio.shield(known[1])
        future: asyncio.Future[str] = asyncio.ensure_future(start())
        self._renders[key] = (loop.time(), future)
        future.add_done_callback(
            lambda _: loop.call_later(ROWS_BATCH_S, self._forget, key, future)
        )
        return await asyncio.shield(future)

    def _forget(self, key: tuple[Any, ...], future: asyncio.Future[str]) -> None:
        known = self._renders.get(key)
        if known is not None and known[1] is future:
            del self._renders[key]


_shared_renders: dict[asyncio.AbstractEventLoop, _SharedRender] = {}


def _shared_render() -> _SharedRender:
    return loop_local(_shared_renders, lambda _: _SharedRender())


def _event_key(event: dict[str, Any]) -> tuple[Any, ...]:
    return (
        event.get("kind"),
        event.get("connector_pk"),
        event.get("charge_point_pk"),
        event.get("connector_number"),
    )


# Events that change every connector row of a charger (online/offline, reboot).
ROW_EVENTS = frozenset({"charge_point.connection", "charge_point.boot"})


# A page names at most this many rows it shows (the board pages by 50).
MAX_VISIBLE_ROWS = 500


@dataclass(frozen=True)
class _VisibleRows:
    """The connector rows a page shows (``?rows=pk,pk,...``), within the user's scope.

    A paginated board shows 50 of possibly thousands of connectors; events of
    other rows are dropped before any rendering, so a large network costs each
    browser only the rows on its screen.
    """

    connector_pks: frozenset[int]
    # (charge point pk, connector number) -> connector pk
    connectors: dict[tuple[int, int], int]
    charge_points: dict[int, frozenset[int]]  # charge point pk -> its rows' pks

    def shows(self, event: dict[str, Any]) -> bool:
        return bool(self.rows_of([event]))  # a page of rows only: nothing else to patch

    def rows_of(self, events: list[dict[str, Any]]) -> set[int]:
        """The pks of this page's rows the events change."""
        pks: set[int] = set()
        for event in events:
            kind = event.get("kind")
            charge_point_pk = event.get("charge_point_pk")
            if kind == "connector.status":
                pk = event.get("connector_pk")
                if pk in self.connector_pks:
                    pks.add(pk)
            elif kind == "session.updated":
                pk = self.connectors.get(
                    (charge_point_pk, event.get("connector_number"))  # type: ignore[arg-type]
                )
                if pk is not None:
                    pks.add(pk)
            elif kind in ROW_EVENTS:
                pks.update(self.charge_points.get(charge_point_pk, ()))  # type: ignore[arg-type]
        return pks


def _visible_rows(user: User, params: dict[str, list[str]]) -> _VisibleRows | None:
    values = params.get("rows")
    if values is None:
        return None  # the page did not say: every row of the scope
    pks = [int(part) for part in values[0].split(",") if part.strip().isdigit()]
    rows = list(
        connector_list_for_user(user=user)
        .filter(pk__in=pks[:MAX_VISIBLE_ROWS])
        .values_list("pk", "charge_point_id", "connector_id")
    )
    by_charge_point: dict[int, set[int]] = {}
    for pk, charge_point_pk, _ in rows:
        by_charge_point.setdefault(charge_point_pk, set()).add(pk)
    return _VisibleRows(
        connector_pks=frozenset(pk for pk, _, _ in rows),
        connectors={(cp, number): pk for pk, cp, number in rows},
        charge_points={cp: frozenset(pks) for cp, pks in by_charge_point.items()},
    )


def _int(params: dict[str, list[str]], name: str) -> int | None:
    values = params.get(name) or [""]
    return int(values[0]) if values[0].isdigit() else None


class LiveConsumer(livebus.PushConsumer):
    """Pushes live fragments to one portal page, within the user's scope."""

    # The language fragments are rendered in (set from the user or browser at connect).
    language = "en"

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        params = parse_qs(
            self.scope.get("query_string", b"").decode("latin-1"),
            keep_blank_values=True,
        )
        view = (params.get("view") or ["board"])[0]
        try:
            groups, network_ids = await database_sync_to_async(self._authorize)(
                self.user, params
            )
        except (Http404, PermissionDenied, ValueError) as refusal:
            logger.info("live socket refused for %s: %s", user.get_username(), refusal)
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.view = view if view in VIEWS else "board"
        # Fragments are rendered in the language of the page that opened the socket.
        headers = dict(self.scope.get("headers") or [])
        self.language = user_language(
            user, headers.get(b"accept-language", b"").decode("latin-1")
        )
        self.network_ids = network_ids
        self.visible_rows: _VisibleRows | None = None
        if self.view in ("board", "station") and "rows" in params:
            self.visible_rows = await database_sync_to_async(_visible_rows)(
                self.user, params
            )
        self.overview_task: asyncio.Task[None] | None = None
        self.render_task: asyncio.Task[None] | None = None
        self.pending_events: list[dict[str, Any]] = []
        self.last_event_at = 0.0
        await self.live_subscribe(groups, self._deliver)
        await self.accept()

    def _authorize(
        self, user: User, params: dict[str, list[str]]
    ) -> tuple[list[str], list[int] | None]:
        """Return the groups this user may join for the requested page, or raise."""
        if getattr(user, "is_driver", False) or not user.has_perm(
            "stations.view_connector"
        ):
            raise PermissionDenied("no portal role")
        charge_point_pk = _int(params, "charge_point")
        if charge_point_pk is not None:
            charge_point = charge_point_get_for_user(
                user=user, pk=charge_point_pk, perm="stations.view_chargepoint"
            )
            return [charge_point_live_group(charge_point.pk)], None
        station_pk = _int(params, "station")
        if station_pk is not None:
            station = station_get_for_user(
                user=user, pk=station_pk, perm="stations.view_station"
            )
            return [station_group(station.pk)], [station.network_id]
        network_pk = _int(params, "network")
        if network_pk is not None:
            network = network_get_for_user(
                user=user, pk=network_pk, perm="stations.view_network"
            )
            return [network_group(network.pk)], [network.pk]
        network_ids = network_ids_for_user(user=user)
        groups = [network_group(pk) for pk in network_ids]
        if can_see_unassigned(user):
            groups.append(UNASSIGNED_GROUP)
        if not groups:
            raise PermissionDenied("no network in scope")
        return groups, network_ids

    async def disconnect(self, code: int) -> None:
        self.live_stop()  # events already on their way are dropped
        for name in ("overview_task", "render_task"):
            task = getattr(self, name, None)
            if task is not None:
                task.cancel()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        """The page does not talk back; anything it sends is ignored."""

    def _deliver(self, event: dict[str, Any]) -> None:
        """An event of this socket's groups (called by the live bus on this loop).

        Events that arrive together are sent and rendered together: one query
        for all their rows, each row once, whatever the rate of status changes.
        """
        if self.push_closed:
            return
        if self.visible_rows is not None and not self.visible_rows.shows(event):
            return
        self.pending_events.append(event)
        self.last_event_at = asyncio.get_running_loop().time()
        if self.render_task is None or self.render_task.done():
            self.render_task = asyncio.get_running_loop().create_task(
                self._push_fragments()
            )

    async def _push_fragments(self) -> None:
        rows_only = self.view in ("board", "station")
        await asyncio.sleep(ROWS_BATCH_S if rows_only else RENDER_BATCH_S)
        while self.pending_events:
            events, self.pending_events = self.pending_events, []
            received_at = self.last_event_at
            if self.view == "overview":
                for event in events:
                    if not await self.push_json({"event": event}):
                        return
                self._schedule_overview()
                continue
            try:
                # Read-only rendering runs off the process's ORM thread, so
                # browsers never queue behind the chargers' writes (or slow them).
                key = (
                    self.user.pk,
                    self.language,
                    self.view,
                    tuple(sorted(set(map(_event_key, events)), key=repr)),
                )
                html = await _shared_render().render(
                    key,
                    received_at,
                    functools.partial(
                        database_sync_to_async(
                            self._render_fragments, thread_sensitive=False
                        ),
                        events,
                    ),
                )
            except (Http404, PermissionDenied):
                html = ""
            # The board shows rows only: the fragments and the last event are
            # enough. Station and charge point pages also feed charts and
            # command lists from every event.
            if self.view != "board":
                for event in events[:-1]:
                    if not await self.push_json({"event": event}):
                        return
            payload: dict[str, Any] = {"event": events[-1]}
            if html:
                payload["html"] = html
            if not await self.push_json(payload):
                return
            if rows_only and self.pending_events:
                await asyncio.sleep(ROWS_BATCH_S)

    # --- rendering (a worker thread, read-only) -------------------------------------

    @staticmethod
    def _rows_of(event: dict[str, Any]) -> Q | None:
        kind = event.get("kind")
        charge_point_pk = event.get("charge_point_pk")
        if kind == "connector.status" and event.get("connector_pk") is not None:
            return Q(pk=event["connector_pk"])
        if kind == "session.updated" and charge_point_pk is not None:
            return Q(
                charge_point_id=charge_point_pk,
                connector_id=event.get("connector_number"),
            )
        if kind in ROW_EVENTS and charge_point_pk is not None:
            return Q(charge_point_id=charge_point_pk)
        return None  # connector 0, commands and others: no row to patch

    def _render_fragments(self, events: list[dict[str, Any]]) -> str:
        with translation.override(self.language):
            return self._fragments(events)

    def _fragments(self, events: list[dict[str, Any]]) -> str:
        user = self.user
        wanted: Q | None = None
        if self.visible_rows is not None:
            pks = self.visible_rows.rows_of(events)
            wanted = Q(pk__in=sorted(pks)) if pks else None
        else:
            per_event = [rows for rows in map(self._rows_of, events) if rows]
            wanted = functools.reduce(operator.or_, per_event) if per_event else None
        parts: list[str] = []
        if wanted is not None:
            connectors = with_effective_status(
                connector_list_for_user(user=user).select_related(
                    "charge_point", "charge_point__station"
                )
            ).filter(wanted)
            rows = connector_rows(
                connectors.order_by("charge_point_id", "connector_id")
            )
            parts = [
                connector_row_html(row, board_columns=self.view == "board")
                for row in rows
            ]
        if self.view == "charge_point":
            mine = [
                event for event in events if event.get("charge_point_pk") is not None
            ]
            if mine:
                # The panels show the charger's current state: render them once,
                # with the session panel when any event of the batch moved a session.
                sessions = [e for e in mine if e.get("kind") == "session.updated"]
                parts.extend(self._charge_point_panels((sessions or mine)[-1], user))
        return "".join(parts)

    def _charge_point_panels(self, event: dict[str, Any], user: User) -> list[str]:
        charge_point = charge_point_get_for_user(
            user=user, pk=int(event["charge_point_pk"])
        )
        context = charge_point_sessions_context(charge_point)
        panels: list[str] = [
            render_to_string("stations/includes/cp_connection.html", context),
        ]
        if event.get("kind") == "session.updated":
            panels.append(
                render_to_string("stations/includes/cp_connectors.html", context)
            )
        return panels

    def _render_overview(self) -> str:
        with translation.override(self.language):
            return self._overview()

    def _overview(self) -> str:
        user = self.user
        scoped = network_list_for_user(user=user)
        if self.network_ids is not None:
            scoped = scoped.filter(pk__in=self.network_ids)
        networks = list(scoped)
        selected = (
            self.network_ids[0]
            if self.network_ids and len(self.network_ids) == 1
            else None
        )
        return render_to_string(
            "stations/includes/overview_kpis.html",
            {
                "figures": network_overview(
                    networks=networks, include_alerts=user.has_perm("alerts.view_alert")
                ),
                "selected_network_id": selected,
            },
        )

    def _schedule_overview(self) -> None:
        if self.overview_task is None or self.overview_task.done():
            self.overview_task = asyncio.create_task(self._push_overview())

    async def _push_overview(self) -> None:
        await asyncio.sleep(OVERVIEW_DEBOUNCE_S)
        html = await database_sync_to_async(
            self._render_overview, thread_sensitive=False
        )()
        await self.push_json({"html": html})
