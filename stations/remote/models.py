"""State that CMS-initiated OCPP 1.6 commands create or track.

Each row links to the ``ChargePointCommand`` audit row that carried it, so the
outcome the charger gave is always one click away. Results are applied by
``stations.remote.services.command_result_apply`` (idempotent, once per command).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models

__all__ = [
    "ChargingProfile",
    "CommandBatch",
    "CommandResultApplication",
    "ConfigurationFetch",
    "ConfigurationKey",
    "DiagnosticsRequest",
    "FirmwareUpdate",
    "LocalAuthList",
    "LocalAuthListEntry",
    "RemoteStartRequest",
    "Reservation",
]

_COMMAND = "stations.ChargePointCommand"


class CommandResultApplication(models.Model):
    """Marks a finished command whose result was applied to the domain rows."""

    command = models.OneToOneField(
        _COMMAND,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="result_application",
    )
    applied_at = models.DateTimeField()


class ConfigurationFetch(models.Model):
    """When the configuration of a charger was last asked for (GetConfiguration)."""

    charge_point = models.OneToOneField(
        "stations.ChargePoint",
        on_delete=models.CASCADE,
        related_name="configuration_fetch",
    )
    requested_at = models.DateTimeField()
    command = models.ForeignKey(
        _COMMAND, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    fetched_at = models.DateTimeField(null=True, blank=True)


class ConfigurationKey(models.Model):
    """One configuration key as the charger last reported it (OCPP 1.6 §9.1)."""

    charge_point = models.ForeignKey(
        "stations.ChargePoint",
        on_delete=models.CASCADE,
        related_name="configuration_keys",
    )
    # 1.6 keys are at most 50 characters; 2.0.1 device model keys
    # (Component[instance]@evse.Variable[instance]) can be longer.
    key = models.CharField(max_length=120)
    value = models.TextField(null=True, blank=True)  # absent in the answer = unknown
    is_readonly = models.BooleanField(default=False)
    fetched_at = models.DateTimeField()
    changed_at = models.DateTimeField(null=True, blank=True)
    last_change_status = models.CharField(
        max_length=20, blank=True, help_text="The charger's answer to the last change."
    )

    class Meta:
        ordering = ["key"]
        constraints = [
            models.UniqueConstraint(
                fields=["charge_point", "key"], name="configuration_key_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


class ReservationStatus(models.TextChoices):
    PENDING = "pending", "Waiting for the charger"
    ACTIVE = "active", "Active"
    REJECTED = "rejected", "Refused by the charger"
    FAILED = "failed", "Not delivered"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"
    USED = "used", "Used by a session"


class Reservation(models.Model):
    """A ReserveNow request; its primary key is the OCPP reservationId."""

    charge_point = models.ForeignKey(
        "stations.ChargePoint", on_delete=models.CASCADE, related_name="reservations"
    )
    connector_number = models.PositiveSmallIntegerField(
        help_text="0 reserves any connector (if the charger supports it)."
    )
    id_tag = models.CharField(max_length=20)
    parent_id_tag = models.CharField(max_length=20, blank=True)
    expires_at = models.DateTimeField(db_index=True)
    status = models.CharField(
        max_length=10,
        choices=ReservationStatus.choices,
        default=ReservationStatus.PENDING,
        db_index=True,
    )
    charger_status = models.CharField(max_length=20, blank=True)
    command = models.ForeignKey(
        _COMMAND, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    cancel_command = models.ForeignKey(
        _COMMAND, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    session = models.ForeignKey(
        "charging.ChargingSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["charge_point", "status"])]

    def __str__(self) -> str:
        return f"Reservation {self.pk} ({self.status})"

    @property
    def reservation_id(self) -> int:
        return int(self.pk)

    @property
    def is_open(self) -> bool:
        return self.status in (ReservationStatus.PENDING, ReservationStatus.ACTIVE)


class LocalAuthList(models.Model):
    """The local authorization list a charger holds (OCPP 1.6 §3.5, §5.15)."""

    charge_point = models.OneToOneField(
        "stations.ChargePoint", on_delete=models.CASCADE, related_name="local_list"
    )
    version = models.IntegerField(
        default=0, help_text="Version of the last list the charger accepted."
    )
    charger_version = models.IntegerField(
        null=True, blank=True, help_text="Version the charger last reported."
    )
    charger_version_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(null=True, blank=True)
    last_update_type = models.CharField(max_length=12, blank=True)
    last_status = models.CharField(max_length=20, blank=True)

    def __str__(self) -> str:
        return f"Local list of {self.charge_point_id} v{self.version}"

    @property
    def is_in_sync(self) -> bool:
        return self.charger_version is None or self.charger_version == self.version


class LocalAuthListEntry(models.Model):
    """A token on a charger's local list, as last accepted by the charger."""

    local_list = models.ForeignKey(
        LocalAuthList, on_delete=models.CASCADE, related_name="entries"
    )
    id_tag = models.CharField(max_length=20)
    status = models.CharField(max_length=20)
    expires_at = models.DateTimeField(null=True, blank=True)
    parent_id_tag = models.CharField(max_length=20, blank=True)

    class Meta:
        ordering = ["id_tag"]
        constraints = [
            models.UniqueConstraint(
                fields=["local_list", "id_tag"], name="local_list_entry_unique"
            )
        ]


class FirmwareUpdate(models.Model):
    """An UpdateFirmware request and the progress the charger reported for it."""

    # 1.6 §7.25 final states, and those of signed updates (1.6 security
    # whitepaper / 2.0.1 FirmwareStatusEnumType).
    TERMINAL = frozenset(
        {
            "Installed",
            "InstallationFailed",
            "DownloadFailed",
            "InvalidSignature",
            "InstallVerificationFailed",
        }
    )

    charge_point = models.ForeignKey(
        "stations.ChargePoint",
        on_delete=models.CASCADE,
        related_name="firmware_updates",
    )
    location = models.URLField(max_length=512)
    retrieve_at = models.DateTimeField()
    retries = models.PositiveSmallIntegerField(null=True, blank=True)
    retry_interval_s = models.PositiveIntegerField(null=True, blank=True)
    # A signed image: sent as 1.6 SignedUpdateFirmware / in 2.0.1's FirmwareType.
    signing_certificate = models.TextField(blank=True, default="")
    signature = models.TextField(blank=True, default="")
    command = models.ForeignKey(
        _COMMAND, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    requested_at = models.DateTimeField(db_index=True)
    status = models.CharField(max_length=30, default="Requested")
    status_at = models.DateTimeField(null=True, blank=True)
    history = models.JSONField(default=list, blank=True)
    is_finished = models.BooleanField(default=False)

    class Meta:
        ordering = ["-requested_at", "-id"]


class DiagnosticsRequest(models.Model):
    """A GetDiagnostics request and the upload progress the charger reported."""

    # 1.6 §7.24 and 2.0.1 UploadLogStatusEnumType (N01).
    TERMINAL = frozenset(
        {
            "Uploaded",
            "UploadFailed",
            "UploadFailure",
            "BadMessage",
            "NotSupportedOperation",
            "PermissionDenied",
        }
    )

    charge_point = models.ForeignKey(
        "stations.ChargePoint",
        on_delete=models.CASCADE,
        related_name="diagnostics_requests",
    )
    location = models.CharField(max_length=512)
    start_time = models.DateTimeField(null=True, blank=True)
    stop_time = models.DateTimeField(null=True, blank=True)
    retries = models.PositiveSmallIntegerField(null=True, blank=True)
    retry_interval_s = models.PositiveIntegerField(null=True, blank=True)
    command = models.ForeignKey(
        _COMMAND, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    requested_at = models.DateTimeField(db_index=True)
    file_name = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=30, default="Requested")
    status_at = models.DateTimeField(null=True, blank=True)
    history = models.JSONField(default=list, blank=True)
    is_finished = models.BooleanField(default=False)

    class Meta:
        ordering = ["-requested_at", "-id"]


class ProfilePurpose(models.TextChoices):
    CHARGE_POINT_MAX = "ChargePointMaxProfile", "Charger maximum"
    TX_DEFAULT = "TxDefaultProfile", "Default for transactions"
    TX = "TxProfile", "Running transaction"


class ProfileKind(models.TextChoices):
    ABSOLUTE = "Absolute", "Absolute (from a start time)"
    RECURRING = "Recurring", "Recurring (daily/weekly)"
    RELATIVE = "Relative", "Relative (from the session start)"


class ProfileStatus(models.TextChoices):
    DRAFT = "draft", "Not sent"
    PENDING = "pending", "Sent, waiting"
    ACTIVE = "active", "Active on the charger"
    REJECTED = "rejected", "Refused by the charger"
    FAILED = "failed", "Not delivered"
    CLEARED = "cleared", "Cleared"


class ChargingProfile(models.Model):
    """A smart-charging profile for one charger/connector; pk is chargingProfileId."""

    charge_point = models.ForeignKey(
        "stations.ChargePoint",
        on_delete=models.CASCADE,
        related_name="charging_profiles",
    )
    connector_number = models.PositiveSmallIntegerField(
        default=0, help_text="0 = the whole charger (TxDefault for every connector)."
    )
    name = models.CharField(max_length=80, blank=True)
    purpose = models.CharField(max_length=25, choices=ProfilePurpose.choices)
    stack_level = models.PositiveSmallIntegerField(default=0)
    kind = models.CharField(max_length=10, choices=ProfileKind.choices)
    recurrency_kind = models.CharField(
        max_length=6,
        blank=True,
        choices=[("Daily", "Daily"), ("Weekly", "Weekly")],
    )
    transaction_id = models.IntegerField(null=True, blank=True)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_to = models.DateTimeField(null=True, blank=True)
    start_schedule = models.DateTimeField(null=True, blank=True)
    duration_s = models.PositiveIntegerField(null=True, blank=True)
    rate_unit = models.CharField(
        max_length=1, choices=[("A", "Amperes (A)"), ("W", "Watts (W)")]
    )
    min_charging_rate = models.DecimalField(
        max_digits=9,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
    )
    periods = models.JSONField(
        default=list,
        help_text='[{"start_s": seconds, "limit": in rate_unit, "phases": n}]',
    )
    status = models.CharField(
        max_length=10, choices=ProfileStatus.choices, default=ProfileStatus.DRAFT
    )
    set_command = models.ForeignKey(
        _COMMAND, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    clear_command = models.ForeignKey(
        _COMMAND, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
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
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name or f"Profile {self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status == ProfileStatus.ACTIVE


class RemoteStartStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    STARTED = "started", "Started"
    FAILED = "failed", "Failed"


class RemoteStartRequest(models.Model):
    """The handle of a RemoteStartTransaction: pending -> started / failed."""

    class FailureReason(models.TextChoices):
        REJECTED = "rejected", "Rejected by the charger"
        OFFLINE = "offline", "Charger offline"
        TIMEOUT = "timeout", "No answer from the charger"
        ERROR = "error", "Charger error"
        NO_START = "no_start", "No StartTransaction in time"

    charge_point = models.ForeignKey(
        "stations.ChargePoint",
        on_delete=models.CASCADE,
        related_name="remote_starts",
    )
    connector_number = models.PositiveSmallIntegerField(null=True, blank=True)
    id_tag = models.CharField(max_length=20)
    command = models.OneToOneField(
        _COMMAND, on_delete=models.CASCADE, related_name="remote_start"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    requested_at = models.DateTimeField()
    status = models.CharField(
        max_length=10,
        choices=RemoteStartStatus.choices,
        default=RemoteStartStatus.PENDING,
        db_index=True,
    )
    failure_reason = models.CharField(
        max_length=10, blank=True, choices=FailureReason.choices
    )
    detail = models.CharField(max_length=255, blank=True)
    session = models.ForeignKey(
        "charging.ChargingSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]

    @property
    def transaction_id(self) -> int | None:
        return self.session_id


class CommandBatch(models.Model):
    """One action sent to many chargers; its commands share ``batch`` = ``uuid``."""

    uuid = models.UUIDField(unique=True)
    action = models.CharField(max_length=40)
    payload = models.JSONField(default=dict, blank=True)
    description = models.CharField(max_length=255, blank=True)
    total = models.PositiveIntegerField(default=0)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    requested_at = models.DateTimeField()

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"{self.action} × {self.total}"


class CustomerInformationReport(models.Model):
    """What a 2.0.1 station reported of a customer (N09/N10), all its parts.

    CustomerInformation asks for it; the station sends NotifyCustomerInformation
    in parts (``seqNo`` from 0, ``tbc`` true until the last), kept as they come.
    """

    charge_point = models.ForeignKey(
        "stations.ChargePoint",
        on_delete=models.CASCADE,
        related_name="customer_information_reports",
    )
    request_id = models.IntegerField()
    command = models.ForeignKey(
        _COMMAND, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # [{"seq_no": 0, "data": "...", "generated_at": "..."}], in seqNo order.
    parts = models.JSONField(default=list)
    is_complete = models.BooleanField(default=False)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["charge_point", "request_id"],
                name="customer_information_unique_request",
            )
        ]

    @property
    def text(self) -> str:
        """The report as the station wrote it, its parts joined in order."""
        return "".join(str(part.get("data", "")) for part in self.parts)
