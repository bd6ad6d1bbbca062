"""Outage records per port (connector), derived from status and connection history.

An ``Outage`` is a span of one port's time in an outage state (Faulted,
Unavailable, offline beyond the grace, unanswered past the heartbeat), written by
``stations.reliability.outages.outages_refresh`` from the same effective-state
model as the availability reports (``stations.reports.tallies``). Operations
classify its cause: excluded from the uptime under 23 CFR 680.116(b) or not,
with a note and evidence; the classification survives every refresh.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

__all__ = ["ExclusionReason", "Outage", "OutageCause"]


class OutageCause(models.TextChoices):
    FAULTED = "faulted", "Faulted"
    UNAVAILABLE = "unavailable", "Unavailable"
    OFFLINE = "offline", "Offline (disconnected beyond the grace)"
    UNANSWERED = "unanswered", "Unanswered (silent past its heartbeat)"


class ExclusionReason(models.TextChoices):
    """The causes 23 CFR 680.116(b)(3) lets a network exclude from outage time."""

    GRID = "grid", "Electric grid or utility outage"
    VANDALISM = "vandalism", "Vandalism or theft"
    NATURAL_DISASTER = "natural_disaster", "Natural disaster"
    MAINTENANCE = "maintenance", "Scheduled maintenance (within limits)"
    COMMUNICATION = (
        "communication",
        "Communication outage outside the operator's control",
    )
    VEHICLE = "vehicle", "Fault of the vehicle"
    OPERATING_HOURS = "operating_hours", "Outside the site's operating hours"


class Outage(models.Model):
    connector = models.ForeignKey(
        "stations.Connector", on_delete=models.CASCADE, related_name="outages"
    )
    started_at = models.DateTimeField(help_text="UTC start of the outage.")
    ended_at = models.DateTimeField(
        null=True, blank=True, help_text="UTC end; empty while it lasts."
    )
    cause = models.CharField(max_length=20, choices=OutageCause.choices)
    is_excluded = models.BooleanField(default=False)
    exclusion_reason = models.CharField(
        max_length=20, choices=ExclusionReason.choices, blank=True
    )
    # The excluded part (a grid event may cover only part of an offline spell);
    # empty ends mean the outage's own ends.
    excluded_from = models.DateTimeField(null=True, blank=True)
    excluded_until = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    evidence = models.CharField(
        max_length=500, blank=True, help_text="A reference: utility ticket, report URL."
    )
    event_label = models.CharField(
        max_length=120, blank=True, help_text="The known event a bulk entry named."
    )
    classified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    classified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        permissions = [
            ("classify_outage", "Can classify outage causes (uptime exclusions)"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "started_at"], name="outage_connector_start"
            ),
            models.CheckConstraint(
                condition=Q(ended_at__isnull=True) | Q(ended_at__gt=F("started_at")),
                name="outage_ends_after_start",
            ),
            models.CheckConstraint(
                condition=Q(is_excluded=False) | ~Q(exclusion_reason=""),
                name="outage_excluded_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["started_at"], name="outage_started")]

    def __str__(self) -> str:
        return f"{self.get_cause_display()} from {self.started_at:%Y-%m-%d %H:%M} UTC"

    @property
    def is_classified(self) -> bool:
        return self.classified_at is not None
