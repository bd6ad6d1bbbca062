"""Email and webhook notifications for alert events, routed per network and severity.

An alert event people are told about (opened, escalated, resolved) is emitted by
``alerts.services`` as an ``AlertNotice`` through the outbox, in the transaction
that changed the alert; the outbox relay then queues ``alert_notify_task``
(``alerts.apps.notify_alert_notice``), so a committed alert is notified even if
the process dies before any after-commit work. Each (alert, channel, event)
is recorded under a unique key before anything is sent, so a task that runs
twice sends nothing twice. Webhook bodies are stored with the delivery and
signed exactly as posted: ``X-CMS-Signature: sha256=<hex HMAC-SHA256(secret, body)>``.

The same endpoints and deliveries carry the event stream's documents
(``cms.streams``) of the kinds an endpoint names in ``stream_kinds``:
``stream_webhooks`` is the stream's sink, called by the outbox relay for every
relayed document, in the relay's transaction; the delivery's key is the kind
and the document's ``event_id``, so a redelivered document is posted once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import urllib.error
import urllib.request
import zoneinfo
from datetime import datetime
from typing import Any, cast

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, QuerySet
from django.urls import reverse
from django.utils import timezone
from guardian.shortcuts import get_users_with_perms

from accounts.models import Role, User
from alerts.models import (
    Alert,
    AlertEvent,
    AlertRuleConfig,
    NotificationRecord,
    WebhookDelivery,
    WebhookEndpoint,
    severity_at_least,
)
from cms.tasks import enqueue_on_commit
from stations.models import ChargePoint

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-CMS-Signature"


class WebhookRetryableError(Exception):
    """A transport error or a 5xx answer: worth another attempt later."""


def sign(secret: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    """Check a received ``X-CMS-Signature`` header in constant time (for receivers)."""
    return hmac.compare_digest(sign(secret, body), header or "")


def alert_url(alert: Alert) -> str:
    path = reverse("alerts:alert_detail", args=[alert.pk])
    return f"{settings.ALERT_PORTAL_BASE_URL.rstrip('/')}{path}"


def _local(value: datetime | None, tz_name: str) -> str:
    if value is None:
        return "-"
    local = value.astimezone(zoneinfo.ZoneInfo(tz_name))
    return f"{local:%Y-%m-%d %H:%M:%S} {tz_name}"


def _time_zone(alert: Alert) -> str:
    if alert.station is not None:
        return alert.station.time_zone
    if alert.network is not None:
        return alert.network.time_zone
    return "UTC"


def alert_payload(alert: Alert, *, event_key: str) -> dict[str, Any]:
    """The JSON document a webhook receives for one alert event."""
    event = event_key.split(":", 1)[0]
    return {
        "event": f"alert.{event}",
        "event_key": event_key,
        "sent_at": timezone.now().isoformat(),
        "alert": {
            "id": alert.pk,
            "rule": alert.rule,
            "severity": alert.severity,
            "status": alert.status,
            "title": alert.title,
            "detail": alert.detail,
            "context": alert.context,
            "escalation_level": alert.escalation_level,
            "opened_at": alert.opened_at.isoformat(),
            "acknowledged_at": alert.acknowledged_at.isoformat()
            if alert.acknowledged_at
            else None,
            "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
            "network": {"id": alert.network_id, "name": alert.network.name}
            if alert.network
            else None,
            "station": {"id": alert.station_id, "name": alert.station.name}
            if alert.station
            else None,
            "charge_point": {
                "id": alert.charge_point_id,
                "ocpp_id": alert.charge_point.ocpp_id,
            }
            if alert.charge_point
            else None,
            "connector_number": alert.connector.connector_id
            if alert.connector
            else None,
            "session_id": alert.session_id,
            "children": alert.children.count(),
            "url": alert_url(alert),
        },
    }


def _email_recipients(alert: Alert, config: AlertRuleConfig) -> list[str]:
    recipients = list(config.extra_recipients)
    if config.email_operations_team and alert.network is not None:
        users = get_users_with_perms(
            alert.network,
            only_with_perms_in=["access_network"],
            with_group_users=True,
            with_superusers=False,
        )
        recipients += [
            user.email
            for user in cast("QuerySet[User]", users).filter(
                groups__name=Role.OPERATIONS, is_active=True
            )
            if user.email
        ]
    return sorted(set(recipients))


def _email_subject(alert: Alert, event_key: str) -> str:
    event = event_key.split(":", 1)[0]
    prefix = {"opened": "", "escalated": "ESCALATED ", "resolved": "RESOLVED "}.get(
        event, ""
    )
    return f"[CMS {alert.severity.upper()}] {prefix}{alert.title}"[:200]


def _email_body(alert: Alert, event_key: str) -> str:
    tz_name = _time_zone(alert)
    lines = [
        alert.title,
        "",
        alert.detail,
        "",
        f"Severity: {alert.get_severity_display()}",
        f"Rule: {alert.get_rule_display()}",
        f"Status: {alert.get_status_display()}",
        f"Network: {alert.network.name if alert.network else 'unassigned'}",
    ]
    if alert.station is not None:
        lines.append(f"Station: {alert.station.name}")
    if alert.charge_point is not None:
        lines.append(f"Charger: {alert.charge_point.ocpp_id}")
    if alert.connector is not None:
        lines.append(f"Connector: {alert.connector.connector_id}")
    if alert.session_id is not None:
        lines.append(f"Session: {alert.session_id}")
    lines.append(f"Opened: {_local(alert.opened_at, tz_name)}")
    if event_key.startswith("escalated"):
        lines.append(
            f"Escalated to level {alert.escalation_level}: not acknowledged in time."
        )
    if alert.resolved_at is not None:
        lines.append(f"Resolved: {_local(alert.resolved_at, tz_name)}")
    children = alert.children.filter(resolved_at__isnull=True).count()
    if children:
        lines.append(f"Grouped alerts: {children}")
    lines += ["", f"Open in the portal: {alert_url(alert)}"]
    return "\n".join(lines)


def _claim(alert: Alert, channel: str, event_key: str, recipients: str = "") -> bool:
    try:
        with transaction.atomic():
            NotificationRecord.objects.create(
                alert=alert, channel=channel, event_key=event_key, recipients=recipients
            )
    except IntegrityError:
        return False
    return True


def alert_notify(*, alert_id: int, event_key: str) -> list[int]:
    """Send the email and queue the webhooks of one alert event; return delivery ids."""
    alert = (
        Alert.objects.select_related("network", "station", "charge_point", "connector")
        .filter(pk=alert_id)
        .first()
    )
    if alert is None or (alert.is_suppressed and not event_key.startswith("resolved")):
        return []
    config = AlertRuleConfig.objects.filter(network=alert.network).first()
    config = config or AlertRuleConfig(network=alert.network)
    is_resolved = event_key.startswith("resolved")
    if not is_resolved and alert.severity in severity_at_least(
        config.email_min_severity
    ):
        recipients = _email_recipients(alert, config)
        if recipients and _claim(alert, "email", event_key, ", ".join(recipients)):
            send_mail(
                _email_subject(alert, event_key),
                _email_body(alert, event_key),
                settings.DEFAULT_FROM_EMAIL,
                recipients,
            )
            AlertEvent.objects.create(
                alert=alert,
                kind=AlertEvent.Kind.NOTIFIED,
                at=timezone.now(),
                message=f"Email ({event_key}) to {', '.join(recipients)}",
            )
    if alert.network_id is None:
        return []
    endpoints = WebhookEndpoint.objects.filter(
        network_id=alert.network_id, is_active=True, send_alerts=True
    )
    delivery_ids: list[int] = []
    for endpoint in endpoints:
        if alert.severity not in severity_at_least(endpoint.min_severity):
            continue
        if is_resolved and not endpoint.send_resolved:
            continue
        body = json.dumps(
            alert_payload(alert, event_key=event_key), sort_keys=True, default=str
        )
        delivery, created = WebhookDelivery.objects.get_or_create(
            endpoint=endpoint,
            alert=alert,
            event_key=event_key,
            defaults={"body": body},
        )
        if created or delivery.status == WebhookDelivery.Status.PENDING:
            delivery_ids.append(delivery.pk)
    if delivery_ids:
        from alerts.tasks import webhook_deliver_task  # tasks import this module

        for delivery_id in delivery_ids:
            enqueue_on_commit(webhook_deliver_task, delivery_id=delivery_id)
    return delivery_ids


# The stream kinds an endpoint may take: ``alerts`` go out as alert webhooks.
WEBHOOK_STREAM_KINDS = ("status", "meter_values", "transactions")


def stream_payload(
    kind: str, document: dict[str, Any], *, network_id: int
) -> dict[str, Any]:
    """The JSON document a webhook receives for one event-stream document."""
    return {
        "event": f"stream.{kind}",
        "kind": kind,
        "event_id": document["event_id"],
        "schema_version": document["schema_version"],
        "network_id": network_id,
        "sent_at": timezone.now().isoformat(),
        "data": document,
    }


def _document_network(document: dict[str, Any]) -> int | None:
    ocpp_id = document.get("charge_point_id")
    if not ocpp_id:
        return None
    return (
        ChargePoint.objects.filter(ocpp_id=ocpp_id)
        .values_list("station__network_id", flat=True)
        .first()
    )


def stream_webhooks(kind: str, document: dict[str, Any]) -> None:
    """Queue one stream document for the endpoints of its network that take its kind."""
    if kind not in WEBHOOK_STREAM_KINDS:
        return None
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(is_active=True).exclude(
            stream_kinds=[]
        )
        if kind in endpoint.stream_kinds
    ]
    if not endpoints:
        return None
    network_id = _document_network(document)
    if network_id is None:  # a charger not at a station of any network
        return None
    event_key = f"{kind}:{document['event_id']}"
    body = json.dumps(
        stream_payload(kind, document, network_id=network_id),
        sort_keys=True,
        default=str,
    )
    delivery_ids = []
    for endpoint in endpoints:
        if endpoint.network_id != network_id:
            continue
        delivery, created = WebhookDelivery.objects.get_or_create(
            endpoint=endpoint,
            alert=None,
            event_key=event_key,
            defaults={"body": body},
        )
        if created:
            delivery_ids.append(delivery.pk)
    if delivery_ids:
        from alerts.tasks import webhook_deliver_task  # tasks import this module

        for delivery_id in delivery_ids:
            enqueue_on_commit(webhook_deliver_task, delivery_id=delivery_id)
    return None


def _post(endpoint: WebhookEndpoint, delivery: WebhookDelivery) -> int:
    body = delivery.body.encode()
    request = urllib.request.Request(  # noqa: S310 - the URL field allows http(s) only
        endpoint.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "cms-alerts/1",
            SIGNATURE_HEADER: sign(endpoint.secret, body),
            "X-CMS-Delivery": str(delivery.pk),
            "X-CMS-Event": delivery.event_key,
        },
    )
    try:
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=settings.ALERT_WEBHOOK_TIMEOUT_SECONDS
        ) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def webhook_deliver(*, delivery_id: int, is_last_attempt: bool) -> str:
    """Make one attempt to post a delivery; raise ``WebhookRetryableError`` to retry."""
    delivery = (
        WebhookDelivery.objects.select_related("endpoint")
        .filter(pk=delivery_id)
        .first()
    )
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return delivery.status if delivery else "missing"
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=F("attempts") + 1, last_attempt_at=now
    )
    try:
        code = _post(delivery.endpoint, delivery)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
        status = (
            WebhookDelivery.Status.FAILED
            if is_last_attempt
            else WebhookDelivery.Status.PENDING
        )
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            last_error=error, last_status_code=None, status=status
        )
        if not is_last_attempt:
            raise WebhookRetryableError(error) from exc
        return status
    if 200 <= code < 300:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.SUCCEEDED,
            last_status_code=code,
            last_error="",
            delivered_at=timezone.now(),
        )
        return WebhookDelivery.Status.SUCCEEDED
    retryable = code >= 500 or code == 429
    final = is_last_attempt or not retryable
    status = WebhookDelivery.Status.FAILED if final else WebhookDelivery.Status.PENDING
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=status, last_status_code=code, last_error=f"HTTP {code}"
    )
    if not final:
        raise WebhookRetryableError(f"HTTP {code}")
    return status
