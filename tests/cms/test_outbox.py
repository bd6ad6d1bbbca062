"""The outbox: written with the change, relayed at least once, in order per charger."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cms.events import ConnectorStatusChanged, EventKind, emit
from cms.models import OutboxEvent
from cms.outbox import outbox_purge, outbox_relay
from stations.ocpp import groupcommit
from stations.services import StatusReport
from tests.factories import ChargePointFactory, ConnectorFactory
from tests.factories import connector_status_event as _status

pytestmark = pytest.mark.django_db

DEADLINE_S = 5


class _Partner:
    """An external subscriber (a roaming partner, a webhook) that records pushes."""

    def __init__(self) -> None:
        self.received: list[tuple[int, str]] = []
        self.failing: set[tuple[int, str]] = set()

    def __call__(self, event: ConnectorStatusChanged) -> None:
        if (event.charge_point_pk, event.status) in self.failing:
            raise OSError("partner unreachable")
        self.received.append((event.charge_point_pk, event.status))


@pytest.fixture
def partner(subscribed) -> _Partner:
    partner = _Partner()
    subscribed(EventKind.CONNECTOR_STATUS, partner, external=True)
    return partner


def test_an_outbound_event_is_written_with_the_change_and_relayed_after_a_crash(
    partner, connector_a
):
    # The change and its event commit together; the process dies before any
    # after-commit work (no on-commit callback runs in this test transaction).
    with transaction.atomic():
        connector_a.status = "Faulted"
        connector_a.save(update_fields=["status"])
        emit(_status(connector_a.charge_point_id, "Faulted"))
    row = OutboxEvent.objects.get()
    assert (row.kind, row.state) == ("connector.status", OutboxEvent.State.PENDING)
    assert row.charger_key == str(connector_a.charge_point_id)
    assert partner.received == []

    delivered = outbox_relay()

    assert delivered == 1
    assert partner.received == [(connector_a.charge_point_id, "Faulted")]
    row.refresh_from_db()
    assert row.state == OutboxEvent.State.DELIVERED
    assert row.delivered_at is not None
    # A second relay pass delivers nothing twice.
    assert outbox_relay() == 0
    assert len(partner.received) == 1


def test_a_rolled_back_change_leaves_no_outbox_row(partner):
    def failing_change() -> None:
        with transaction.atomic():
            emit(_status(1, "Faulted"))
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()

    assert not OutboxEvent.objects.exists()


def test_the_relay_keeps_each_chargers_order_past_a_failed_delivery(partner):
    for status in ("Preparing", "Charging", "Finishing"):
        emit(_status(1, status))
        emit(_status(2, status))
    partner.failing = {(1, "Charging")}

    outbox_relay()

    # Charger 1 stops at its failed event; charger 2 is not held up by it.
    assert [s for cp, s in partner.received if cp == 1] == ["Preparing"]
    assert [s for cp, s in partner.received if cp == 2] == [
        "Preparing",
        "Charging",
        "Finishing",
    ]
    failed = OutboxEvent.objects.get(payload__status="Charging", charger_key="1")
    assert (failed.state, failed.attempts) == (OutboxEvent.State.PENDING, 1)
    assert "partner unreachable" in failed.last_error

    partner.failing = set()
    outbox_relay()

    assert [s for cp, s in partner.received if cp == 1] == [
        "Preparing",
        "Charging",
        "Finishing",
    ]
    assert not OutboxEvent.objects.filter(state=OutboxEvent.State.PENDING).exists()


def test_an_event_that_keeps_failing_is_given_up_and_frees_its_charger(
    partner, settings
):
    settings.OUTBOX_MAX_ATTEMPTS = 2
    emit(_status(1, "Faulted"))
    emit(_status(1, "Available"))
    partner.failing = {(1, "Faulted")}

    outbox_relay()
    outbox_relay()

    assert OutboxEvent.objects.get(payload__status="Faulted").state == (
        OutboxEvent.State.FAILED
    )
    outbox_relay()
    assert partner.received == [(1, "Available")]


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
def test_a_second_relay_skips_a_charger_whose_older_event_another_relay_holds(
    subscribed, monkeypatch
):
    # The relay runs only when called here: the after-commit nudges are lost.
    monkeypatch.setattr("cms.events.task_calls_send", lambda calls: None)
    partner = _Partner()
    subscribed(EventKind.CONNECTOR_STATUS, partner, external=True)
    emit(_status(1, "Preparing"))
    emit(_status(1, "Charging"))
    emit(_status(2, "Preparing"))
    first = OutboxEvent.objects.order_by("pk").first()
    held, release = threading.Event(), threading.Event()

    def other_relay() -> None:
        with (
            transaction.atomic()
        ):  # holds charger 1's oldest row, as a slow relay would
            OutboxEvent.objects.select_for_update().filter(pk=first.pk).get()
            held.set()
            release.wait(DEADLINE_S)
        connection.close()

    thread = threading.Thread(target=other_relay)
    thread.start()
    try:
        assert held.wait(DEADLINE_S)
        outbox_relay()
    finally:
        release.set()
        thread.join(DEADLINE_S)

    # Charger 1's later event waits for its older one; charger 2 goes ahead.
    assert partner.received == [(2, "Preparing")]
    outbox_relay()
    assert partner.received == [(2, "Preparing"), (1, "Preparing"), (1, "Charging")]


def _status_reports(count: int) -> list[StatusReport]:
    now = timezone.now()
    reports = []
    for n in range(count):
        charge_point = ChargePointFactory(ocpp_id=f"CP-OUTBOX-{count}-{n}")
        ConnectorFactory(charge_point=charge_point, connector_id=1)
        reports.append(
            StatusReport(
                charge_point_id=charge_point.pk,
                connector_number=1,
                status="Charging",
                error_code="NoError",
                timestamp=now,
                received_at=now,
            )
        )
    return reports


def _batch_statements(reports: list[StatusReport]) -> int:
    batch_service, _single = groupcommit._FACTORIES["status"]
    with CaptureQueriesContext(connection) as queries:
        groupcommit._write_round(
            batch_service=batch_service, items=reports, log_entries=[]
        )
    return len(queries)


def test_a_batch_of_status_notifications_writes_its_outbox_rows_in_one_statement(
    partner,
):
    one, fifty = _status_reports(1), _status_reports(50)

    assert _batch_statements(one) == _batch_statements(fifty)
    assert OutboxEvent.objects.count() == 51


def test_delivered_events_are_purged_after_their_retention(partner):
    emit(_status(1, "Faulted"))
    emit(_status(2, "Faulted"))
    outbox_relay()
    emit(_status(3, "Faulted"))  # still pending: kept however old
    OutboxEvent.objects.update(created_at=timezone.now() - timedelta(days=10))

    deleted = outbox_purge(before=timezone.now() - timedelta(days=3))

    assert deleted == 2
    assert list(OutboxEvent.objects.values_list("charger_key", flat=True)) == ["3"]
