"""Hourly roll-ups behind the reports (issue 8).

One row per connector and closed UTC hour: seconds spent in each status (with the
charger's offline time as its own bucket), sessions started and energy delivered
in that hour. Rows are recomputed whole (idempotent upsert) by
``stations.report_tasks.report_rollups_update_task``; reports read them for closed
hours and the raw history for everything else, so a missing row is never wrong,
only slower. Roll-ups outlive the raw meter-value retention.
"""

from __future__ import annotations

from django.db import models

__all__ = ["ConnectorHourlyRollup", "ReportRollupState"]


class ConnectorHourlyRollup(models.Model):
    connector = models.ForeignKey(
        "stations.Connector", on_delete=models.CASCADE, related_name="hourly_rollups"
    )
    hour_start = models.DateTimeField(help_text="UTC start of the hour.")
    available_s = models.PositiveIntegerField(default=0)
    preparing_s = models.PositiveIntegerField(default=0)
    charging_s = models.PositiveIntegerField(default=0)
    suspended_ev_s = models.PositiveIntegerField(default=0)
    suspended_evse_s = models.PositiveIntegerField(default=0)
    finishing_s = models.PositiveIntegerField(default=0)
    reserved_s = models.PositiveIntegerField(default=0)
    unavailable_s = models.PositiveIntegerField(default=0)
    faulted_s = models.PositiveIntegerField(default=0)
    offline_s = models.PositiveIntegerField(default=0)
    unknown_s = models.PositiveIntegerField(
        default=0, help_text="No status known yet; excluded from shares."
    )
    sessions_started = models.PositiveIntegerField(default=0)
    energy_wh = models.BigIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["connector_id", "hour_start"]
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "hour_start"],
                name="rollup_unique_connector_hour",
            )
        ]
        indexes = [models.Index(fields=["hour_start"])]

    def __str__(self) -> str:
        return f"{self.connector_id} @ {self.hour_start:%Y-%m-%d %H:00}Z"


class ReportRollupState(models.Model):
    """Singleton: roll-ups are complete for every hour before ``complete_until``."""

    key = models.CharField(max_length=20, unique=True, default="hourly")
    complete_until = models.DateTimeField(null=True, blank=True)
    last_run_started_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.complete_until}"
