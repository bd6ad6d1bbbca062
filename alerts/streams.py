"""The ``alerts`` kind of the event stream (``cms.streams``): alerts opened, escalated
and resolved, as flat documents for stream consumers (the signed alert webhooks
keep their own, richer body)."""

from __future__ import annotations

from alerts.models import Alert
from cms.events import AlertNotice, EventKind
from cms.streams import Document, stream_register


def alert_document(event: AlertNotice) -> Document | None:
    alert = (
        Alert.objects.select_related("charge_point", "connector")
        .filter(pk=event.alert_id)
        .first()
    )
    if alert is None:
        return None
    return {
        "alert_id": alert.pk,
        "event": event.event_key.split(":", 1)[0],
        "event_key": event.event_key,
        "alert_type": alert.rule,
        "severity": alert.severity,
        "status": alert.status,
        "title": alert.title,
        "detail": alert.detail,
        "charge_point_id": alert.charge_point.ocpp_id if alert.charge_point else None,
        "connector_id": alert.connector.connector_id if alert.connector else None,
        "location_id": str(alert.station_id) if alert.station_id else None,
        "network_id": alert.network_id,
        "opened_ts": alert.opened_at.isoformat(),
        "resolved_ts": alert.resolved_at.isoformat() if alert.resolved_at else None,
    }


def alert_stream_register() -> None:
    stream_register(
        "alerts",
        event_kinds=(
            EventKind.ALERT_OPENED,
            EventKind.ALERT_ESCALATED,
            EventKind.ALERT_RESOLVED,
        ),
        document=alert_document,
    )
