"""The MeterValues hot path: the gateway passes the charger's pk, no row lock, events collected."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from sessions_app import services as sessions
from sessions_app.models import ChargingSession, MeterValue
from stations import services as stations_services
from stations.ocpp import handlers

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
        meter_value=entries,
        received_at=timezone.now(),
    )


def test_by_charger_pk_the_charger_is_not_read_again(
    session, charge_point_a, django_assert_max_num_queries
):
    # Read the session, one INSERT, one conditional UPDATE, plus the
    # transaction's savepoint pair in the test; whatever the message holds.
    with django_assert_max_num_queries(5):
        _meter(charge_point_a.pk, session.pk, [_entry(1, 1500)])
    with django_assert_max_num_queries(5):
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
        meter_value=[_entry(2, 1800)],
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
    session, charge_point_a, django_capture_on_commit_callbacks, monkeypatch
):
    sent = []
    monkeypatch.setattr(
        "stations.events.publish_now", lambda groups, event: sent.append(event)
    )
    with django_capture_on_commit_callbacks(execute=True):
        _, events = stations_services.run_collecting_events(
            sessions.meter_values_record,
            {
                "charge_point_id": charge_point_a.pk,
                "connector_id": 1,
                "transaction_id": session.pk,
                "meter_value": [_entry(1, 1500)],
                "received_at": timezone.now(),
            },
        )
    assert sent == []
    ((groups, event),) = events
    assert event["kind"] == "session.updated"
    assert (event["session_id"], event["energy_wh"]) == (session.pk, 500)
    assert f"live.cp.{charge_point_a.pk}" in groups


def test_gateway_service_calls_check_the_connection_periodically_and_after_errors(
    monkeypatch,
):
    checks = []
    monkeypatch.setattr(handlers, "close_old_connections", lambda: checks.append(1))
    monkeypatch.setattr(handlers._upkeep, "at", float("-inf"), raising=False)

    def ok():
        return "ok"

    def broken():
        raise RuntimeError("database went away")

    assert handlers._run_service(ok, {}) == ("ok", [])
    assert handlers._run_service(ok, {}) == ("ok", [])
    assert len(checks) == 1  # once per interval, not per message
    with pytest.raises(RuntimeError):
        handlers._run_service(broken, {})
    assert len(checks) == 2  # a failed call closes a broken connection at once
