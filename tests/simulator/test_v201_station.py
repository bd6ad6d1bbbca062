"""The simulated OCPP 2.0.1 station against the real CMS server (uvicorn, PostgreSQL).

The station checks every payload it sends and receives against the OCA 2.0.1
schemas, so these scenarios also prove both sides speak schema-valid 2.0.1.
"""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from typing import Any

import pytest

from sessions_app.models import ChargingSession, MeterValue
from stations.models import ChargePoint, CommandStatus, Connector, DeviceVariable
from stations.remote.dispatch import command_wait
from stations.remote.models import ConfigurationKey, RemoteStartRequest
from stations.remote.services import command_request
from stations.simulator.hardware import spec_from_connectors
from stations.simulator.v201 import SimulatedStation201
from tests.factories import ChargePointFactory, ConnectorFactory, IdTokenFactory
from tests.live_server import LiveServer
from tests.simulator.support import fast_options
from tests.simulator.test_live_server import poll

pytestmark = [
    pytest.mark.django_db(transaction=True),
    # Commands sent from the test reach the server's consumers.
    pytest.mark.usefixtures("shared_channel_layer"),
]

PASSWORD = "sim-201-pass"


def _registered(station_a: Any, ocpp_id: str, connectors: int) -> ChargePoint:
    charge_point = ChargePointFactory(
        station=station_a, ocpp_id=ocpp_id, password=PASSWORD
    )
    for number in range(1, connectors + 1):
        ConnectorFactory(
            charge_point=charge_point,
            connector_id=number,
            connector_type="Type2",
            max_power_kw=Decimal("22"),
        )
    IdTokenFactory(token="SIM-201-TAG", network=station_a.network)
    # A second driver for the remote start: one card has one open session at a time.
    IdTokenFactory(token="SIM-201-TAG-2", network=station_a.network)
    return charge_point


def _station(server: LiveServer, ocpp_id: str, connectors: int) -> SimulatedStation201:
    return SimulatedStation201(
        ocpp_id,
        spec_from_connectors([("Type2", 22.0)] * connectors),
        fast_options(f"{server.ws_url}/ocpp/", password=PASSWORD, speedup=120.0),
        rng=random.Random(11),
    )


def _send(charge_point: ChargePoint, action: str, payload: dict, user: Any) -> Any:
    # Read again: the negotiated protocol is stored when the station connects.
    charge_point = ChargePoint.objects.get(pk=charge_point.pk)
    command = command_request(
        charge_point=charge_point, action=action, payload=payload, requested_by=user
    )
    return command_wait(command.pk, 25)


def test_a_simulated_201_station_boots_charges_and_answers_the_cms(
    asgi_server: LiveServer, station_a, operator
):
    charge_point = _registered(station_a, "SIM-201-01", connectors=2)
    sim = _station(asgi_server, charge_point.ocpp_id, connectors=2)

    async def scenario() -> dict[str, Any]:
        task = asyncio.ensure_future(sim.run())
        seen: dict[str, Any] = {}
        try:
            await poll(lambda: sim.is_online, what="boot accepted")
            await poll(
                lambda: (
                    Connector.objects.filter(
                        charge_point=charge_point, status="Available"
                    ).count()
                    == 2
                ),
                what="both EVSEs Available",
            )
            assert sim.arrive(1, "SIM-201-TAG")
            seen["local"] = await poll(
                lambda: ChargingSession.objects.filter(
                    charge_point=charge_point,
                    connector_number=1,
                    meter_last_wh__gt=0,
                ).first(),
                what="a session with meter values from TransactionEvent",
            )
            seen["charging"] = await poll(
                lambda: Connector.objects.filter(
                    charge_point=charge_point, connector_id=1, status="Charging"
                ).first(),
                what="EVSE 1 Charging",
            )
            # The station shows the running cost the CMS sends (I02).
            seen["cost"] = await asyncio.to_thread(
                _send,
                charge_point,
                "CostUpdated",
                {
                    "totalCost": 1.25,
                    "transactionId": seen["local"].charger_transaction_id,
                },
                operator,
            )
            seen["remote_start"] = await asyncio.to_thread(
                _send,
                charge_point,
                "RemoteStartTransaction",
                {"idTag": "SIM-201-TAG-2", "connectorId": 2},
                operator,
            )
            seen["remote"] = await poll(
                lambda: RemoteStartRequest.objects.filter(
                    charge_point=charge_point, status="started"
                ).first(),
                what="the remote start's session",
            )
            seen["set"] = await asyncio.to_thread(
                _send,
                charge_point,
                "ChangeConfiguration",
                {"key": "SampledDataCtrlr.TxUpdatedInterval", "value": "2"},
                operator,
            )
            seen["read_only"] = await asyncio.to_thread(
                _send,
                charge_point,
                "ChangeConfiguration",
                {"key": "SecurityCtrlr.Identity", "value": "someone-else"},
                operator,
            )
            seen["get"] = await asyncio.to_thread(
                _send,
                charge_point,
                "GetConfiguration",
                {"key": ["SampledDataCtrlr.TxUpdatedInterval", "EVSE@2.Power"]},
                operator,
            )
            seen["report"] = await asyncio.to_thread(
                _send, charge_point, "GetConfiguration", {}, operator
            )
            seen["variables"] = await poll(
                lambda: (
                    DeviceVariable.objects.filter(
                        charge_point=charge_point, component="Connector"
                    ).count()
                    == 4
                ),
                what="the base report in NotifyReport parts",
            )
            seen["remote_stop"] = await asyncio.to_thread(
                _send,
                charge_point,
                "RemoteStopTransaction",
                {"transactionId": seen["remote"].session_id},
                operator,
            )
            assert sim.leave(1)
            await poll(
                lambda: (
                    ChargingSession.objects.filter(
                        charge_point=charge_point, stopped_at__isnull=False
                    ).count()
                    == 2
                ),
                what="both sessions ended",
            )
            return seen
        finally:
            await sim.stop()
            await asyncio.wait_for(task, 15)

    seen = asyncio.run(scenario())

    local = ChargingSession.objects.get(pk=seen["local"].pk)
    remote = ChargingSession.objects.get(pk=seen["remote"].session_id)
    assert local.charger_transaction_id  # the station's own id (§2.50)
    assert local.id_tag == "SIM-201-TAG"
    assert local.stop_reason == "Local"
    assert local.energy_wh > 0
    assert local.seq_no_missing == []
    assert MeterValue.objects.filter(session=local).count() >= 2
    assert remote.connector_number == 2
    assert remote.stop_reason == "Remote"
    assert sim.displayed_costs[local.charger_transaction_id] == Decimal("1.25")
    for answer in ("cost", "remote_start", "set", "get", "report", "remote_stop"):
        assert seen[answer].status == CommandStatus.ACCEPTED, answer
    assert seen["read_only"].status == CommandStatus.REJECTED
    assert sim.configuration.integer("MeterValueSampleInterval") == 2
    stored = {
        key.key: key.value
        for key in ConfigurationKey.objects.filter(charge_point=charge_point)
    }
    assert stored["SampledDataCtrlr.TxUpdatedInterval"] == "2"
    assert stored["EVSE@2.Power"] == "22000"
    connector_type = DeviceVariable.objects.get(
        charge_point=charge_point,
        component="Connector",
        evse=2,
        variable="ConnectorType",
    )
    assert connector_type.value == "sType2"
    interval = DeviceVariable.objects.get(
        charge_point=charge_point,
        component="SampledDataCtrlr",
        variable="TxUpdatedInterval",
    )
    assert (interval.value, interval.last_set_status) == ("2", "Accepted")
    assert connector_type.mutability == "ReadOnly"
    assert DeviceVariable.objects.filter(charge_point=charge_point).count() == len(
        sim.variables
    )


def test_transaction_events_queued_offline_are_replayed_in_order_with_offline_set(
    asgi_server: LiveServer, station_a
):
    charge_point = _registered(station_a, "SIM-201-OFF", connectors=1)
    sim = _station(asgi_server, charge_point.ocpp_id, connectors=1)

    async def scenario() -> int:
        task = asyncio.ensure_future(sim.run())
        try:
            await poll(lambda: sim.is_online, what="boot accepted")
            assert sim.arrive(1, "SIM-201-TAG")
            session = await poll(
                lambda: ChargingSession.objects.filter(
                    charge_point=charge_point, meter_last_wh__gt=0
                ).first(),
                what="the session started",
            )
            await poll(
                lambda: Connector.objects.filter(
                    charge_point=charge_point, status="Charging"
                ).exists(),
                what="the EVSE charging",
            )
            sim.drop_connection(offline_s=480.0)  # four real seconds at 120x
            await poll(lambda: not sim.is_online, what="the connection lost")
            await poll(lambda: sim.queued_messages >= 2, what="events queued offline")
            queued = sim.queued_messages
            await poll(lambda: sim.is_online, what="reconnected")
            await poll(lambda: sim.drained(), what="the queue delivered")
            assert sim.leave(1)
            await poll(
                lambda: ChargingSession.objects.filter(
                    pk=session.pk, stopped_at__isnull=False
                ).first(),
                what="the session ended",
            )
            return queued
        finally:
            await sim.stop()
            await asyncio.wait_for(task, 15)

    queued = asyncio.run(scenario())

    session = ChargingSession.objects.get(charge_point=charge_point)
    assert queued >= 2
    assert session.seq_no_missing == []
    assert session.stop_reason == "Local"
    offline_events = charge_point.messages.filter(
        action="TransactionEvent", direction="in", payload__offline=True
    ).order_by("pk")
    seq_nos = [event.payload["seqNo"] for event in offline_events]
    assert len(seq_nos) >= 2
    assert seq_nos == sorted(seq_nos)  # replayed in the order they happened
