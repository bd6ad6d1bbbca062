from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models

from cms.validators import validate_time_zone


class Role(models.TextChoices):
    """The portal roles; each is a Django group with the permissions of DESIGN.md."""

    OPERATIONS = "Operations", "Operations"
    SUPPORT = "Support", "Support"
    FINANCE = "Finance", "Finance"
    ADMINISTRATOR = "Administrator", "Administrator"


class User(AbstractUser):
    """A portal user (staff of a network) or a driver of the app."""

    is_driver = models.BooleanField(
        default=False,
        help_text="Driver accounts use the app API only, never the portal.",
    )
    # Network-wide lists (alerts, audit log, CDRs) are shown in this zone; empty
    # means the zone of the user's first network. A station's own pages always use
    # the station's zone.
    time_zone = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_default="",
        validators=[validate_time_zone],
        help_text="IANA time zone for network-wide lists; empty: your network's.",
    )
    # The portal's language for this user (a code of settings.LANGUAGES); empty:
    # the browser's Accept-Language.
    language = models.CharField(max_length=10, blank=True, default="", db_default="")

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"

    @property
    def role_names(self) -> list[str]:
        return sorted(group.name for group in self.groups.all())


class AuditLog(models.Model):
    """Who did what, when, to which object, with the state before and after."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_entries",
    )
    actor_label = models.CharField(
        max_length=150, blank=True, help_text="Username at the time, or 'system'."
    )
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=100, blank=True, db_index=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=255, blank=True)
    network = models.ForeignKey(
        "stations.Network",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_entries",
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    detail = models.TextField(blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]
        permissions = [("view_audit_log", "Can view the audit log")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_repr}"


class TotpDevice(models.Model):
    """A user's authenticator app (RFC 6238 TOTP), confirmed once a code matched."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_device"
    )
    # Base32 (RFC 4648), 160 bits as RFC 4226 §4 recommends; needed in clear to
    # compute codes, so it is never shown again after enrollment.
    secret = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # RFC 6238 §5.2: a code once accepted is not accepted again; codes of this
    # time step and earlier are refused.
    last_used_step = models.BigIntegerField(default=0)

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None


class RecoveryCode(models.Model):
    """A one-time code that stands in for the authenticator (stored hashed)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="recovery_codes",
    )
    code_sha256 = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "code_sha256"], name="recovery_code_unique_per_user"
            )
        ]
