"""The open-alert badge shown in the top bar of every portal page."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from alerts.selectors import alert_badge_count_for_user


def alert_badge(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if (
        user is None
        or not user.is_authenticated
        or not user.has_perm("alerts.view_alert")
    ):
        return {"alert_badge": None}
    return {"alert_badge": alert_badge_count_for_user(user=user)}
