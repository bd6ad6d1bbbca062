from typing import Any

from django.apps import AppConfig


def rate_session_on_stop(session_id: int) -> None:
    """Session-stopped hook: rate the session in Celery once the stop commits."""
    from billing.tasks import session_rate_task

    session_rate_task.delay_on_commit(session_id=session_id)


def finalize_idle_on_unplug(event: dict[str, Any]) -> None:
    """Domain hook: a connector back to Available ends the idle time of its last session."""
    if event.get("kind") != "connector.status" or event.get("status") != "Available":
        return
    from billing.services import session_awaiting_unplug_id
    from billing.tasks import session_idle_finalize_task

    session_id = session_awaiting_unplug_id(
        charge_point_id=event["charge_point_pk"],
        connector_number=event["connector_number"],
    )
    if session_id is not None:
        session_idle_finalize_task.delay(session_id=session_id)


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Tariffs and billing"

    def ready(self) -> None:
        from billing import reports  # noqa: F401  (registers the revenue report)
        from sessions_app.events import SESSION_STOPPED_HANDLERS
        from stations.live.events import DOMAIN_EVENT_HANDLERS

        if rate_session_on_stop not in SESSION_STOPPED_HANDLERS:
            SESSION_STOPPED_HANDLERS.append(rate_session_on_stop)
        if finalize_idle_on_unplug not in DOMAIN_EVENT_HANDLERS:
            DOMAIN_EVENT_HANDLERS.append(finalize_idle_on_unplug)
