"""Fleet operations: firmware campaigns and the tags that pick their targets.

A campaign rolls one firmware image out to a set of chargers in batches (a
canary batch first), each charger tracked through the protocol's firmware
states (``stations.remote.FirmwareUpdate``) until its next BootNotification
reports the campaign's version. ``stations.fleet.services`` drives it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinValueValidator,
)
from django.db import models

from cms.validators import validate_time_zone

if TYPE_CHECKING:
    from stations.models import ChargePoint

__all__ = [
    "CampaignStatus",
    "CampaignTarget",
    "ChargerTag",
    "ConfigurationDrift",
    "DesiredConfiguration",
    "DriftState",
    "FirmwareCampaign",
    "QuirkKind",
    "QuirkTally",
    "RollbackState",
    "TargetState",
    "VendorProfile",
]

_CHARGE_POINT = "stations.ChargePoint"


class ChargerTag(models.Model):
    """A label operations put on chargers of one network (e.g. "pilot", "depot")."""

    network = models.ForeignKey(
        "stations.Network", on_delete=models.CASCADE, related_name="charger_tags"
    )
    name = models.CharField(max_length=40)
    charge_points: models.ManyToManyField[ChargePoint, Any] = models.ManyToManyField(
        _CHARGE_POINT, related_name="fleet_tags", blank=True
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["network", "name"], name="charger_tag_unique"
            )
        ]

    def __str__(self) -> str:
        return self.name


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Not started"
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    HALTED = "halted", "Halted (too many failures)"
    ABORTED = "aborted", "Aborted"
    COMPLETED = "completed", "Completed"


class FirmwareCampaign(models.Model):
    """One firmware image, the chargers it goes to and the plan of the rollout."""

    network = models.ForeignKey(
        "stations.Network", on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(max_length=120)
    # The image.
    location = models.URLField(max_length=512, help_text="Where chargers fetch it.")
    version = models.CharField(
        max_length=50, help_text="The version chargers must report after the update."
    )
    checksum = models.CharField(
        max_length=128,
        blank=True,
        help_text="The vendor's checksum of the image, kept with the campaign.",
    )
    # A signed image (1.6 security whitepaper FirmwareType, 2.0.1 §2.24
    # FirmwareType: at most 5500 and 800 characters).
    signing_certificate = models.TextField(
        blank=True,
        validators=[MaxLengthValidator(5500)],
        help_text="PEM certificate that signed the image (both or neither).",
    )
    signature = models.TextField(
        blank=True,
        validators=[MaxLengthValidator(800)],
        help_text="Base64 signature of the image.",
    )
    # Target set (empty = any); resolved into CampaignTarget rows on creation.
    station = models.ForeignKey(
        "stations.Station",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    vendor = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=50, blank=True)
    from_version = models.CharField(
        max_length=50, blank=True, help_text="Only chargers now on this version."
    )
    tag = models.ForeignKey(
        ChargerTag, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Plan.
    canary_percent = models.PositiveSmallIntegerField(
        default=10, validators=[MaxValueValidator(100)]
    )
    batch_size = models.PositiveIntegerField(
        default=10, validators=[MinValueValidator(1)]
    )
    pause_s = models.PositiveIntegerField(
        default=600, help_text="Seconds between a finished batch and the next."
    )
    allowed_from_hour = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(23)]
    )
    allowed_to_hour = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(24)],
        help_text="Local hours of each station; to < from runs past midnight.",
    )
    only_when_idle = models.BooleanField(default=True)
    max_attempts = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(10)]
    )
    target_timeout_s = models.PositiveIntegerField(
        default=3600,
        validators=[MinValueValidator(10)],
        help_text="An attempt without a final state by then has failed.",
    )
    halt_failure_percent = models.PositiveSmallIntegerField(
        default=20,
        validators=[MaxValueValidator(100)],
        help_text="Halt when a batch's failure share exceeds this.",
    )
    # Rollback: the image a charger is sent back to.
    rollback_location = models.URLField(
        max_length=512, blank=True, help_text="The image to roll back to."
    )
    rollback_version = models.CharField(
        max_length=50,
        blank=True,
        help_text="The version chargers report after the rollback (empty: any).",
    )
    rollback_on_failure = models.BooleanField(
        default=False, help_text="A charger that failed gets the rollback image."
    )
    rollback_on_halt = models.BooleanField(
        default=False,
        help_text="On a halt, every charger already updated or failed gets it.",
    )
    # Progress.
    status = models.CharField(
        max_length=10,
        choices=CampaignStatus.choices,
        default=CampaignStatus.DRAFT,
        db_index=True,
    )
    current_batch = models.PositiveIntegerField(default=0)
    batch_finished_at = models.DateTimeField(null=True, blank=True)
    halt_reason = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField()
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Who started it; the update commands are sent in their name.",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.version})"

    @property
    def is_open(self) -> bool:
        return self.status in (
            CampaignStatus.DRAFT,
            CampaignStatus.RUNNING,
            CampaignStatus.PAUSED,
        )


class TargetState(models.TextChoices):
    PENDING = "pending", "Waiting for its batch"
    WAITING = "waiting", "Due, waiting (busy, offline or outside hours)"
    SENT = "sent", "Update sent"
    DOWNLOADING = "downloading", "Downloading"
    DOWNLOADED = "downloaded", "Downloaded"
    VERIFYING = "verifying", "Verifying signature"
    INSTALLING = "installing", "Installing"
    INSTALLED = "installed", "Installed, waiting for boot"
    CONFIRMED = "confirmed", "Confirmed by BootNotification"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped (aborted)"


class RollbackState(models.TextChoices):
    NONE = "", "—"
    DUE = "due", "Rollback due"
    SENT = "sent", "Rolling back"
    CONFIRMED = "confirmed", "Rolled back"
    FAILED = "failed", "Rollback failed"


class CampaignTarget(models.Model):
    """One charger of a campaign: its batch, attempts and the state reported."""

    FINAL = frozenset({TargetState.CONFIRMED, TargetState.FAILED, TargetState.SKIPPED})

    campaign = models.ForeignKey(
        FirmwareCampaign, on_delete=models.CASCADE, related_name="targets"
    )
    charge_point = models.ForeignKey(
        _CHARGE_POINT, on_delete=models.CASCADE, related_name="+"
    )
    batch_number = models.PositiveIntegerField(help_text="0 is the canary batch.")
    state = models.CharField(
        max_length=12, choices=TargetState.choices, default=TargetState.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    firmware_update = models.ForeignKey(
        "stations.FirmwareUpdate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    version_before = models.CharField(max_length=50, blank=True)
    version_after = models.CharField(max_length=50, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    rollback_state = models.CharField(
        max_length=10, choices=RollbackState.choices, blank=True, default=""
    )
    rollback_update = models.ForeignKey(
        "stations.FirmwareUpdate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    rollback_sent_at = models.DateTimeField(null=True, blank=True)
    rollback_detail = models.CharField(max_length=255, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["batch_number", "charge_point_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "charge_point"], name="campaign_target_unique"
            )
        ]
        indexes = [models.Index(fields=["campaign", "batch_number", "state"])]

    @property
    def is_final(self) -> bool:
        return self.state in self.FINAL


class DesiredConfiguration(models.Model):
    """A configuration key's value operations declare for a scope of chargers.

    The scope is the network, narrowed by at most one of: a station, a
    vendor (and model), a tag. Where scopes overlap the most specific wins:
    station, then tag, then vendor/model, then the network
    (``stations.fleet.configuration.desired_for``). For OCPP 2.0.1 chargers the
    key is ``Component.Variable`` (the GetVariables/SetVariables spelling).
    """

    network = models.ForeignKey(
        "stations.Network", on_delete=models.CASCADE, related_name="+"
    )
    key = models.CharField(max_length=50)
    value = models.CharField(max_length=500)
    station = models.ForeignKey(
        "stations.Station",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    vendor = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=50, blank=True)
    tag = models.ForeignKey(
        ChargerTag, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["key", "id"]

    def __str__(self) -> str:
        return f"{self.key}={self.value} ({self.scope_label})"

    @property
    def precedence(self) -> int:
        """Higher wins: station 3, tag 2, vendor/model 1, network 0."""
        if self.station_id is not None:
            return 3
        if self.tag_id is not None:
            return 2
        if self.vendor or self.model:
            return 1
        return 0

    @property
    def scope_label(self) -> str:
        if self.station_id is not None:
            return f"station {self.station}"
        if self.tag_id is not None:
            return f"tag {self.tag}"
        if self.vendor or self.model:
            return f"model {' '.join(p for p in (self.vendor, self.model) if p)}"
        return f"network {self.network}"


class DriftState(models.TextChoices):
    UNKNOWN = "unknown", "Not read yet"
    IN_SYNC = "in_sync", "In sync"
    DRIFT = "drift", "Differs"
    CHANGING = "changing", "Change sent"
    REBOOT_REQUIRED = "reboot_required", "Accepted, applies after a reboot"
    REJECTED = "rejected", "Refused by the charger"


class ConfigurationDrift(models.Model):
    """Desired against actual for one charger and key, and how converging went."""

    charge_point = models.ForeignKey(
        _CHARGE_POINT, on_delete=models.CASCADE, related_name="configuration_drift"
    )
    key = models.CharField(max_length=50)
    desired = models.ForeignKey(
        DesiredConfiguration, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    desired_value = models.CharField(max_length=500)
    actual_value = models.TextField(null=True, blank=True)
    state = models.CharField(
        max_length=16, choices=DriftState.choices, default=DriftState.UNKNOWN
    )
    change_command = models.ForeignKey(
        "stations.ChargePointCommand",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    charger_answer = models.CharField(max_length=40, blank=True)
    changes_sent = models.PositiveIntegerField(default=0)
    reverts = models.PositiveIntegerField(
        default=0, help_text="Times the charger was found off the value after sync."
    )
    was_in_sync = models.BooleanField(default=False)
    checked_at = models.DateTimeField()
    in_sync_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["charge_point_id", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["charge_point", "key"], name="configuration_drift_unique"
            )
        ]


# What administrators edit (the portal's form, ``profiles.vendor_profile_save``).
VENDOR_PROFILE_FIELDS = (
    "vendor",
    "model",
    "firmware_pattern",
    "energy_kwh_labelled_wh",
    "naive_time_zone",
    "connector_zero_ignored",
    "close_sessions_at_boot",
    "notes",
)


class VendorProfile(models.Model):
    """What chargers of one vendor / model / firmware are known to get wrong.

    The gateway reads such a charger's frames accordingly
    (``stations.fleet.profiles``); the facts are version-neutral, each OCPP
    version's adapter applies them to its own wire format. A charger gets the
    most specific matching profile: vendor + model + firmware, then vendor +
    model, then vendor + firmware, then vendor alone (a longer firmware
    pattern, then the newest, on a tie).
    """

    vendor = models.CharField(
        max_length=50, help_text="As the charger reports it in BootNotification."
    )
    model = models.CharField(max_length=50, blank=True, help_text="Empty: any model.")
    firmware_pattern = models.CharField(
        max_length=50,
        blank=True,
        help_text="Firmware versions, * and ? as wildcards (e.g. 1.2.*); empty: any.",
    )
    energy_kwh_labelled_wh = models.BooleanField(
        default=False,
        help_text="Energy readings labelled Wh are in kWh (read as 1000 times larger).",
    )
    naive_time_zone = models.CharField(
        max_length=64,
        blank=True,
        validators=[validate_time_zone],
        help_text="Timestamps without a zone are in this zone; empty: UTC.",
    )
    connector_zero_ignored = models.CharField(
        max_length=120,
        blank=True,
        help_text="Statuses reported on connector 0 that are a habit, not a state "
        "of the charger (comma-separated, e.g. Charging,Preparing): kept in the "
        "history, not applied, no alert.",
    )
    close_sessions_at_boot = models.BooleanField(
        default=False,
        help_text="Loses StopTransaction on power loss: a session still open at the "
        "next boot is closed at its last meter reading, flagged.",
    )
    notes = models.TextField(blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["vendor", "model", "firmware_pattern", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["vendor", "model", "firmware_pattern"],
                name="vendor_profile_unique",
            )
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        parts = [self.vendor, self.model or "*", self.firmware_pattern or "*"]
        return " ".join(parts)

    @property
    def connector_zero_ignored_set(self) -> frozenset[str]:
        return frozenset(
            part.strip()
            for part in self.connector_zero_ignored.split(",")
            if part.strip()
        )


class QuirkKind(models.TextChoices):
    """What the gateway accepted leniently, or corrected by a vendor profile."""

    ODD_SAMPLE = "odd_sample", "Sampled value of an undefined unit or measurand"
    SCHEMA_LENIENT = "schema_lenient", "Frame accepted without its odd parts"
    UNKNOWN_CONNECTOR = "unknown_connector", "Connector report kept aside"
    OUT_OF_ORDER = "out_of_order", "Status older than the one applied"
    LATE_ANSWER = "late_answer", "Answer sent late"
    PROFILE_APPLIED = "profile_applied", "Vendor-profile quirk applied"


class QuirkTally(models.Model):
    """Quirks seen per day, network, vendor / model / firmware and kind.

    Written from the in-memory counts of ``stations.fleet.quirkcounts``.
    """

    day = models.DateField()
    network = models.ForeignKey(
        "stations.Network",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
    )
    vendor = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=50, blank=True)
    firmware_version = models.CharField(max_length=50, blank=True)
    kind = models.CharField(max_length=20, choices=QuirkKind.choices)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["day", "vendor", "model", "firmware_version", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "day",
                    "network",
                    "vendor",
                    "model",
                    "firmware_version",
                    "kind",
                ],
                name="quirk_tally_unique",
            )
        ]
