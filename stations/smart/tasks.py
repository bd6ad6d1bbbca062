"""Smart-charging tasks and the hooks that trigger a site's re-plan.

Hooks (``*_hook``, subscribed to the event path) run after commit; they only
look up the site and return the task to dispatch. The periodic sweep (``settings.PERIODIC_TASKS``) is the safety
net: expiring signals, schedule boundaries, retries and EVs drawing less.
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from cms.events import (
    ChargerConnectionChanged,
    CommandFinished,
    ConnectorStatusChanged,
    EventKind,
    SessionStarted,
    SessionStopped,
    TaskCalls,
    subscribe,
)
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


def session_changed_hook(event: SessionStarted | SessionStopped) -> TaskCalls:
    """Re-plan the session's site."""
    station_id = smart_services.session_station_id(event.session_id)
    if station_id is None:
        return None
    return [site_replan_task.si(station_id=station_id, trigger="session_changed")]


def command_finished_hook(event: CommandFinished) -> TaskCalls:
    """The charger answered a smart profile: apply it, then re-plan."""
    if event.action == "SetChargingProfile" and event.command_id:
        return [smart_profile_result_task.si(command_id=event.command_id)]
    return None


def connection_hook(event: ChargerConnectionChanged) -> TaskCalls:
    """A charger back online gets its profiles again; one gone frees its share."""
    if event.station_id is None:
        return None
    if event.is_connected:
        return [
            charger_reconnected_task.si(
                charge_point_id=event.charge_point_pk, station_id=event.station_id
            )
        ]
    return [site_replan_task.si(station_id=event.station_id, trigger="charger_offline")]


def connector_status_hook(event: ConnectorStatusChanged) -> TaskCalls:
    """An EV that starts or pauses drawing changes the site's plan."""
    if event.station_id is None or event.status not in _STATUS_TRIGGERS:
        return None
    return [
        site_replan_task.si(station_id=event.station_id, trigger="connector_status")
    ]


def register_hooks() -> None:
    """Subscribe the smart-charging hooks (from ``StationsConfig.ready``); idempotent."""
    subscribe(EventKind.SESSION_STARTED, session_changed_hook)
    subscribe(EventKind.SESSION_STOPPED, session_changed_hook)
    subscribe(EventKind.COMMAND_FINISHED, command_finished_hook)
    subscribe(EventKind.CHARGER_CONNECTION, connection_hook)
    subscribe(EventKind.CONNECTOR_STATUS, connector_status_hook)
