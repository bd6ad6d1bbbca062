"""The event stream's documents as signed webhooks: real chargers, the outbox relay,
a receiving HTTP server on loopback."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from ocpp.v16 import call

from alerts.models import WebhookDelivery, WebhookEndpoint
from alerts.notifications import verify_signature
from cms.models import OutboxEvent
from cms.outbox import outbox_relay
from cms.streams import stream_subscribe, stream_unsubscribe
from tests.alerts.test_notifications import Receiver
from tests.factories import ChargePointFactory, IdTokenFactory
from tests.ocpp.client import boot, charger

pytestmark = pytest.mark.django_db(transaction=True)
KINDS = ("status", "meter_values", "transactions")
SECRET = "stream-webhook-secret-0123456789"


def _iso(at) -> str:
    return at.isoformat().replace("+00:00", "Z")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver(answers=[])
    server.thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


@pytest.fixture
def relayed_kinds(settings):
    # Embedded mode: no Redis for the stream, the sinks (webhooks) still run.
    settings.EVENT_STREAM_REDIS_URL = ""
    for kind in KINDS:
        stream_subscribe(kind)
    yield
    for kind in KINDS:
        stream_unsubscribe(kind)


def _charge(server, ocpp_id: str, started) -> None:
    async def run() -> None:
        async with charger(server, ocpp_id) as client:
            await client.call(boot())
            await client.call(
                call.StatusNotification(
                    connector_id=1,
                    error_code="NoError",
                    status="Charging",
                    timestamp=_iso(started),
                )
            )
            answer = await client.call(
                call.StartTransaction(
                    connector_id=1,
                    id_tag=f"DRIVER-{ocpp_id}",
                    meter_start=1000,
                    timestamp=_iso(started),
                )
            )
            await client.call(
                call.StopTransaction(
                    transaction_id=answer.transaction_id,
                    meter_stop=5000,
                    timestamp=_iso(started + timedelta(minutes=20)),
                    reason="EVDisconnected",
                )
            )

    asyncio.run(run())


def _relay_until(receiver: Receiver, count: int, *, deadline_s: float = 15.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        outbox_relay()
        if len(receiver.requests) >= count:
            return
        time.sleep(0.2)
    raise AssertionError(f"{len(receiver.requests)} of {count} webhooks posted")


def _posts(receiver: Receiver) -> list[tuple[dict[str, str], dict]]:
    return [(headers, json.loads(body)) for headers, body in receiver.requests]


@pytest.fixture
def two_networks_charging(
    relayed_kinds, server_factory, station_a, station_b, receiver
) -> tuple[WebhookEndpoint, WebhookEndpoint]:
    ours = WebhookEndpoint.objects.create(
        network=station_a.network,
        name="Analytics",
        url=receiver.url,
        secret=SECRET,
        send_alerts=False,
        stream_kinds=["status", "transactions"],
    )
    theirs = WebhookEndpoint.objects.create(
        network=station_b.network,
        name="Other network",
        url=receiver.url + "/other",
        secret=SECRET,
        stream_kinds=["status", "transactions", "meter_values"],
    )
    ChargePointFactory(station=station_a, ocpp_id="CP-WH-A")
    IdTokenFactory(token="DRIVER-CP-WH-A", network=station_a.network)
    server = server_factory(
        EVENT_STREAM_KINDS=",".join(KINDS), OCPP_UNKNOWN_CHARGERS="reject"
    )
    _charge(server, "CP-WH-A", timezone.now() - timedelta(minutes=30))
    # One status document, a start and a stop.
    _relay_until(receiver, 3)
    return ours, theirs


def test_chosen_stream_kinds_are_posted_signed_to_their_network_only(
    two_networks_charging, receiver
):
    ours, _theirs = two_networks_charging

    for headers, raw in receiver.requests:
        assert headers["content-type"] == "application/json"
        assert verify_signature(SECRET, raw, headers["x-cms-signature"])
    assert set(receiver.paths) == {"/hook"}
    posts = _posts(receiver)
    by_event: dict[str, list[dict]] = {}
    for headers, body in posts:
        by_event.setdefault(body["event"], []).append(body)
        assert headers["x-cms-event"] == f"{body['kind']}:{body['event_id']}"
        assert body["network_id"] == ours.network_id
        assert body["data"]["event_id"] == body["event_id"]
        assert body["schema_version"] == 1
    assert sorted(by_event) == ["stream.status", "stream.transactions"]
    [status] = by_event["stream.status"]
    assert (status["data"]["charge_point_id"], status["data"]["status"]) == (
        "CP-WH-A",
        "Charging",
    )
    start, stop = sorted(
        by_event["stream.transactions"], key=lambda b: b["data"]["event"] != "start"
    )
    assert (start["data"]["event"], stop["data"]["event"]) == ("start", "stop")
    assert (stop["data"]["start_kwh"], stop["data"]["stop_kwh"]) == (1.0, 5.0)
    assert stop["data"]["stop_reason"] == "EVDisconnected"
    # No meter values were chosen by our endpoint; the other network's endpoint
    # took everything of its own network, and there was nothing there.
    assert not WebhookDelivery.objects.filter(endpoint=_theirs).exists()
    assert set(
        WebhookDelivery.objects.filter(endpoint=ours).values_list("status", flat=True)
    ) == {WebhookDelivery.Status.SUCCEEDED}


def test_a_redelivered_document_is_posted_once(two_networks_charging, receiver):
    posted = len(receiver.requests)
    delivered = OutboxEvent.objects.filter(state=OutboxEvent.State.DELIVERED)
    assert delivered.exists()

    # The relay delivered, then (as after a crash before its commit) delivers again.
    delivered.update(state=OutboxEvent.State.PENDING, delivered_at=None)
    pending = OutboxEvent.objects.filter(state=OutboxEvent.State.PENDING)
    deadline = time.monotonic() + 10
    while pending.exists():
        assert time.monotonic() < deadline, "the outbox did not drain"
        outbox_relay()

    assert len(receiver.requests) == posted
    assert WebhookDelivery.objects.count() == posted


def _create(client, network, kinds: list[str], *, name: str = "Analytics"):
    return client.post(
        reverse("alerts:webhook_create"),
        {
            "network": network.pk,
            "name": name,
            "url": "https://hooks.example.org/stream",
            "min_severity": "major",
            "stream_kinds": kinds,
            "is_active": "on",
        },
    )


def test_a_stream_kind_the_stream_does_not_relay_is_refused_by_name(
    client, operator, network_a, settings
):
    settings.EVENT_STREAM_KINDS = "status"
    client.force_login(operator)

    response = _create(client, network_a, ["status", "meter_values"])

    assert response.status_code == 400
    errors = response.context["form"].errors
    assert list(errors) == ["stream_kinds"]
    assert "meter_values" in errors["stream_kinds"][0]
    assert "EVENT_STREAM_KINDS" in errors["stream_kinds"][0]
    assert not WebhookEndpoint.objects.exists()

    assert _create(client, network_a, ["status"]).status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert (endpoint.stream_kinds, endpoint.send_alerts) == (["status"], False)
    listing = client.get(reverse("alerts:webhook_list")).content.decode()
    assert "<td>status</td>" in listing


def test_support_and_finance_cannot_add_stream_webhooks(
    client, support, finance, network_a, settings
):
    settings.EVENT_STREAM_KINDS = "status"
    for user in (support, finance):
        client.force_login(user)
        response = _create(client, network_a, ["status"], name=user.username)
        assert response.status_code == 403
    assert not WebhookEndpoint.objects.exists()
