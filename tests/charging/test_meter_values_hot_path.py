"""The MeterValues hot path: the gateway passes the charger's pk, no row lock, events collected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from cms.events import EventKind, emit, unit_of_work
from sessions_app import services as sessions
from sessions_app.models import ChargingSession, MeterValue
from stations.ocpp import groupcommit, runtime
from stations.ocpp.v16.wire import samples_of
from tests.factories import connector_status_event

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _entry(minutes: float, energy_wh: int) -> dict:
    return {
        "timestamp": _at(minutes).isoformat(),
        "sampledValue": [
            {"value": str(energy_wh)},
            {"value": "7000", "measurand": "Power.Active.Import", "unit": "W"},
            {"value": "230", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
        ],
    }


@pytest.fixture
def session(charge_point_a, network_a):
    from tests.factories import IdTokenFactory

    IdTokenFactory(token="TAG1", network=network_a)
    transaction_id, auth = sessions.session_start_from_ocpp(
        charge_point_id=charge_point_a.pk,
        connector_id=1,
        id_tag="TAG1",
        meter_start_wh=1000,
        started_at=T0,
        reservation_id=None,
    )
    assert auth.status == "Accepted"
    return ChargingSession.objects.get(pk=transaction_id)


def _meter(charge_point_id: int, transaction_id: int | None, entries: list[dict]):
    sessions.meter_values_record(
        charge_point_id=charge_point_id,
        connector_id=1,
        transaction_id=transaction_id,
        samples=samples_of(entries, received_at=timezone.now()),
        received_at=timezone.now(),
    )


def test_by_charger_pk_the_charger_is_not_read_again(
    session, charge_point_a, django_assert_max_num_queries
):
    # Read the session, the conflict-skipping insert (the samples COPY into a
    # session staging table, not counted; CREATE TEMPORARY TABLE IF NOT EXISTS
    # until a committed transaction has made it; one INSERT ... SELECT ... ON
    # CONFLICT), one conditional UPDATE, plus the transaction's savepoint pair
    # in the test; whatever the message holds.
    with django_assert_max_num_queries(7):
        _meter(charge_point_a.pk, session.pk, [_entry(1, 1500)])
    with django_assert_max_num_queries(7):
        _meter(
            charge_point_a.pk, session.pk, [_entry(m, 1500 + m) for m in range(2, 22)]
        )
    session.refresh_from_db()
    assert (session.meter_last_wh, session.energy_wh, session.power_w) == (
        1521,
        521,
        7000,
    )
    assert session.last_meter_at == _at(21)
    assert MeterValue.objects.filter(session=session).count() == 63


def test_pk_and_ocpp_id_callers_store_the_same(session, charge_point_a):
    _meter(charge_point_a.pk, session.pk, [_entry(1, 1500)])
    sessions.meter_values_record(
        charge_point_ocpp_id=charge_point_a.ocpp_id,
        connector_id=1,
        transaction_id=session.pk,
        samples=samples_of([_entry(2, 1800)], received_at=timezone.now()),
        received_at=timezone.now(),
    )
    session.refresh_from_db()
    assert (session.meter_last_wh, session.energy_wh) == (1800, 800)
    assert set(
        MeterValue.objects.filter(session=session).values_list(
            "charge_point_id", flat=True
        )
    ) == {charge_point_a.pk}


def test_another_chargers_transaction_is_stored_without_session(
    session, charge_point_b
):
    _meter(charge_point_b.pk, session.pk, [_entry(1, 9000)])
    session.refresh_from_db()
    assert session.meter_last_wh is None
    assert (
        MeterValue.objects.filter(session=None, charge_point=charge_point_b).count()
        == 3
    )


def test_a_session_moved_meanwhile_gets_the_samples_applied_under_a_lock(
    session, charge_point_a, monkeypatch
):
    original = sessions._apply_samples
    calls = []

    def apply_while_another_message_lands(target, samples):
        if not calls:
            # Another message moves the session between the read and the UPDATE.
            ChargingSession.objects.filter(pk=target.pk).update(
                last_meter_at=_at(1), meter_last_wh=1200, energy_wh=200
            )
        calls.append(target.pk)
        return original(target, samples)

    monkeypatch.setattr(sessions, "_apply_samples", apply_while_another_message_lands)
    _meter(charge_point_a.pk, session.pk, [_entry(2, 1100)])

    session.refresh_from_db()
    # Re-applied on the fresh row: the lower register is flagged, energy never shrinks.
    assert len(calls) == 2
    assert (session.meter_last_wh, session.energy_wh) == (1100, 200)
    assert session.has_register_regression is True
    assert session.last_meter_at == _at(2)


def test_inside_the_gateway_the_live_event_is_collected_not_sent(
    session, charge_point_a, django_capture_on_commit_callbacks, live_published
):
    with django_capture_on_commit_callbacks(execute=True), unit_of_work() as unit:
        _meter(charge_point_a.pk, session.pk, [_entry(1, 1500)])
    assert live_published == []
    ((groups, event),) = unit.live
    assert event["kind"] == "session.updated"
    assert (event["session_id"], event["energy_wh"]) == (session.pk, 500)
    assert f"live.cp.{charge_point_a.pk}" in groups


def test_gateway_service_calls_check_the_connection_periodically_and_after_errors(
    monkeypatch,
):
    checks = []
    monkeypatch.setattr(runtime, "close_old_connections", lambda: checks.append(1))
    monkeypatch.setattr(runtime._upkeep, "at", float("-inf"), raising=False)

    def ok():
        return "ok"

    def broken():
        raise RuntimeError("database went away")

    assert runtime.run_service(ok, {}) == ("ok", [])
    assert runtime.run_service(ok, {}) == ("ok", [])
    assert len(checks) == 1  # once per interval, not per message
    with pytest.raises(RuntimeError):
        runtime.run_service(broken, {})
    assert len(checks) == 2  # a failed call closes a broken connection at once


def _report(charge_point_id: int, transaction_id: int | None, entries: list[dict]):
    return sessions.MeterValuesReport(
        charge_point_id=charge_point_id,
        connector_id=1,
        transaction_id=transaction_id,
        samples=samples_of(entries, received_at=timezone.now()),
        received_at=timezone.now(),
    )


@pytest.fixture
def session_b(charge_point_b, network_b):
    from tests.factories import IdTokenFactory

    IdTokenFactory(token="TAG2", network=network_b)
    transaction_id, auth = sessions.session_start_from_ocpp(
        charge_point_id=charge_point_b.pk,
        connector_id=1,
        id_tag="TAG2",
        meter_start_wh=0,
        started_at=T0,
        reservation_id=None,
    )
    assert auth.status == "Accepted"
    return ChargingSession.objects.get(pk=transaction_id)


def test_a_batch_of_many_chargers_costs_the_same_statements_as_one_message(
    session, session_b, charge_point_a, charge_point_b, django_assert_max_num_queries
):
    reports = [
        _report(charge_point_a.pk, session.pk, [_entry(1, 1500)]),
        _report(charge_point_b.pk, session_b.pk, [_entry(1, 300), _entry(2, 700)]),
        _report(charge_point_b.pk, None, [_entry(3, 50)]),  # outside a transaction
        _report(charge_point_a.pk, 999_999, [_entry(4, 1)]),  # unknown transaction
    ]
    # Sessions read (locked), the conflict-skipping insert (at most CREATE
    # TEMPORARY TABLE IF NOT EXISTS and one INSERT ... SELECT), one UPDATE, plus
    # the savepoint pair.
    with django_assert_max_num_queries(7):
        sessions.meter_values_record_batch(reports=reports)
    session.refresh_from_db()
    session_b.refresh_from_db()
    assert (session.energy_wh, session.power_w, session.last_meter_at) == (
        500,
        7000,
        _at(1),
    )
    assert (session_b.energy_wh, session_b.last_meter_at) == (700, _at(2))
    assert MeterValue.objects.filter(session=session).count() == 3
    assert MeterValue.objects.filter(session=session_b).count() == 6
    assert MeterValue.objects.filter(session=None).count() == 6


def test_a_batch_stores_exactly_what_single_messages_store(session, charge_point_a):
    first = [_entry(1, 1500)]
    older = [_entry(0.5, 1200)]  # offline-queued, older than what was applied
    later = [_entry(2, 1700)]
    sessions.meter_values_record_batch(
        reports=[
            _report(charge_point_a.pk, session.pk, first),
            _report(charge_point_a.pk, session.pk, older),
            _report(charge_point_a.pk, session.pk, later),
        ]
    )
    session.refresh_from_db()
    # Charger timestamps order state: the older instant is stored, not applied.
    assert (session.meter_last_wh, session.energy_wh, session.last_meter_at) == (
        1700,
        700,
        _at(2),
    )
    assert MeterValue.objects.filter(session=session).count() == 9


def test_a_stopped_session_keeps_its_figures_when_late_samples_arrive(
    session, charge_point_a
):
    ChargingSession.objects.filter(pk=session.pk).update(
        stopped_at=_at(5), energy_wh=4000, meter_stop_wh=5000
    )
    sessions.meter_values_record_batch(
        reports=[_report(charge_point_a.pk, session.pk, [_entry(6, 9000)])]
    )
    session.refresh_from_db()
    assert session.energy_wh == 4000
    assert MeterValue.objects.filter(session=session).count() == 3


def test_a_failed_batch_is_written_item_by_item_and_only_the_bad_item_fails():
    written = []

    def batch_service(*, items):
        raise RuntimeError("one item is bad")

    def single_service(*, item):
        if item == "bad":
            raise ValueError("bad item")
        written.append(item)
        return item.upper()

    outcomes, events, logged = groupcommit._run_batch(
        "test", batch_service, single_service, ["a", "bad", "c"], []
    )
    assert logged  # no log rows were waiting on the round
    assert written == ["a", "c"]
    assert outcomes[0] == (None, "A")
    assert outcomes[2] == (None, "C")
    assert isinstance(outcomes[1][0], ValueError)
    assert events == []


@pytest.mark.django_db(transaction=True)
def test_with_a_broker_domain_hooks_leave_the_orm_thread(settings, subscribed):
    import threading

    from django.db import transaction

    settings.CELERY_TASK_ALWAYS_EAGER = False
    ran_on: list[str] = []
    done = threading.Event()

    def hook(event):
        ran_on.append(threading.current_thread().name)
        done.set()

    def service():
        with transaction.atomic():
            emit(connector_status_event(1, connector_number=0))
        return "stored"

    subscribed(EventKind.CONNECTOR_STATUS, hook)
    assert runtime.run_service(service, {}) == ("stored", [])
    assert done.wait(5)
    # Not the calling (ORM) thread: a broker round trip never holds up chargers.
    assert ran_on == ["cms-domain-hooks"]


def test_in_embedded_mode_domain_hooks_run_after_commit_in_the_same_thread(
    settings, django_capture_on_commit_callbacks, subscribed
):
    import threading

    from django.db import transaction

    settings.CELERY_TASK_ALWAYS_EAGER = True
    ran_on: list[str] = []

    def hook(event):
        ran_on.append(threading.current_thread().name)

    def service():
        with transaction.atomic():
            emit(connector_status_event(1, connector_number=0))

    subscribed(EventKind.CONNECTOR_STATUS, hook)
    with django_capture_on_commit_callbacks(execute=True):
        runtime.run_service(service, {})
    assert ran_on == [threading.current_thread().name]
