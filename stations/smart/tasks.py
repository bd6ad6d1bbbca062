"""Smart-charging tasks and the hooks that trigger a site's re-plan.

Hooks (``session_changed_hook``, ``domain_event_hook``) run after commit in the
thread that handled the charger's message; they only look up the site and
dispatch a task. The periodic sweep (``settings.PERIODIC_TASKS``) is the safety
net: expiring signals, schedule boundaries, retries and EVs drawing less.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from stations.smart import services as smart_services

_STATUS_TRIGGERS = frozenset({"SuspendedEV", "Charging"})


@shared_task(ignore_result=True)
def site_replan_task(*, station_id: int, trigger: str) -> bool:
    """Re-plan one site; safe to run twice (the plan converges)."""
    if not smart_services.station_is_limited(station_id=station_id):
        return False
    smart_services.site_replan(station_id=station_id, trigger=trigger)
    return True


@shared_task(ignore_result=True)
def smart_profile_result_task(*, command_id: int) -> bool:
    """Apply a charger's answer to a smart profile, then re-plan its site."""
    station_id = smart_services.smart_profile_result_apply(command_id=command_id)
    if station_id is None:
        return False
    # Increases held back for this answer can go now (or a retry is scheduled).
    smart_services.site_replan(station_id=station_id, trigger="profile_answer")
    return True


@shared_task(ignore_result=True)
def charger_reconnected_task(*, charge_point_id: int, station_id: int) -> None:
    """A charger came back: resend its profiles and re-plan the site."""
    smart_services.smart_charger_reconnected(charge_point_id=charge_point_id)
    site_replan_task(station_id=station_id, trigger="charger_online")


@shared_task(ignore_result=True)
def smart_charging_sweep_task() -> int:
    """Re-plan every load-managed site; idempotent."""
    return smart_services.smart_charging_sweep()


@shared_task(ignore_result=True)
def allocation_history_purge_task() -> int:
    """Delete allocation plans past the retention period; safe to run twice."""
    days = getattr(settings, "SMART_CHARGING_HISTORY_DAYS", 7)
    return smart_services.allocation_history_purge(
        before=timezone.now() - timedelta(days=days)
    )


def session_changed_hook(session_id: int) -> None:
    """SESSION_STARTED/STOPPED hook: re-plan the session's site."""
    station_id = smart_services.session_station_id(session_id)
    if station_id is not None:
        site_replan_task.delay(station_id=station_id, trigger="session_changed")


def domain_event_hook(event: dict[str, Any]) -> None:
    """Charger events that change a site's plan: answers, connection, EV status."""
    kind = event.get("kind")
    station_id = event.get("station_id")
    if kind == "command.finished":
        if event.get("action") == "SetChargingProfile" and event.get("command_id"):
            smart_profile_result_task.delay(command_id=int(event["command_id"]))
        return
    if station_id is None:
        return
    if kind == "charge_point.connection":
        if event.get("is_connected"):
            charger_reconnected_task.delay(
                charge_point_id=int(event["charge_point_pk"]),
                station_id=int(station_id),
            )
        else:
            site_replan_task.delay(
                station_id=int(station_id), trigger="charger_offline"
            )
    elif kind == "connector.status" and event.get("status") in _STATUS_TRIGGERS:
        site_replan_task.delay(station_id=int(station_id), trigger="connector_status")


def register_hooks() -> None:
    """Attach the smart-charging hooks (from ``StationsConfig.ready``); idempotent."""
    from sessions_app.events import SESSION_STARTED_HANDLERS, SESSION_STOPPED_HANDLERS
    from stations.live.events import DOMAIN_EVENT_HANDLERS

    for handlers in (SESSION_STARTED_HANDLERS, SESSION_STOPPED_HANDLERS):
        if session_changed_hook not in handlers:
            handlers.append(session_changed_hook)
    if domain_event_hook not in DOMAIN_EVENT_HANDLERS:
        DOMAIN_EVENT_HANDLERS.append(domain_event_hook)
