from __future__ import annotations

from django.apps import AppConfig

from cms.events import (
    AlertNotice,
    ChargerBooted,
    ChargerConnectionChanged,
    ChargerReportQuarantined,
    ConfigurationDriftChanged,
    ConnectorStatusChanged,
    EventKind,
    FirmwareStatusChanged,
    SecurityEventReported,
    SessionStarted,
    SessionStopped,
    SmartProfileAnswered,
    TaskCalls,
    subscribe,
)


def evaluate_on_connector_status(event: ConnectorStatusChanged) -> TaskCalls:
    """Frame-triggered rules run as soon as the charger's change commits."""
    from alerts import tasks

    if event.connector_pk:
        return [
            tasks.alerts_evaluate_connector_task.si(connector_id=event.connector_pk)
        ]
    # Connector 0: the charger as a whole.
    return [
        tasks.alerts_evaluate_charge_point_task.si(
            charge_point_id=event.charge_point_pk
        )
    ]


def evaluate_on_connection(event: ChargerConnectionChanged) -> TaskCalls:
    from alerts import tasks

    return [
        tasks.alerts_evaluate_charge_point_task.si(
            charge_point_id=event.charge_point_pk
        )
    ]


def evaluate_on_boot(event: ChargerBooted) -> TaskCalls:
    from alerts import tasks

    return [tasks.alerts_on_boot_task.si(charge_point_id=event.charge_point_pk)]


def evaluate_on_firmware_status(event: FirmwareStatusChanged) -> TaskCalls:
    from alerts import tasks

    return [
        tasks.alerts_on_firmware_status_task.si(
            charge_point_id=event.charge_point_pk, status=event.status
        )
    ]


def evaluate_security_event(event: SecurityEventReported) -> TaskCalls:
    from alerts.rules import CRITICAL_SECURITY_EVENTS
    from alerts.tasks import alerts_on_security_event_task

    if event.event_type not in CRITICAL_SECURITY_EVENTS:
        return None
    return [
        alerts_on_security_event_task.si(
            charge_point_id=event.charge_point_pk,
            event_type=event.event_type,
            occurred_at=event.occurred_at,
            tech_info=event.tech_info,
        )
    ]


def evaluate_session(event: SessionStarted | SessionStopped) -> TaskCalls:
    """Session rules (register regression, zombie) re-run on start and stop."""
    from alerts.tasks import alerts_evaluate_session_task

    return [alerts_evaluate_session_task.si(session_id=event.session_id)]


def evaluate_smart_profile(event: SmartProfileAnswered) -> TaskCalls:
    from alerts.tasks import alerts_on_smart_profile_task

    return [alerts_on_smart_profile_task.si(payload=event.payload())]


def evaluate_quarantine(event: ChargerReportQuarantined) -> TaskCalls:
    from alerts.tasks import alerts_on_quarantine_task

    return [alerts_on_quarantine_task.si(payload=event.payload())]


def evaluate_configuration_drift(event: ConfigurationDriftChanged) -> TaskCalls:
    from alerts.tasks import alerts_on_configuration_drift_task

    return [alerts_on_configuration_drift_task.si(payload=event.payload())]


def notify_alert_notice(event: AlertNotice) -> TaskCalls:
    """From the outbox relay: email and queue the webhooks of one alert event."""
    from alerts.tasks import alert_notify_task

    return [alert_notify_task.si(alert_id=event.alert_id, event_key=event.event_key)]


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = "Alerts and maintenance"

    def ready(self) -> None:
        # The overview's open-alert figure: stations asks, alerts answers.
        from alerts.selectors import alert_open_count
        from stations.live.selectors import open_alert_counter_register

        open_alert_counter_register(alert_open_count)
        subscribe(EventKind.CONNECTOR_STATUS, evaluate_on_connector_status)
        subscribe(EventKind.CHARGER_CONNECTION, evaluate_on_connection)
        subscribe(EventKind.CHARGER_BOOTED, evaluate_on_boot)
        subscribe(EventKind.CHARGER_FIRMWARE_STATUS, evaluate_on_firmware_status)
        subscribe(EventKind.CHARGER_SECURITY_EVENT, evaluate_security_event)
        subscribe(EventKind.SESSION_STARTED, evaluate_session)
        subscribe(EventKind.SESSION_STOPPED, evaluate_session)
        subscribe(EventKind.SMART_PROFILE_ANSWERED, evaluate_smart_profile)
        subscribe(EventKind.CHARGER_REPORT_QUARANTINED, evaluate_quarantine)
        subscribe(EventKind.CONFIGURATION_DRIFT, evaluate_configuration_drift)
        # Emails and webhooks leave the product: through the outbox.
        for kind in (
            EventKind.ALERT_OPENED,
            EventKind.ALERT_ESCALATED,
            EventKind.ALERT_RESOLVED,
        ):
            subscribe(kind, notify_alert_notice, external=True)
        from alerts.notifications import stream_webhooks
        from alerts.streams import alert_stream_register
        from cms.streams import stream_sink_register

        alert_stream_register()
        # The stream's documents of the kinds webhook endpoints chose: the same
        # signed deliveries as the alert webhooks.
        stream_sink_register(stream_webhooks)
