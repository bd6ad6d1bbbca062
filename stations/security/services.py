"""Charger certificates from the CMS CA, security events, Basic-auth rotation.

SignCertificate (OCPP 1.6 security whitepaper A02/A03, 2.0.1 A02/A03): the
charger sends a CSR; the CMS CA signs it when its subject CN is the charger's
identity and its key is acceptable, answers Accepted, and then (after the
answer is on the wire) sends CertificateSigned with the certificate. The
charger's answer to that says whether it installed it. The certificate is
then what it presents in security profile 3.

Password rotation (1.6 whitepaper "Updating the Basic auth password" with
AuthorizationKey; 2.0.1 A01 with SecurityCtrlr.BasicAuthPassword): the CMS
generates a new password, sends it, and keeps accepting the old one beside
the new one until the charger answers; Accepted switches the stored password,
anything else keeps the old one only.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from accounts.http import AnyUser, recorded_actor
from accounts.services import audit_record
from cms.events import SecurityEventReported, emit
from cms.pki import (
    CertificateAuthority,
    CertificateRefused,
    ca_load_or_create,
    certificate_pem,
    csr_load,
    serial_hex,
    sign_client_csr,
)
from stations.models import ChargePoint, ChargePointCommand, CommandStatus
from stations.ocpp import commands as ocpp
from stations.remote.dispatch import answer_of, command_send
from stations.security.models import (
    CertificateDelivery,
    ChargerCertificate,
    PasswordRotation,
    RotationStatus,
    SecurityEvent,
)

logger = logging.getLogger(__name__)

# 1.6 whitepaper: AuthorizationKey 16..20 bytes of random data (hex on the wire);
# 2.0.1 BasicAuthPassword: up to 40 characters. 20 URL-safe characters fit both.
ROTATED_PASSWORD_LENGTH = 20


@functools.cache
def _ca(directory: str) -> CertificateAuthority:
    return ca_load_or_create(Path(directory))


def cms_ca() -> CertificateAuthority:
    """The installation's CA (OCPP_CA_DIR), loaded once per process."""
    return _ca(str(settings.OCPP_CA_DIR))


def _network(charge_point: ChargePoint) -> object:
    return charge_point.station.network if charge_point.station else None


# --- SignCertificate -> CertificateSigned ------------------------------------------


@dataclass(frozen=True)
class CsrOutcome:
    accepted: bool
    certificate_id: int | None = None
    reason: str = ""


@transaction.atomic
def charger_csr_sign(
    *, charge_point_id: int, csr_pem: str, certificate_type: str, at: dt.datetime
) -> CsrOutcome:
    """Sign a charger's CSR with the CMS CA and keep the certificate (pending)."""
    charge_point = ChargePoint.objects.select_related("station__network").get(
        pk=charge_point_id
    )
    try:
        csr = csr_load(csr_pem)
        certificate = sign_client_csr(
            cms_ca(),
            csr,
            identity=charge_point.ocpp_id,
            valid_days=settings.OCPP_CHARGER_CERT_VALID_DAYS,
            now=at,
        )
    except CertificateRefused as error:
        logger.warning("%s: CSR refused: %s", charge_point.ocpp_id, error)
        audit_record(
            actor=None,
            action="certificate.csr_refused",
            target=charge_point,
            network=_network(charge_point),
            detail=str(error)[:255],
        )
        return CsrOutcome(accepted=False, reason=str(error))
    row = ChargerCertificate.objects.create(
        charge_point=charge_point,
        certificate_type=certificate_type or "ChargingStationCertificate",
        serial_number=serial_hex(certificate),
        subject=certificate.subject.rfc4514_string()[:255],
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        pem=certificate_pem(certificate),
        issued_at=at,
    )
    audit_record(
        actor=None,
        action="certificate.issue",
        target=charge_point,
        network=_network(charge_point),
        after={
            "serial_number": row.serial_number,
            "subject": row.subject,
            "not_after": row.not_after.isoformat(),
        },
    )
    return CsrOutcome(accepted=True, certificate_id=row.pk)


def charger_certificate_send(*, certificate_id: int) -> ChargePointCommand:
    """Send a signed certificate to its charger (CertificateSigned)."""
    row = ChargerCertificate.objects.select_related("charge_point__station").get(
        pk=certificate_id
    )
    with transaction.atomic():
        command = command_send(
            charge_point=row.charge_point,
            command=ocpp.CertificateSigned(
                certificate_chain=row.pem, certificate_type=row.certificate_type
            ),
            requested_by=None,
        )
        ChargerCertificate.objects.filter(pk=row.pk).update(command=command)
        if command.status != CommandStatus.PENDING:  # offline at once
            certificate_signed_apply(command)
    return command


def certificate_signed_apply(command: ChargePointCommand) -> None:
    """The charger's answer to CertificateSigned: installed, rejected or not sent."""
    if command.status == CommandStatus.ACCEPTED:
        delivery = CertificateDelivery.INSTALLED
    elif command.status == CommandStatus.REJECTED:
        delivery = CertificateDelivery.REJECTED
    else:
        delivery = CertificateDelivery.FAILED
    ChargerCertificate.objects.filter(
        command=command, delivery=CertificateDelivery.PENDING
    ).update(delivery=delivery)


def charger_certificate_used(*, serial_number: str, at: dt.datetime) -> None:
    """A profile-3 handshake presented this certificate."""
    ChargerCertificate.objects.filter(serial_number=serial_number).update(
        last_used_at=at
    )


def charger_certificate_renew(
    *, charge_point: ChargePoint, requested_by: AnyUser | None
) -> ChargePointCommand:
    """Ask the charger for a new CSR now (the CMS CA signs it as above)."""
    with transaction.atomic():
        audit_record(
            actor=requested_by,
            action="certificate.renew",
            target=charge_point,
            network=_network(charge_point),
        )
        return command_send(
            charge_point=charge_point,
            command=ocpp.RenewCertificate(),
            requested_by=requested_by,
        )


# --- SecurityEventNotification ------------------------------------------------------


def security_event_record(
    *,
    charge_point_id: int,
    kind: str,
    occurred_at: dt.datetime,
    tech_info: str,
    received_at: dt.datetime,
) -> None:
    """Keep a charger's security event and announce it (alerts judge it)."""
    event = SecurityEvent.objects.create(
        charge_point_id=charge_point_id,
        kind=kind[:50],
        occurred_at=occurred_at,
        tech_info=tech_info[:255],
        received_at=received_at,
    )
    charge_point = ChargePoint.objects.select_related("station").get(pk=charge_point_id)
    emit(
        SecurityEventReported(
            charge_point_pk=charge_point.pk,
            ocpp_id=charge_point.ocpp_id,
            station_id=charge_point.station_id,
            network_id=charge_point.station.network_id
            if charge_point.station is not None
            else None,
            security_event_id=event.pk,
            event_type=event.kind,
            occurred_at=occurred_at.isoformat(),
            tech_info=event.tech_info,
        )
    )


# --- Basic-auth password rotation ------------------------------------------------


class RotationRefused(ValueError):
    """A rotation that cannot start (another pending, charger offline...)."""


def charge_point_password_rotate(
    *, charge_point: ChargePoint, requested_by: AnyUser | None
) -> PasswordRotation:
    """Offer the charger a new random password; switch when it accepts."""
    password = secrets.token_urlsafe(ROTATED_PASSWORD_LENGTH)[:ROTATED_PASSWORD_LENGTH]
    with transaction.atomic():
        locked = ChargePoint.objects.select_for_update().get(pk=charge_point.pk)
        pending = PasswordRotation.objects.filter(
            charge_point=locked, status=RotationStatus.PENDING
        ).select_related("command")
        for earlier in pending:
            if (
                earlier.command is None
                or earlier.command.status == CommandStatus.PENDING
            ):
                raise RotationRefused(
                    "A password change is already awaiting the charger."
                )
            # Never answered (offline, timeout): replaced by this one.
            earlier.status = RotationStatus.FAILED
            earlier.finished_at = timezone.now()
            earlier.save(update_fields=["status", "finished_at"])
        if not locked.is_connected:
            raise RotationRefused("The charger is not connected.")
        rotation = PasswordRotation.objects.create(
            charge_point=locked,
            new_password_hash=make_password(password),
            requested_by=recorded_actor(requested_by)
            if getattr(requested_by, "is_authenticated", False)
            else None,
            requested_at=timezone.now(),
        )
        audit_record(
            actor=requested_by,
            action="charge_point.password_rotate",
            target=locked,
            network=_network(locked),
            after={"rotation_id": rotation.pk},
            detail="new password sent to the charger",
        )
        command = command_send(
            charge_point=locked,
            command=ocpp.SetBasicAuthPassword(password=password),
            requested_by=requested_by,
        )
        PasswordRotation.objects.filter(pk=rotation.pk).update(command=command)
        rotation.command = command
        if command.status != CommandStatus.PENDING:
            password_change_apply(command)
            rotation.refresh_from_db()
    return rotation


def password_change_apply(command: ChargePointCommand) -> None:
    """Switch to the new password if the charger accepted it; else keep the old."""
    rotation = (
        PasswordRotation.objects.select_for_update()
        .filter(command=command, status=RotationStatus.PENDING)
        .first()
    )
    if rotation is None:
        return
    now = command.finished_at or timezone.now()
    # 1.6 ChangeConfiguration may answer RebootRequired: taken, at the next boot.
    if command.status == CommandStatus.ACCEPTED or (
        answer_of(command).charger_status == "RebootRequired"
    ):
        ChargePoint.objects.filter(pk=rotation.charge_point_id).update(
            password_hash=rotation.new_password_hash
        )
        rotation.status = RotationStatus.SWITCHED
    elif command.status in (CommandStatus.OFFLINE, CommandStatus.TIMEOUT):
        # No answer: the charger may have taken the new password (its answer
        # lost). Both stay valid, so it is not locked out; a new rotation
        # replaces this one.
        return
    else:  # Rejected, NotSupported, a CALLERROR: the charger keeps the old one
        rotation.status = RotationStatus.REJECTED
    rotation.finished_at = now
    rotation.save(update_fields=["status", "finished_at"])
    audit_record(
        actor=None,
        action="charge_point.password_rotation_finished",
        target=rotation.charge_point,
        network=_network(rotation.charge_point),
        after={"rotation_id": rotation.pk, "status": rotation.status},
    )


def pending_password_hash(*, charge_point_id: int) -> str:
    """The password a pending rotation offers ("" when none is pending)."""
    return (
        PasswordRotation.objects.filter(
            charge_point_id=charge_point_id, status=RotationStatus.PENDING
        )
        .values_list("new_password_hash", flat=True)
        .first()
        or ""
    )
