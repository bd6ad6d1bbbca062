"""Re-planning a site: triggers, profiles sent, hysteresis, offline chargers, retries."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import AuditLog
from alerts.models import Alert, Rule
from sessions_app.models import SessionStatus
from stations.models import ChargePointCommand, CommandStatus
from stations.remote.models import ConfigurationKey
from stations.smart.models import (
    AllocationPlan,
    SiteLimitSignal,
    SmartProfileState,
    SmartProfileStatus,
)
from stations.smart.services import (
    SmartChargingInputError,
    limit_signal_submit,
    schedule_entry_add,
    site_limit,
    site_replan,
    site_static_limit_set,
)
from tests.smart.support import (
    answer_all,
    pending_profile_commands,
    site_connectors,
    start_session,
    tx_limits,
)


@pytest.fixture
def site(station_a):
    station_a.power_limit_kw = Decimal("22")
    station_a.time_zone = "Europe/Berlin"
    station_a.save()
    return station_a


def _commands() -> int:
    return ChargePointCommand.objects.filter(action="SetChargingProfile").count()


def test_effective_limit_is_the_lowest_of_static_schedule_and_signal(site, operator):
    now = timezone.now()
    local = now.astimezone(zoneinfo.ZoneInfo("Europe/Berlin"))
    start = (local - timedelta(minutes=5)).time().replace(second=0, microsecond=0)
    end = (local + timedelta(minutes=30)).time().replace(second=0, microsecond=0)
    schedule_entry_add(
        station=site,
        weekdays=0b1111111,
        start_time=start,
        end_time=end,
        limit_kw=Decimal("15"),
        actor=operator,
    )
    assert site_limit(station=site, now=now).limit_w == 15_000
    assert site_limit(station=site, now=now).source == "schedule"

    limit_signal_submit(
        station=site,
        limit_kw=Decimal("9.5"),
        valid_until=now + timedelta(minutes=10),
        source=SiteLimitSignal.Source.API,
        actor=operator,
        now=now,
    )
    assert site_limit(station=site, now=now).limit_w == 9_500
    # the signal expires: the schedule is in force again
    assert site_limit(station=site, now=now + timedelta(minutes=11)).limit_w == 15_000


def test_schedule_uses_the_station_time_zone(site, operator):
    schedule_entry_add(
        station=site,
        weekdays=0b1111111,
        start_time=time(17),
        end_time=time(21),
        limit_kw=Decimal("11"),
        actor=operator,
    )
    berlin_18h = datetime(2026, 7, 1, 16, 0, tzinfo=UTC)  # 18:00 CEST
    utc_18h = datetime(2026, 7, 1, 18, 0, tzinfo=UTC)  # 20:00 CEST
    utc_20h = datetime(2026, 7, 1, 20, 0, tzinfo=UTC)  # 22:00 CEST
    assert site_limit(station=site, now=berlin_18h).limit_w == 11_000
    assert site_limit(station=site, now=utc_18h).limit_w == 11_000
    assert site_limit(station=site, now=utc_20h).limit_w == 22_000


def test_signal_with_a_resent_reference_is_stored_once(site, operator):
    until = timezone.now() + timedelta(hours=1)
    first, created = limit_signal_submit(
        station=site,
        limit_kw="10",
        valid_until=until,
        reference="grid-42",
        source="api",
        actor=operator,
    )
    again, created_again = limit_signal_submit(
        station=site,
        limit_kw="3",
        valid_until=until,
        reference="grid-42",
        source="api",
        actor=operator,
    )
    assert created
    assert not created_again
    assert again.pk == first.pk
    assert again.limit_kw == Decimal("10")
    assert SiteLimitSignal.objects.count() == 1
    assert AuditLog.objects.filter(action="smart.signal_received").count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"limit_kw": "-1"}, "limit_kw"),
        ({"limit_kw": "abc"}, "limit_kw"),
        ({"valid_until": timezone.now() - timedelta(minutes=1)}, "valid_until"),
    ],
)
def test_bad_signal_names_the_field_and_stores_nothing(site, operator, changes, field):
    arguments = {
        "station": site,
        "limit_kw": "10",
        "valid_until": timezone.now() + timedelta(hours=1),
        "source": "api",
        "actor": operator,
        **changes,
    }
    with pytest.raises(SmartChargingInputError) as error:
        limit_signal_submit(**arguments)
    assert error.value.field == field
    assert not SiteLimitSignal.objects.exists()


def test_four_sessions_share_the_site_limit_in_amps(site):
    connectors = site_connectors(site)
    for connector in connectors:
        start_session(connector)

    plan = site_replan(station_id=site.pk, trigger="test")

    assert plan is not None
    assert plan.limit_w == 22_000
    assert [e.allocated_w for e in plan.entries.order_by("connector")] == [5500] * 4
    # 5500 W at 3 × 230 V = 7.97 A, rounded down to stay under the limit
    assert set(tx_limits(connectors).values()) == {7.9}
    states = SmartProfileState.objects.filter(purpose="TxProfile")
    assert {s.status for s in states} == {SmartProfileStatus.PENDING}
    defaults = SmartProfileState.objects.filter(purpose="TxDefaultProfile")
    assert defaults.count() == 4


def test_a_replan_without_changes_sends_nothing(site):
    connectors = site_connectors(site)
    for connector in connectors:
        start_session(connector)
    site_replan(station_id=site.pk, trigger="test")
    answer_all()
    sent = _commands()

    site_replan(station_id=site.pk, trigger="periodic")

    assert _commands() == sent
    assert AllocationPlan.objects.count() == 2


def test_stopping_a_session_raises_the_others(site):
    connectors = site_connectors(site)
    sessions = [start_session(connector) for connector in connectors]
    site_replan(station_id=site.pk, trigger="test")
    answer_all()

    sessions[0].status = SessionStatus.COMPLETED
    sessions[0].save()
    site_replan(station_id=site.pk, trigger="session_changed")

    limits = tx_limits(connectors[1:])
    # 22 kW / 3 = 7333 W = 10.6 A per phase
    assert set(limits.values()) == {10.6}
    assert not SmartProfileState.objects.filter(
        connector=connectors[0], purpose="TxProfile"
    ).exists()


def test_a_lower_limit_is_sent_first_and_increases_wait_for_the_answers(site, operator):
    connectors = site_connectors(site)
    start_session(connectors[0])
    site_replan(station_id=site.pk, trigger="test")
    answer_all()
    assert tx_limits(connectors[:1])[connectors[0].pk] == 31.8  # 22 kW

    start_session(connectors[1])
    site_replan(station_id=site.pk, trigger="session_changed")

    pending = pending_profile_commands()
    purposes = {
        (c.connector_number, c.payload["csChargingProfiles"]["chargingProfilePurpose"])
        for c in pending
    }
    # the first session is lowered; the new one waits until that is accepted
    assert (1, "TxProfile") in purposes
    assert (2, "TxProfile") not in purposes

    answer_all()
    site_replan(station_id=site.pk, trigger="profile_answer")

    assert tx_limits(connectors[:2]) == {
        connectors[0].pk: 15.9,
        connectors[1].pk: 15.9,
    }


def test_small_changes_are_held_back_by_hysteresis(site):
    connectors = site_connectors(site)
    for connector in connectors:
        start_session(connector)
    site_replan(station_id=site.pk, trigger="test")
    answer_all()
    sent = _commands()

    site_static_limit_set(station=site, limit_kw=Decimal("23"), actor=None)
    site_replan(station_id=site.pk, trigger="limit_changed")

    assert _commands() == sent  # +250 W per session is below the 500 W hysteresis


def test_dropping_the_limit_lowers_every_session(site, operator):
    connectors = site_connectors(site)
    for connector in connectors:
        start_session(connector)
    site_replan(station_id=site.pk, trigger="test")
    answer_all()

    limit_signal_submit(
        station=site,
        limit_kw="17",
        valid_until=timezone.now() + timedelta(hours=1),
        source="api",
        actor=operator,
    )
    site_replan(station_id=site.pk, trigger="signal")

    assert set(tx_limits(connectors).values()) == {6.1}  # 4250 W each


def test_a_limit_too_low_for_everyone_pauses_the_latest_sessions(site, operator):
    connectors = site_connectors(site)
    for connector in connectors:
        start_session(connector)
    site_static_limit_set(station=site, limit_kw=Decimal("9"), actor=operator)

    plan = site_replan(station_id=site.pk, trigger="test")

    allocated = [e.allocated_w for e in plan.entries.order_by("session_id")]
    assert allocated == [4500, 4500, 0, 0]
    assert set(tx_limits(connectors[2:]).values()) == {0.0}


def test_an_offline_charger_keeps_its_last_share_and_gets_no_commands(site):
    connectors = site_connectors(site)
    for connector in connectors:
        start_session(connector)
    site_replan(station_id=site.pk, trigger="test")
    answer_all()
    offline = connectors[0].charge_point
    offline.is_connected = False
    offline.save()
    sent_to_offline = ChargePointCommand.objects.filter(charge_point=offline).count()

    site_static_limit_set(station=site, limit_kw=Decimal("15"), actor=None)
    plan = site_replan(station_id=site.pk, trigger="charger_offline")

    entries = {e.connector_id: e for e in plan.entries.all()}
    assert entries[connectors[0].pk].is_offline
    assert entries[connectors[0].pk].allocated_w == 5451  # 7.9 A as last sent
    assert (
        entries[connectors[2].pk].allocated_w + entries[connectors[3].pk].allocated_w
        <= 15_000 - 2 * 5451
    )
    assert ChargePointCommand.objects.filter(charge_point=offline).count() == (
        sent_to_offline
    )


def test_a_charger_that_takes_watts_gets_watts(site):
    connectors = site_connectors(site, chargers=1)
    ConfigurationKey.objects.create(
        charge_point=connectors[0].charge_point,
        key="ChargingScheduleAllowedChargingRateUnit",
        value="Power",
        fetched_at=timezone.now(),
    )
    start_session(connectors[0])

    site_replan(station_id=site.pk, trigger="test")

    command = pending_profile_commands()[0]
    schedule = command.payload["csChargingProfiles"]["chargingSchedule"]
    assert schedule["chargingRateUnit"] == "W"


def test_a_refused_profile_is_retried_with_backoff_and_alerted(
    site, django_capture_on_commit_callbacks
):
    # The alert is raised by the alerts app from the committed answer (an event).
    connectors = site_connectors(site, chargers=1)
    start_session(connectors[0])
    site_replan(station_id=site.pk, trigger="test")

    with django_capture_on_commit_callbacks(execute=True):
        answer_all("Rejected")
    state = SmartProfileState.objects.get(connector=connectors[0], purpose="TxProfile")
    assert state.status == SmartProfileStatus.REJECTED
    assert state.attempts == 1
    assert not Alert.objects.filter(rule=Rule.SMART_PROFILE_REJECTED).exists()
    sent = _commands()

    site_replan(station_id=site.pk, trigger="periodic")  # backing off: not yet
    assert _commands() == sent

    later = timezone.now() + timedelta(seconds=3)
    site_replan(station_id=site.pk, trigger="periodic", now=later)
    assert _commands() > sent
    with django_capture_on_commit_callbacks(execute=True):
        answer_all("Rejected")
    alert = Alert.objects.get(
        rule=Rule.SMART_PROFILE_REJECTED,
        connector=connectors[0],
        context__purpose="TxProfile",
    )
    assert alert.resolved_at is None

    site_replan(
        station_id=site.pk, trigger="periodic", now=later + timedelta(seconds=10)
    )
    with django_capture_on_commit_callbacks(execute=True):
        answer_all("Accepted")
    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_removing_the_limit_clears_the_profiles(site, operator):
    connectors = site_connectors(site, chargers=1)
    start_session(connectors[0])
    site_replan(station_id=site.pk, trigger="test")
    answer_all()

    site_static_limit_set(station=site, limit_kw=None, actor=operator)
    assert site_replan(station_id=site.pk, trigger="limit_changed") is None

    assert not SmartProfileState.objects.exists()
    clears = ChargePointCommand.objects.filter(action="ClearChargingProfile")
    assert clears.count() == 3  # the TxProfile and both TxDefaultProfiles


def test_priority_token_sessions_are_served_first(site, operator):
    from stations.smart.services import priority_token_set
    from tests.factories import IdTokenFactory

    fleet = IdTokenFactory(token="FLEET", network=site.network)
    IdTokenFactory(token="VAN-1", network=site.network, parent=fleet)
    priority_token_set(station=site, id_tag="FLEET", priority=5, actor=operator)
    connectors = site_connectors(site)
    normal = start_session(connectors[0], id_tag="GUEST")
    van = start_session(connectors[1], id_tag="VAN-1")
    van.id_token_id = fleet.children.get().pk
    van.save()
    site_static_limit_set(station=site, limit_kw=Decimal("12"), actor=operator)

    plan = site_replan(station_id=site.pk, trigger="test")

    shares = {e.session_id: e.allocated_w for e in plan.entries.all()}
    assert shares[van.pk] == 12_000 - 4140
    assert shares[normal.pk] == 4140


def test_session_hooks_replan_the_site(site, django_capture_on_commit_callbacks):
    connectors = site_connectors(site, chargers=1)
    from cms.events import SessionStarted, emit

    session = start_session(connectors[0])
    with django_capture_on_commit_callbacks(execute=True):
        emit(
            SessionStarted(
                session_id=session.pk, charge_point_pk=session.charge_point_id
            )
        )

    plan = AllocationPlan.objects.get()
    assert plan.trigger == "session_changed"
    assert plan.entries.get().allocated_w == 22_000


def test_a_site_without_limit_is_not_planned(station_a):
    connectors = site_connectors(station_a, chargers=1)
    start_session(connectors[0])

    assert site_replan(station_id=station_a.pk, trigger="test") is None
    assert not ChargePointCommand.objects.filter(status=CommandStatus.PENDING).exists()


def test_an_ev_drawing_less_gives_its_share_to_the_others_without_flapping(site):
    connectors = site_connectors(site, chargers=1)
    slow, _fast = (start_session(connector) for connector in connectors)
    site_replan(station_id=site.pk, trigger="test")
    answer_all()
    assert set(tx_limits(connectors).values()) == {15.9}  # 11 kW each

    # a single-phase EV draws 1.8 kW of its 11 kW
    slow.power_w, slow.last_meter_at = 1800.0, timezone.now()
    slow.save()
    site_replan(station_id=site.pk, trigger="periodic")
    answer_all()
    site_replan(station_id=site.pk, trigger="profile_answer")
    answer_all()

    limits = tx_limits(connectors)
    assert limits[connectors[0].pk] == 6.0  # its minimum: 4140 W ≥ 1.8 kW + headroom
    assert limits[connectors[1].pk] == 25.8  # the rest: 17.86 kW
    sent = _commands()
    site_replan(station_id=site.pk, trigger="periodic")
    assert _commands() == sent  # the older reading keeps the cap: no flapping
