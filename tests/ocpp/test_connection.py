"""Connecting chargers: subprotocol, identity, Basic auth, unknown-charger policy."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
import websockets
import websockets.http11
from ocpp.v16 import call

from stations.models import ChargePoint, ConnectionEvent, RegistrationStatus
from tests.factories import ChargePointFactory
from tests.ocpp.client import auth_header, boot, charger, raw_socket, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def refused_response(server, ocpp_id: str, **kwargs) -> websockets.http11.Response:
    async def scenario() -> websockets.http11.Response:
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with raw_socket(server, ocpp_id, **kwargs):
                pass
        return refused.value.response

    return asyncio.run(scenario())


def refused_status(server, ocpp_id: str, **kwargs) -> int:
    return refused_response(server, ocpp_id, **kwargs).status_code


def test_known_charger_boots_accepted_and_details_are_stored(asgi_server):
    ChargePointFactory(ocpp_id="CP-BOOT-1", vendor="", model="")

    async def scenario():
        async with charger(asgi_server, "CP-BOOT-1") as client:
            return await client.call(boot())

    answer = asyncio.run(scenario())

    assert answer.status == "Accepted"
    assert answer.interval == 300
    assert datetime.fromisoformat(answer.current_time).tzinfo is not None
    charge_point = ChargePoint.objects.get(ocpp_id="CP-BOOT-1")
    assert (charge_point.vendor, charge_point.model) == ("ACME", "Wallbox 22")
    assert charge_point.serial_number == "SN-1"
    assert charge_point.firmware_version == "1.2.3"
    assert charge_point.iccid == "8949000000000000001"
    assert charge_point.imsi == "262010000000001"
    assert charge_point.meter_type == "EEM-350"
    assert charge_point.last_boot_at is not None


def test_connection_state_is_recorded_and_cleared_on_close(asgi_server):
    ChargePointFactory(ocpp_id="CP-CONN-1")

    async def scenario():
        async with charger(asgi_server, "CP-CONN-1") as client:
            await client.call(call.Heartbeat())
            return await asyncio.to_thread(
                lambda: ChargePoint.objects.get(ocpp_id="CP-CONN-1")
            )

    while_connected = asyncio.run(scenario())

    assert while_connected.is_connected
    assert while_connected.is_online
    assert while_connected.connection_channel
    assert while_connected.connected_at is not None
    closed = wait_for(
        lambda: ChargePoint.objects.filter(
            ocpp_id="CP-CONN-1", is_connected=False
        ).first()
    )
    assert not closed.is_online
    assert closed.connection_channel == ""
    kinds = set(
        ConnectionEvent.objects.filter(charge_point=closed).values_list(
            "kind", flat=True
        )
    )
    assert kinds == {"connected", "disconnected"}


def test_rejected_charger_gets_rejected_boot_answer(asgi_server):
    ChargePointFactory(
        ocpp_id="CP-REJ-1", registration_status=RegistrationStatus.REJECTED
    )

    async def scenario():
        async with charger(asgi_server, "CP-REJ-1") as client:
            return await client.call(boot())

    assert asyncio.run(scenario()).status == "Rejected"


def test_unknown_charger_is_refused_under_reject_policy(asgi_server):
    status = refused_status(asgi_server, "CP-STRANGER")

    assert status == 403
    assert not ChargePoint.objects.filter(ocpp_id="CP-STRANGER").exists()


def test_unknown_charger_is_registered_pending_under_pending_policy(server_factory):
    server = server_factory(OCPP_UNKNOWN_CHARGERS="pending")

    async def scenario():
        async with charger(server, "CP-NEW-PENDING") as client:
            return await client.call(boot())

    answer = asyncio.run(scenario())

    assert answer.status == "Pending"
    created = ChargePoint.objects.get(ocpp_id="CP-NEW-PENDING")
    assert created.station is None
    assert created.registration_status == RegistrationStatus.PENDING
    assert created.vendor == "ACME"


def test_unknown_charger_is_registered_accepted_under_accept_policy(server_factory):
    server = server_factory(OCPP_UNKNOWN_CHARGERS="accept")

    async def scenario():
        async with charger(server, "CP-NEW-ACCEPT") as client:
            return await client.call(boot())

    assert asyncio.run(scenario()).status == "Accepted"
    created = ChargePoint.objects.get(ocpp_id="CP-NEW-ACCEPT")
    assert created.registration_status == RegistrationStatus.ACCEPTED
    assert created.station is None


def test_charger_offering_no_supported_subprotocol_gets_a_handshake_then_a_close(
    asgi_server,
):
    """OCPP-J 1.6 §3.1.2: handshake without Sec-WebSocket-Protocol, then close."""
    ChargePointFactory(ocpp_id="CP-PROTO-1")

    async def scenario() -> tuple[str | None, int | None]:
        async with raw_socket(
            asgi_server, "CP-PROTO-1", subprotocols=("ocpp9.9",)
        ) as socket:
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await asyncio.wait_for(socket.recv(), timeout=10)
            return (
                socket.subprotocol,
                closed.value.rcvd.code if closed.value.rcvd else None,
            )

    subprotocol, code = asyncio.run(scenario())

    assert subprotocol is None
    assert code == 1002
    assert not ChargePoint.objects.get(ocpp_id="CP-PROTO-1").is_connected
    assert ConnectionEvent.objects.filter(
        charge_point__ocpp_id="CP-PROTO-1", kind="rejected"
    ).exists()


def test_accepted_subprotocol_is_echoed(asgi_server):
    ChargePointFactory(ocpp_id="CP-PROTO-2", ocpp_protocol_max="ocpp1.6")

    async def scenario():
        async with raw_socket(
            asgi_server, "CP-PROTO-2", subprotocols=("ocpp2.0.1", "ocpp1.6")
        ) as socket:
            return socket.subprotocol

    assert asyncio.run(scenario()) == "ocpp1.6"


def test_url_encoded_identity_is_decoded(asgi_server):
    ChargePointFactory(ocpp_id="Hof:Süd-01")

    async def scenario():
        async with charger(asgi_server, "Hof:Süd-01") as client:
            return await client.call(boot())

    assert asyncio.run(scenario()).status == "Accepted"
    assert ChargePoint.objects.get(ocpp_id="Hof:Süd-01").vendor == "ACME"


def test_basic_auth_with_the_right_password_connects(asgi_server):
    ChargePointFactory(ocpp_id="CP-AUTH-1", password="s3cret-pass")

    async def scenario():
        async with charger(asgi_server, "CP-AUTH-1", password="s3cret-pass") as client:
            return await client.call(boot())

    assert asyncio.run(scenario()).status == "Accepted"


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(None, id="missing"),
        pytest.param(auth_header("CP-AUTH-2", "wrong"), id="wrong-password"),
        pytest.param(auth_header("CP-OTHER", "s3cret-pass"), id="wrong-username"),
        pytest.param({"Authorization": "Basic !!!"}, id="malformed"),
    ],
)
def test_basic_auth_refuses_bad_credentials_with_a_basic_challenge(
    asgi_server, headers
):
    ChargePointFactory(ocpp_id="CP-AUTH-2", password="s3cret-pass")

    response = refused_response(asgi_server, "CP-AUTH-2", headers=headers)

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    charge_point = ChargePoint.objects.get(ocpp_id="CP-AUTH-2")
    assert not charge_point.is_connected
    assert charge_point.last_boot_at is None
    assert ConnectionEvent.objects.filter(
        charge_point=charge_point, kind="rejected"
    ).exists()
    assert not ConnectionEvent.objects.filter(
        charge_point=charge_point, kind="connected"
    ).exists()


def test_reconnect_with_same_identity_takes_over_and_closes_first_socket(asgi_server):
    ChargePointFactory(ocpp_id="CP-TAKE-1")

    async def scenario():
        async with (
            charger(asgi_server, "CP-TAKE-1") as first,
            charger(asgi_server, "CP-TAKE-1") as second,
        ):
            await asyncio.wait_for(first._connection.wait_closed(), 10)
            close_code = first._connection.close_code
            answer = await second.call(call.Heartbeat())
            state = await asyncio.to_thread(
                lambda: ChargePoint.objects.get(ocpp_id="CP-TAKE-1")
            )
            return close_code, answer, state

    close_code, answer, state = asyncio.run(scenario())

    assert close_code == 4000
    assert answer.current_time
    # The first consumer's close must not mark the live second connection gone.
    assert state.is_connected
    assert ConnectionEvent.objects.filter(
        charge_point=state, kind="taken_over"
    ).exists()


def test_takeover_across_two_server_processes(server_factory, settings):
    if not settings.TEST_REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL) for a cross-process channel layer")
    ChargePointFactory(ocpp_id="CP-TAKE-2")
    first_server, second_server = server_factory(), server_factory()

    async def scenario():
        async with charger(first_server, "CP-TAKE-2") as first:
            await first.call(call.Heartbeat())
            async with charger(second_server, "CP-TAKE-2") as second:
                await asyncio.wait_for(first._connection.wait_closed(), 10)
                answer = await second.call(call.Heartbeat())
                state = await asyncio.to_thread(
                    lambda: ChargePoint.objects.get(ocpp_id="CP-TAKE-2")
                )
                return first._connection.close_code, answer, state

    close_code, answer, state = asyncio.run(scenario())

    assert close_code == 4000
    assert answer.current_time
    assert state.is_connected
