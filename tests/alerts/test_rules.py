"""Each rule opens its alert when the condition holds and resolves it when it clears."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from alerts.models import (
    Alert,
    AlertEvent,
    AlertRuleConfig,
    AlertStatus,
    Rule,
    Severity,
)
from alerts.services import (
    alert_acknowledge,
    alert_raise,
    alerts_escalate,
    alerts_evaluate_charge_point,
    alerts_evaluate_connector,
    alerts_evaluate_session,
    alerts_on_boot,
    alerts_on_firmware_status,
    alerts_on_rating_failure,
    alerts_on_rating_success,
    alerts_sweep,
)
from stations.models import ChargePointCommand, CommandStatus
from tests.factories import ChargePointFactory, ChargingSessionFactory, ConnectorFactory

pytestmark = pytest.mark.django_db


def open_alerts(rule: str) -> list[Alert]:
    return list(Alert.objects.filter(rule=rule, resolved_at__isnull=True))


def online(charge_point, now):
    charge_point.is_connected = True
    charge_point.connected_at = now - timedelta(hours=1)
    charge_point.last_seen_at = now
    charge_point.save()


def test_faulted_connector_opens_alert_with_codes_and_resolves_when_available(
    connector_a,
):
    connector_a.status = "Faulted"
    connector_a.error_code = "GroundFailure"
    connector_a.vendor_error_code = "E-042"
    connector_a.info = "RCD tripped"
    connector_a.save()

    alerts_evaluate_connector(connector_a.pk)

    (alert,) = open_alerts(Rule.CONNECTOR_FAULTED)
    assert "GroundFailure" in alert.title
    assert "E-042" in alert.detail
    assert "RCD tripped" in alert.detail
    assert alert.network_id == connector_a.charge_point.station.network_id
    assert alert.severity == Severity.MAJOR

    connector_a.status = "Available"
    connector_a.save()
    alerts_evaluate_connector(connector_a.pk)

    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
    assert alert.resolution == Alert.Resolution.AUTO
    assert list(alert.events.values_list("kind", flat=True)) == ["opened", "resolved"]


def test_repeated_fault_reports_keep_one_alert(connector_a):
    connector_a.status = "Faulted"
    connector_a.error_code = "HighTemperature"
    connector_a.save()

    for _ in range(3):
        alerts_evaluate_connector(connector_a.pk)
    alerts_sweep()

    assert Alert.objects.filter(rule=Rule.CONNECTOR_FAULTED).count() == 1


def test_database_refuses_a_second_open_alert_for_the_same_subject(connector_a):
    alert_raise(rule=Rule.BILLING_FAILURE, subject_key="session:1", title="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        Alert.objects.create(
            rule=Rule.BILLING_FAILURE,
            subject_key="session:1",
            severity="major",
            title="dup",
            opened_at=timezone.now(),
        )
    assert Alert.objects.count() == 1


def test_a_new_fault_after_resolution_opens_a_new_alert(connector_a):
    connector_a.status = "Faulted"
    connector_a.save()
    alerts_evaluate_connector(connector_a.pk)
    connector_a.status = "Available"
    connector_a.save()
    alerts_evaluate_connector(connector_a.pk)
    connector_a.status = "Faulted"
    connector_a.save()
    alerts_evaluate_connector(connector_a.pk)

    assert Alert.objects.filter(rule=Rule.CONNECTOR_FAULTED).count() == 2
    assert len(open_alerts(Rule.CONNECTOR_FAULTED)) == 1


def test_disabled_rule_raises_nothing(connector_a, network_a):
    AlertRuleConfig.objects.create(network=network_a, connector_faulted_enabled=False)
    connector_a.status = "Faulted"
    connector_a.save()

    alerts_evaluate_connector(connector_a.pk)

    assert Alert.objects.count() == 0


def test_sweep_catches_a_fault_without_event_hook(connector_a):
    connector_a.status = "Faulted"
    connector_a.save()

    alerts_sweep()

    assert len(open_alerts(Rule.CONNECTOR_FAULTED)) == 1


def test_whole_charger_fault_on_connector_zero(charge_point_a):
    charge_point_a.status = "Faulted"
    charge_point_a.error_code = "PowerSwitchFailure"
    charge_point_a.save()
    alerts_evaluate_charge_point(charge_point_a.pk)
    assert "PowerSwitchFailure" in open_alerts(Rule.CONNECTOR_FAULTED)[0].title

    charge_point_a.status = "Available"
    charge_point_a.save()
    alerts_evaluate_charge_point(charge_point_a.pk)
    assert open_alerts(Rule.CONNECTOR_FAULTED) == []


def test_silent_charger_goes_offline_after_two_heartbeats_plus_grace(charge_point_a):
    now = timezone.now()
    online(charge_point_a, now)
    limit = 2 * charge_point_a.heartbeat_interval_s + 120

    alerts_evaluate_charge_point(
        charge_point_a.pk, now=now + timedelta(seconds=limit - 5)
    )
    assert open_alerts(Rule.CHARGER_OFFLINE) == []

    alerts_sweep(now=now + timedelta(seconds=limit + 5))
    (alert,) = open_alerts(Rule.CHARGER_OFFLINE)
    assert alert.charge_point_id == charge_point_a.pk
    assert "silent" in alert.detail

    charge_point_a.last_seen_at = now + timedelta(seconds=limit + 10)
    charge_point_a.save()
    alerts_evaluate_charge_point(
        charge_point_a.pk, now=now + timedelta(seconds=limit + 10)
    )
    assert open_alerts(Rule.CHARGER_OFFLINE) == []


def test_disconnected_charger_not_back_within_grace_is_offline(charge_point_a):
    now = timezone.now()
    online(charge_point_a, now)
    charge_point_a.is_connected = False
    charge_point_a.disconnected_at = now
    charge_point_a.save()

    alerts_evaluate_charge_point(charge_point_a.pk, now=now + timedelta(seconds=30))
    assert open_alerts(Rule.CHARGER_OFFLINE) == []

    alerts_sweep(now=now + timedelta(seconds=121))
    assert len(open_alerts(Rule.CHARGER_OFFLINE)) == 1


def test_never_connected_charger_is_not_an_outage(charge_point_a):
    alerts_sweep(now=timezone.now() + timedelta(days=2))
    assert Alert.objects.count() == 0


def test_whole_station_down_gives_one_grouped_alert_and_suppressed_children(
    station_a, django_capture_on_commit_callbacks, mailoutbox, operator
):
    now = timezone.now()
    chargers = [ChargePointFactory(station=station_a) for _ in range(4)]
    for cp in chargers:
        online(cp, now)
        cp.is_connected = False
        cp.disconnected_at = now
        cp.save()

    with django_capture_on_commit_callbacks(execute=True):
        alerts_sweep(now=now + timedelta(minutes=5))

    (group,) = open_alerts(Rule.STATION_OFFLINE)
    children = open_alerts(Rule.CHARGER_OFFLINE)
    assert len(children) == 4
    assert all(
        child.parent_id == group.pk and child.is_suppressed for child in children
    )
    assert len(mailoutbox) == 1
    assert "Station City Mall offline" in mailoutbox[0].subject

    # One charger comes back: the outage is still one alert, no new mail.
    online(chargers[0], now + timedelta(minutes=6))
    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate_charge_point(chargers[0].pk, now=now + timedelta(minutes=6))
    assert len(open_alerts(Rule.STATION_OFFLINE)) == 1
    assert len(open_alerts(Rule.CHARGER_OFFLINE)) == 3
    assert len(mailoutbox) == 1

    for cp in chargers[1:]:
        online(cp, now + timedelta(minutes=7))
    alerts_sweep(now=now + timedelta(minutes=7))
    assert open_alerts(Rule.STATION_OFFLINE) == []
    assert open_alerts(Rule.CHARGER_OFFLINE) == []


def test_whole_network_down_gives_one_network_alert(network_a):
    now = timezone.now()
    from tests.factories import StationFactory

    for _ in range(3):
        station = StationFactory(network=network_a)
        for _ in range(2):
            cp = ChargePointFactory(station=station)
            online(cp, now - timedelta(hours=2))

    alerts_sweep(now=now)

    (network_alert,) = open_alerts(Rule.NETWORK_OFFLINE)
    stations = open_alerts(Rule.STATION_OFFLINE)
    assert len(stations) == 3
    assert all(s.parent_id == network_alert.pk and s.is_suppressed for s in stations)
    top_level = Alert.objects.filter(resolved_at__isnull=True, is_suppressed=False)
    assert list(top_level) == [network_alert]


def test_low_power_while_charging_fires_after_the_configured_minutes(connector_a):
    now = timezone.now()
    connector_a.status = "Charging"
    connector_a.save()
    session = ChargingSessionFactory(
        charge_point=connector_a.charge_point,
        connector=connector_a,
        power_w=400.0,
        meter_last_wh=5000,
        last_meter_at=now,
        started_at=now,
    )

    alerts_evaluate_session(session.pk, now=now)
    alerts_evaluate_session(session.pk, now=now + timedelta(minutes=9))
    assert open_alerts(Rule.LOW_POWER) == []

    alerts_sweep(now=now + timedelta(minutes=10, seconds=1))
    (alert,) = open_alerts(Rule.LOW_POWER)
    assert "below 1 kW" in alert.title

    session.power_w = 7200.0
    session.save()
    alerts_evaluate_session(session.pk, now=now + timedelta(minutes=11))
    assert open_alerts(Rule.LOW_POWER) == []


def test_energy_register_not_rising_while_charging(connector_a):
    now = timezone.now()
    connector_a.status = "Charging"
    connector_a.save()
    session = ChargingSessionFactory(
        charge_point=connector_a.charge_point,
        connector=connector_a,
        power_w=11000.0,
        meter_last_wh=5000,
        last_meter_at=now,
        started_at=now,
    )
    alerts_evaluate_session(session.pk, now=now)
    session.meter_last_wh = 6000
    session.save()
    alerts_evaluate_session(session.pk, now=now + timedelta(minutes=10))
    alerts_evaluate_session(session.pk, now=now + timedelta(minutes=24))
    assert open_alerts(Rule.ENERGY_STALLED) == []

    alerts_evaluate_session(session.pk, now=now + timedelta(minutes=25))
    (alert,) = open_alerts(Rule.ENERGY_STALLED)
    assert "6000 Wh" in alert.detail

    session.meter_last_wh = 6500
    session.save()
    alerts_evaluate_session(session.pk, now=now + timedelta(minutes=26))
    assert open_alerts(Rule.ENERGY_STALLED) == []


def test_connector_stuck_in_preparing(connector_a):
    now = timezone.now()
    connector_a.status = "Preparing"
    connector_a.status_received_at = now
    connector_a.save()

    alerts_evaluate_connector(connector_a.pk, now=now + timedelta(minutes=9))
    assert open_alerts(Rule.STUCK_PREPARING) == []
    alerts_sweep(now=now + timedelta(minutes=10))
    assert len(open_alerts(Rule.STUCK_PREPARING)) == 1

    connector_a.status = "Charging"
    connector_a.save()
    alerts_evaluate_connector(connector_a.pk, now=now + timedelta(minutes=11))
    assert open_alerts(Rule.STUCK_PREPARING) == []


def test_zombie_session_without_meter_values_suggests_probe_and_resolves_on_stop(
    connector_a,
):
    now = timezone.now()
    session = ChargingSessionFactory(
        charge_point=connector_a.charge_point,
        connector=connector_a,
        started_at=now - timedelta(hours=2),
        last_meter_at=now - timedelta(minutes=61),
    )

    alerts_sweep(now=now)

    (alert,) = open_alerts(Rule.ZOMBIE_SESSION)
    assert "TriggerMessage" in alert.detail
    assert alert.session_id == session.pk
    # Auto-probe is off by default: the suggestion is recorded, nothing is sent.
    assert not alert.events.filter(kind=AlertEvent.Kind.PROBE).exists()

    session.status = "completed"
    session.stopped_at = now
    session.save()
    alerts_sweep(now=now + timedelta(minutes=1))
    assert open_alerts(Rule.ZOMBIE_SESSION) == []


def _zombie_with_auto_probe(connector, network, *, now):
    """A 30-hour session on a network that probes zombies by itself."""
    AlertRuleConfig.objects.create(network=network, zombie_auto_probe=True)
    ChargingSessionFactory(
        charge_point=connector.charge_point,
        connector=connector,
        started_at=now - timedelta(hours=30),
        last_meter_at=now,
    )


def test_zombie_auto_probe_sends_the_probe_and_records_the_command(
    connector_a, network_a
):
    now = timezone.now()
    _zombie_with_auto_probe(connector_a, network_a, now=now)

    alerts_sweep(now=now)

    (alert,) = open_alerts(Rule.ZOMBIE_SESSION)
    (event,) = alert.events.filter(
        kind__in=[AlertEvent.Kind.PROBE, AlertEvent.Kind.ACTION_UNAVAILABLE]
    )
    assert event.kind == AlertEvent.Kind.PROBE
    assert event.data["action"] == "TriggerMessage"
    # The charger is not connected: the command transport finishes it offline.
    command = ChargePointCommand.objects.get(pk=event.data["command_id"])
    assert command.charge_point_id == connector_a.charge_point_id
    assert command.action == "TriggerMessage"
    assert command.status == CommandStatus.OFFLINE
    assert event.data["command_status"] == CommandStatus.OFFLINE


def test_zombie_auto_probe_without_a_command_transport_says_so_once(
    connector_a, network_a, monkeypatch
):
    monkeypatch.setattr("alerts.services._command_send", lambda: None)
    now = timezone.now()
    _zombie_with_auto_probe(connector_a, network_a, now=now)

    alerts_sweep(now=now)
    alerts_sweep(now=now + timedelta(minutes=30))

    (alert,) = open_alerts(Rule.ZOMBIE_SESSION)
    (event,) = alert.events.filter(
        kind__in=[AlertEvent.Kind.PROBE, AlertEvent.Kind.ACTION_UNAVAILABLE]
    )
    assert event.kind == AlertEvent.Kind.ACTION_UNAVAILABLE
    assert "TriggerMessage could not be sent" in event.message
    assert not ChargePointCommand.objects.exists()


def test_boot_loop_fires_above_k_boots_and_clears_when_calm(charge_point_a):
    now = timezone.now()
    for minute in range(6):
        charge_point_a.last_boot_at = now + timedelta(minutes=minute)
        charge_point_a.save()
        alerts_on_boot(charge_point_a.pk, now=now + timedelta(minutes=minute))
    # A resent dispatch of the same boot does not count twice.
    alerts_on_boot(charge_point_a.pk, now=now + timedelta(minutes=5))

    (alert,) = open_alerts(Rule.BOOT_LOOP)
    assert alert.charge_point_id == charge_point_a.pk
    assert charge_point_a.boot_records.count() == 6

    alerts_sweep(now=now + timedelta(minutes=40))
    assert open_alerts(Rule.BOOT_LOOP) == []


def test_meter_register_going_backwards_until_a_clean_session(connector_a):
    now = timezone.now()
    bad = ChargingSessionFactory(
        charge_point=connector_a.charge_point,
        connector=connector_a,
        started_at=now - timedelta(hours=1),
        has_register_regression=True,
    )
    alerts_evaluate_session(bad.pk, now=now)
    (alert,) = open_alerts(Rule.METER_REGRESSION)
    assert alert.session_id == bad.pk

    clean = ChargingSessionFactory(
        charge_point=connector_a.charge_point, connector=connector_a, started_at=now
    )
    alerts_evaluate_session(clean.pk, now=now)
    assert open_alerts(Rule.METER_REGRESSION) == []


def test_firmware_failure_and_recovery(charge_point_a):
    alerts_on_firmware_status(charge_point_a.pk, "InstallationFailed")
    alerts_on_firmware_status(charge_point_a.pk, "InstallationFailed")
    (alert,) = open_alerts(Rule.FIRMWARE_FAILED)
    assert "InstallationFailed" in alert.title

    alerts_on_firmware_status(charge_point_a.pk, "Installed")
    assert open_alerts(Rule.FIRMWARE_FAILED) == []


def test_rating_failure_entry_point_for_billing(charge_point_a):
    session = ChargingSessionFactory(charge_point=charge_point_a)
    alerts_on_rating_failure(session.pk, error="No tariff for connector")
    alerts_on_rating_failure(session.pk, error="No tariff for connector")
    (alert,) = open_alerts(Rule.BILLING_FAILURE)
    assert "No tariff" in alert.detail

    alerts_on_rating_success(session.pk)
    assert open_alerts(Rule.BILLING_FAILURE) == []


def test_fleet_fault_rate_by_model_and_firmware(station_a):
    now = timezone.now()
    fleet = [
        ChargePointFactory(station=station_a, model="Pulsar", firmware_version="1.2.0")
        for _ in range(5)
    ]
    for cp in fleet[:2]:
        connector = ConnectorFactory(charge_point=cp, status="Faulted")
        alerts_evaluate_connector(connector.pk, now=now)

    alerts_sweep(now=now)
    (alert,) = open_alerts(Rule.FLEET_FAULT_RATE)
    assert "Pulsar" in alert.title
    assert "1.2.0" in alert.title

    alerts_sweep(now=now + timedelta(hours=25))
    assert open_alerts(Rule.FLEET_FAULT_RATE) == []


def test_unacknowledged_alert_escalates_and_acknowledged_does_not(
    connector_a, operator, django_capture_on_commit_callbacks, mailoutbox
):
    connector_a.status = "Faulted"
    connector_a.save()
    with django_capture_on_commit_callbacks(execute=True):
        alerts_evaluate_connector(connector_a.pk)
    alert = Alert.objects.get()
    assert len(mailoutbox) == 1

    assert alerts_escalate(now=timezone.now() + timedelta(minutes=10)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert alerts_escalate(now=timezone.now() + timedelta(minutes=31)) == 1
    alert.refresh_from_db()
    assert alert.severity == Severity.CRITICAL
    assert alert.escalation_level == 1
    assert len(mailoutbox) == 2
    assert "ESCALATED" in mailoutbox[1].subject

    alert_acknowledge(alert=alert, user=operator)
    assert alerts_escalate(now=timezone.now() + timedelta(hours=5)) == 0
