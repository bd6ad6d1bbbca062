"""Command forms: defaults and field-named errors (issue 23, bulk commands)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from stations.models import ChargePointCommand
from stations.ocpp import commands as ocpp
from stations.remote.forms import ResetForm, TriggerMessageForm
from stations.remote.models import CommandBatch

pytestmark = pytest.mark.django_db


def bulk_post(client, user, charge_point, action: str, payload_json: str):
    client.force_login(user)
    return client.post(
        reverse("commands:bulk"),
        {
            "command": action,
            "payload_json": payload_json,
            "charge_points": [charge_point.pk],
        },
    )


def test_bulk_reset_with_an_empty_payload_is_a_soft_reset(
    client, operator, charge_point_a
):
    """A bulk Reset with the default ``{}`` payload resets softly, no Python error."""
    response = bulk_post(client, operator, charge_point_a, "Reset", "{}")

    batch = CommandBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "commands:batch", kwargs={"batch_uuid": batch.uuid}
    )
    assert batch.payload == {"type": "Soft"}
    command = ChargePointCommand.objects.get(charge_point=charge_point_a)
    assert (command.action, command.payload) == ("Reset", {"type": "Soft"})


def test_bulk_payload_error_names_the_field_and_sends_nothing(
    client, operator, charge_point_a
):
    response = bulk_post(client, operator, charge_point_a, "UnlockConnector", "{}")

    assert response.status_code == 400
    errors = response.context["form"].errors["payload_json"]
    assert any("connector_id" in error or "connectorId" in error for error in errors)
    assert not ChargePointCommand.objects.exists()
    assert not CommandBatch.objects.exists()


def test_reset_form_without_a_kind_is_a_soft_reset():
    form = ResetForm({})

    assert form.is_valid(), form.errors
    assert form.command() == ocpp.Reset(kind=ocpp.ResetKind.SOFT)


def test_protocol_complaint_lands_on_the_form_field_it_came_from():
    form = TriggerMessageForm({"TriggerMessage-requested_message": "MeterValues"})

    assert form.is_valid(), form.errors
    assert form.field_for("message") == "requested_message"
    assert form.field_for("connector") == "connector_id"
    assert form.field_for("unknown") is None


PYTHON_WORDS = ("positional argument", "keyword argument", "__init__", "data.", "['")


@pytest.mark.parametrize(
    ("action", "payload_json", "field", "message"),
    [
        ("UnlockConnector", "{}", "connectorId", "connectorId is required."),
        (
            "ChangeConfiguration",
            "{}",
            "key",
            "key and value are required.",
        ),
        ("Reset", '{"typo": "Soft"}', "typo", "typo is not a field of Reset."),
        ("Reset", '{"type": "Warm"}', "type", "type must be one of Hard, Soft."),
    ],
)
def test_bulk_payload_errors_are_plain_words_naming_the_field(
    client, operator, charge_point_a, action, payload_json, field, message
):
    response = bulk_post(client, operator, charge_point_a, action, payload_json)

    assert response.status_code == 400
    errors = " ".join(response.context["form"].errors["payload_json"])
    assert f"{action}: {message}" in errors
    assert field in errors
    page = response.content.decode()
    assert message in page
    for word in PYTHON_WORDS:
        assert word not in errors
    assert not CommandBatch.objects.exists()
    assert not ChargePointCommand.objects.exists()


def test_advanced_form_checks_the_payload_against_the_schema(
    client, operator, charge_point_a
):
    client.force_login(operator)

    response = client.post(
        reverse("commands:send", args=[charge_point_a.pk, "advanced"]),
        {"advanced-command": "UnlockConnector", "advanced-payload_json": "{}"},
    )

    assert response.status_code == 400
    assert "UnlockConnector: connectorId is required." in response.content.decode()
    assert "positional argument" not in response.content.decode()
    assert not ChargePointCommand.objects.exists()
