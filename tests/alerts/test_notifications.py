"""Email content, signed webhooks with retries, routing by network and severity."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.test import override_settings

from alerts.models import Alert, Rule, WebhookDelivery, WebhookEndpoint
from alerts.notifications import verify_signature
from alerts.services import alert_clear, alerts_evaluate_connector

pytestmark = pytest.mark.django_db

SECRET = "s3cret-webhook-key-0123456789"


class Receiver:
    def __init__(self, answers: list[int]) -> None:
        self.answers = answers
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.paths: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append(
                    ({k.lower(): v for k, v in self.headers.items()}, body)
                )
                receiver.paths.append(self.path)
                code = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(answers=[500, 200])
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


def fault(connector, code="GroundFailure"):
    connector.status = "Faulted"
    connector.error_code = code
    connector.vendor_error_code = "V-17"
    connector.info = "Residual current"
    connector.save()


@override_settings(ALERT_PORTAL_BASE_URL="https://cms.example.org")
def test_faulted_alert_email_names_charger_codes_and_link(
    connector_a, operator, support, mailoutbox, django_capture_on_commit_callbacks
):
    fault(connector_a)

    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate_connector(connector_a.pk)

    (mail,) = mailoutbox
    alert = Alert.objects.get()
    assert mail.subject == f"[CMS MAJOR] {alert.title}"
    assert mail.to == [operator.email]  # the operations team, not support
    assert "CP-A-01" in mail.body
    assert "GroundFailure" in mail.body
    assert "V-17" in mail.body
    assert "Residual current" in mail.body
    assert "Station: City Mall" in mail.body
    assert "Europe/Berlin" in mail.body
    assert f"https://cms.example.org/alerts/{alert.pk}/" in mail.body


def test_email_is_sent_once_even_if_the_task_runs_twice(
    connector_a, operator, mailoutbox
):
    from alerts.notifications import alert_notify

    fault(connector_a)
    alerts_evaluate_connector(connector_a.pk)
    alert = Alert.objects.get()

    alert_notify(alert_id=alert.pk, event_key="opened")
    alert_notify(alert_id=alert.pk, event_key="opened")

    assert len(mailoutbox) == 1


def test_webhook_is_signed_and_retried_after_a_500(
    connector_a, network_a, receiver, django_capture_on_commit_callbacks
):
    endpoint = WebhookEndpoint.objects.create(
        network=network_a, name="pager", url=receiver.url, secret=SECRET
    )
    fault(connector_a)

    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate_connector(connector_a.pk)

    assert len(receiver.requests) == 2  # 500, then 200
    for headers, body in receiver.requests:
        expected = (
            "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        )
        assert headers["x-cms-signature"] == expected
        assert verify_signature(SECRET, body, headers["x-cms-signature"])
    payload = json.loads(receiver.requests[-1][1])
    assert payload["event"] == "alert.opened"
    assert payload["alert"]["rule"] == Rule.CONNECTOR_FAULTED
    assert payload["alert"]["charge_point"]["ocpp_id"] == "CP-A-01"
    assert payload["alert"]["context"]["error_code"] == "GroundFailure"
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == WebhookDelivery.Status.SUCCEEDED
    assert delivery.attempts == 2
    assert delivery.last_status_code == 200


def test_a_committed_alert_is_notified_by_the_outbox_relay_after_a_crash(
    connector_a, network_a, receiver, django_capture_on_commit_callbacks
):
    from cms.models import OutboxEvent
    from cms.outbox import outbox_relay

    receiver.answers = [200]
    WebhookEndpoint.objects.create(
        network=network_a, name="pager", url=receiver.url, secret=SECRET
    )
    fault(connector_a)
    # The alert commits, then the process dies: no after-commit work runs.
    alerts_evaluate_connector(connector_a.pk)
    alert = Alert.objects.get()
    notice = OutboxEvent.objects.get(kind="alert.opened")
    assert notice.payload["alert_id"] == alert.pk
    assert not WebhookDelivery.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_relay() == 1  # a relay process picks the notice up

    ((_headers, body),) = receiver.requests
    assert json.loads(body)["alert"]["id"] == alert.pk
    assert WebhookDelivery.objects.get().status == WebhookDelivery.Status.SUCCEEDED
    with django_capture_on_commit_callbacks(execute=True):
        assert outbox_relay() == 0
    assert len(receiver.requests) == 1


def test_webhook_gives_up_after_max_attempts_and_logs_failure(
    connector_a, network_a, receiver, django_capture_on_commit_callbacks, settings
):
    settings.ALERT_WEBHOOK_MAX_ATTEMPTS = 3
    receiver.answers[:] = [503, 502, 500, 200]
    endpoint = WebhookEndpoint.objects.create(
        network=network_a, name="pager", url=receiver.url, secret=SECRET
    )
    fault(connector_a)

    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate_connector(connector_a.pk)

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.attempts == 3
    assert delivery.last_status_code == 500
    assert len(receiver.requests) == 3


def test_transport_error_is_retried_and_recorded(
    connector_a, network_a, django_capture_on_commit_callbacks, settings
):
    from tests.live_server import free_port

    settings.ALERT_WEBHOOK_MAX_ATTEMPTS = 2
    endpoint = WebhookEndpoint.objects.create(
        network=network_a,
        name="down",
        url=f"http://127.0.0.1:{free_port()}/nobody-listens",
        secret=SECRET,
    )
    fault(connector_a)

    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate_connector(connector_a.pk)

    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.attempts == 2
    assert delivery.last_status_code is None
    assert "URLError" in delivery.last_error or "Connection" in delivery.last_error


def test_webhooks_route_by_network_and_severity_and_send_resolved(
    connector_a, network_a, network_b, receiver, django_capture_on_commit_callbacks
):
    receiver.answers[:] = []
    WebhookEndpoint.objects.create(
        network=network_a, name="all", url=receiver.url, secret=SECRET
    )
    WebhookEndpoint.objects.create(
        network=network_a,
        name="critical-only",
        url=receiver.url + "?c",
        secret=SECRET,
        min_severity="critical",
    )
    WebhookEndpoint.objects.create(
        network=network_b, name="other network", url=receiver.url + "?b", secret=SECRET
    )
    fault(connector_a)

    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate_connector(connector_a.pk)
    with django_capture_on_commit_callbacks(execute=True):
        alert_clear(
            rule=Rule.CONNECTOR_FAULTED, subject_key=f"connector:{connector_a.pk}"
        )

    events = [json.loads(body)["event"] for _headers, body in receiver.requests]
    assert events == ["alert.opened", "alert.resolved"]
    assert WebhookDelivery.objects.filter(endpoint__name="all").count() == 2
    assert not WebhookDelivery.objects.exclude(endpoint__name="all").exists()
