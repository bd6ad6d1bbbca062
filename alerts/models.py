"""Alerts, their rules' per-network thresholds, notifications and maintenance tickets."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    MAJOR = "major", "Major"
    CRITICAL = "critical", "Critical"


SEVERITY_ORDER: list[str] = [
    Severity.INFO,
    Severity.WARNING,
    Severity.MAJOR,
    Severity.CRITICAL,
]


def severity_rank(severity: str) -> int:
    return SEVERITY_ORDER.index(severity) if severity in SEVERITY_ORDER else 0


def severity_at_least(minimum: str) -> list[str]:
    """The severities at or above ``minimum``, for routing filters."""
    return SEVERITY_ORDER[severity_rank(minimum) :]


class Rule(models.TextChoices):
    CONNECTOR_FAULTED = "connector_faulted", "Connector faulted"
    CHARGER_OFFLINE = "charger_offline", "Charger offline"
    STATION_OFFLINE = "station_offline", "Station offline (all chargers)"
    NETWORK_OFFLINE = "network_offline", "Network offline (all stations)"
    LOW_POWER = "low_power", "Charging below minimum power"
    ENERGY_STALLED = "energy_stalled", "Energy register not rising"
    STUCK_PREPARING = "stuck_preparing", "Stuck in Preparing"
    ZOMBIE_SESSION = "zombie_session", "Zombie session"
    BOOT_LOOP = "boot_loop", "Boot loop"
    METER_REGRESSION = "meter_regression", "Meter register going backwards"
    FIRMWARE_FAILED = "firmware_failed", "Firmware update failed"
    BILLING_FAILURE = "billing_failure", "Rating or billing failure"
    FLEET_FAULT_RATE = "fleet_fault_rate", "Fleet fault rate by model/firmware"
    SMART_PROFILE_REJECTED = (
        "smart_profile_rejected",
        "Charging profile refused (load management)",
    )
    REPORT_QUARANTINED = "report_quarantined", "Charger report quarantined"
    ROAMING_PUSH_FAILING = "roaming_push_failing", "Pushes to a roaming partner failing"
    CONFIGURATION_DRIFT = (
        "configuration_drift",
        "Charger refuses or keeps reverting a declared configuration",
    )
    UPTIME_BELOW_TARGET = (
        "uptime_below_target",
        "Port uptime trending below target this month",
    )
    CERTIFICATE_EXPIRING = (
        "certificate_expiring",
        "Charger certificate about to expire",
    )
    SECURITY_EVENT = "security_event", "Critical security event on a charger"


DEFAULT_SEVERITY: dict[str, str] = {
    Rule.CONNECTOR_FAULTED: Severity.MAJOR,
    Rule.CHARGER_OFFLINE: Severity.MAJOR,
    Rule.STATION_OFFLINE: Severity.CRITICAL,
    Rule.NETWORK_OFFLINE: Severity.CRITICAL,
    Rule.LOW_POWER: Severity.WARNING,
    Rule.ENERGY_STALLED: Severity.WARNING,
    Rule.STUCK_PREPARING: Severity.WARNING,
    Rule.ZOMBIE_SESSION: Severity.WARNING,
    Rule.BOOT_LOOP: Severity.MAJOR,
    Rule.METER_REGRESSION: Severity.MAJOR,
    Rule.FIRMWARE_FAILED: Severity.MAJOR,
    Rule.BILLING_FAILURE: Severity.MAJOR,
    Rule.FLEET_FAULT_RATE: Severity.MAJOR,
    Rule.SMART_PROFILE_REJECTED: Severity.MAJOR,
    Rule.REPORT_QUARANTINED: Severity.WARNING,
    Rule.ROAMING_PUSH_FAILING: Severity.MAJOR,
    Rule.CONFIGURATION_DRIFT: Severity.WARNING,
    Rule.UPTIME_BELOW_TARGET: Severity.MAJOR,
    Rule.CERTIFICATE_EXPIRING: Severity.WARNING,
    Rule.SECURITY_EVENT: Severity.CRITICAL,
}


class AlertRuleConfig(models.Model):
    """Per-network switches and thresholds of every rule; defaults apply without a row."""

    network = models.OneToOneField(
        "stations.Network", on_delete=models.CASCADE, related_name="alert_config"
    )
    connector_faulted_enabled = models.BooleanField("Connector faulted", default=True)
    charger_offline_enabled = models.BooleanField("Charger offline", default=True)
    offline_grace_s = models.PositiveIntegerField(
        "Offline grace (s)",
        default=120,
        validators=[MaxValueValidator(86400)],
        help_text="Silent past heartbeat × 2 + this, or disconnected and not back within this.",
    )
    group_offline_min_chargers = models.PositiveSmallIntegerField(
        "Group offline chargers from",
        default=2,
        validators=[MinValueValidator(2)],
        help_text="A station with at least this many chargers, all offline, raises one grouped alert.",
    )
    low_power_enabled = models.BooleanField("Low power (soft fault)", default=True)
    low_power_threshold_w = models.PositiveIntegerField(
        "Low power threshold (W)", default=1000, validators=[MinValueValidator(1)]
    )
    low_power_minutes = models.PositiveIntegerField(
        "Low power for (min)", default=10, validators=[MinValueValidator(1)]
    )
    energy_stalled_enabled = models.BooleanField("Energy not rising", default=True)
    energy_stalled_minutes = models.PositiveIntegerField(
        "Energy not rising for (min)", default=15, validators=[MinValueValidator(1)]
    )
    stuck_preparing_enabled = models.BooleanField("Stuck in Preparing", default=True)
    stuck_preparing_minutes = models.PositiveIntegerField(
        "Preparing for (min)", default=10, validators=[MinValueValidator(1)]
    )
    zombie_enabled = models.BooleanField("Zombie session", default=True)
    zombie_max_hours = models.PositiveIntegerField(
        "Session open longer than (h)", default=24, validators=[MinValueValidator(1)]
    )
    zombie_silent_minutes = models.PositiveIntegerField(
        "No meter values for (min)", default=60, validators=[MinValueValidator(1)]
    )
    zombie_auto_probe = models.BooleanField(
        "Probe zombie sessions automatically",
        default=False,
        help_text="Send TriggerMessage(MeterValues) when a zombie session is detected.",
    )
    zombie_auto_stop = models.BooleanField(
        "Stop zombie sessions automatically",
        default=False,
        help_text="Send RemoteStopTransaction when the probe brought no meter values.",
    )
    zombie_probe_wait_minutes = models.PositiveIntegerField(
        "Wait after probe (min)", default=5, validators=[MinValueValidator(1)]
    )
    boot_loop_enabled = models.BooleanField("Boot loop", default=True)
    boot_loop_count = models.PositiveIntegerField(
        "More boots than",
        default=5,
        validators=[MinValueValidator(1)],
    )
    boot_loop_minutes = models.PositiveIntegerField(
        "Boots within (min)", default=30, validators=[MinValueValidator(1)]
    )
    meter_regression_enabled = models.BooleanField(
        "Meter register going backwards", default=True
    )
    firmware_failed_enabled = models.BooleanField(
        "Firmware update failed", default=True
    )
    billing_failure_enabled = models.BooleanField(
        "Rating/billing failure", default=True
    )
    fleet_fault_rate_enabled = models.BooleanField("Fleet fault rate", default=True)
    fleet_fault_rate_percent = models.PositiveSmallIntegerField(
        "Fleet fault rate above (%)",
        default=20,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    fleet_min_chargers = models.PositiveIntegerField(
        "Fleet group size from", default=5, validators=[MinValueValidator(1)]
    )
    fleet_window_hours = models.PositiveIntegerField(
        "Fleet window (h)", default=24, validators=[MinValueValidator(1)]
    )
    uptime_target_enabled = models.BooleanField(
        "Port uptime below target (NEVI)", default=True
    )
    uptime_target_percent = models.DecimalField(
        "Uptime target (%)",
        max_digits=5,
        decimal_places=2,
        default=Decimal("97.00"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text="A port's uptime this month (23 CFR 680.116(b), exclusions applied) "
        "below this after the month's first day, or its outage budget for the month "
        "already spent, raises an alert.",
    )
    escalation_minutes = models.PositiveIntegerField(
        "Escalate when unacknowledged for (min)",
        default=30,
        validators=[MinValueValidator(1)],
    )
    email_min_severity = models.CharField(
        "Email from severity",
        max_length=10,
        choices=Severity.choices,
        default=Severity.MAJOR,
    )
    email_operations_team = models.BooleanField(
        "Email the network's operations team", default=True
    )
    email_recipients = models.TextField(
        "Extra email recipients",
        blank=True,
        help_text="Comma- or line-separated addresses.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    class Meta:
        ordering = ["network__name"]

    def __str__(self) -> str:
        return f"Alert rules of network {self.network_id}"

    @property
    def extra_recipients(self) -> list[str]:
        raw = self.email_recipients.replace("\n", ",").replace(";", ",")
        return [part.strip() for part in raw.split(",") if part.strip()]


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class Alert(models.Model):
    """One occurrence of a rule's condition on a subject, from open to resolved."""

    class Resolution(models.TextChoices):
        AUTO = "auto", "Condition cleared"
        MANUAL = "manual", "Resolved by a user"
        TICKET = "ticket", "Ticket closed"

    rule = models.CharField(max_length=30, choices=Rule.choices)
    subject_key = models.CharField(
        max_length=120, help_text="What the alert is about, e.g. connector:12."
    )
    network = models.ForeignKey(
        "stations.Network",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alerts",
    )
    station = models.ForeignKey(
        "stations.Station",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alerts",
    )
    charge_point = models.ForeignKey(
        "stations.ChargePoint",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alerts",
    )
    connector = models.ForeignKey(
        "stations.Connector",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alerts",
    )
    session = models.ForeignKey(
        "charging.ChargingSession",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alerts",
    )
    severity = models.CharField(max_length=10, choices=Severity.choices)
    status = models.CharField(
        max_length=12, choices=AlertStatus.choices, default=AlertStatus.OPEN
    )
    title = models.CharField(max_length=200)
    detail = models.TextField(blank=True)
    context = models.JSONField(default=dict, blank=True)
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="children",
        help_text="The grouped alert this one is part of.",
    )
    is_suppressed = models.BooleanField(
        default=False, help_text="Notified through its grouped parent only."
    )
    opened_at = models.DateTimeField(db_index=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolution = models.CharField(max_length=10, choices=Resolution.choices, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)
    escalated_at = models.DateTimeField(null=True, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            # Dedupe: one unresolved alert per condition and subject. A partial
            # unique index, supported by PostgreSQL and SQLite alike.
            models.UniqueConstraint(
                fields=["rule", "subject_key"],
                condition=Q(resolved_at__isnull=True),
                name="alert_one_open_per_rule_subject",
            ),
        ]
        indexes = [
            models.Index(fields=["network", "status"]),
            models.Index(fields=["charge_point", "-opened_at"]),
            models.Index(fields=["rule", "status"]),
        ]
        permissions = [
            ("acknowledge_alert", "Can acknowledge alerts"),
            ("resolve_alert", "Can resolve alerts"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_active(self) -> bool:
        return self.resolved_at is None


class AlertEvent(models.Model):
    """The history of an alert: opened, updated, acknowledged, escalated, resolved…"""

    class Kind(models.TextChoices):
        OPENED = "opened", "Opened"
        UPDATED = "updated", "Details changed"
        GROUPED = "grouped", "Grouped under a parent alert"
        UNGROUPED = "ungrouped", "No longer grouped"
        ACKNOWLEDGED = "acknowledged", "Acknowledged"
        ESCALATED = "escalated", "Escalated"
        NOTIFIED = "notified", "Notified"
        PROBE = "probe", "Probe sent"
        STOP_REQUESTED = "stop_requested", "Reconciliation stop requested"
        ACTION_UNAVAILABLE = "action_unavailable", "Action not possible"
        TICKET = "ticket", "Ticket linked"
        RESOLVED = "resolved", "Resolved"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    at = models.DateTimeField()
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    message = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [models.Index(fields=["alert", "at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} at {self.at:%Y-%m-%d %H:%M:%S}"


class PendingCondition(models.Model):
    """A condition seen but not yet held long enough to alert ("for N minutes")."""

    rule = models.CharField(max_length=30, choices=Rule.choices)
    subject_key = models.CharField(max_length=120)
    since = models.DateTimeField()
    observed_value = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "subject_key"], name="pending_condition_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.subject_key} since {self.since}"


class BootRecord(models.Model):
    """One BootNotification of a charger, for boot-loop detection."""

    charge_point = models.ForeignKey(
        "stations.ChargePoint", on_delete=models.CASCADE, related_name="boot_records"
    )
    booted_at = models.DateTimeField()

    class Meta:
        ordering = ["-booted_at"]
        constraints = [
            # The same boot dispatched twice counts once.
            models.UniqueConstraint(
                fields=["charge_point", "booted_at"], name="boot_record_unique"
            ),
        ]
        indexes = [models.Index(fields=["charge_point", "booted_at"])]

    def __str__(self) -> str:
        return f"Boot of {self.charge_point_id} at {self.booted_at}"


class NotificationRecord(models.Model):
    """An email sent for an alert event; the unique key makes a rerun send nothing."""

    alert = models.ForeignKey(
        Alert, on_delete=models.CASCADE, related_name="notifications"
    )
    channel = models.CharField(max_length=20)
    event_key = models.CharField(max_length=30)
    recipients = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["alert", "channel", "event_key"],
                name="notification_record_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} {self.event_key} for alert {self.alert_id}"


class WebhookEndpoint(models.Model):
    """A URL that receives signed JSON for the alerts of one network, and, for the
    event-stream kinds it names, the network's stream documents (``cms.streams``)."""

    network = models.ForeignKey(
        "stations.Network", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    name = models.CharField(max_length=120)
    url = models.URLField(max_length=500)
    secret = models.CharField(
        max_length=128, help_text="Signs each body: X-CMS-Signature: sha256=<HMAC>."
    )
    min_severity = models.CharField(
        max_length=10, choices=Severity.choices, default=Severity.WARNING
    )
    send_resolved = models.BooleanField(
        default=True, help_text="Also post when an alert resolves."
    )
    send_alerts = models.BooleanField(
        default=True, help_text="Post the network's alert events."
    )
    # Event-stream kinds (``status``, ``meter_values``, ``transactions``) whose
    # documents of this network are posted too, one delivery per document.
    stream_kinds = models.JSONField(default=list, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["network__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["network", "name"], name="webhook_endpoint_unique_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(models.Model):
    """One event posted to one endpoint, with every attempt's outcome."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    alert = models.ForeignKey(
        Alert,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="webhook_deliveries",
    )
    # ``opened:<n>`` ... for alert events; ``<stream kind>:<event_id>`` for a
    # stream document (the event id de-duplicates a redelivered document).
    event_key = models.CharField(max_length=80)
    body = models.TextField(help_text="The exact bytes signed and posted (UTF-8).")
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "alert", "event_key"],
                name="webhook_delivery_unique_event",
            ),
            # Stream documents have no alert, and NULLs are distinct in a
            # unique constraint: their own one.
            models.UniqueConstraint(
                fields=["endpoint", "event_key"],
                condition=models.Q(alert__isnull=True),
                name="webhook_delivery_unique_stream_event",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_key} to {self.endpoint_id}"


class TicketStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In progress"
    DONE = "done", "Done"


class MaintenanceTicket(models.Model):
    """Work to do on a charger, usually created from an alert."""

    network = models.ForeignKey(
        "stations.Network",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="maintenance_tickets",
    )
    charge_point = models.ForeignKey(
        "stations.ChargePoint",
        on_delete=models.CASCADE,
        related_name="maintenance_tickets",
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    status = models.CharField(
        max_length=12, choices=TicketStatus.choices, default=TicketStatus.OPEN
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_tickets",
    )
    due_at = models.DateTimeField(null=True, blank=True)
    resolve_alerts_on_close = models.BooleanField(
        default=True, help_text="Resolve the linked alerts when the ticket is done."
    )
    alerts = models.ManyToManyField(Alert, blank=True, related_name="tickets")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["network", "status"])]

    def __str__(self) -> str:
        return f"#{self.pk} {self.title}"


class TicketNote(models.Model):
    ticket = models.ForeignKey(
        MaintenanceTicket, on_delete=models.CASCADE, related_name="notes"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    body = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Note on ticket {self.ticket_id}"
