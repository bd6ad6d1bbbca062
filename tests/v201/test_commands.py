"""Commands from the API, the portal's services and the CLI reach a real 2.0.1 socket."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.core.management import call_command

from sessions_app.models import ChargingSession
from stations.models import ChargePoint, CommandStatus
from stations.remote.dispatch import command_wait
from stations.remote.models import ConfigurationKey, RemoteStartRequest
from stations.remote.services import command_request, command_result_apply
from tests.factories import ChargePointFactory, IdTokenFactory
from tests.ocpp.client import wait_for
from tests.v201.station import boot_payload, booted, station, transaction_event

pytestmark = pytest.mark.django_db(transaction=True)


def _send(charge_point: ChargePoint, action: str, payload: dict, user: Any):
    command = command_request(
        charge_point=charge_point, action=action, payload=payload, requested_by=user
    )
    command = command_wait(command.pk, 25)
    command_result_apply(command_id=command.pk)
    return command


def test_reset_from_the_api_in_either_spelling_and_denied_without_the_role(
    asgi_server,
    api,
    operator,
    finance,
    station_a,
):
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-201-RESET")
    url = f"/api/v1/charge-points/{charge_point.pk}/commands/"

    async def scenario() -> list[tuple[str, dict]]:
        async with station(asgi_server, charge_point.ocpp_id) as client:
            await client.call("BootNotification", boot_payload())
            await asyncio.to_thread(wait_for, lambda: booted(charge_point.ocpp_id))

            def post(who: str, payload: dict) -> tuple[int, dict]:
                answer = api(who).post(
                    url, {"action": "Reset", "payload": payload}, format="json"
                )
                return answer.status_code, answer.json()

            denied = await asyncio.to_thread(post, "finance", {"type": "Immediate"})
            assert denied[0] == 403
            for payload in ({"type": "Immediate"}, {"type": "Soft"}):
                code, body = await asyncio.to_thread(post, "operator", payload)
                assert code == 202, body
                done = await asyncio.to_thread(command_wait, body["id"], 25)
                assert done.status == CommandStatus.ACCEPTED
            return list(client.received)

    received = asyncio.run(scenario())

    assert received == [
        ("Reset", {"type": "Immediate"}),
        ("Reset", {"type": "OnIdle"}),  # 1.6's Soft, spelled for 2.0.1 (B12)
    ]
    audit = charge_point.commands.order_by("pk")
    assert [c.requested_by.username for c in audit] == [operator.username] * 2


def test_remote_start_and_stop_resolve_to_the_stations_transaction(
    asgi_server, operator, station_a
):
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-201-REMOTE")
    IdTokenFactory(token="APP-201", network=station_a.network)

    async def scenario(client_holder: dict) -> tuple[Any, Any]:
        async with station(asgi_server, charge_point.ocpp_id) as client:
            await client.call("BootNotification", boot_payload())
            cp = await asyncio.to_thread(wait_for, lambda: booted(charge_point.ocpp_id))
            start = await asyncio.to_thread(
                _send,
                cp,
                "RemoteStartTransaction",
                {"idTag": "APP-201", "connectorId": 1},
                operator,
            )
            action, request = client.received[-1]
            assert action == "RequestStartTransaction"
            await client.call(
                "TransactionEvent",
                transaction_event(
                    "Started",
                    0,
                    transaction_id="TX-REMOTE-1",
                    at="2030-05-01T09:00:00Z",
                    trigger="RemoteStart",
                    idToken=request["idToken"],
                    remoteStartId=request["remoteStartId"],
                    chargingState="Charging",
                ),
            )
            handle = await asyncio.to_thread(
                wait_for,
                lambda: RemoteStartRequest.objects.filter(
                    charge_point=cp, status="started"
                ).first(),
            )
            stop = await asyncio.to_thread(
                _send,
                cp,
                "RemoteStopTransaction",
                {"transactionId": handle.session_id},
                operator,
            )
            client_holder["received"] = list(client.received)
            return start, stop

    holder: dict = {}
    start, stop = asyncio.run(scenario(holder))

    assert start.status == CommandStatus.ACCEPTED
    assert stop.status == CommandStatus.ACCEPTED
    session = ChargingSession.objects.get(charger_transaction_id="TX-REMOTE-1")
    assert RemoteStartRequest.objects.get(charge_point=charge_point).session == session
    (_, started), (_, stopped) = holder["received"]
    assert started["idToken"]["idToken"] == "APP-201"
    assert started["evseId"] == 1
    assert stopped == {"transactionId": "TX-REMOTE-1"}


def test_device_model_read_and_write_with_the_stations_answers(
    asgi_server, operator, station_a
):
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-201-VARS")
    values = {"HeartbeatInterval": "300"}

    def get_variables(payload: dict) -> dict:
        results = []
        for item in payload["getVariableData"]:
            name = item["variable"]["name"]
            if name in values:
                results.append(
                    {
                        "attributeStatus": "Accepted",
                        "attributeValue": values[name],
                        **item,
                    }
                )
            else:
                results.append({"attributeStatus": "UnknownVariable", **item})
        return {"getVariableResult": results}

    def set_variables(payload: dict) -> dict:
        item = payload["setVariableData"][0]
        values[item["variable"]["name"]] = item["attributeValue"]
        return {
            "setVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "component": item["component"],
                    "variable": item["variable"],
                }
            ]
        }

    async def scenario() -> tuple[Any, Any, Any]:
        async with station(asgi_server, charge_point.ocpp_id) as client:
            client.answers["GetVariables"] = get_variables
            client.answers["SetVariables"] = set_variables
            await client.call("BootNotification", boot_payload())
            cp = await asyncio.to_thread(wait_for, lambda: booted(charge_point.ocpp_id))
            changed = await asyncio.to_thread(
                _send,
                cp,
                "ChangeConfiguration",
                {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "120"},
                operator,
            )
            read = await asyncio.to_thread(
                _send,
                cp,
                "GetConfiguration",
                {"key": ["OCPPCommCtrlr.HeartbeatInterval", "OCPPCommCtrlr.Nope"]},
                operator,
            )
            await asyncio.to_thread(
                call_command,
                "send_command",
                charge_point.ocpp_id,
                "GetConfiguration",
                '{"key": ["OCPPCommCtrlr.HeartbeatInterval"]}',
            )
            return changed, read, list(client.received)

    changed, read, received = asyncio.run(scenario())

    assert changed.status == CommandStatus.ACCEPTED
    assert read.status == CommandStatus.ACCEPTED
    assert received[0] == (
        "SetVariables",
        {
            "setVariableData": [
                {
                    "attributeValue": "120",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
    )
    assert [action for action, _ in received] == [
        "SetVariables",
        "GetVariables",
        "GetVariables",
    ]
    stored = ConfigurationKey.objects.get(
        charge_point=charge_point, key="OCPPCommCtrlr.HeartbeatInterval"
    )
    assert stored.value == "120"
