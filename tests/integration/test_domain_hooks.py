"""Charger events reach alerts, billing and remote operations once they commit."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert, Rule
from billing.models import Cdr, RatingStatus, SessionTariff
from sessions_app.services import session_start_from_ocpp, session_stop_from_ocpp
from stations.models import ChargePointCommand
from stations.remote.models import (
    RemoteStartRequest,
    RemoteStartStatus,
    Reservation,
    ReservationStatus,
)
from stations.services import connector_status_record
from tests.billing.conftest import INR_ELEMENT
from tests.factories import IdTokenFactory

pytestmark = pytest.mark.django_db


def _status(connector, status, *, error_code="NoError", at=None):
    now = at or timezone.now()
    connector_status_record(
        charge_point_id=connector.charge_point_id,
        connector_number=connector.connector_id,
        status=status,
        error_code=error_code,
        timestamp=now,
        received_at=now,
    )


def test_faulted_status_opens_an_alert_and_available_resolves_it(
    connector_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _status(connector_a, "Faulted", error_code="GroundFailure")

    alert = Alert.objects.get(rule=Rule.CONNECTOR_FAULTED, connector=connector_a)
    assert alert.resolved_at is None

    with django_capture_on_commit_callbacks(execute=True):
        _status(connector_a, "Available")

    alert.refresh_from_db()
    assert alert.resolved_at is not None


def test_unplugging_after_a_stopped_session_issues_its_cdr_with_idle_time(
    connector_a, django_capture_on_commit_callbacks
):
    from billing import services

    tariff = services.tariff_create(
        actor=None,
        network=connector_a.charge_point.station.network,
        data={"name": "Idle", "currency": "INR", "vat_percent": 0},
        elements=[dict(INR_ELEMENT)],
    )
    services.tariff_assignment_add(actor=None, tariff=tariff)
    IdTokenFactory(token="DRIVER1")
    start = timezone.now() - timedelta(hours=2)
    ocpp_id = connector_a.charge_point.ocpp_id
    with django_capture_on_commit_callbacks(execute=True):
        transaction_id, _auth = session_start_from_ocpp(
            charge_point_ocpp_id=ocpp_id,
            connector_id=1,
            id_tag="DRIVER1",
            meter_start_wh=0,
            started_at=start,
            reservation_id=None,
        )
        _status(connector_a, "Charging", at=start)
    done = start + timedelta(minutes=60)
    with django_capture_on_commit_callbacks(execute=True):
        _status(connector_a, "SuspendedEV", at=done)
        session_stop_from_ocpp(
            charge_point_ocpp_id=ocpp_id,
            transaction_id=transaction_id,
            meter_stop_wh=22000,
            stopped_at=done + timedelta(minutes=5),
            reason="Local",
            id_tag=None,
            samples=None,
            payload={},
        )
    assert not Cdr.objects.filter(session_id=transaction_id).exists()
    assert SessionTariff.objects.get(session_id=transaction_id).status == (
        RatingStatus.AWAITING_IDLE_END
    )

    with django_capture_on_commit_callbacks(execute=True):
        _status(connector_a, "Available", at=done + timedelta(minutes=20))

    cdr = Cdr.objects.get(session_id=transaction_id)
    assert cdr.idle_seconds == 20 * 60
    assert cdr.total_amount == 396 + 20 * 3  # 22 kWh x 18 + 20 idle minutes x 3


def test_a_reserved_connector_refuses_other_tokens(connector_a):
    IdTokenFactory(token="RESERVED")
    IdTokenFactory(token="SOMEONE")
    Reservation.objects.create(
        charge_point=connector_a.charge_point,
        connector_number=1,
        id_tag="RESERVED",
        expires_at=timezone.now() + timedelta(minutes=30),
        status=ReservationStatus.ACTIVE,
        created_at=timezone.now(),
    )
    start = {
        "charge_point_ocpp_id": connector_a.charge_point.ocpp_id,
        "connector_id": 1,
        "meter_start_wh": 0,
        "reservation_id": None,
    }

    _tid, other = session_start_from_ocpp(
        id_tag="SOMEONE", started_at=timezone.now(), **start
    )
    _tid, holder = session_start_from_ocpp(
        id_tag="RESERVED", started_at=timezone.now() + timedelta(seconds=1), **start
    )

    assert other.status == "Invalid"
    assert holder.status == "Accepted"


def test_remote_start_handle_resolves_to_the_transaction_id(
    connector_a, django_capture_on_commit_callbacks
):
    IdTokenFactory(token="APPUSER")
    command = ChargePointCommand.objects.create(
        charge_point=connector_a.charge_point,
        action="RemoteStartTransaction",
        payload={"idTag": "APPUSER", "connectorId": 1},
        requested_at=timezone.now(),
        status="accepted",
    )
    handle = RemoteStartRequest.objects.create(
        charge_point=connector_a.charge_point,
        connector_number=1,
        id_tag="APPUSER",
        command=command,
        requested_at=timezone.now() - timedelta(seconds=1),
    )

    with django_capture_on_commit_callbacks(execute=True):
        transaction_id, _auth = session_start_from_ocpp(
            charge_point_ocpp_id=connector_a.charge_point.ocpp_id,
            connector_id=1,
            id_tag="APPUSER",
            meter_start_wh=0,
            started_at=timezone.now(),
            reservation_id=None,
        )

    handle.refresh_from_db()
    assert handle.status == RemoteStartStatus.STARTED
    assert handle.session_id == transaction_id
