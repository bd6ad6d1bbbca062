"""The browser live socket: who may connect, who hears what, what is pushed."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from cms.routing import websocket_application
from stations.live import bus as livebus
from stations.live.events import groups_for
from stations.models import ChargePoint, Connector, RegistrationStatus
from tests.factories import (
    ChargePointFactory,
    ChargingSessionFactory,
    ConnectorFactory,
)

pytestmark = pytest.mark.django_db(transaction=True)


def publish_now(groups: list[str], event: dict[str, Any]) -> None:
    """What sync code's emit does after commit: one live-bus message."""
    livebus.publish_sync([(groups, event)])


@pytest.fixture
def cookies(
    request: pytest.FixtureRequest, connector_a: Connector, charge_point_b: ChargePoint
) -> dict[str, str]:
    """A session cookie per role, logged in through the normal session machinery."""
    jar = {}
    for role in ("operator", "support", "finance", "outsider", "no_role_user"):
        client = Client()
        client.force_login(request.getfixturevalue(role))
        jar[role] = (
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )
    return jar


def communicator(
    path: str, cookie: str | None = None, origin: bytes = b"http://127.0.0.1"
) -> WebsocketCommunicator:
    headers = [(b"origin", origin)]
    if cookie:
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(websocket_application, path, headers=headers)


def status_event(connector: Connector, status: str) -> dict[str, Any]:
    charge_point = connector.charge_point
    return {
        "kind": "connector.status",
        "connector_pk": connector.pk,
        "charge_point_pk": charge_point.pk,
        "station_id": charge_point.station_id,
        "network_id": charge_point.station.network_id,
        "connector_number": connector.connector_id,
        "status": status,
        "error_code": "GroundFailure",
        "at": "2026-03-01T10:00:00+00:00",
    }


def groups_of(connector: Connector) -> list[str]:
    charge_point = connector.charge_point
    return groups_for(
        network_id=charge_point.station.network_id,
        station_id=charge_point.station_id,
        charge_point_pk=charge_point.pk,
    )


async def assert_pushed_without(
    socket: WebsocketCommunicator, *, hidden: Connector, shown: Connector
) -> None:
    """An event of ``hidden``, then one of ``shown``: only ``shown``'s row is pushed.

    Events are pushed in order, so a push for ``hidden`` would come first or
    with ``shown``'s row; no fixed wait is needed to see that none came.
    """
    await sync_to_async(publish_now)(groups_of(hidden), status_event(hidden, "Faulted"))
    await sync_to_async(publish_now)(groups_of(shown), status_event(shown, "Faulted"))

    message = await socket.receive_json_from(timeout=5)
    assert message["event"]["connector_pk"] == shown.pk
    assert message["html"].startswith(f'<tr id="connector-{shown.pk}"')
    assert f'id="connector-{hidden.pk}"' not in message["html"]


@sync_to_async
def set_status(connector: Connector, status: str, *, online: bool = True) -> None:
    Connector.objects.filter(pk=connector.pk).update(status=status)
    ChargePoint.objects.filter(pk=connector.charge_point_id).update(is_online=online)


async def test_anonymous_socket_is_refused(connector_a) -> None:
    socket = communicator("/ws/live/?view=board")
    connected, _ = await socket.connect()
    assert not connected
    await socket.disconnect()


async def test_socket_from_a_foreign_origin_is_refused(cookies) -> None:
    socket = communicator(
        "/ws/live/?view=board", cookies["operator"], origin=b"https://evil.example"
    )
    connected, _ = await socket.connect()
    assert not connected
    await socket.disconnect()


async def test_user_without_a_role_is_refused(cookies) -> None:
    socket = communicator("/ws/live/?view=board", cookies["no_role_user"])
    connected, _ = await socket.connect()
    assert not connected
    await socket.disconnect()


async def test_operator_receives_the_rerendered_row_of_a_status_change(
    cookies, connector_a
) -> None:
    socket = communicator("/ws/live/?view=board", cookies["operator"])
    connected, _ = await socket.connect()
    assert connected
    await set_status(connector_a, "Faulted")

    await sync_to_async(publish_now)(
        groups_of(connector_a), status_event(connector_a, "Faulted")
    )

    message = await socket.receive_json_from(timeout=5)
    assert message["event"]["kind"] == "connector.status"
    assert message["html"].startswith(f'<tr id="connector-{connector_a.pk}"')
    assert "status-Faulted" in message["html"]
    assert "City Mall" in message["html"]  # the board shows the station column
    await socket.disconnect()


async def test_a_board_page_gets_only_the_rows_it_shows(cookies, connector_a) -> None:
    other = await sync_to_async(ConnectorFactory)(
        charge_point=connector_a.charge_point, connector_id=2
    )
    socket = communicator(
        f"/ws/live/?view=board&rows={connector_a.pk}", cookies["operator"]
    )
    connected, _ = await socket.connect()
    assert connected
    await set_status(other, "Faulted")
    await set_status(connector_a, "Faulted")

    await assert_pushed_without(socket, hidden=other, shown=connector_a)
    await socket.disconnect()


async def test_a_page_cannot_name_rows_outside_the_users_scope(
    cookies, connector_a, charge_point_b
) -> None:
    foreign = await sync_to_async(ConnectorFactory)(
        charge_point=charge_point_b, connector_id=1
    )
    socket = communicator(
        f"/ws/live/?view=board&rows={foreign.pk},{connector_a.pk}", cookies["operator"]
    )
    connected, _ = await socket.connect()
    assert connected
    await set_status(connector_a, "Faulted")

    await assert_pushed_without(socket, hidden=foreign, shown=connector_a)
    await socket.disconnect()


async def test_screens_of_one_user_share_one_render_and_a_later_change_is_rendered_anew(
    cookies, connector_a, monkeypatch
) -> None:
    from stations.live.sockets import LiveConsumer

    renders = []
    original = LiveConsumer._render_fragments

    def counting(self, events):
        renders.append(len(events))
        return original(self, events)

    monkeypatch.setattr(LiveConsumer, "_render_fragments", counting)
    screens = [
        communicator("/ws/live/?view=board", cookies["operator"]) for _ in range(3)
    ]
    for screen in screens:
        assert (await screen.connect())[0]
    await set_status(connector_a, "Faulted")

    await sync_to_async(publish_now)(
        groups_of(connector_a), status_event(connector_a, "Faulted")
    )
    for screen in screens:
        message = await screen.receive_json_from(timeout=5)
        assert "status-Faulted" in message["html"]
    assert len(renders) == 1

    # The same row changes again: nobody may be served the earlier render.
    await set_status(connector_a, "Available")
    await sync_to_async(publish_now)(
        groups_of(connector_a), status_event(connector_a, "Available")
    )
    for screen in screens:
        message = await screen.receive_json_from(timeout=5)
        assert "status-Available" in message["html"]
    assert len(renders) == 2
    for screen in screens:
        await screen.disconnect()


async def test_outsider_does_not_hear_events_of_another_network(
    cookies, connector_a, charge_point_b
) -> None:
    own = await sync_to_async(ConnectorFactory)(
        charge_point=charge_point_b, connector_id=1
    )
    socket = communicator("/ws/live/?view=board", cookies["outsider"])
    connected, _ = await socket.connect()
    assert connected

    await assert_pushed_without(socket, hidden=connector_a, shown=own)
    await socket.disconnect()


@pytest.mark.parametrize(
    "query",
    ["station={station}", "charge_point={charge_point}", "network={network}"],
)
async def test_outsider_cannot_watch_a_page_of_another_network(
    cookies, connector_a, query
) -> None:
    charge_point = connector_a.charge_point
    path = "/ws/live/?" + query.format(
        station=charge_point.station_id,
        charge_point=charge_point.pk,
        network=(await sync_to_async(lambda: charge_point.station.network_id)()),
    )
    socket = communicator(path, cookies["outsider"])
    connected, _ = await socket.connect()
    assert not connected
    await socket.disconnect()


async def test_support_cannot_watch_an_unassigned_charger(cookies) -> None:
    charger = await sync_to_async(ChargePointFactory)(
        station=None, registration_status=RegistrationStatus.PENDING
    )
    socket = communicator(f"/ws/live/?charge_point={charger.pk}", cookies["support"])
    connected, _ = await socket.connect()
    assert not connected
    await socket.disconnect()


async def test_charge_point_page_gets_row_and_connection_panel(
    cookies, connector_a
) -> None:
    charge_point = connector_a.charge_point
    socket = communicator(
        f"/ws/live/?view=charge_point&charge_point={charge_point.pk}",
        cookies["support"],
    )
    connected, _ = await socket.connect()
    assert connected
    await set_status(connector_a, "Available", online=False)

    await sync_to_async(publish_now)(
        groups_of(connector_a),
        {
            "kind": "charge_point.connection",
            "charge_point_pk": charge_point.pk,
            "network_id": None,
            "is_connected": False,
        },
    )

    message = await socket.receive_json_from(timeout=5)
    assert f'id="connector-{connector_a.pk}"' in message["html"]
    assert "status-Offline" in message["html"]
    assert 'id="cp-connection"' in message["html"]
    await socket.disconnect()


async def test_session_update_reaches_the_station_page_with_power(
    cookies, connector_a
) -> None:
    charge_point = connector_a.charge_point
    await set_status(connector_a, "Charging")
    session = await sync_to_async(ChargingSessionFactory)(
        charge_point=charge_point, power_w=22000.0, energy_wh=5000
    )
    socket = communicator(
        f"/ws/live/?view=station&station={charge_point.station_id}", cookies["finance"]
    )
    connected, _ = await socket.connect()
    assert connected

    await sync_to_async(publish_now)(
        groups_of(connector_a),
        {
            "kind": "session.updated",
            "session_id": session.pk,
            "charge_point_pk": charge_point.pk,
            "connector_number": 1,
            "status": "active",
            "energy_wh": 5000,
            "power_w": 22000.0,
        },
    )

    message = await socket.receive_json_from(timeout=5)
    assert message["event"]["session_id"] == session.pk
    assert "22.00 kW" in message["html"]
    assert "5.00 kWh" in message["html"]
    await socket.disconnect()


async def test_overview_gets_fresh_figures_after_an_event(cookies, connector_a) -> None:
    socket = communicator("/ws/live/?view=overview", cookies["operator"])
    connected, _ = await socket.connect()
    assert connected
    await set_status(connector_a, "Faulted")

    await sync_to_async(publish_now)(
        groups_of(connector_a), status_event(connector_a, "Faulted")
    )

    first = await socket.receive_json_from(timeout=5)
    assert first["event"]["status"] == "Faulted"
    figures = await socket.receive_json_from(timeout=5)
    assert figures["html"].startswith('<section id="overview-kpis"')
    assert 'data-testid="count-Faulted">1<' in figures["html"]
    await socket.disconnect()


async def test_a_browser_that_leaves_while_its_rows_render_ends_the_push_quietly(
    operator, connector_a
) -> None:
    """uvicorn raises ClientDisconnected on a send to a closed socket: no task error."""
    from uvicorn.protocols.utils import ClientDisconnected

    from stations.live.sockets import LiveConsumer

    sent: list[dict[str, Any]] = []

    async def closed_socket(message: dict[str, Any]) -> None:
        sent.append(message)
        raise ClientDisconnected

    consumer = LiveConsumer()
    consumer.scope = {"type": "websocket", "user": operator}
    consumer.base_send = closed_socket
    consumer.view, consumer.visible_rows = "board", None
    consumer.push_closed, consumer.last_event_at = False, 0.0
    consumer.pending_events = [status_event(connector_a, "Faulted")]

    await consumer._push_fragments()  # returns instead of raising

    assert len(sent) == 1  # it tried once, then stopped
    assert consumer.push_closed
    consumer._deliver(status_event(connector_a, "Available"))
    assert consumer.pending_events == []  # a closed socket takes no more events
