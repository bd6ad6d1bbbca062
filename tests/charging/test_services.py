from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
from django.utils import timezone

from cms.events import EventKind
from sessions_app.models import (
    ChargingSession,
    IdToken,
    MeterValue,
    SessionStatus,
    UnmatchedStop,
)
from sessions_app.services import (
    id_tag_authorize,
    meter_values_record,
    session_start_from_ocpp,
    session_stop_from_ocpp,
)
from stations.facts import Authorization
from stations.models import Connector
from stations.ocpp.v16.wire import id_tag_info, samples_of
from tests.factories import ChargePointFactory, IdTokenFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def _start(cp, id_tag="TAG1", connector_id=1, meter_start_wh=1000, started_at=T0):
    return session_start_from_ocpp(
        charge_point_ocpp_id=cp.ocpp_id,
        connector_id=connector_id,
        id_tag=id_tag,
        meter_start_wh=meter_start_wh,
        started_at=started_at,
        reservation_id=None,
    )


def _stop(cp, transaction_id, meter_stop_wh=5000, stopped_at=None, **kwargs):
    payload = {
        "transactionId": transaction_id,
        "meterStop": meter_stop_wh,
        "timestamp": (stopped_at or _at(60)).isoformat(),
    }
    options = {"reason": "EVDisconnected", "id_tag": None}
    options.update(kwargs)
    options["samples"] = samples_of(
        options.pop("transaction_data", None), received_at=timezone.now()
    )
    return session_stop_from_ocpp(
        charge_point_ocpp_id=cp.ocpp_id,
        transaction_id=transaction_id,
        meter_stop_wh=meter_stop_wh,
        stopped_at=stopped_at or _at(60),
        payload=payload,
        **options,
    )


def _meter(cp, transaction_id, meter_value, connector_id=1):
    meter_values_record(
        charge_point_ocpp_id=cp.ocpp_id,
        connector_id=connector_id,
        transaction_id=transaction_id,
        samples=samples_of(meter_value, received_at=timezone.now()),
        received_at=timezone.now(),
    )


def _entry(minutes, *sampled):
    return {"timestamp": _at(minutes).isoformat(), "sampledValue": list(sampled)}


@pytest.fixture
def token_a(network_a):
    return IdTokenFactory(token="TAG1", network=network_a)


# --- Authorization --------------------------------------------------------------


def _authorize(cp, id_tag, at=T0):
    return id_tag_authorize(charge_point_ocpp_id=cp.ocpp_id, id_tag=id_tag, at=at)


@pytest.mark.parametrize(
    ("token_fields", "expected"),
    [
        ({"status": "Accepted"}, "Accepted"),
        ({"status": "Blocked"}, "Blocked"),
        ({"status": "Expired"}, "Expired"),
        ({"status": "Invalid"}, "Invalid"),
        ({"status": "Accepted", "expires_at": T0 - timedelta(days=1)}, "Expired"),
        ({"status": "Accepted", "expires_at": T0 + timedelta(days=1)}, "Accepted"),
        ({"status": "Accepted", "network": None}, "Accepted"),
    ],
)
def test_authorize_answers_the_token_status(
    charge_point_a, network_a, token_fields, expected
):
    IdTokenFactory(token="CARD", **{"network": network_a, **token_fields})
    assert _authorize(charge_point_a, "CARD").status == expected


def test_authorize_unknown_token_is_invalid(charge_point_a):
    assert _authorize(charge_point_a, "NOPE") == Authorization(status="Invalid")


def test_authorize_matches_token_case_insensitively(charge_point_a, token_a):
    assert _authorize(charge_point_a, "tag1").status == "Accepted"


def test_authorize_token_of_another_network_is_invalid(charge_point_a, network_b):
    IdTokenFactory(token="FOREIGN", network=network_b)
    result = _authorize(charge_point_a, "FOREIGN")
    assert result.status == "Invalid"
    assert id_tag_info(result) == {"status": "Invalid"}


def test_blocked_parent_blocks_its_children(charge_point_a, network_a):
    group = IdTokenFactory(token="FLEET", network=network_a, status="Blocked")
    IdTokenFactory(token="DRIVER1", network=network_a, parent=group)
    result = _authorize(charge_point_a, "DRIVER1")
    assert result.status == "Blocked"
    assert result.group_token == "FLEET"


def test_id_tag_info_carries_expiry_and_parent(charge_point_a, network_a):
    group = IdTokenFactory(token="FLEET", network=network_a)
    expiry = T0 + timedelta(days=30)
    IdTokenFactory(token="DRIVER1", network=network_a, parent=group, expires_at=expiry)
    info = id_tag_info(_authorize(charge_point_a, "DRIVER1"))
    assert info == {
        "status": "Accepted",
        "expiry_date": expiry.isoformat(),
        "parent_id_tag": "FLEET",
    }


def test_authorize_at_a_charger_not_accepted_is_invalid(charge_point_a, token_a):
    charge_point_a.registration_status = "Pending"
    charge_point_a.save()
    assert _authorize(charge_point_a, "TAG1").status == "Invalid"


def test_concurrent_limit_answers_concurrent_tx_on_authorize_and_start(
    charge_point_a, network_a
):
    IdTokenFactory(token="ONCE", network=network_a, max_concurrent_sessions=1)
    first_id, first = _start(charge_point_a, id_tag="ONCE", connector_id=1)
    assert first.status == "Accepted"

    assert _authorize(charge_point_a, "ONCE").status == "ConcurrentTx"
    second_id, second = _start(
        charge_point_a, id_tag="ONCE", connector_id=2, started_at=_at(1)
    )
    assert second.status == "ConcurrentTx"
    session = ChargingSession.objects.get(pk=second_id)
    assert session.status == SessionStatus.REJECTED
    assert session.auth_status == "ConcurrentTx"
    # The first session is untouched and the token is free again once it stops.
    assert ChargingSession.objects.get(pk=first_id).status == SessionStatus.ACTIVE
    _stop(charge_point_a, first_id)
    assert _authorize(charge_point_a, "ONCE").status == "Accepted"


# --- StartTransaction --------------------------------------------------------------


def test_start_opens_a_session_and_creates_the_connector(charge_point_a, token_a):
    transaction_id, auth = _start(charge_point_a, connector_id=3)
    session = ChargingSession.objects.get(pk=transaction_id)
    assert auth.status == "Accepted"
    assert session.status == SessionStatus.ACTIVE
    assert session.id_token == token_a
    assert session.meter_start_wh == 1000
    assert session.connector == Connector.objects.get(
        charge_point=charge_point_a, connector_id=3
    )


def test_resent_start_returns_the_same_transaction_id(charge_point_a, token_a):
    start = partial(_start, charge_point_a)
    (first_id, first), (again_id, again) = start(), start()
    assert again_id == first_id
    assert again == first
    assert ChargingSession.objects.filter(charge_point=charge_point_a).count() == 1


def test_start_with_unknown_token_is_recorded_but_not_active(charge_point_a):
    transaction_id, auth = _start(charge_point_a, id_tag="STRANGER")
    assert auth.status == "Invalid"
    session = ChargingSession.objects.get(pk=transaction_id)
    assert session.status == SessionStatus.REJECTED
    assert session.auth_status == "Invalid"


def test_start_at_a_charger_not_accepted_opens_no_active_session(
    charge_point_a, token_a
):
    charge_point_a.registration_status = "Rejected"
    charge_point_a.save()
    transaction_id, auth = _start(charge_point_a)
    assert auth.status == "Invalid"
    assert not ChargingSession.objects.filter(status=SessionStatus.ACTIVE).exists()
    # ... yet its later stop still matches the recorded transaction.
    _stop(charge_point_a, transaction_id)
    assert not UnmatchedStop.objects.exists()


def test_new_start_on_a_connector_supersedes_the_open_session(
    charge_point_a, token_a, django_capture_on_commit_callbacks, subscribed
):
    first_id, _ = _start(charge_point_a)
    _meter(
        charge_point_a,
        first_id,
        [_entry(10, {"value": "3500", "measurand": "Energy.Active.Import.Register"})],
    )
    stopped: list[int] = []
    subscribed(
        EventKind.SESSION_STOPPED, lambda event: stopped.append(event.session_id)
    )
    with django_capture_on_commit_callbacks(execute=True):
        second_id, _ = _start(charge_point_a, started_at=_at(30), meter_start_wh=3600)
    first = ChargingSession.objects.get(pk=first_id)
    assert first.status == SessionStatus.COMPLETED
    assert first.stop_reason == "Superseded"
    assert first.stopped_at == _at(30)
    assert first.meter_stop_wh == 3500
    assert stopped == [first_id]
    assert ChargingSession.objects.get(pk=second_id).status == SessionStatus.ACTIVE

    # The charger's late StopTransaction of the first session still completes it.
    _stop(charge_point_a, first_id, meter_stop_wh=3600, stopped_at=_at(29))
    first.refresh_from_db()
    assert (first.stop_reason, first.meter_stop_wh, first.energy_wh) == (
        "EVDisconnected",
        3600,
        2600,
    )


def test_start_publishes_a_live_session_event(
    charge_point_a, token_a, django_capture_on_commit_callbacks, live_published
):
    with django_capture_on_commit_callbacks(execute=True):
        transaction_id, _ = _start(charge_point_a)
    published = [event for _groups, event in live_published]
    assert published[0]["kind"] == "session.updated"
    assert published[0]["session_id"] == transaction_id
    assert published[0]["charge_point_pk"] == charge_point_a.pk


# --- StopTransaction ------------------------------------------------------------------


def test_stop_closes_the_session_and_notifies_handlers(
    charge_point_a, token_a, django_capture_on_commit_callbacks, subscribed
):
    transaction_id, _ = _start(charge_point_a)
    stopped: list[int] = []
    subscribed(
        EventKind.SESSION_STOPPED, lambda event: stopped.append(event.session_id)
    )
    with django_capture_on_commit_callbacks(execute=True):
        result = _stop(charge_point_a, transaction_id, id_tag="TAG1")
    session = ChargingSession.objects.get(pk=transaction_id)
    assert result.status == "Accepted"
    assert session.status == SessionStatus.COMPLETED
    assert session.meter_stop_wh == 5000
    assert session.energy_wh == 4000
    assert session.stopped_at == _at(60)
    assert session.stop_reason == "EVDisconnected"
    assert session.stop_id_tag == "TAG1"
    assert session.duration_seconds == 3600
    assert stopped == [transaction_id]


def test_stop_without_reason_means_local(charge_point_a, token_a):
    transaction_id, _ = _start(charge_point_a)
    assert _stop(charge_point_a, transaction_id, reason=None) is None
    assert ChargingSession.objects.get(pk=transaction_id).stop_reason == "Local"


def test_resent_stop_changes_nothing_and_is_still_accepted(charge_point_a, token_a):
    transaction_id, _ = _start(charge_point_a)
    _stop(charge_point_a, transaction_id, id_tag="TAG1")
    before = ChargingSession.objects.get(pk=transaction_id)
    again = _stop(
        charge_point_a,
        transaction_id,
        meter_stop_wh=9999,
        stopped_at=_at(90),
        id_tag="TAG1",
    )
    after = ChargingSession.objects.get(pk=transaction_id)
    assert again.status == "Accepted"
    assert (after.meter_stop_wh, after.stopped_at, after.updated_at) == (
        before.meter_stop_wh,
        before.stopped_at,
        before.updated_at,
    )


def test_unknown_stop_is_kept_once_for_reconciliation(charge_point_a):
    for _ in range(2):
        assert _stop(charge_point_a, 424242, reason="Remote") is None
    unmatched = UnmatchedStop.objects.get()
    assert unmatched.charge_point == charge_point_a
    assert unmatched.transaction_id == 424242
    assert unmatched.meter_stop_wh == 5000
    assert unmatched.reason == "Remote"
    assert unmatched.payload["transactionId"] == 424242


def test_stop_of_another_chargers_transaction_is_unmatched(
    charge_point_a, charge_point_b, token_a
):
    transaction_id, _ = _start(charge_point_a)
    _stop(charge_point_b, transaction_id)
    assert ChargingSession.objects.get(pk=transaction_id).stopped_at is None
    assert UnmatchedStop.objects.get().charge_point == charge_point_b


def test_stop_below_meter_start_is_kept_and_flagged(charge_point_a, token_a):
    transaction_id, _ = _start(charge_point_a, meter_start_wh=5000)
    _stop(charge_point_a, transaction_id, meter_stop_wh=100)
    session = ChargingSession.objects.get(pk=transaction_id)
    assert session.meter_stop_wh == 100
    assert session.has_register_regression
    assert session.energy_wh == 0


def test_stop_older_than_start_is_kept_and_flagged(charge_point_a, token_a):
    transaction_id, _ = _start(charge_point_a)
    _stop(charge_point_a, transaction_id, stopped_at=T0 - timedelta(minutes=5))
    session = ChargingSession.objects.get(pk=transaction_id)
    assert session.stopped_at == T0 - timedelta(minutes=5)
    assert session.has_register_regression


def test_stop_keeps_transaction_data_as_meter_values(charge_point_a, token_a):
    transaction_id, _ = _start(charge_point_a)
    _stop(
        charge_point_a,
        transaction_id,
        transaction_data=[
            _entry(0, {"value": "1.0", "unit": "kWh", "context": "Transaction.Begin"}),
            _entry(60, {"value": "5.0", "unit": "kWh", "context": "Transaction.End"}),
        ],
    )
    values = list(
        MeterValue.objects.filter(session_id=transaction_id).values_list(
            "context", "value", "raw_value"
        )
    )
    assert values == [
        ("Transaction.Begin", 1000.0, "1.0"),
        ("Transaction.End", 5000.0, "5.0"),
    ]


# --- MeterValues -------------------------------------------------------------------


def test_meter_values_keep_every_sampled_value(charge_point_a, token_a):
    transaction_id, _ = _start(charge_point_a)
    _meter(
        charge_point_a,
        transaction_id,
        [
            _entry(
                5,
                {"value": "2.5", "unit": "kWh"},
                {
                    "value": "7.2",
                    "unit": "kW",
                    "measurand": "Power.Active.Import",
                    "context": "Sample.Periodic",
                    "location": "Outlet",
                },
                {
                    "value": "16.1",
                    "unit": "A",
                    "measurand": "Current.Import",
                    "phase": "L1",
                },
                {
                    "value": "48",
                    "unit": "Percent",
                    "measurand": "SoC",
                    "location": "EV",
                },
            )
        ],
    )
    rows = list(
        MeterValue.objects.filter(session_id=transaction_id)
        .order_by("id")
        .values(
            "measurand", "unit", "phase", "location", "context", "value", "timestamp"
        )
    )
    assert rows == [
        {
            "measurand": "Energy.Active.Import.Register",
            "unit": "kWh",
            "phase": "",
            "location": "",
            "context": "",
            "value": 2500.0,
            "timestamp": _at(5),
        },
        {
            "measurand": "Power.Active.Import",
            "unit": "kW",
            "phase": "",
            "location": "Outlet",
            "context": "Sample.Periodic",
            "value": 7200.0,
            "timestamp": _at(5),
        },
        {
            "measurand": "Current.Import",
            "unit": "A",
            "phase": "L1",
            "location": "",
            "context": "",
            "value": 16.1,
            "timestamp": _at(5),
        },
        {
            "measurand": "SoC",
            "unit": "Percent",
            "phase": "",
            "location": "EV",
            "context": "",
            "value": 48.0,
            "timestamp": _at(5),
        },
    ]
    session = ChargingSession.objects.get(pk=transaction_id)
    assert session.meter_last_wh == 2500
    assert session.energy_wh == 1500
    assert session.power_w == 7200.0
    assert session.soc_percent == 48.0
    assert session.last_meter_at == _at(5)


def test_meter_values_without_transaction_are_kept(charge_point_a):
    _meter(
        charge_point_a,
        None,
        [_entry(1, {"value": "123456", "unit": "Wh"})],
        connector_id=0,
    )
    sample = MeterValue.objects.get()
    assert (sample.session, sample.connector_number, sample.value) == (
        None,
        0,
        123456.0,
    )


def test_meter_values_accept_snake_case_keys(charge_point_a, token_a):
    transaction_id, _ = _start(charge_point_a)
    _meter(
        charge_point_a,
        transaction_id,
        [{"timestamp": _at(2).isoformat(), "sampled_value": [{"value": "1500"}]}],
    )
    assert ChargingSession.objects.get(pk=transaction_id).meter_last_wh == 1500


def test_signed_meter_data_keeps_raw_value_without_number(charge_point_a, token_a):
    transaction_id, _ = _start(charge_point_a)
    signed = "OCMF|" + "A" * 400
    _meter(
        charge_point_a,
        transaction_id,
        [
            _entry(
                2,
                {"value": signed, "format": "SignedData", "context": "Transaction.End"},
            )
        ],
    )
    sample = MeterValue.objects.get()
    assert (sample.raw_value, sample.value, sample.value_format) == (
        signed,
        None,
        "SignedData",
    )
    assert ChargingSession.objects.get(pk=transaction_id).meter_last_wh is None


def test_energy_and_power_are_summed_over_phases_when_no_total(charge_point_a, token_a):
    transaction_id, _ = _start(charge_point_a, meter_start_wh=0)
    _meter(
        charge_point_a,
        transaction_id,
        [
            _entry(
                5,
                {"value": "1.0", "unit": "kWh", "phase": "L1"},
                {"value": "1.5", "unit": "kWh", "phase": "L2"},
                {"value": "2000", "unit": "Wh", "phase": "L3"},
                {
                    "value": "3.6",
                    "unit": "kW",
                    "phase": "L1-N",
                    "measurand": "Power.Active.Import",
                },
                {
                    "value": "3700",
                    "unit": "W",
                    "phase": "L2-N",
                    "measurand": "Power.Active.Import",
                },
                {
                    "value": "3.7",
                    "unit": "kW",
                    "phase": "L3-N",
                    "measurand": "Power.Active.Import",
                },
            )
        ],
    )
    session = ChargingSession.objects.get(pk=transaction_id)
    assert session.meter_last_wh == 4500
    assert session.energy_wh == 4500
    assert session.power_w == pytest.approx(11000.0)


def test_total_register_at_the_outlet_wins_over_phases_and_inlet(
    charge_point_a, token_a
):
    transaction_id, _ = _start(charge_point_a, meter_start_wh=0)
    _meter(
        charge_point_a,
        transaction_id,
        [
            _entry(
                5,
                {"value": "9000", "location": "Inlet"},
                {"value": "1000", "phase": "L1"},
                {"value": "4200", "location": "Outlet"},
            )
        ],
    )
    assert ChargingSession.objects.get(pk=transaction_id).meter_last_wh == 4200


def test_interval_energy_is_accumulated_when_no_register(charge_point_a, token_a):
    transaction_id, _ = _start(charge_point_a)
    interval = {"measurand": "Energy.Active.Import.Interval", "unit": "kWh"}
    _meter(charge_point_a, transaction_id, [_entry(15, {**interval, "value": "0.5"})])
    _meter(charge_point_a, transaction_id, [_entry(30, {**interval, "value": "0.75"})])
    # Resent: same instant, not counted twice.
    _meter(charge_point_a, transaction_id, [_entry(30, {**interval, "value": "0.75"})])
    session = ChargingSession.objects.get(pk=transaction_id)
    assert session.energy_wh == 1250
    assert session.meter_last_wh is None


def test_register_going_backwards_is_flagged_and_energy_never_shrinks(
    charge_point_a, token_a
):
    transaction_id, _ = _start(charge_point_a, meter_start_wh=1000)
    _meter(charge_point_a, transaction_id, [_entry(5, {"value": "4000"})])
    _meter(charge_point_a, transaction_id, [_entry(10, {"value": "200"})])
    session = ChargingSession.objects.get(pk=transaction_id)
    assert session.has_register_regression
    assert session.energy_wh == 3000
    assert session.meter_last_wh == 200


def test_older_sample_does_not_overwrite_newer_state(charge_point_a, token_a):
    transaction_id, _ = _start(charge_point_a)
    power = {"measurand": "Power.Active.Import", "unit": "W"}
    _meter(
        charge_point_a,
        transaction_id,
        [_entry(20, {"value": "3000"}, {**power, "value": "11000"})],
    )
    # An offline-queued, older message arrives late.
    _meter(
        charge_point_a,
        transaction_id,
        [_entry(10, {"value": "2000"}, {**power, "value": "7000"})],
    )
    session = ChargingSession.objects.get(pk=transaction_id)
    assert (session.meter_last_wh, session.power_w, session.last_meter_at) == (
        3000,
        11000.0,
        _at(20),
    )
    assert not session.has_register_regression
    assert MeterValue.objects.filter(session=session).count() == 4


def test_newest_instant_in_one_message_wins(charge_point_a, token_a):
    transaction_id, _ = _start(charge_point_a)
    _meter(
        charge_point_a,
        transaction_id,
        [_entry(20, {"value": "3000"}), _entry(10, {"value": "2000"})],
    )
    session = ChargingSession.objects.get(pk=transaction_id)
    assert (session.meter_last_wh, session.last_meter_at) == (3000, _at(20))


def test_meter_values_after_stop_are_kept_but_do_not_change_the_session(
    charge_point_a, token_a
):
    transaction_id, _ = _start(charge_point_a)
    _stop(charge_point_a, transaction_id, meter_stop_wh=5000)
    _meter(charge_point_a, transaction_id, [_entry(90, {"value": "8000"})])
    session = ChargingSession.objects.get(pk=transaction_id)
    assert (session.meter_last_wh, session.energy_wh) == (5000, 4000)
    assert MeterValue.objects.filter(session=session).count() == 1


def test_meter_values_cost_a_constant_number_of_queries(
    charge_point_a, token_a, django_assert_max_num_queries
):
    transaction_id, _ = _start(charge_point_a)

    def message(first_minute: int, minutes: int) -> list[dict]:
        return [
            _entry(
                minute,
                {"value": str(1000 + minute * 100)},
                {"value": "7000", "measurand": "Power.Active.Import", "unit": "W"},
                {"value": "230", "measurand": "Voltage", "unit": "V", "phase": "L1-N"},
            )
            for minute in range(first_minute, first_minute + minutes)
        ]

    # Look up charger, lock session, the conflict-skipping insert (at most
    # CREATE TEMPORARY TABLE IF NOT EXISTS and one INSERT ... SELECT ... ON
    # CONFLICT), one UPDATE, plus the savepoint pair, whatever the message holds
    # (up to one INSERT batch: SQLite caps the parameters of a statement, so very
    # large messages take more).
    with django_assert_max_num_queries(8):
        _meter(charge_point_a, transaction_id, message(1, 1))
    with django_assert_max_num_queries(8):
        _meter(charge_point_a, transaction_id, message(2, 20))
    assert MeterValue.objects.filter(session_id=transaction_id).count() == 63


def test_messages_from_an_unknown_charger_never_raise(db):
    ghost = ChargePointFactory.build(ocpp_id="GHOST")
    assert _authorize(ghost, "TAG1").status == "Invalid"
    assert _start(ghost) == (0, Authorization(status="Invalid"))
    assert _stop(ghost, 1) is None
    _meter(ghost, None, [_entry(1, {"value": "1"})])
    assert not IdToken.objects.exists()
    assert not MeterValue.objects.exists()
