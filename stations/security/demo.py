"""Demo data for the security page: a certificate of the CMS CA and security events."""

from __future__ import annotations

import datetime as dt

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.utils import timezone

from cms.demo import DemoLoad
from cms.pki import certificate_pem, serial_hex, sign_client_csr
from stations.models import ChargePoint
from stations.security.models import (
    CertificateDelivery,
    ChargerCertificate,
    SecurityEvent,
)
from stations.security.services import cms_ca

DEMO_CERTIFICATE_CHARGER = "DEMO-CP-01"


def security_demo_load(load: DemoLoad) -> None:
    """DEMO-CP-01 holds a certificate signed ten months ago (an expiry alert soon)."""
    charge_point = ChargePoint.objects.filter(ocpp_id=DEMO_CERTIFICATE_CHARGER).first()
    if charge_point is None or charge_point.certificates.exists():
        return
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COMMON_NAME, charge_point.ocpp_id),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Demo CPO"),
                ]
            )
        )
        .sign(key, hashes.SHA256())
    )
    issued = timezone.now() - dt.timedelta(days=340)
    certificate = sign_client_csr(
        cms_ca(), csr, identity=charge_point.ocpp_id, valid_days=365, now=issued
    )
    ChargerCertificate.objects.create(
        charge_point=charge_point,
        serial_number=serial_hex(certificate),
        subject=certificate.subject.rfc4514_string(),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        pem=certificate_pem(certificate),
        issued_at=issued,
        delivery=CertificateDelivery.INSTALLED,
    )
    load.tally.add("charger certificates", True)
    SecurityEvent.objects.create(
        charge_point=charge_point,
        kind="SettingSystemTime",
        occurred_at=issued + dt.timedelta(minutes=3),
        received_at=issued + dt.timedelta(minutes=3),
        tech_info="Clock set from the CMS's BootNotification answer",
    )
    load.tally.add("security events", True)
