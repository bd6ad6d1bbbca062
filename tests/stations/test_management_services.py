"""Writes behind the portal's CRUD screens: validation, audit, idempotency."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from accounts.models import AuditLog
from stations import inventory as services
from stations.models import ChargePoint, Connector, RegistrationStatus
from tests.factories import ChargePointFactory

pytestmark = pytest.mark.django_db


def test_register_stores_the_password_hashed_and_audits_without_it(
    operator, station_a
) -> None:
    charge_point = services.charge_point_register(
        actor=operator,
        ocpp_id="CP-NEW-1",
        station=station_a,
        password="charger-secret-1",
        heartbeat_interval_s=120,
    )
    charge_point.refresh_from_db()
    assert charge_point.check_password("charger-secret-1")
    entry = AuditLog.objects.get(action="charge_point.register")
    assert entry.actor == operator
    assert entry.network_id == station_a.network_id
    assert "charger-secret-1" not in str(entry.after)
    assert "password_hash" not in entry.after


def test_duplicate_connector_number_is_a_validation_error_and_nothing_is_saved(
    operator, connector_a
) -> None:
    with pytest.raises(ValidationError):
        services.connector_create(
            actor=operator,
            charge_point=connector_a.charge_point,
            fields={
                "connector_id": connector_a.connector_id,
                "connector_type": "CCS2",
                "max_power_kw": Decimal(50),
            },
        )
    assert Connector.objects.filter(charge_point=connector_a.charge_point).count() == 1
    assert not AuditLog.objects.filter(action="connector.create").exists()


def test_fields_outside_the_editable_set_are_refused(operator, station_a) -> None:
    with pytest.raises(ValueError, match="network"):
        services.charge_point_update(
            actor=operator,
            charge_point=ChargePointFactory(station=station_a),
            fields={"network": 1},
        )


def test_assigning_twice_to_the_same_station_records_one_entry(
    operator, station_a
) -> None:
    charger = ChargePointFactory(station=None)
    services.charge_point_assign(
        actor=operator, charge_point=charger, station=station_a
    )
    services.charge_point_assign(
        actor=operator, charge_point=charger, station=station_a
    )
    assert ChargePoint.objects.get(pk=charger.pk).station == station_a
    assert AuditLog.objects.filter(action="charge_point.assign").count() == 1


def test_reject_then_approve_records_both_transitions(operator, station_a) -> None:
    charger = ChargePointFactory(
        station=station_a, registration_status=RegistrationStatus.PENDING
    )
    services.charge_point_reject(actor=operator, charge_point=charger)
    services.charge_point_approve(actor=operator, charge_point=charger)
    charger.refresh_from_db()
    assert charger.registration_status == RegistrationStatus.ACCEPTED
    before_after = [
        (e.before["registration_status"], e.after["registration_status"])
        for e in AuditLog.objects.order_by("id")
    ]
    assert before_after == [("Pending", "Rejected"), ("Rejected", "Accepted")]


def test_deleting_a_connector_keeps_its_last_state_in_the_audit_log(
    operator, connector_a
) -> None:
    services.connector_delete(actor=operator, connector=connector_a)
    assert not Connector.objects.filter(pk=connector_a.pk).exists()
    entry = AuditLog.objects.get(action="connector.delete")
    assert entry.before["connector_id"] == 1
    assert entry.after is None
