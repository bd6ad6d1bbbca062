"""Offline behaviour: transaction messages are queued and delivered in order."""

from __future__ import annotations

from ocpp.v16 import call

from stations.simulator.profiles import parse_ocpp_datetime
from tests.simulator.central import CentralSystem, register_wh
from tests.simulator.support import running


async def go_offline(central: CentralSystem, ocpp_id: str) -> None:
    central.is_refusing = True
    await central.sockets[ocpp_id].close()


async def test_messages_queued_while_offline_arrive_in_order_with_original_timestamps():
    async with CentralSystem() as central, running(central.url) as charger:
        await central.wait_online(charger.ocpp_id)
        await central.call(
            charger.ocpp_id, call.RemoteStartTransaction(id_tag="APP-1", connector_id=1)
        )
        await central.wait_message(
            "MeterValues", lambda m: m.payload.get("transaction_id") == 101
        )
        await go_offline(central, charger.ocpp_id)
        await central.wait_for(
            lambda: charger.queued_messages >= 3, what="queued meter values"
        )
        assert charger.leave(1, "Local")
        await central.wait_for(
            lambda: not charger.connectors[0].is_busy, what="session end offline"
        )
        queued = charger.queued_messages
        central.is_refusing = False
        stop = await central.wait_message("StopTransaction")
        second_boot = central.messages("BootNotification")[1]

    after_reconnect = [m for m in central.received if m.connection == 2]
    replayed = [
        m for m in after_reconnect if m.action in ("MeterValues", "StopTransaction")
    ]
    assert [m.action for m in replayed[:queued]] == ["MeterValues"] * (queued - 1) + [
        "StopTransaction"
    ]
    meter_values = list(replayed[: queued - 1])
    stamps = [
        parse_ocpp_datetime(m.payload["meter_value"][0]["timestamp"])
        for m in meter_values
    ]
    assert stamps == sorted(stamps)
    assert all(m.payload["transaction_id"] == 101 for m in meter_values)
    registers = [register_wh(m) for m in meter_values]
    assert registers == sorted(registers)
    assert stop.payload["transaction_id"] == 101
    assert stop.payload["meter_stop"] >= registers[-1]
    assert stop.connection == 2
    # Original timestamps: recorded before the charger could reconnect.
    assert parse_ocpp_datetime(stop.payload["timestamp"]) > stamps[-1]
    assert stop.at >= second_boot.at


async def test_transaction_started_offline_gets_its_id_on_reconnect():
    local_list = [{"idTag": "LOCAL-1", "idTagInfo": {"status": "Accepted"}}]
    async with CentralSystem() as central, running(central.url) as charger:
        await central.wait_online(charger.ocpp_id)
        await central.call(
            charger.ocpp_id,
            call.SendLocalList(
                list_version=1, update_type="Full", local_authorization_list=local_list
            ),
        )
        await go_offline(central, charger.ocpp_id)
        await central.wait_for(lambda: not charger.is_online, what="offline")
        assert charger.arrive(1, "LOCAL-1")
        await central.wait_for(
            lambda: charger.queued_messages >= 3, what="offline start and meter values"
        )
        central.is_refusing = False
        start = await central.wait_message("StartTransaction")
        later = await central.wait_message(
            "MeterValues",
            lambda m: m.connection == 2 and m.payload.get("transaction_id") == 101,
        )

    assert start.payload["id_tag"] == "LOCAL-1"
    assert start.connection == 2
    assert central.messages("Authorize") == []
    first_replayed = next(
        m for m in central.received if m.connection == 2 and m.action == "MeterValues"
    )
    assert first_replayed.payload["transaction_id"] == 101
    assert later.payload["transaction_id"] == 101
    assert parse_ocpp_datetime(start.payload["timestamp"]) <= parse_ocpp_datetime(
        first_replayed.payload["meter_value"][0]["timestamp"]
    )
