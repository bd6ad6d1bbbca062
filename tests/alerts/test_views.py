"""Portal screens: who sees and handles alerts, tickets, rules and webhooks."""

from __future__ import annotations

import pytest
from channels.auth import AuthMiddlewareStack
from channels.testing import WebsocketCommunicator
from django.urls import reverse

from alerts.live import AlertsConsumer
from alerts.models import (
    Alert,
    AlertRuleConfig,
    AlertStatus,
    MaintenanceTicket,
    Rule,
    TicketStatus,
    WebhookEndpoint,
)
from alerts.services import alert_raise, alerts_evaluate_connector
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def fault_alert(connector_a) -> Alert:
    connector_a.status = "Faulted"
    connector_a.error_code = "GroundFailure"
    connector_a.save()
    alerts_evaluate_connector(connector_a.pk)
    return Alert.objects.get()


def login(client, user):
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.mark.parametrize("role", ["operator", "support", "administrator"])
def test_inbox_lists_alerts_of_the_users_networks(client, request, fault_alert, role):
    login(client, request.getfixturevalue(role))
    response = client.get(reverse("alerts:alert_list"))
    assert response.status_code == 200
    assert fault_alert.title in response.content.decode()
    assert response.context["badge_count"] == 1


def test_inbox_filters_by_severity_and_status(client, operator, fault_alert):
    login(client, operator)
    url = reverse("alerts:alert_list")
    assert (
        fault_alert.title
        not in client.get(url, {"severity": "critical"}).content.decode()
    )
    assert (
        fault_alert.title
        not in client.get(url, {"status": "resolved"}).content.decode()
    )
    assert (
        fault_alert.title
        in client.get(url, {"rule": Rule.CONNECTOR_FAULTED}).content.decode()
    )


def test_outsider_does_not_see_other_networks_alerts(client, outsider, fault_alert):
    login(client, outsider)
    assert (
        fault_alert.title
        not in client.get(reverse("alerts:alert_list")).content.decode()
    )
    detail = client.get(reverse("alerts:alert_detail", args=[fault_alert.pk]))
    assert detail.status_code == 404


def test_finance_is_denied_alerts_and_rules(client, finance, fault_alert, network_a):
    login(client, finance)
    assert client.get(reverse("alerts:alert_list")).status_code == 403
    assert (
        client.get(reverse("alerts:alert_detail", args=[fault_alert.pk])).status_code
        == 403
    )
    response = client.post(
        reverse("alerts:rule_config_edit", args=[network_a.pk]),
        {"low_power_minutes": 1},
    )
    assert response.status_code == 403
    assert not AlertRuleConfig.objects.exists()


def test_support_acknowledges_but_cannot_resolve(client, support, fault_alert):
    login(client, support)
    response = client.post(reverse("alerts:alert_resolve", args=[fault_alert.pk]))
    assert response.status_code == 403
    fault_alert.refresh_from_db()
    assert fault_alert.status == AlertStatus.OPEN

    response = client.post(reverse("alerts:alert_acknowledge", args=[fault_alert.pk]))
    assert response.status_code == 302
    fault_alert.refresh_from_db()
    assert fault_alert.status == AlertStatus.ACKNOWLEDGED
    assert fault_alert.acknowledged_by == support
    assert fault_alert.events.filter(kind="acknowledged", actor=support).exists()


@pytest.mark.parametrize(("role", "status"), [("outsider", 404), ("finance", 403)])
def test_denied_acknowledge_changes_nothing(client, request, fault_alert, role, status):
    login(client, request.getfixturevalue(role))
    response = client.post(reverse("alerts:alert_acknowledge", args=[fault_alert.pk]))
    assert response.status_code == status
    fault_alert.refresh_from_db()
    assert fault_alert.status == AlertStatus.OPEN
    assert fault_alert.acknowledged_at is None


def test_anonymous_is_sent_to_login(client, fault_alert):
    response = client.post(reverse("alerts:alert_acknowledge", args=[fault_alert.pk]))
    assert response.status_code == 302
    assert "/accounts/login" in response["Location"]
    fault_alert.refresh_from_db()
    assert fault_alert.status == AlertStatus.OPEN


def test_operator_resolves_with_note_and_it_is_in_history(
    client, operator, fault_alert
):
    login(client, operator)
    client.post(
        reverse("alerts:alert_resolve", args=[fault_alert.pk]), {"note": "Replaced RCD"}
    )
    fault_alert.refresh_from_db()
    assert fault_alert.status == AlertStatus.RESOLVED
    assert fault_alert.resolution == Alert.Resolution.MANUAL
    page = client.get(
        reverse("alerts:alert_detail", args=[fault_alert.pk])
    ).content.decode()
    assert "Replaced RCD" in page


def test_ticket_from_alert_assigned_and_closing_resolves_alert(
    client, operator, support, fault_alert
):
    login(client, operator)
    response = client.post(
        reverse("alerts:ticket_create") + f"?alert={fault_alert.pk}",
        {
            "alert": fault_alert.pk,
            "charge_point": fault_alert.charge_point_id,
            "title": "Replace RCD",
            "status": TicketStatus.OPEN,
            "assignee": support.pk,
            "due_at": "2030-01-02T08:00",
            "resolve_alerts_on_close": "on",
        },
    )
    assert response.status_code == 302
    ticket = MaintenanceTicket.objects.get()
    assert ticket.assignee == support
    assert list(ticket.alerts.all()) == [fault_alert]
    assert ticket.due_at.isoformat() == "2030-01-02T07:00:00+00:00"  # Berlin local

    client.post(
        reverse("alerts:ticket_detail", args=[ticket.pk]), {"body": "Part ordered"}
    )
    assert ticket.notes.get().body == "Part ordered"

    response = client.post(
        reverse("alerts:ticket_edit", args=[ticket.pk]),
        {
            "title": "Replace RCD",
            "status": TicketStatus.DONE,
            "assignee": support.pk,
            "resolve_alerts_on_close": "on",
        },
    )
    assert response.status_code == 302
    ticket.refresh_from_db()
    assert ticket.status == TicketStatus.DONE
    assert ticket.closed_at is not None
    fault_alert.refresh_from_db()
    assert fault_alert.resolution == Alert.Resolution.TICKET


def test_ticket_form_names_the_bad_field(client, operator, charge_point_a):
    login(client, operator)
    response = client.post(
        reverse("alerts:ticket_create"),
        {"charge_point": charge_point_a.pk, "title": "", "status": "open"},
    )
    assert response.status_code == 400
    assert "title" in response.context["form"].errors
    assert not MaintenanceTicket.objects.exists()


@pytest.mark.parametrize("garbled", ["abc", "1.5", "99999999999999999999999"])
def test_ticket_with_a_garbled_charge_point_is_refused_naming_the_field(
    client, operator, charge_point_a, garbled
):
    login(client, operator)
    response = client.post(
        reverse("alerts:ticket_create"),
        {"charge_point": garbled, "title": "Broken", "status": "open"},
    )
    assert response.status_code == 400
    assert "charge_point" in response.context["form"].errors
    assert not MaintenanceTicket.objects.exists()


def test_support_cannot_create_tickets(client, support, charge_point_a):
    login(client, support)
    response = client.post(
        reverse("alerts:ticket_create"),
        {"charge_point": charge_point_a.pk, "title": "x", "status": "open"},
    )
    assert response.status_code == 403
    assert not MaintenanceTicket.objects.exists()


def test_operator_changes_rule_thresholds(client, operator, network_a):
    login(client, operator)
    from alerts.forms import AlertRuleConfigForm

    data = {
        name: field.initial
        for name, field in AlertRuleConfigForm().fields.items()
        if field.initial not in (None, False)
    }
    data.update({"low_power_threshold_w": 1500, "email_recipients": "noc@example.org"})
    response = client.post(
        reverse("alerts:rule_config_edit", args=[network_a.pk]), data
    )
    assert response.status_code == 302
    config = AlertRuleConfig.objects.get(network=network_a)
    assert config.low_power_threshold_w == 1500
    assert config.extra_recipients == ["noc@example.org"]


def test_rule_form_rejects_bad_email(client, operator, network_a):
    login(client, operator)
    response = client.post(
        reverse("alerts:rule_config_edit", args=[network_a.pk]),
        {"email_recipients": "not-an-address", "low_power_threshold_w": 1000},
    )
    assert response.status_code == 400
    assert "email_recipients" in response.context["form"].errors
    assert not AlertRuleConfig.objects.exists()


def test_outsider_cannot_configure_another_network(client, outsider, network_a):
    login(client, outsider)
    response = client.get(reverse("alerts:rule_config_edit", args=[network_a.pk]))
    assert response.status_code == 404


def test_operator_creates_webhook_with_generated_secret_and_sees_log(
    client, operator, network_a
):
    login(client, operator)
    response = client.post(
        reverse("alerts:webhook_create"),
        {
            "network": network_a.pk,
            "name": "PagerDuty",
            "url": "https://hooks.example.org/cms",
            "min_severity": "major",
            "send_resolved": "on",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert len(endpoint.secret) >= 32
    log = client.get(reverse("alerts:webhook_deliveries", args=[endpoint.pk]))
    assert log.status_code == 200
    assert endpoint.secret not in log.content.decode()


def test_support_cannot_see_webhooks(client, support, network_a):
    endpoint = WebhookEndpoint.objects.create(
        network=network_a, name="x", url="https://e.org", secret="x" * 20
    )
    login(client, support)
    assert client.get(reverse("alerts:webhook_list")).status_code == 403
    response = client.post(reverse("alerts:webhook_delete", args=[endpoint.pk]))
    assert response.status_code == 403
    assert WebhookEndpoint.objects.filter(pk=endpoint.pk).exists()


def test_charger_history_lists_past_alerts(client, operator, fault_alert):
    login(client, operator)
    response = client.get(
        reverse("alerts:charge_point_history", args=[fault_alert.charge_point_id])
    )
    assert response.status_code == 200
    assert fault_alert.title in response.content.decode()


def test_inbox_list_query_count_does_not_grow_with_alerts(
    client, operator, network_a, django_assert_max_num_queries
):
    for n in range(30):
        alert_raise(
            rule=Rule.BILLING_FAILURE,
            subject_key=f"session:{n}",
            title=f"Failure {n}",
            network_id=network_a.pk,
        )
    login(client, operator)
    with django_assert_max_num_queries(15):
        response = client.get(reverse("alerts:alert_list"))
    assert response.status_code == 200


@pytest.mark.django_db(transaction=True)
async def test_live_socket_pushes_alert_changes_with_badge(
    network_a, operator, connector_a
):
    from asgiref.sync import sync_to_async

    communicator = WebsocketCommunicator(
        AuthMiddlewareStack(AlertsConsumer.as_asgi()), "/ws/alerts/"
    )
    communicator.scope["user"] = operator
    connected, _ = await communicator.connect()
    assert connected
    first = await communicator.receive_json_from(timeout=2)
    assert first == {"kind": "alert.badge", "badge": 0}

    connector_a.status = "Faulted"
    await sync_to_async(connector_a.save)()
    await sync_to_async(alerts_evaluate_connector)(connector_a.pk)

    event = await communicator.receive_json_from(timeout=2)
    assert event["kind"] == "alert.changed"
    assert event["badge"] == 1
    await communicator.disconnect()


async def _alerts_socket(user):
    communicator = WebsocketCommunicator(
        AuthMiddlewareStack(AlertsConsumer.as_asgi()), "/ws/alerts/"
    )
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    return communicator, connected


@pytest.mark.django_db(transaction=True)
async def test_live_socket_refuses_anonymous_visitors():
    from django.contrib.auth.models import AnonymousUser

    communicator, connected = await _alerts_socket(AnonymousUser())

    assert connected is False
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_live_socket_refuses_a_role_without_alerts(finance):
    communicator, connected = await _alerts_socket(finance)

    assert connected is False
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_live_socket_of_another_network_hears_nothing_of_network_a(
    outsider, connector_a, charge_point_b
):
    from asgiref.sync import sync_to_async

    from tests.factories import ConnectorFactory

    connector_b = await sync_to_async(ConnectorFactory)(
        charge_point=charge_point_b, status="Faulted"
    )
    communicator, connected = await _alerts_socket(outsider)
    assert connected
    assert await communicator.receive_json_from(timeout=2) == {
        "kind": "alert.badge",
        "badge": 0,
    }

    connector_a.status = "Faulted"
    await sync_to_async(connector_a.save)()
    await sync_to_async(alerts_evaluate_connector)(connector_a.pk)
    # Then a fault in the outsider's own network: alerts are pushed in order,
    # so network A's would have come first.
    await sync_to_async(alerts_evaluate_connector)(connector_b.pk)

    event = await communicator.receive_json_from(timeout=2)
    assert event["network_id"] == charge_point_b.station.network_id
    assert event["charge_point_pk"] == charge_point_b.pk
    assert event["badge"] == 1
    await communicator.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_live_socket_of_a_browser_that_left_drops_the_alert_quietly(operator):
    """uvicorn raises ClientDisconnected on a send to a closed socket: no task error."""
    from uvicorn.protocols.utils import ClientDisconnected

    sent: list[dict] = []

    async def closed_socket(message: dict) -> None:
        sent.append(message)
        raise ClientDisconnected

    consumer = AlertsConsumer()
    consumer.scope = {"type": "websocket", "user": operator}
    consumer.base_send = closed_socket
    consumer.alert_tasks = set()

    await consumer._send_alert({"kind": "alert.changed", "id": 1})  # returns

    assert len(sent) == 1
    assert consumer.push_closed
    consumer._deliver({"kind": "alert.changed", "id": 2})
    assert consumer.alert_tasks == set()  # a closed socket starts no more pushes
