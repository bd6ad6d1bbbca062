"""An alert before a charger's current certificate expires; a renewal resolves it."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from alerts.models import Alert, Rule
from alerts.services import alerts_sweep
from stations.models import CertificateDelivery, ChargerCertificate
from tests.factories import ChargePointFactory

pytestmark = pytest.mark.django_db


def _certificate(
    charge_point, *, serial: str, expires_in_days: int, issued_days_ago: int
):
    now = timezone.now()
    return ChargerCertificate.objects.create(
        charge_point=charge_point,
        serial_number=serial,
        subject=f"CN={charge_point.ocpp_id}",
        not_before=now - dt.timedelta(days=issued_days_ago),
        not_after=now + dt.timedelta(days=expires_in_days),
        pem="-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n",
        issued_at=now - dt.timedelta(days=issued_days_ago),
        delivery=CertificateDelivery.INSTALLED,
    )


def _open_alerts(charge_point) -> list[Alert]:
    return list(
        Alert.objects.filter(
            rule=Rule.CERTIFICATE_EXPIRING,
            charge_point=charge_point,
            resolved_at__isnull=True,
        )
    )


def test_a_certificate_expiring_soon_raises_an_alert_and_renewal_resolves_it(settings):
    settings.OCPP_CHARGER_CERT_ALERT_DAYS = 30
    charge_point = ChargePointFactory(ocpp_id="CP-EXP-1")
    _certificate(charge_point, serial="a1", expires_in_days=10, issued_days_ago=355)

    alerts_sweep()

    (alert,) = _open_alerts(charge_point)
    assert "CP-EXP-1" in alert.title
    assert "expires in" in alert.title
    assert alert.network_id == charge_point.station.network_id

    _certificate(charge_point, serial="a2", expires_in_days=365, issued_days_ago=0)
    alerts_sweep()

    assert _open_alerts(charge_point) == []


def test_a_certificate_far_from_expiry_raises_nothing(settings):
    settings.OCPP_CHARGER_CERT_ALERT_DAYS = 30
    charge_point = ChargePointFactory(ocpp_id="CP-EXP-2")
    _certificate(charge_point, serial="b1", expires_in_days=200, issued_days_ago=165)

    alerts_sweep()

    assert _open_alerts(charge_point) == []


def test_a_rejected_certificate_is_not_the_current_one(settings):
    settings.OCPP_CHARGER_CERT_ALERT_DAYS = 30
    charge_point = ChargePointFactory(ocpp_id="CP-EXP-3")
    _certificate(charge_point, serial="c1", expires_in_days=5, issued_days_ago=360)
    newer = _certificate(
        charge_point, serial="c2", expires_in_days=365, issued_days_ago=0
    )
    ChargerCertificate.objects.filter(pk=newer.pk).update(
        delivery=CertificateDelivery.REJECTED
    )

    alerts_sweep()

    assert len(_open_alerts(charge_point)) == 1
