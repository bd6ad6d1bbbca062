from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper

from stations.models import quirk_note_field


class TokenStatus(models.TextChoices):
    """OCPP 1.6 AuthorizationStatus values an operator can set on a token."""

    ACCEPTED = "Accepted", "Accepted"
    BLOCKED = "Blocked", "Blocked"
    EXPIRED = "Expired", "Expired"
    INVALID = "Invalid", "Invalid"


class IdToken(models.Model):
    """An RFID card or app token (OCPP idTag, CiString20)."""

    class Kind(models.TextChoices):
        RFID = "rfid", "RFID card"
        APP = "app", "App token"
        FLEET = "fleet", "Fleet card"
        GROUP = "group", "Group (parent)"

    token = models.CharField(max_length=20, unique=True)
    network = models.ForeignKey(
        "stations.Network",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="id_tokens",
    )
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.RFID)
    label = models.CharField(max_length=120, blank=True)
    status = models.CharField(
        max_length=10, choices=TokenStatus.choices, default=TokenStatus.ACCEPTED
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        help_text="Group token (OCPP parentIdTag).",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="id_tokens",
    )
    max_concurrent_sessions = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Empty = the network's limit (one by default); 0 = no limit; "
        "above it a start answers ConcurrentTx.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["token"]
        constraints = [
            # OCPP idTag is a CiString: "04a1" and "04A1" are the same card. The
            # expression index also serves the case-insensitive lookup on every
            # Authorize/StartTransaction.
            models.UniqueConstraint(Upper("token"), name="idtoken_unique_token_ci"),
        ]

    def __str__(self) -> str:
        return self.token


class SessionStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    COMPLETED = "completed", "Completed"
    REJECTED = "rejected", "Rejected at start"


class ChargingSession(models.Model):
    """One OCPP transaction; its primary key is the transactionId given to the charger."""

    charge_point = models.ForeignKey(
        "stations.ChargePoint", on_delete=models.PROTECT, related_name="sessions"
    )
    connector = models.ForeignKey(
        "stations.Connector",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sessions",
    )
    connector_number = models.PositiveSmallIntegerField()
    id_token = models.ForeignKey(
        IdToken,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sessions",
    )
    # 36: OCPP 2.0.1 IdTokenType.idToken (§2.28); 1.6 idTags are at most 20.
    id_tag = models.CharField(max_length=36, blank=True)
    # Empty while a 2.0.1 transaction has no id token yet (E02: plugged in first).
    auth_status = models.CharField(
        max_length=20, blank=True, default=TokenStatus.ACCEPTED
    )
    status = models.CharField(
        max_length=10,
        choices=SessionStatus.choices,
        default=SessionStatus.ACTIVE,
        db_index=True,
    )
    reservation_id = models.IntegerField(null=True, blank=True)
    meter_start_wh = models.BigIntegerField()
    meter_stop_wh = models.BigIntegerField(null=True, blank=True)
    meter_last_wh = models.BigIntegerField(
        null=True, blank=True, help_text="Latest energy register reading (Wh)."
    )
    started_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True, db_index=True)
    stop_reason = models.CharField(max_length=30, blank=True)
    stop_id_tag = models.CharField(max_length=36, blank=True)
    energy_wh = models.BigIntegerField(default=0)
    power_w = models.FloatField(
        null=True, blank=True, help_text="Latest active import power (W)."
    )
    soc_percent = models.FloatField(null=True, blank=True)
    last_meter_at = models.DateTimeField(null=True, blank=True)
    has_register_regression = models.BooleanField(default=False)
    # OCPP 2.0.1: the charger names its transactions itself (TransactionType
    # .transactionId, §2.50) and numbers their events (seqNo, E01.FR.07); the
    # numbers it skipped so far are kept, so a gap shows until a late
    # (offline-queued) event fills it.
    charger_transaction_id = models.CharField(max_length=36, blank=True)
    seq_no_last = models.IntegerField(null=True, blank=True)
    seq_no_missing = models.JSONField(default=list, blank=True)
    trigger_reason = models.CharField(max_length=40, blank=True)
    quirk = quirk_note_field(255)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            # A resent 2.0.1 TransactionEvent names the same transaction.
            models.UniqueConstraint(
                fields=["charge_point", "charger_transaction_id"],
                condition=~Q(charger_transaction_id=""),
                name="session_unique_charger_transaction",
            ),
            # A resent StartTransaction carries the same fields; this makes it idempotent.
            models.UniqueConstraint(
                fields=[
                    "charge_point",
                    "connector_number",
                    "id_tag",
                    "started_at",
                    "meter_start_wh",
                ],
                name="session_unique_start",
            ),
            models.CheckConstraint(
                condition=Q(meter_start_wh__gte=0),
                name="session_meter_start_nonnegative",
            ),
        ]
        indexes = [models.Index(fields=["charge_point", "status"])]

    def __str__(self) -> str:
        return f"Session {self.pk}"

    @property
    def transaction_id(self) -> int:
        return int(self.pk)

    @property
    def has_seq_gap(self) -> bool:
        """Events of this 2.0.1 transaction the charger numbered but never sent."""
        return bool(self.seq_no_missing)

    @property
    def duration_seconds(self) -> float | None:
        if self.stopped_at is None:
            return None
        return (self.stopped_at - self.started_at).total_seconds()


class MeterValue(models.Model):
    """One sampledValue, as reported and normalized (Wh for energy, W for power)."""

    charge_point = models.ForeignKey(
        "stations.ChargePoint", on_delete=models.CASCADE, related_name="meter_values"
    )
    session = models.ForeignKey(
        ChargingSession,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="meter_values",
    )
    connector_number = models.PositiveSmallIntegerField()
    timestamp = models.DateTimeField()
    measurand = models.CharField(max_length=60, default="Energy.Active.Import.Register")
    phase = models.CharField(max_length=8, blank=True)
    location = models.CharField(max_length=8, blank=True)
    unit = models.CharField(max_length=12, blank=True)
    context = models.CharField(max_length=30, blank=True)
    value_format = models.CharField(max_length=12, blank=True)
    # SignedData values (OCMF and the like) are far longer than a number.
    raw_value = models.TextField()
    value = models.FloatField(
        null=True,
        blank=True,
        help_text="Normalized: Wh for energy, W for power, as-is otherwise.",
    )
    received_at = models.DateTimeField()
    flag = models.CharField(
        max_length=120,
        blank=True,
        default="",
        db_default="",
        help_text="Why the value is kept but not used (e.g. a unit the protocol "
        "does not define); empty for a normal sample.",
    )
    quirk = quirk_note_field()

    class Meta:
        ordering = ["timestamp", "id"]
        indexes = [
            models.Index(fields=["session", "timestamp"]),
            models.Index(fields=["charge_point", "timestamp"]),
        ]
        constraints = [
            # One reading per quantity and instant of a connector: a charger
            # resending MeterValues (or repeating a reading in StopTransaction's
            # transactionData) is stored once (inserts skip the conflict).
            models.UniqueConstraint(
                fields=[
                    "charge_point",
                    "connector_number",
                    "timestamp",
                    "measurand",
                    "phase",
                    "location",
                    # A reading in another unit is another reading (a charger
                    # reporting kWh and an odd unit for one measurand).
                    "unit",
                ],
                name="meter_value_unique_reading",
            )
        ]


class UnmatchedStop(models.Model):
    """A StopTransaction for a transaction this CMS does not know, kept for reconciliation."""

    charge_point = models.ForeignKey(
        "stations.ChargePoint", on_delete=models.CASCADE, related_name="unmatched_stops"
    )
    transaction_id = models.BigIntegerField()
    # An OCPP 2.0.1 transaction is named by the charger (transaction_id is 0).
    charger_transaction_id = models.CharField(max_length=36, blank=True)
    id_tag = models.CharField(max_length=36, blank=True)
    meter_stop_wh = models.BigIntegerField()
    stopped_at = models.DateTimeField()
    reason = models.CharField(max_length=30, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolution_note = models.TextField(blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "charge_point",
                    "transaction_id",
                    "charger_transaction_id",
                    "stopped_at",
                ],
                name="unmatched_stop_unique",
            ),
        ]
        indexes = [models.Index(fields=["resolved_at", "-received_at"])]

    def __str__(self) -> str:
        return f"Unmatched stop {self.transaction_id} from {self.charge_point_id}"

    @property
    def is_resolved(self) -> bool:
        return self.resolved_at is not None
