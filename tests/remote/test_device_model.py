"""The 2.0.1 device model: stored from the station's answers, shown, edited, compared."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from stations.facts import DeviceVariable as Reported
from stations.models import (
    ChargePoint,
    ChargePointCommand,
    CommandStatus,
    DeviceVariable,
    OcppProtocol,
)
from stations.remote.dispatch import command_finish
from stations.remote.services import command_request, command_result_apply
from stations.services import device_model_record
from tests.factories import ChargePointFactory

pytestmark = pytest.mark.django_db


def station_201(station, ocpp_id: str) -> ChargePoint:
    """A connected 2.0.1 station whose base report is stored (B07)."""
    charge_point = ChargePointFactory(
        station=station,
        ocpp_id=ocpp_id,
        ocpp_protocol=OcppProtocol.OCPP201,
        is_connected=True,
    )
    device_model_record(
        charge_point_id=charge_point.pk,
        variables=[
            Reported(
                component="OCPPCommCtrlr",
                variable="HeartbeatInterval",
                value="300",
                mutability="ReadWrite",
                data_type="integer",
                unit="s",
            ),
            Reported(
                component="Connector",
                evse=2,
                connector=1,
                variable="ConnectorType",
                value="cCCS2",
                mutability="ReadOnly",
                data_type="string",
            ),
        ],
        at=timezone.now(),
    )
    return charge_point


def answer(command: ChargePointCommand, payload: dict) -> None:
    command_finish(
        command_id=command.pk, status=CommandStatus.ACCEPTED, response_payload=payload
    )
    command_result_apply(command_id=command.pk)


def test_get_variables_answers_update_the_stored_device_model(station_a, operator):
    charge_point = station_201(station_a, "DM-READ")
    command = command_request(
        charge_point=charge_point,
        action="GetConfiguration",
        payload={
            "key": ["OCPPCommCtrlr.HeartbeatInterval", "Connector@2.ConnectorType"]
        },
        requested_by=operator,
    )
    assert command.action == "GetVariables"

    answer(
        command,
        {
            "getVariableResult": [
                {
                    "attributeStatus": "Accepted",
                    "attributeValue": "120",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                },
                {
                    "attributeStatus": "Accepted",
                    "attributeValue": "cType2",
                    "component": {"name": "Connector", "evse": {"id": 2}},
                    "variable": {"name": "ConnectorType"},
                },
                {
                    "attributeStatus": "UnknownVariable",
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "Nope"},
                },
            ]
        },
    )

    stored = {
        (v.component, v.evse, v.connector, v.variable): (v.value, v.data_type)
        for v in DeviceVariable.objects.filter(charge_point=charge_point)
    }
    assert stored == {
        ("OCPPCommCtrlr", 0, 0, "HeartbeatInterval"): ("120", "integer"),
        # Addressed through its EVSE: the reported connector's row, not a new one.
        ("Connector", 2, 1, "ConnectorType"): ("cType2", "string"),
    }


@pytest.mark.parametrize(
    ("station_answer", "stored_value"),
    [("Accepted", "60"), ("RebootRequired", "60"), ("Rejected", "300")],
)
def test_set_variables_answer_is_kept_beside_the_variable(
    station_a, operator, station_answer, stored_value
):
    charge_point = station_201(station_a, "DM-SET")
    command = command_request(
        charge_point=charge_point,
        action="ChangeConfiguration",
        payload={"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "60"},
        requested_by=operator,
    )

    answer(
        command,
        {
            "setVariableResult": [
                {
                    "attributeStatus": station_answer,
                    "component": {"name": "OCPPCommCtrlr"},
                    "variable": {"name": "HeartbeatInterval"},
                }
            ]
        },
    )

    variable = DeviceVariable.objects.get(
        charge_point=charge_point, variable="HeartbeatInterval"
    )
    assert variable.value == stored_value
    assert variable.last_set_status == station_answer
    assert variable.set_at is not None
    assert variable.mutability == "ReadWrite"  # the report's characteristics stay


def test_the_device_model_page_edits_writable_variables_and_audits_the_change(
    client, station_a, operator
):
    charge_point = station_201(station_a, "DM-PAGE")
    client.force_login(operator)
    page_url = reverse("commands:configuration", args=[charge_point.pk])
    change_url = reverse("commands:configuration_change", args=[charge_point.pk])

    page = client.get(page_url).content.decode()
    refused = client.post(
        change_url, {"key": "Connector@2.ConnectorType", "value": "x"}
    )
    sent = client.post(
        change_url, {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "90"}
    )

    assert 'id="device-model"' in page
    assert 'value="OCPPCommCtrlr.HeartbeatInterval"' in page  # an edit form
    assert 'value="Connector@2.ConnectorType"' not in page  # read-only: no form
    assert "cCCS2" in page
    assert refused.status_code == 400
    assert "read-only" in refused.content.decode()
    assert sent.status_code == 302
    (command,) = ChargePointCommand.objects.filter(charge_point=charge_point)
    assert command.action == "SetVariables"
    assert command.requested_by == operator
    assert command.payload["setVariableData"][0]["attributeValue"] == "90"


@pytest.mark.parametrize(("who", "status"), [("support", 403), ("finance", 403)])
def test_roles_without_configuration_rights_neither_see_nor_change_it(
    client, station_a, request, who, status
):
    charge_point = station_201(station_a, "DM-DENIED")
    client.force_login(request.getfixturevalue(who))

    page = client.get(reverse("commands:configuration", args=[charge_point.pk]))
    change = client.post(
        reverse("commands:configuration_change", args=[charge_point.pk]),
        {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "1"},
    )
    fleet = client.get(
        reverse("commands:device_variable_fleet"),
        {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"},
    )

    assert (page.status_code, change.status_code, fleet.status_code) == (status,) * 3
    assert not ChargePointCommand.objects.exists()


def test_another_networks_charger_is_not_found(client, station_b, operator):
    charge_point = station_201(station_b, "DM-OTHER")
    client.force_login(operator)

    page = client.get(reverse("commands:configuration", args=[charge_point.pk]))
    change = client.post(
        reverse("commands:configuration_change", args=[charge_point.pk]),
        {"key": "OCPPCommCtrlr.HeartbeatInterval", "value": "1"},
    )

    assert (page.status_code, change.status_code) == (404, 404)
    assert not ChargePointCommand.objects.exists()


def test_fleet_view_lists_one_variable_on_the_users_chargers_only(
    client, station_a, station_b, operator
):
    mine = station_201(station_a, "DM-FLEET-A")
    station_201(station_b, "DM-FLEET-B")
    DeviceVariable.objects.filter(
        charge_point=mine, variable="HeartbeatInterval"
    ).update(value="42")
    client.force_login(operator)

    page = client.get(
        reverse("commands:device_variable_fleet"),
        {"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"},
    ).content.decode()
    anonymous = client.__class__().get(reverse("commands:device_variable_fleet"))

    assert "DM-FLEET-A" in page
    assert ">42<" in page
    assert "DM-FLEET-B" not in page
    assert '<option value="OCPPCommCtrlr">' in page  # the picker names what exists
    assert anonymous.status_code == 302
