"""Celery wrappers: each takes ids, calls one service and is safe to run twice.

The OCPP gateway dispatches the ``alerts_*_task`` entry points on commit, e.g.
``alerts_evaluate_connector_task.delay_on_commit(connector_id=connector.pk)``.
"""

from __future__ import annotations

from typing import Any

from celery import Task, shared_task
from django.conf import settings

from alerts import notifications, services
from cms.events import (
    ChargerReportQuarantined,
    ConfigurationDriftChanged,
    SmartProfileAnswered,
)


@shared_task(acks_late=True)
def alerts_evaluate_connector_task(*, connector_id: int) -> None:
    services.alerts_evaluate_connector(connector_id)


@shared_task(acks_late=True)
def alerts_evaluate_charge_point_task(*, charge_point_id: int) -> None:
    services.alerts_evaluate_charge_point(charge_point_id)


@shared_task(acks_late=True)
def alerts_evaluate_session_task(*, session_id: int) -> None:
    services.alerts_evaluate_session(session_id)


@shared_task(acks_late=True)
def alerts_on_boot_task(*, charge_point_id: int) -> None:
    services.alerts_on_boot(charge_point_id)


@shared_task(acks_late=True)
def alerts_on_firmware_status_task(*, charge_point_id: int, status: str) -> None:
    services.alerts_on_firmware_status(charge_point_id, status)


@shared_task(acks_late=True)
def alerts_on_security_event_task(
    *, charge_point_id: int, event_type: str, occurred_at: str, tech_info: str
) -> None:
    services.alerts_on_security_event(
        charge_point_id,
        event_type=event_type,
        occurred_at=occurred_at,
        tech_info=tech_info,
    )


@shared_task(acks_late=True)
def alerts_on_rating_failure_task(*, session_id: int, error: str) -> None:
    services.alerts_on_rating_failure(session_id, error=error)


@shared_task(acks_late=True)
def alerts_on_rating_success_task(*, session_id: int) -> None:
    services.alerts_on_rating_success(session_id)


@shared_task(acks_late=True)
def alerts_on_smart_profile_task(*, payload: dict[str, Any]) -> None:
    services.alerts_on_smart_profile(SmartProfileAnswered(**payload))


@shared_task(acks_late=True)
def alerts_on_quarantine_task(*, payload: dict[str, Any]) -> None:
    services.alerts_on_quarantine(ChargerReportQuarantined(**payload))


@shared_task(acks_late=True)
def alerts_on_configuration_drift_task(*, payload: dict[str, Any]) -> None:
    services.alerts_on_configuration_drift(ConfigurationDriftChanged(**payload))


@shared_task
def alerts_sweep_task() -> None:
    """Re-evaluate the time-based rules of every network."""
    services.alerts_sweep()


@shared_task
def alerts_uptime_sweep_task() -> None:
    """Alert the ports trending below the uptime target this month."""
    services.uptime_alerts_sweep()


@shared_task
def alerts_escalation_sweep_task() -> None:
    """Escalate alerts left unacknowledged past their network's limit."""
    services.alerts_escalate()


@shared_task(acks_late=True)
def alert_notify_task(*, alert_id: int, event_key: str) -> None:
    """Email and queue webhooks for one alert event; a rerun sends nothing twice."""
    notifications.alert_notify(alert_id=alert_id, event_key=event_key)


@shared_task(bind=True, acks_late=True, max_retries=None)
def webhook_deliver_task(self: Task, *, delivery_id: int) -> str:
    """Post one webhook delivery, retrying transport errors and 5xx with backoff."""
    attempts = settings.ALERT_WEBHOOK_MAX_ATTEMPTS
    if self.request.is_eager:
        # Embedded mode has no worker to hand a delayed retry to (and Celery's
        # eager retry raises into the caller), so the attempts run back to back.
        for attempt in range(attempts):
            try:
                return notifications.webhook_deliver(
                    delivery_id=delivery_id, is_last_attempt=attempt + 1 >= attempts
                )
            except notifications.WebhookRetryableError:
                continue
        return "failed"
    is_last = self.request.retries + 1 >= attempts
    try:
        return notifications.webhook_deliver(
            delivery_id=delivery_id, is_last_attempt=is_last
        )
    except notifications.WebhookRetryableError as exc:
        countdown = min(
            settings.ALERT_WEBHOOK_BACKOFF_SECONDS * 2**self.request.retries,
            settings.ALERT_WEBHOOK_BACKOFF_MAX_SECONDS,
        )
        raise self.retry(exc=exc, countdown=countdown) from exc
