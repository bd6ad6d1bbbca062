from typing import Any

from django.apps import AppConfig


def evaluate_on_charger_event(event: dict[str, Any]) -> None:
    """Domain hook: frame-triggered rules run as soon as the charger's change commits."""
    from alerts import tasks

    kind = event.get("kind")
    charge_point_id = event.get("charge_point_pk")
    if kind == "connector.status":
        if event.get("connector_pk"):
            tasks.alerts_evaluate_connector_task.delay(
                connector_id=event["connector_pk"]
            )
        else:  # connector 0: the charger as a whole
            tasks.alerts_evaluate_charge_point_task.delay(
                charge_point_id=charge_point_id
            )
    elif kind == "charge_point.connection":
        tasks.alerts_evaluate_charge_point_task.delay(charge_point_id=charge_point_id)
    elif kind == "charge_point.boot":
        tasks.alerts_on_boot_task.delay(charge_point_id=charge_point_id)
    elif kind == "charge_point.firmware":
        tasks.alerts_on_firmware_status_task.delay(
            charge_point_id=charge_point_id, status=str(event.get("status", ""))
        )


def evaluate_session(session_id: int) -> None:
    """Session start/stop hook: session rules (register regression, zombie) re-run."""
    from alerts.tasks import alerts_evaluate_session_task

    alerts_evaluate_session_task.delay(session_id=session_id)


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts and maintenance"

    def ready(self) -> None:
        # The overview's open-alert figure: stations asks, alerts answers.
        from alerts.selectors import alert_open_count
        from stations.live.selectors import open_alert_counter_register

        open_alert_counter_register(alert_open_count)
        from sessions_app.events import (
            SESSION_STARTED_HANDLERS,
            SESSION_STOPPED_HANDLERS,
        )
        from stations.live.events import DOMAIN_EVENT_HANDLERS

        for handlers, handler in (
            (DOMAIN_EVENT_HANDLERS, evaluate_on_charger_event),
            (SESSION_STARTED_HANDLERS, evaluate_session),
            (SESSION_STOPPED_HANDLERS, evaluate_session),
        ):
            if handler not in handlers:
                handlers.append(handler)  # type: ignore[arg-type]
