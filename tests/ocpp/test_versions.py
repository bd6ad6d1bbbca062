"""The version registry: the newest registered subprotocol a charger offers wins."""

from __future__ import annotations

import asyncio

import pytest
import websockets

from stations.models import ChargePoint, ConnectionEvent
from stations.ocpp import versions
from stations.ocpp.v16.adapter import Ocpp16Adapter
from stations.ocpp.v201.adapter import Ocpp201Adapter
from tests.factories import ChargePointFactory
from tests.ocpp.client import raw_socket


class NewerAdapter(Ocpp16Adapter):
    """A stand-in for a newer version's adapter (only its identity matters here)."""

    subprotocol = "ocpp2.0.1"
    version = (2, 0, 1)


def test_registry_holds_the_adapters_of_the_setting():
    assert versions.supported_subprotocols() == ["ocpp2.0.1", "ocpp1.6"]
    assert isinstance(versions.adapter_for("ocpp1.6"), Ocpp16Adapter)
    assert isinstance(versions.adapter_for("ocpp2.0.1"), Ocpp201Adapter)


def test_a_charger_setting_caps_the_newest_version_it_may_negotiate():
    offered = ["ocpp1.6", "ocpp2.0.1"]

    assert versions.negotiate(offered, newest="ocpp2.0.1") == "ocpp2.0.1"
    assert versions.negotiate(offered, newest="ocpp1.6") == "ocpp1.6"
    assert versions.negotiate(["ocpp2.0.1"], newest="ocpp1.6") is None


def test_unknown_protocol_has_no_adapter():
    with pytest.raises(versions.UnknownProtocolError):
        versions.adapter_for("ocpp9.9")


def test_newest_registered_offer_wins_whatever_the_charger_order(settings):
    settings.OCPP_VERSION_ADAPTERS = [
        "stations.ocpp.v16.adapter.Ocpp16Adapter",
        "tests.ocpp.test_versions.NewerAdapter",
    ]

    assert versions.negotiate(["ocpp1.6", "ocpp2.0.1"]) == "ocpp2.0.1"
    assert versions.negotiate(["ocpp1.6"]) == "ocpp1.6"
    assert versions.negotiate(["ocpp1.5", "ocpp9.9"]) is None


@pytest.mark.django_db(transaction=True)
def test_charger_allowed_only_ocpp16_gets_it_when_offering_both_and_it_is_recorded(
    asgi_server,
):
    ChargePointFactory(ocpp_id="CP-VER-1", ocpp_protocol_max="ocpp1.6")

    async def scenario() -> str | None:
        async with raw_socket(
            asgi_server, "CP-VER-1", subprotocols=("ocpp2.0.1", "ocpp1.6")
        ) as socket:
            return socket.subprotocol

    assert asyncio.run(scenario()) == "ocpp1.6"
    assert ChargePoint.objects.get(ocpp_id="CP-VER-1").ocpp_protocol == "ocpp1.6"


@pytest.mark.django_db(transaction=True)
def test_charger_offering_only_an_unknown_protocol_is_refused_and_recorded(
    asgi_server,
):
    ChargePointFactory(ocpp_id="CP-VER-2")

    async def scenario() -> tuple[str | None, int | None]:
        # OCPP-J §3.1.2: the handshake completes without a subprotocol, then closes.
        async with raw_socket(asgi_server, "CP-VER-2", subprotocols=("ocpp9.9",)) as ws:
            with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), timeout=10)
            return ws.subprotocol, closed.value.rcvd.code if closed.value.rcvd else None

    assert asyncio.run(scenario()) == (None, 1002)
    assert not ChargePoint.objects.get(ocpp_id="CP-VER-2").is_connected
    refusal = ConnectionEvent.objects.get(
        charge_point__ocpp_id="CP-VER-2", kind="rejected"
    )
    assert "ocpp9.9" in refusal.detail
    assert "supported ocpp2.0.1, ocpp1.6" in refusal.detail
