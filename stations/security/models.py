"""Charger certificates the CMS CA issued, security events, password rotations."""

from __future__ import annotations

from django.conf import settings
from django.db import models

__all__ = [
    "CertificateDelivery",
    "ChargerCertificate",
    "PasswordRotation",
    "RotationStatus",
    "SecurityEvent",
]


class CertificateDelivery(models.TextChoices):
    PENDING = "pending", "Sent, awaiting the charger"
    INSTALLED = "installed", "Installed by the charger"
    REJECTED = "rejected", "Rejected by the charger"
    FAILED = "failed", "Not delivered"


class ChargerCertificate(models.Model):
    """A certificate the CMS CA signed from a charger's SignCertificate CSR."""

    charge_point = models.ForeignKey(
        "stations.ChargePoint", on_delete=models.CASCADE, related_name="certificates"
    )
    certificate_type = models.CharField(
        max_length=40, default="ChargingStationCertificate"
    )
    serial_number = models.CharField(max_length=64, unique=True)  # hex
    subject = models.CharField(max_length=255)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField(db_index=True)
    pem = models.TextField()
    issued_at = models.DateTimeField()
    delivery = models.CharField(
        max_length=12,
        choices=CertificateDelivery.choices,
        default=CertificateDelivery.PENDING,
    )
    command = models.ForeignKey(
        "stations.ChargePointCommand",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The last handshake that presented this certificate (security profile 3).
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at", "-pk"]
        indexes = [models.Index(fields=["charge_point", "-issued_at"])]

    def __str__(self) -> str:
        return f"{self.subject} #{self.serial_number}"


class SecurityEvent(models.Model):
    """A charger's SecurityEventNotification (1.6 whitepaper / 2.0.1 A04)."""

    charge_point = models.ForeignKey(
        "stations.ChargePoint",
        on_delete=models.CASCADE,
        related_name="security_events",
    )
    kind = models.CharField(max_length=50)
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField()
    tech_info = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-occurred_at", "-pk"]
        indexes = [models.Index(fields=["charge_point", "-occurred_at"])]


class RotationStatus(models.TextChoices):
    PENDING = "pending", "Sent; old and new password accepted"
    SWITCHED = "switched", "Switched to the new password"
    REJECTED = "rejected", "Refused by the charger (old password kept)"
    FAILED = "failed", "Never answered; replaced by a newer rotation"


class PasswordRotation(models.Model):
    """A new Basic-auth password offered to a charger; switched once it accepts.

    While pending, the charger may connect with the old or the new password
    (it may apply the change at once or after a reconnect).
    """

    charge_point = models.ForeignKey(
        "stations.ChargePoint",
        on_delete=models.CASCADE,
        related_name="password_rotations",
    )
    new_password_hash = models.CharField(max_length=256)
    status = models.CharField(
        max_length=10, choices=RotationStatus.choices, default=RotationStatus.PENDING
    )
    command = models.ForeignKey(
        "stations.ChargePointCommand",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    requested_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["charge_point"],
                condition=models.Q(status="pending"),
                name="password_rotation_one_pending_per_charger",
            )
        ]
