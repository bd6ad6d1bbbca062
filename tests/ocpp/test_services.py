"""Charger-side services and periodic tasks, called directly."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from stations.models import (
    ChargePoint,
    ChargePointCommand,
    CommandStatus,
    ConnectionEvent,
    OcppMessage,
)
from stations.remote.dispatch import command_finish, commands_expire_stale
from stations.services import (
    charge_point_connection_closed,
    charge_point_seen,
    charge_points_offline_sweep,
    charge_points_seen,
    connector_status_record,
)
from stations.tasks import charge_points_offline_sweep_task, ocpp_messages_purge_task
from tests.factories import ChargePointFactory

pytestmark = pytest.mark.django_db


def online_charge_point(ocpp_id: str, *, silent_for_s: int, interval_s: int = 60):
    return ChargePointFactory(
        ocpp_id=ocpp_id,
        is_connected=True,
        is_online=True,
        connection_channel=f"chan-{ocpp_id}",
        heartbeat_interval_s=interval_s,
        last_seen_at=timezone.now() - timedelta(seconds=silent_for_s),
    )


def test_offline_sweep_marks_only_chargers_silent_past_twice_the_interval_plus_grace(
    settings,
):
    settings.OCPP_OFFLINE_GRACE_SECONDS = 30
    silent = online_charge_point("CP-SILENT", silent_for_s=151)
    recent = online_charge_point("CP-RECENT", silent_for_s=149)

    charge_points_offline_sweep_task.apply()

    silent.refresh_from_db()
    recent.refresh_from_db()
    assert silent.is_online is False
    assert silent.is_connected is True  # the socket may still be open, just silent
    assert recent.is_online is True
    assert ConnectionEvent.objects.filter(
        charge_point=silent, kind="went_silent"
    ).exists()
    assert not ConnectionEvent.objects.filter(charge_point=recent).exists()


def test_offline_sweep_is_safe_to_run_twice(settings):
    settings.OCPP_OFFLINE_GRACE_SECONDS = 0
    online_charge_point("CP-SILENT-2", silent_for_s=500)

    first = charge_points_offline_sweep(now=timezone.now())
    second = charge_points_offline_sweep(now=timezone.now())

    assert (first, second) == (1, 0)
    assert ConnectionEvent.objects.filter(kind="went_silent").count() == 1


def test_a_frame_after_going_silent_brings_the_charger_back_online():
    charge_point = online_charge_point("CP-BACK", silent_for_s=9999)
    ChargePoint.objects.filter(pk=charge_point.pk).update(is_online=False)

    charge_point_seen(
        charge_point_id=charge_point.pk,
        channel_name="chan-CP-BACK",
        at=timezone.now(),
    )

    charge_point.refresh_from_db()
    assert charge_point.is_online is True
    assert list(
        ConnectionEvent.objects.filter(charge_point=charge_point).values_list(
            "kind", flat=True
        )
    ) == ["back_online"]


def test_a_frame_from_an_online_charger_adds_no_history():
    charge_point = online_charge_point("CP-CHATTY", silent_for_s=0)

    charge_point_seen(
        charge_point_id=charge_point.pk,
        channel_name="chan-CP-CHATTY",
        at=timezone.now(),
    )

    assert not ConnectionEvent.objects.filter(charge_point=charge_point).exists()


def test_batched_sightings_mark_many_chargers_and_bring_silent_ones_back(
    django_assert_max_num_queries,
):
    chatty = online_charge_point("CP-B-CHATTY", silent_for_s=40)
    back = online_charge_point("CP-B-BACK", silent_for_s=9999)
    ChargePoint.objects.filter(pk=back.pk).update(is_online=False)
    taken_over = online_charge_point("CP-B-OLD", silent_for_s=40)
    before = taken_over.last_seen_at
    now = timezone.now()

    with django_assert_max_num_queries(2):  # the common case: no charger came back
        charge_points_seen(sightings=[(chatty.pk, "chan-CP-B-CHATTY", now)])
    charge_points_seen(
        sightings=[
            (chatty.pk, "chan-CP-B-CHATTY", now),
            (back.pk, "chan-CP-B-BACK", now),
            (taken_over.pk, "an-older-socket", now),  # another connection holds it
        ]
    )

    for charge_point in (chatty, back, taken_over):
        charge_point.refresh_from_db()
    assert chatty.last_seen_at == now
    assert chatty.is_online
    assert back.is_online
    assert back.last_seen_at == now
    assert taken_over.last_seen_at == before
    assert list(
        ConnectionEvent.objects.values_list("charge_point__ocpp_id", "kind")
    ) == [("CP-B-BACK", "back_online")]


def test_stale_consumer_closing_does_not_mark_the_new_connection_gone():
    charge_point = online_charge_point("CP-STALE", silent_for_s=0)

    closed = charge_point_connection_closed(
        charge_point_id=charge_point.pk, channel_name="older-channel", at=timezone.now()
    )

    charge_point.refresh_from_db()
    assert closed is False
    assert charge_point.is_connected is True
    assert charge_point.connection_channel == "chan-CP-STALE"


def test_resent_status_with_same_timestamp_is_applied_once_more_without_error():
    charge_point = ChargePointFactory(ocpp_id="CP-RESEND")
    at = timezone.now()
    record = {
        "charge_point_id": charge_point.pk,
        "connector_number": 1,
        "status": "Charging",
        "error_code": "NoError",
        "timestamp": at,
        "received_at": at,
    }

    first = connector_status_record(**record)
    again = connector_status_record(**record)

    assert first.is_applied
    assert again.is_applied
    assert charge_point.connectors.get(connector_id=1).status == "Charging"


def test_message_log_retention_deletes_only_old_rows(settings):
    settings.OCPP_MESSAGE_LOG_RETENTION_DAYS = 30
    now = timezone.now()
    for days, unique_id in ((31, "old"), (29, "young")):
        OcppMessage.objects.create(
            ocpp_id="CP-LOG",
            direction="in",
            message_type=2,
            unique_id=unique_id,
            action="Heartbeat",
            payload={},
            at=now - timedelta(days=days),
        )

    ocpp_messages_purge_task.apply()

    assert list(OcppMessage.objects.values_list("unique_id", flat=True)) == ["young"]


def test_commands_no_gateway_picked_up_expire_as_timeout(settings):
    settings.OCPP_COMMAND_TIMEOUT = 5
    charge_point = ChargePointFactory(ocpp_id="CP-LOST")
    lost = ChargePointCommand.objects.create(
        charge_point=charge_point,
        action="Reset",
        payload={"type": "Soft"},
        requested_at=timezone.now() - timedelta(minutes=5),
    )
    fresh = ChargePointCommand.objects.create(
        charge_point=charge_point,
        action="Reset",
        payload={"type": "Soft"},
        requested_at=timezone.now(),
    )

    assert commands_expire_stale(now=timezone.now()) == 1

    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.status == CommandStatus.TIMEOUT
    assert fresh.status == CommandStatus.PENDING


def test_command_outcome_is_recorded_once():
    charge_point = ChargePointFactory(ocpp_id="CP-ONCE")
    command = ChargePointCommand.objects.create(
        charge_point=charge_point,
        action="Reset",
        payload={"type": "Soft"},
        requested_at=timezone.now(),
    )

    assert command_finish(
        command_id=command.pk,
        status=CommandStatus.ACCEPTED,
        response_payload={"status": "Accepted"},
    )
    assert not command_finish(command_id=command.pk, status=CommandStatus.TIMEOUT)

    command.refresh_from_db()
    assert command.status == CommandStatus.ACCEPTED


def _request(ocpp_id: str, channel: str, policy: str = "reject"):
    from stations.services import ConnectionRequest

    return ConnectionRequest(
        ocpp_id=ocpp_id,
        channel_name=channel,
        remote_address="10.0.0.9",
        unknown_policy=policy,
        at=timezone.now(),
    )


def test_a_storm_of_handshakes_is_recorded_in_constant_statements(
    django_assert_max_num_queries,
):
    from stations.services import charge_point_connections_open

    chargers = [ChargePointFactory(ocpp_id=f"CP-STORM-{n}") for n in range(20)]
    # Chargers read under lock, one UPDATE, one INSERT, plus the savepoint pair.
    with django_assert_max_num_queries(5):
        results = charge_point_connections_open(
            items=[_request(cp.ocpp_id, f"chan-{cp.ocpp_id}") for cp in chargers]
        )
    assert [result.charge_point_id for result in results] == [cp.pk for cp in chargers]
    assert ChargePoint.objects.filter(is_connected=True, is_online=True).count() == 20
    assert ConnectionEvent.objects.filter(kind="connected").count() == 20


def test_a_batch_handles_takeover_unknown_and_registration_like_single_calls():
    from stations.services import charge_point_connections_open

    ChargePointFactory(ocpp_id="CP-TWICE")
    results = charge_point_connections_open(
        items=[
            _request("CP-TWICE", "first-socket"),
            _request("CP-TWICE", "second-socket"),  # the same charger again
            _request("CP-NOBODY", "x"),  # unknown, policy reject
            _request("CP-NEWBIE", "y", policy="pending"),  # unknown, registered
        ]
    )
    assert results[2] is None
    assert results[3].is_new
    assert results[3].registration_status == "Pending"
    twice = ChargePoint.objects.get(ocpp_id="CP-TWICE")
    assert twice.connection_channel == "second-socket"
    assert list(
        ConnectionEvent.objects.filter(charge_point=twice)
        .order_by("pk")
        .values_list("kind", flat=True)
    ) == ["connected", "taken_over", "connected"]
    assert not ChargePoint.objects.filter(ocpp_id="CP-NOBODY").exists()


def test_a_boot_storm_stores_every_chargers_identity(django_assert_max_num_queries):
    from stations.services import BootReport, charge_points_boot

    chargers = [ChargePointFactory(ocpp_id=f"CP-BOOT-{n}") for n in range(10)]
    now = timezone.now()
    with django_assert_max_num_queries(4):
        results = charge_points_boot(
            items=[
                BootReport(
                    charge_point_id=cp.pk,
                    vendor="Acme",
                    model=f"Model-{n}",
                    firmware_version="2.1",
                    at=now,
                )
                for n, cp in enumerate(chargers)
            ]
        )
    assert {result.registration_status for result in results} == {"Accepted"}
    for n, cp in enumerate(chargers):
        cp.refresh_from_db()
        assert (cp.vendor, cp.model, cp.firmware_version) == (
            "Acme",
            f"Model-{n}",
            "2.1",
        )
        assert cp.last_boot_at == now


def _status(charge_point, number: int, status: str, minutes: float):
    from stations.services import StatusReport

    base = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    return StatusReport(
        charge_point_id=charge_point.pk,
        connector_number=number,
        status=status,
        error_code="NoError",
        timestamp=base + timedelta(minutes=minutes),
        received_at=timezone.now(),
    )


def test_a_batch_of_notifications_orders_each_connector_by_the_chargers_clock(
    django_assert_max_num_queries,
):
    from stations.models import Connector, StatusChange
    from stations.services import connector_statuses_record
    from tests.factories import ConnectorFactory

    first, second = (
        ChargePointFactory(ocpp_id="CP-ST-1"),
        ChargePointFactory(ocpp_id="CP-ST-2"),
    )
    for charge_point in (first, second):
        ConnectorFactory(charge_point=charge_point, connector_id=1)
    items = [
        _status(first, 1, "Preparing", 1),
        _status(second, 1, "Charging", 1),
        _status(first, 1, "Charging", 3),
        _status(first, 1, "Available", 2),  # resent late: older than Charging
    ]
    # Connectors read under lock, one INSERT, one UPDATE, plus the savepoint pair.
    with django_assert_max_num_queries(5):
        results = connector_statuses_record(items=items)
    assert [result.is_applied for result in results] == [True, True, True, False]
    assert Connector.objects.get(charge_point=first).status == "Charging"
    assert Connector.objects.get(charge_point=second).status == "Charging"
    assert StatusChange.objects.count() == 4


def test_a_batch_sends_connector_zero_and_new_connectors_the_single_way():
    from stations.models import Connector
    from stations.services import connector_statuses_record

    charge_point = ChargePointFactory(ocpp_id="CP-ST-3")
    results = connector_statuses_record(
        items=[
            _status(charge_point, 0, "Faulted", 1),
            _status(charge_point, 2, "Available", 1),  # not known yet: created
        ]
    )
    assert [result.is_applied for result in results] == [True, True]
    charge_point.refresh_from_db()
    assert charge_point.status == "Faulted"
    assert Connector.objects.get(charge_point=charge_point, connector_id=2).status == (
        "Available"
    )
