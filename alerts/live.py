"""``/ws/alerts/``: pushes alert changes and the inbox badge count to a browser.

The consumer subscribes to the live group of every network the user may see (and the
unassigned group when the role sees unassigned chargers), forwards only
``alert.changed`` events and adds the user's fresh badge count, so the inbox
and the badge update without polling.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from channels.db import database_sync_to_async

from accounts.models import User
from alerts.selectors import alert_badge_count_for_user
from alerts.services import ALERT_CHANGED
from stations.live import bus as livebus
from stations.live.events import UNASSIGNED_GROUP, network_group
from stations.selectors import can_see_unassigned, network_ids_for_user

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def _groups_for_user(user: User) -> list[str] | None:
    if not user.has_perm("alerts.view_alert"):
        return None
    groups = [network_group(pk) for pk in network_ids_for_user(user=user)]
    if can_see_unassigned(user):
        groups.append(UNASSIGNED_GROUP)
    return groups


class AlertsConsumer(livebus.PushConsumer):
    """One browser's live alert feed, within the user's network scope."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        # The scope's lazy user passes isinstance only when signed in.
        if not isinstance(user, User):
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        groups = await database_sync_to_async(_groups_for_user)(user)
        if groups is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.alert_tasks: set[asyncio.Task[None]] = set()
        await self.live_subscribe(groups, self._deliver)
        await self.accept()
        await self.send_json({"kind": "alert.badge", "badge": await self._badge()})

    async def disconnect(self, code: int) -> None:
        self.live_stop()  # events already on their way are dropped
        for task in getattr(self, "alert_tasks", ()):
            task.cancel()

    async def _badge(self) -> int:
        user = self.scope["user"]
        if not isinstance(user, User):
            return 0
        return await database_sync_to_async(alert_badge_count_for_user)(user=user)

    def _deliver(self, event: dict[str, Any]) -> None:
        """An event of the user's networks (called by the live bus on this loop)."""
        if event.get("kind") != ALERT_CHANGED or self.push_closed:
            return
        task = asyncio.get_running_loop().create_task(self._send_alert(event))
        self.alert_tasks.add(task)
        task.add_done_callback(self.alert_tasks.discard)

    async def _send_alert(self, event: dict[str, Any]) -> None:
        await self.push_json({**event, "badge": await self._badge()})
