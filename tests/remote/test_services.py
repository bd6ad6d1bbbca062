"""Results of finished commands applied to configuration, lists, reservations, handles."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from stations.models import ChargePoint, ChargePointCommand, CommandStatus, OcppMessage
from stations.remote.dispatch import command_finish
from stations.remote.models import (
    ConfigurationKey,
    FirmwareUpdate,
    LocalAuthList,
    RemoteStartRequest,
    ReservationStatus,
)
from stations.remote.services import (
    batch_progress,
    command_batch_send,
    command_request,
    command_result_apply,
    command_results_sweep,
    firmware_update_request,
    remote_start_resolve,
    remote_starts_sweep,
    reservation_allows,
    reservation_create,
    reservations_sweep,
)
from tests.factories import ChargePointFactory, ChargingSessionFactory

pytestmark = pytest.mark.django_db


def connected(charge_point: ChargePoint) -> ChargePoint:
    """Flag the charger connected (no socket: commands stay pending)."""
    ChargePoint.objects.filter(pk=charge_point.pk).update(is_connected=True)
    charge_point.refresh_from_db()
    return charge_point


def answer(command: ChargePointCommand, payload: dict, status=CommandStatus.ACCEPTED):
    command_finish(command_id=command.pk, status=status, response_payload=payload)
    command_result_apply(command_id=command.pk)


def test_configuration_answer_is_stored_with_readonly_flags(charge_point_a, operator):
    command = command_request(
        charge_point=connected(charge_point_a),
        action="GetConfiguration",
        payload={},
        requested_by=operator,
    )
    ConfigurationKey.objects.create(
        charge_point=charge_point_a, key="Gone", value="1", fetched_at=timezone.now()
    )

    answer(
        command,
        {
            "configurationKey": [
                {"key": "HeartbeatInterval", "readonly": False, "value": "300"},
                {"key": "NumberOfConnectors", "readonly": True, "value": "2"},
            ]
        },
    )

    keys = {k.key: (k.value, k.is_readonly) for k in ConfigurationKey.objects.all()}
    assert keys == {
        "HeartbeatInterval": ("300", False),
        "NumberOfConnectors": ("2", True),
    }


def test_result_is_applied_once(charge_point_a, operator):
    command = command_request(
        charge_point=connected(charge_point_a),
        action="GetConfiguration",
        payload={},
        requested_by=operator,
    )
    command_finish(
        command_id=command.pk,
        status=CommandStatus.ACCEPTED,
        response_payload={
            "configurationKey": [{"key": "A", "readonly": False, "value": "1"}]
        },
    )

    assert command_result_apply(command_id=command.pk) is True
    assert command_result_apply(command_id=command.pk) is False


@pytest.mark.parametrize(
    ("charger_answer", "stored_value"),
    [
        ("Accepted", "60"),
        ("RebootRequired", "60"),
        ("Rejected", "300"),
        ("NotSupported", "300"),
    ],
)
def test_configuration_change_shows_the_charger_answer(
    charge_point_a, operator, charger_answer, stored_value
):
    ConfigurationKey.objects.create(
        charge_point=charge_point_a,
        key="HeartbeatInterval",
        value="300",
        fetched_at=timezone.now(),
    )
    command = command_request(
        charge_point=connected(charge_point_a),
        action="ChangeConfiguration",
        payload={"key": "HeartbeatInterval", "value": "60"},
        requested_by=operator,
    )
    status = (
        CommandStatus.ACCEPTED if charger_answer == "Accepted" else CommandStatus.OTHER
    )
    if charger_answer == "Rejected":
        status = CommandStatus.REJECTED

    answer(command, {"status": charger_answer}, status)

    key = ConfigurationKey.objects.get(key="HeartbeatInterval")
    assert key.value == stored_value
    assert key.last_change_status == charger_answer


def test_full_then_differential_local_list_tracks_tokens_and_version(
    charge_point_a, operator
):
    from stations.remote.services import local_list_send
    from tests.factories import IdTokenFactory

    first, second = IdTokenFactory(token="AAA1"), IdTokenFactory(token="BBB2")
    full = local_list_send(
        charge_point=connected(charge_point_a),
        update_type="Full",
        id_tokens=[first, second],
        requested_by=operator,
    )
    answer(full, {"status": "Accepted"})
    diff = local_list_send(
        charge_point=charge_point_a,
        update_type="Differential",
        id_tokens=[],
        removed_id_tags=["AAA1"],
        requested_by=operator,
    )
    answer(diff, {"status": "Accepted"})

    local_list = LocalAuthList.objects.get(charge_point=charge_point_a)
    assert diff.payload["listVersion"] == 2
    assert local_list.version == 2
    assert list(local_list.entries.values_list("id_tag", flat=True)) == ["BBB2"]


def test_reservation_accepted_blocks_other_tokens_until_it_expires(
    charge_point_a, operator
):
    reservation = reservation_create(
        charge_point=connected(charge_point_a),
        connector_number=1,
        id_tag="RES-1",
        expires_at=timezone.now() + timedelta(minutes=30),
        requested_by=operator,
    )
    assert reservation.command.payload["reservationId"] == reservation.pk

    answer(reservation.command, {"status": "Accepted"})
    now = timezone.now()

    assert reservation_allows(
        charge_point_ocpp_id="CP-A-01", connector_id=1, id_tag="res-1", at=now
    )
    assert not reservation_allows(
        charge_point_ocpp_id="CP-A-01", connector_id=1, id_tag="OTHER", at=now
    )
    assert reservation_allows(
        charge_point_ocpp_id="CP-A-01", connector_id=2, id_tag="OTHER", at=now
    )
    reservations_sweep(now=now + timedelta(hours=1))
    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.EXPIRED


def test_reservation_refused_by_charger_is_rejected(charge_point_a, operator):
    reservation = reservation_create(
        charge_point=connected(charge_point_a),
        connector_number=1,
        id_tag="RES-1",
        expires_at=timezone.now() + timedelta(minutes=30),
        requested_by=operator,
    )

    answer(reservation.command, {"status": "Occupied"}, CommandStatus.OTHER)

    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.REJECTED
    assert reservation.charger_status == "Occupied"


def test_remote_start_to_offline_charger_fails_as_offline(charge_point_a, operator):
    command = command_request(
        charge_point=charge_point_a,
        action="RemoteStartTransaction",
        payload={"idTag": "TAG-1"},
        requested_by=operator,
    )

    handle = RemoteStartRequest.objects.get(command=command)
    assert handle.status == "failed"
    assert handle.failure_reason == "offline"


def test_remote_start_resolves_to_the_session_transaction_id(charge_point_a, operator):
    command = command_request(
        charge_point=connected(charge_point_a),
        action="RemoteStartTransaction",
        payload={"idTag": "TAG-1", "connectorId": 1},
        requested_by=operator,
    )
    answer(command, {"status": "Accepted"})
    session = ChargingSessionFactory(
        charge_point=charge_point_a, id_tag="TAG-1", connector_number=1
    )

    handle = remote_start_resolve(session_id=session.pk)

    assert handle is not None
    assert handle.status == "started"
    assert handle.transaction_id == session.pk


def test_remote_start_without_start_transaction_fails_after_the_timeout(
    charge_point_a, operator, settings
):
    settings.REMOTE_START_TIMEOUT_SECONDS = 60
    command = command_request(
        charge_point=connected(charge_point_a),
        action="RemoteStartTransaction",
        payload={"idTag": "TAG-1"},
        requested_by=operator,
    )
    answer(command, {"status": "Accepted"})

    remote_starts_sweep(now=timezone.now() + timedelta(seconds=30))
    assert RemoteStartRequest.objects.get().status == "pending"
    remote_starts_sweep(now=timezone.now() + timedelta(seconds=61))

    handle = RemoteStartRequest.objects.get()
    assert handle.status == "failed"
    assert handle.failure_reason == "no_start"


def test_remote_start_rejected_by_charger_fails_as_rejected(charge_point_a, operator):
    command = command_request(
        charge_point=connected(charge_point_a),
        action="RemoteStartTransaction",
        payload={"idTag": "TAG-1"},
        requested_by=operator,
    )

    answer(command, {"status": "Rejected"}, CommandStatus.REJECTED)

    assert RemoteStartRequest.objects.get().failure_reason == "rejected"


def test_firmware_progress_comes_from_the_chargers_notifications(
    charge_point_a, operator
):
    update = firmware_update_request(
        charge_point=connected(charge_point_a),
        location="https://fw.example.com/v2.bin",
        retrieve_at=timezone.now(),
        requested_by=operator,
    )
    answer(update.command, {})
    for status in ("Downloading", "Downloaded", "Installing", "Installed"):
        OcppMessage.objects.create(
            charge_point=charge_point_a,
            ocpp_id=charge_point_a.ocpp_id,
            direction="in",
            message_type=2,
            action="FirmwareStatusNotification",
            payload={"status": status},
            at=timezone.now(),
        )

    from stations.remote.services import firmware_progress_sweep

    firmware_progress_sweep()

    update = FirmwareUpdate.objects.get()
    assert update.status == "Installed"
    assert update.is_finished
    assert [step["status"] for step in update.history] == [
        "Requested",
        "Accepted",
        "Downloading",
        "Downloaded",
        "Installing",
        "Installed",
    ]


def test_bulk_records_one_outcome_per_charger(station_a, operator):
    online = connected(ChargePointFactory(station=station_a, ocpp_id="BULK-1"))
    offline = ChargePointFactory(station=station_a, ocpp_id="BULK-2")

    batch = command_batch_send(
        charge_points=[online, offline],
        action="Reset",
        payload={"type": "Soft"},
        requested_by=operator,
    )

    progress = batch_progress(batch)
    assert progress["total"] == 2
    assert progress["offline"] == 1
    assert progress["pending"] == 1
    assert progress["done"] == 1


def test_the_results_sweep_applies_an_answer_whose_application_was_lost(
    charge_point_a, operator, django_capture_on_commit_callbacks
):
    reservation = reservation_create(
        charge_point=connected(charge_point_a),
        connector_number=1,
        id_tag="TAG-LOST",
        expires_at=timezone.now() + timedelta(hours=1),
        requested_by=operator,
    )
    # The answer is recorded, but the task that applies it never ran.
    with django_capture_on_commit_callbacks(execute=False):
        command_finish(
            command_id=reservation.command_id,
            status=CommandStatus.ACCEPTED,
            response_payload={"status": "Accepted"},
        )
    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.PENDING

    assert command_results_sweep(now=timezone.now()) == 1

    reservation.refresh_from_db()
    assert reservation.status == ReservationStatus.ACTIVE
    assert command_results_sweep(now=timezone.now()) == 0
