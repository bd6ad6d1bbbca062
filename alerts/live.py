"""``/ws/alerts/``: pushes alert changes and the inbox badge count to a browser.

The consumer joins the live group of every network the user may see (and the
unassigned group when the role sees unassigned chargers), forwards only
``alert.changed`` events and adds the user's fresh badge count, so the inbox
and the badge update without polling.
"""

from __future__ import annotations

import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from alerts.selectors import alert_badge_count_for_user
from alerts.services import ALERT_CHANGED
from stations.events import UNASSIGNED_GROUP, network_group
from stations.selectors import can_see_unassigned, network_ids_for_user

logger = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403


def _groups_for_user(user: Any) -> list[str] | None:
    if not user.has_perm("alerts.view_alert"):
        return None
    groups = [network_group(pk) for pk in network_ids_for_user(user=user)]
    if can_see_unassigned(user):
        groups.append(UNASSIGNED_GROUP)
    return groups


class AlertsConsumer(AsyncJsonWebsocketConsumer):
    """One browser's live alert feed, within the user's network scope."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        groups = await database_sync_to_async(_groups_for_user)(user)
        if groups is None:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.alert_groups = groups
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()
        await self.send_json({"kind": "alert.badge", "badge": await self._badge()})

    async def disconnect(self, code: int) -> None:
        for group in getattr(self, "alert_groups", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def _badge(self) -> int:
        return await database_sync_to_async(alert_badge_count_for_user)(
            user=self.scope["user"]
        )

    async def live_event(self, message: dict[str, Any]) -> None:
        event = message.get("event") or {}
        if event.get("kind") != ALERT_CHANGED:
            return
        await self.send_json({**event, "badge": await self._badge()})
