"""Tariffs, their revisions and assignments; rated sessions, CDRs, credit notes.

Money is ``Decimal`` stored with four decimal places (enough for three-decimal
currencies); amounts are rounded to the currency's minor unit by ``billing.rating``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TypedDict

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from stations.models import ConnectorType, currency_validator


class DecimalShape(TypedDict):
    """Precision of a money column, spread into ``DecimalField(**MONEY)``.

    A TypedDict rather than a plain dict so the type checker knows which
    keyword each key fills.
    """

    max_digits: int
    decimal_places: int


MONEY: DecimalShape = {"max_digits": 14, "decimal_places": 4}
PRICE: DecimalShape = {"max_digits": 12, "decimal_places": 4}


class Weekday(models.TextChoices):
    """OCPI 2.2.1 DayOfWeek."""

    MONDAY = "MONDAY", "Monday"
    TUESDAY = "TUESDAY", "Tuesday"
    WEDNESDAY = "WEDNESDAY", "Wednesday"
    THURSDAY = "THURSDAY", "Thursday"
    FRIDAY = "FRIDAY", "Friday"
    SATURDAY = "SATURDAY", "Saturday"
    SUNDAY = "SUNDAY", "Sunday"


class Tariff(models.Model):
    """A price list of a network, in the shape of an OCPI 2.2.1 tariff.

    Every save creates a new ``TariffRevision``; sessions are rated with the
    revision in force when they started, so edits never reprice past sessions.
    """

    network = models.ForeignKey(
        "stations.Network", on_delete=models.PROTECT, related_name="tariffs"
    )
    name = models.CharField(max_length=120)
    currency = models.CharField(max_length=3, validators=[currency_validator])
    vat_percent = models.DecimalField(
        "VAT/GST rate (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    min_price = models.DecimalField(
        "minimum session price (excl. tax)",
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        **PRICE,
    )
    max_price = models.DecimalField(
        "maximum session price (excl. tax)",
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        **PRICE,
    )
    idle_grace_minutes = models.PositiveIntegerField(
        default=0, help_text="Idle minutes after charging completes that are free."
    )
    idle_fee_cap = models.DecimalField(
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        help_text="Most a session pays in idle fees (excl. tax); empty = no cap.",
        **PRICE,
    )
    is_active = models.BooleanField(default=True)
    revision = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["network__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["network", "name"], name="tariff_unique_name_per_network"
            ),
            models.CheckConstraint(
                condition=Q(min_price__isnull=True)
                | Q(max_price__isnull=True)
                | Q(min_price__lte=models.F("max_price")),
                name="tariff_min_price_not_above_max",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TariffElement(models.Model):
    """One OCPI TariffElement: price components sharing one set of restrictions.

    An empty price means the element has no component of that dimension.
    """

    tariff = models.ForeignKey(
        Tariff, on_delete=models.CASCADE, related_name="elements"
    )
    position = models.PositiveSmallIntegerField(default=0)
    # Price components (excl. tax).
    energy_price_per_kwh = models.DecimalField(
        null=True, blank=True, validators=[MinValueValidator(Decimal("0"))], **PRICE
    )
    energy_step_wh = models.PositiveIntegerField(
        default=1, validators=[MinValueValidator(1)]
    )
    time_price_per_hour = models.DecimalField(
        "charging time price per hour",
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        **PRICE,
    )
    time_step_s = models.PositiveIntegerField(
        "charging time step (s)", default=1, validators=[MinValueValidator(1)]
    )
    idle_price_per_minute = models.DecimalField(
        "idle (parking) price per minute",
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        **PRICE,
    )
    idle_step_s = models.PositiveIntegerField(
        "idle time step (s)", default=60, validators=[MinValueValidator(1)]
    )
    flat_price = models.DecimalField(
        "flat fee per session",
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0"))],
        **PRICE,
    )
    # Restrictions (OCPI TariffRestrictions); times of day are the station's.
    start_time = models.TimeField(null=True, blank=True)
    end_time = models.TimeField(null=True, blank=True)
    days_of_week = models.JSONField(default=list, blank=True)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True, help_text="Exclusive.")
    min_kwh = models.DecimalField(
        max_digits=10, decimal_places=3, null=True, blank=True
    )
    max_kwh = models.DecimalField(
        max_digits=10, decimal_places=3, null=True, blank=True
    )
    min_duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    max_duration_minutes = models.PositiveIntegerField(null=True, blank=True)
    min_power_kw = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True
    )
    max_power_kw = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True
    )

    class Meta:
        ordering = ["tariff", "position", "id"]

    def __str__(self) -> str:
        return f"{self.tariff} element {self.position}"


class TariffRevision(models.Model):
    """An immutable, versioned JSON snapshot of a tariff as saved."""

    tariff = models.ForeignKey(
        Tariff, on_delete=models.CASCADE, related_name="revisions"
    )
    revision = models.PositiveIntegerField()
    snapshot = models.JSONField()
    valid_from = models.DateTimeField(db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["tariff", "-revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["tariff", "revision"], name="tariff_revision_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tariff} r{self.revision}"


class TariffAssignment(models.Model):
    """Where a tariff applies: the most specific matching assignment wins.

    Specificity: token group > connector type/power class > station > network default.
    """

    tariff = models.ForeignKey(
        Tariff, on_delete=models.CASCADE, related_name="assignments"
    )
    network = models.ForeignKey(
        "stations.Network", on_delete=models.CASCADE, related_name="+"
    )
    station = models.ForeignKey(
        "stations.Station",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tariff_assignments",
    )
    connector_type = models.CharField(
        max_length=10, choices=ConnectorType.choices, blank=True
    )
    min_power_kw = models.DecimalField(
        "power class from (kW)", max_digits=8, decimal_places=2, null=True, blank=True
    )
    max_power_kw = models.DecimalField(
        "power class up to (kW)", max_digits=8, decimal_places=2, null=True, blank=True
    )
    token_group = models.ForeignKey(
        "charging.IdToken",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tariff_assignments",
        help_text="A group (parent) token, e.g. a fleet contract.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["network", "-id"]

    def __str__(self) -> str:
        parts = [self.station.name if self.station is not None else "network default"]
        if self.connector_type:
            parts.append(self.connector_type)
        if self.min_power_kw is not None or self.max_power_kw is not None:
            parts.append(f"{self.min_power_kw or 0}–{self.max_power_kw or '∞'} kW")
        if self.token_group_id:
            parts.append(f"group {self.token_group}")
        return " · ".join(parts)

    @property
    def specificity(self) -> int:
        score = 0
        if self.station_id:
            score += 1
        if (
            self.connector_type
            or self.min_power_kw is not None
            or self.max_power_kw is not None
        ):
            score += 2
        if self.token_group_id:
            score += 4
        return score


class RatingStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    AWAITING_IDLE_END = "awaiting_idle_end", "Waiting for the car to unplug"
    RATED = "rated", "Rated"
    FAILED = "failed", "Rating failed"


class SessionTariff(models.Model):
    """The tariff snapshot a session is rated with, and where its rating stands."""

    session = models.OneToOneField(
        "charging.ChargingSession",
        on_delete=models.CASCADE,
        related_name="billing",
    )
    tariff = models.ForeignKey(
        Tariff, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    revision = models.PositiveIntegerField(null=True, blank=True)
    snapshot = models.JSONField(null=True, blank=True)
    status = models.CharField(
        max_length=20,
        choices=RatingStatus.choices,
        default=RatingStatus.PENDING,
        db_index=True,
    )
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Billing of session {self.session_id}"


class NumberSequence(models.Model):
    """Gap-free document numbers per network, advanced inside the issuing transaction."""

    class Kind(models.TextChoices):
        RECEIPT = "R", "Receipt"
        CREDIT_NOTE = "C", "Credit note"

    network = models.ForeignKey(
        "stations.Network", on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=1, choices=Kind.choices)
    last_value = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["network", "kind"], name="number_sequence_unique"
            )
        ]


class Cdr(models.Model):
    """A priced charge detail record (the receipt); never changed once issued.

    Corrections are ``CreditNote`` rows. Only the receipt delivery columns
    (``receipt_emailed_*``) are written after issue.
    """

    session = models.OneToOneField(
        "charging.ChargingSession", on_delete=models.PROTECT, related_name="cdr"
    )
    network = models.ForeignKey(
        "stations.Network", on_delete=models.PROTECT, related_name="cdrs"
    )
    station = models.ForeignKey(
        "stations.Station",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cdrs",
    )
    number = models.CharField(max_length=32, unique=True)
    sequence = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    id_tag = models.CharField(max_length=20, blank=True)
    started_at = models.DateTimeField()
    stopped_at = models.DateTimeField(db_index=True)
    charging_completed_at = models.DateTimeField()
    idle_ended_at = models.DateTimeField(null=True, blank=True)
    energy_wh = models.BigIntegerField()
    charging_seconds = models.PositiveIntegerField()
    idle_seconds = models.PositiveIntegerField()
    billed_idle_seconds = models.PositiveIntegerField()
    vat_percent = models.DecimalField(max_digits=5, decimal_places=2)
    net_amount = models.DecimalField(**MONEY)
    tax_amount = models.DecimalField(**MONEY)
    total_amount = models.DecimalField(**MONEY)
    line_items = models.JSONField()
    tariff_snapshot = models.JSONField()
    issued_at = models.DateTimeField(db_index=True)
    receipt_emailed_to = models.EmailField(blank=True)
    receipt_emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-issued_at", "-id"]
        permissions = [("export_cdr", "Can export CDRs and revenue reports")]
        constraints = [
            models.UniqueConstraint(
                fields=["network", "sequence"], name="cdr_unique_sequence_per_network"
            ),
            models.CheckConstraint(
                condition=Q(total_amount__gte=0), name="cdr_total_nonnegative"
            ),
        ]
        indexes = [models.Index(fields=["network", "stopped_at"])]

    def __str__(self) -> str:
        return self.number


class CreditNote(models.Model):
    """A correction refunding (part of) an issued CDR."""

    cdr = models.ForeignKey(Cdr, on_delete=models.PROTECT, related_name="credit_notes")
    network = models.ForeignKey(
        "stations.Network", on_delete=models.PROTECT, related_name="credit_notes"
    )
    number = models.CharField(max_length=32, unique=True)
    sequence = models.PositiveBigIntegerField()
    net_amount = models.DecimalField(**MONEY)
    tax_amount = models.DecimalField(**MONEY)
    total_amount = models.DecimalField(**MONEY)
    reason = models.CharField(max_length=255)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["network", "sequence"],
                name="credit_note_unique_sequence_per_network",
            ),
            models.CheckConstraint(
                condition=Q(total_amount__gt=0), name="credit_note_total_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.number


class Payment(models.Model):
    """How a CDR is settled, through a ``billing.payments`` provider."""

    class Status(models.TextChoices):
        INVOICED = "invoiced", "Invoiced (payment due)"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"

    cdr = models.OneToOneField(Cdr, on_delete=models.PROTECT, related_name="payment")
    provider = models.CharField(max_length=40)
    status = models.CharField(max_length=10, choices=Status.choices)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    reference = models.CharField(max_length=120, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.provider} {self.reference}"
