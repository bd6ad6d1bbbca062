"""The event path: delivery after commit only, isolated subscribers, units of work."""

from __future__ import annotations

import threading

import pytest
from django.db import transaction

from cms.events import (
    ConnectorStatusChanged,
    EventKind,
    SessionStarted,
    emit,
    subscribers_run,
    unit_of_work,
)
from stations.ocpp import runtime
from tests.factories import connector_status_event as _status

pytestmark = pytest.mark.django_db

DEADLINE_S = 5


def _failing_change(event: ConnectorStatusChanged) -> None:
    with transaction.atomic():
        emit(event)
        raise RuntimeError("the change failed")


class _Recorder:
    """A subscriber that records what it got and signals each delivery."""

    def __init__(self) -> None:
        self.events: list[ConnectorStatusChanged] = []
        self.delivered = threading.Event()

    def __call__(self, event: ConnectorStatusChanged) -> None:
        self.events.append(event)
        self.delivered.set()


@pytest.mark.django_db(transaction=True)
def test_an_event_of_a_rolled_back_transaction_is_never_delivered(subscribed):
    recorder = _Recorder()
    subscribed(EventKind.CONNECTOR_STATUS, recorder)

    with pytest.raises(RuntimeError):
        _failing_change(_status(1, "Faulted"))
    with transaction.atomic():
        with pytest.raises(RuntimeError):
            _failing_change(_status(2, "Faulted"))  # a savepoint rolled back
        emit(_status(3))  # then: a committed event, delivered after both

    assert recorder.delivered.wait(DEADLINE_S)
    assert [event.charge_point_pk for event in recorder.events] == [3]


@pytest.mark.django_db(transaction=True)
def test_an_event_is_delivered_only_once_its_transaction_commits(subscribed):
    recorder = _Recorder()
    subscribed(EventKind.CONNECTOR_STATUS, recorder)

    with transaction.atomic():
        emit(_status(1))
        assert recorder.events == []  # not before the commit

    assert recorder.delivered.wait(DEADLINE_S)
    assert recorder.events == [_status(1)]


def test_a_failing_subscriber_neither_undoes_the_change_nor_stops_the_others(
    subscribed, django_capture_on_commit_callbacks, connector_a, caplog
):
    def broken(event):
        raise RuntimeError("subscriber bug")

    recorder = _Recorder()
    subscribed(EventKind.CONNECTOR_STATUS, broken)
    subscribed(EventKind.CONNECTOR_STATUS, recorder)

    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        connector_a.status = "Faulted"
        connector_a.save(update_fields=["status"])
        emit(_status(connector_a.charge_point_id, "Faulted"))

    connector_a.refresh_from_db()
    assert connector_a.status == "Faulted"
    assert [event.status for event in recorder.events] == ["Faulted"]
    assert "subscriber bug" in caplog.text


def test_subscribers_return_the_task_calls_their_event_causes(subscribed):
    from tests.cms.test_tasks import record_task

    subscribed(
        EventKind.SESSION_STARTED,
        lambda event: [record_task.si("started", event.session_id)],
    )

    delivery = subscribers_run([SessionStarted(session_id=7, charge_point_pk=1)])

    mine = [call for call in delivery.calls if call.task == "tests.taskbatch.record"]
    assert [call.args for call in mine] == [("started", 7)]
    assert delivery.failures == 0


def test_subscribing_twice_delivers_once(
    subscribed, django_capture_on_commit_callbacks
):
    recorder = _Recorder()
    subscribed(EventKind.CONNECTOR_STATUS, recorder)
    subscribed(EventKind.CONNECTOR_STATUS, recorder)

    with django_capture_on_commit_callbacks(execute=True):
        emit(_status(1))

    assert len(recorder.events) == 1


def test_a_unit_of_work_collects_live_events_and_hands_over_the_subscribers(
    subscribed, django_capture_on_commit_callbacks, live_published
):
    recorder = _Recorder()
    subscribed(EventKind.CONNECTOR_STATUS, recorder)

    with (
        django_capture_on_commit_callbacks(execute=True),
        unit_of_work() as unit,
        transaction.atomic(),
    ):
        emit(_status(1), live_groups=["live.cp.1"])

    # Nothing was sent from here: the opener delivers what the unit holds.
    assert live_published == []
    assert recorder.events == []
    assert unit.live == [(["live.cp.1"], _status(1).as_dict())]
    assert unit.events == [_status(1)]


@pytest.mark.django_db(transaction=True)
def test_the_gateways_hook_thread_sends_a_rounds_task_calls_together(
    subscribed, settings, monkeypatch
):
    from tests.cms.test_tasks import record_task

    settings.CELERY_TASK_ALWAYS_EAGER = False
    sent: list[list[str]] = []
    done = threading.Event()

    def send(calls):
        sent.append([c.args[1] for c in calls if c.task == "tests.taskbatch.record"])
        done.set()

    monkeypatch.setattr(runtime, "task_calls_send", send)
    subscribed(EventKind.CONNECTOR_STATUS, lambda e: [record_task.si("s", e.status)])

    def batch():
        with transaction.atomic():
            for n in range(3):
                emit(_status(n + 1, f"status-{n}"))

    runtime.run_service(batch, {})

    assert done.wait(DEADLINE_S)
    assert sent == [["status-0", "status-1", "status-2"]]
