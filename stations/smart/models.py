"""Smart charging: a site's power limit and how it is shared among its sessions.

The effective limit of a site is the minimum of ``Station.power_limit_kw``, the
schedule entry in force (local time of the station) and the unexpired external
signal. ``stations.smart.allocator`` divides it (pure); ``stations.smart.services``
stores each plan and sends it to chargers as OCPP 1.6 charging profiles.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

__all__ = [
    "AllocationEntry",
    "AllocationPlan",
    "ConnectorSmartSettings",
    "SiteLimitScheduleEntry",
    "SiteLimitSignal",
    "SiteSmartState",
    "SmartPriorityToken",
    "SmartProfileState",
    "SmartProfileStatus",
]

_STATION = "stations.Station"
_CONNECTOR = "stations.Connector"
_ALL_WEEKDAYS = 0b1111111


class SiteLimitScheduleEntry(models.Model):
    """A lower site limit on chosen weekdays between two local times."""

    station = models.ForeignKey(
        _STATION, on_delete=models.CASCADE, related_name="limit_schedule"
    )
    # Bit 0 = Monday ... bit 6 = Sunday (``datetime.weekday()``).
    weekdays = models.PositiveSmallIntegerField(
        default=_ALL_WEEKDAYS,
        validators=[MinValueValidator(1), MaxValueValidator(_ALL_WEEKDAYS)],
    )
    start_time = models.TimeField(help_text="Local time of the station.")
    end_time = models.TimeField(
        help_text="Local time; earlier than the start = runs past midnight."
    )
    limit_kw = models.DecimalField(
        max_digits=9,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["station", "start_time", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(weekdays__gte=1, weekdays__lte=_ALL_WEEKDAYS),
                name="smart_schedule_weekdays_range",
            ),
            models.CheckConstraint(
                condition=Q(limit_kw__gte=0), name="smart_schedule_limit_not_negative"
            ),
            models.CheckConstraint(
                condition=~Q(start_time=models.F("end_time")),
                name="smart_schedule_not_empty",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.start_time:%H:%M}–{self.end_time:%H:%M} {self.limit_kw} kW"


class SiteLimitSignal(models.Model):
    """An external "site limit is now X kW until T" (grid operator, energy manager)."""

    class Source(models.TextChoices):
        API = "api", "API"
        PORTAL = "portal", "Portal"
        ADMIN = "admin", "Admin"

    station = models.ForeignKey(
        _STATION, on_delete=models.CASCADE, related_name="limit_signals"
    )
    limit_kw = models.DecimalField(
        max_digits=9,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("0"))],
    )
    valid_from = models.DateTimeField()
    valid_until = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    reference = models.CharField(
        max_length=100, blank=True, help_text="The sender's id for this signal."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField()
    cancelled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(limit_kw__gte=0), name="smart_signal_limit_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__gt=models.F("valid_from")),
                name="smart_signal_until_after_from",
            ),
            # A resent signal (same sender reference) is stored once.
            models.UniqueConstraint(
                fields=["station", "reference"],
                condition=~Q(reference=""),
                name="smart_signal_unique_reference",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.limit_kw} kW until {self.valid_until:%Y-%m-%d %H:%M}"


class ConnectorSmartSettings(models.Model):
    """Per-connector limits for the allocator; absent = derived defaults."""

    class Phases(models.IntegerChoices):
        ONE = 1, "1 phase"
        THREE = 3, "3 phases"

    connector = models.OneToOneField(
        _CONNECTOR, on_delete=models.CASCADE, related_name="smart_settings"
    )
    phases = models.PositiveSmallIntegerField(
        choices=Phases.choices, default=Phases.THREE
    )
    min_current_a = models.DecimalField(
        max_digits=6,
        decimal_places=1,
        default=Decimal("6"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text="AC: below this a session is paused, not starved (IEC 61851: 6 A).",
    )
    max_current_a = models.DecimalField(
        max_digits=6,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.1"))],
        help_text="AC: the charger's current limit per phase (empty = from max power).",
    )
    min_power_kw = models.DecimalField(
        max_digits=7,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="DC: below this a session is paused (empty = 0).",
    )
    priority = models.SmallIntegerField(default=0, help_text="Higher is served first.")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"smart settings of connector {self.connector_id}"


class SmartPriorityToken(models.Model):
    """A token (or the parent token of a fleet) whose sessions are served first."""

    network = models.ForeignKey(
        "stations.Network", on_delete=models.CASCADE, related_name="priority_tokens"
    )
    id_tag = models.CharField(max_length=20)
    priority = models.SmallIntegerField(default=1)
    note = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-priority", "id_tag"]
        constraints = [
            models.UniqueConstraint(
                fields=["network", "id_tag"], name="smart_priority_token_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.id_tag} (priority {self.priority})"


class SiteSmartState(models.Model):
    """Whether a site is load-managed, and its planning bookkeeping."""

    station = models.OneToOneField(
        _STATION, on_delete=models.CASCADE, related_name="smart_state"
    )
    is_enabled = models.BooleanField(default=True)
    hysteresis_w = models.PositiveIntegerField(
        default=500, help_text="Changes smaller than this are not sent to chargers."
    )
    last_plan_at = models.DateTimeField(null=True, blank=True)
    last_limit_w = models.BigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"smart state of station {self.station_id}"


class AllocationPlan(models.Model):
    """One run of the allocator for a site: the limit and why it ran."""

    station = models.ForeignKey(
        _STATION, on_delete=models.CASCADE, related_name="allocation_plans"
    )
    created_at = models.DateTimeField(db_index=True)
    trigger = models.CharField(max_length=40)
    limit_w = models.BigIntegerField(null=True, blank=True)
    limit_source = models.CharField(max_length=20, blank=True)
    allocated_w = models.BigIntegerField(default=0)
    measured_w = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["station", "-created_at"])]


class AllocationEntry(models.Model):
    """One connector's share in a plan and the power it was measured drawing."""

    plan = models.ForeignKey(
        AllocationPlan, on_delete=models.CASCADE, related_name="entries"
    )
    connector = models.ForeignKey(
        _CONNECTOR, on_delete=models.CASCADE, related_name="allocations"
    )
    session = models.ForeignKey(
        "charging.ChargingSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="allocations",
    )
    allocated_w = models.BigIntegerField()
    measured_w = models.BigIntegerField(null=True, blank=True)
    is_paused = models.BooleanField(default=False)
    is_offline = models.BooleanField(default=False)
    note = models.CharField(max_length=60, blank=True)

    class Meta:
        ordering = ["plan", "connector"]
        constraints = [
            models.UniqueConstraint(
                fields=["plan", "connector"], name="smart_allocation_unique_connector"
            )
        ]


class SmartProfileStatus(models.TextChoices):
    PENDING = "pending", "Sent, waiting"
    ACTIVE = "active", "Accepted"
    REJECTED = "rejected", "Refused — retrying"
    FAILED = "failed", "Not delivered — retrying"


class SmartProfileState(models.Model):
    """What the allocator last sent to one connector, per profile purpose.

    One row per (connector, purpose): the TxProfile of the running session and the
    TxDefaultProfile that keeps a charger within its share when it loses the CMS.
    """

    class Purpose(models.TextChoices):
        TX = "TxProfile", "Session (TxProfile)"
        TX_DEFAULT = "TxDefaultProfile", "Fallback (TxDefaultProfile)"

    connector = models.ForeignKey(
        _CONNECTOR, on_delete=models.CASCADE, related_name="smart_profiles"
    )
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    transaction_id = models.IntegerField(null=True, blank=True)
    limit_w = models.BigIntegerField()
    previous_limit_w = models.BigIntegerField(null=True, blank=True)
    rate_unit = models.CharField(max_length=1)
    limit_value = models.DecimalField(max_digits=10, decimal_places=1)
    number_phases = models.PositiveSmallIntegerField(null=True, blank=True)
    profile = models.ForeignKey(
        "stations.ChargingProfile",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    status = models.CharField(
        max_length=10,
        choices=SmartProfileStatus.choices,
        default=SmartProfileStatus.PENDING,
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["connector", "purpose"]
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "purpose"], name="smart_profile_unique_slot"
            )
        ]

    def __str__(self) -> str:
        return f"{self.purpose} of connector {self.connector_id}: {self.limit_w} W"
