"""Roll-ups behind the reports (issue 8): hourly, daily and monthly per
connector, revenue and session histograms per station and day.

Hourly: one row per connector and closed UTC hour: seconds spent in each status
(with the charger's offline time as its own bucket), sessions started and energy
delivered in that hour (hours with no known status and nothing else are not
stored). Daily and monthly rows are their sums over station-local days and
months. Rows are recomputed whole for a connector and range and replaced in one
transaction by ``stations.reports.tasks.report_rollups_update`` (idempotent);
reports read them for the part of a range before
``ReportRollupState.complete_until`` and the raw history after it. Roll-ups
outlive the raw meter-value retention.
"""

from __future__ import annotations

from django.db import models

__all__ = [
    "ConnectorDailyRollup",
    "ConnectorHourlyRollup",
    "ConnectorMonthlyRollup",
    "ReportRollupState",
    "StationDailyRevenue",
    "StationDailySessions",
]


class ConnectorHourlyRollup(models.Model):
    # No database constraint: derived rows written in bulk (COPY) where the
    # deferred FK check cost as much as the insert; the ORM still cascades.
    connector = models.ForeignKey(
        "stations.Connector",
        on_delete=models.CASCADE,
        related_name="hourly_rollups",
        db_constraint=False,
        db_index=False,  # the unique (connector, hour/day) index leads with it
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
        # Every read filters on connectors and an hour range (the unique index).
        indexes = [
            # The peak-hours heatmap reads only the hours with sessions or energy.
            models.Index(
                fields=["connector", "hour_start", "sessions_started", "energy_wh"],
                condition=models.Q(sessions_started__gt=0) | models.Q(energy_wh__gt=0),
                name="rollup_busy_hours",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.connector_id} @ {self.hour_start:%Y-%m-%d %H:00}Z"


class ConnectorDailyRollup(models.Model):
    """Sum of a connector's hourly roll-ups over one day local to its station.

    Rebuilt from the hourly rows whenever they change; reports read it for the
    whole days before ``ReportRollupState.complete_until`` (zones whose days
    start on a UTC hour; half-hour zones read the hourly rows).
    """

    connector = models.ForeignKey(
        "stations.Connector",
        on_delete=models.CASCADE,
        related_name="daily_rollups",
        db_constraint=False,
        db_index=False,  # the unique (connector, hour/day) index leads with it
    )
    day = models.DateField(help_text="Local day in the station's time zone.")
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
    unknown_s = models.PositiveIntegerField(default=0)
    sessions_started = models.PositiveIntegerField(default=0)
    energy_wh = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["connector_id", "day"]
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "day"], name="rollup_unique_connector_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.connector_id} @ {self.day}"


class ReportRollupState(models.Model):
    """Singleton: roll-ups are complete for every hour before ``complete_until``."""

    key = models.CharField(max_length=20, unique=True, default="hourly")
    complete_until = models.DateTimeField(null=True, blank=True)
    last_run_started_at = models.DateTimeField(null=True, blank=True)
    # Late data: status notifications with an id above this arrived since the
    # last run (ids only grow; a margin covers transactions committing late).
    status_change_watermark = models.BigIntegerField(default=0)
    # Issued CDRs with an id up to this are in StationDailyRevenue.
    cdr_watermark = models.BigIntegerField(default=0)
    # Revenue and session-distribution day rows built once (then kept up to date).
    day_rows_built = models.BooleanField(default=False)
    month_rows_built = models.BooleanField(default=False)
    # First build: the range being backfilled and the connectors done so far.
    backfill_from = models.DateTimeField(null=True, blank=True)
    backfill_until = models.DateTimeField(null=True, blank=True)
    backfill_cursor = models.BigIntegerField(
        default=0, help_text="Connectors with a lower id are backfilled."
    )
    backfill_done = models.PositiveIntegerField(default=0)
    backfill_total = models.PositiveIntegerField(default=0)
    # Overlap guard where advisory locks do not exist (SQLite): a lease.
    running_token = models.CharField(max_length=32, blank=True)
    running_since = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.key}: {self.complete_until}"


class ConnectorMonthlyRollup(models.Model):
    """Sum of a connector's daily roll-ups over one month local to its station.

    Rebuilt with the daily rows; 12-month reports read whole months from here.
    """

    connector = models.ForeignKey(
        "stations.Connector",
        on_delete=models.CASCADE,
        related_name="monthly_rollups",
        db_constraint=False,
        db_index=False,  # the unique (connector, month) index leads with it
    )
    month = models.DateField(help_text="First local day of the month.")
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
    unknown_s = models.PositiveIntegerField(default=0)
    sessions_started = models.PositiveIntegerField(default=0)
    energy_wh = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["connector_id", "month"]
        constraints = [
            models.UniqueConstraint(
                fields=["connector", "month"], name="rollup_unique_connector_month"
            )
        ]

    def __str__(self) -> str:
        return f"{self.connector_id} @ {self.month:%Y-%m}"


class StationDailyRevenue(models.Model):
    """Issued CDRs summed per station (or network), stop day, currency and tariff.

    The day is local to the station (the network for CDRs without a station).
    Built from the CDRs with an id up to ``ReportRollupState.cdr_watermark``;
    the revenue report adds the newer CDRs from the CDR table itself.
    """

    network = models.ForeignKey(
        "stations.Network", on_delete=models.CASCADE, db_constraint=False
    )
    station = models.ForeignKey(
        "stations.Station",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        db_constraint=False,
    )
    day = models.DateField()
    currency = models.CharField(max_length=3)
    tariff_id = models.CharField(max_length=40, blank=True, null=True)
    tariff_name = models.CharField(max_length=200, blank=True, null=True)
    sessions = models.PositiveIntegerField(default=0)
    energy_wh = models.BigIntegerField(default=0)
    net = models.DecimalField(max_digits=18, decimal_places=4)
    tax = models.DecimalField(max_digits=18, decimal_places=4)
    total = models.DecimalField(max_digits=18, decimal_places=4)

    class Meta:
        ordering = ["network_id", "station_id", "day"]
        indexes = [
            models.Index(fields=["station", "day"]),
            models.Index(fields=["network", "day"]),
        ]


class StationDailySessions(models.Model):
    """Stopped sessions of a station per local start day: histogram counts and sums.

    ``values`` maps ``<distribution>_<bucket>_n`` / ``_sum`` (see
    ``sessions_app.reports``) to numbers; the sessions report adds them up.
    """

    station = models.ForeignKey(
        "stations.Station", on_delete=models.CASCADE, db_constraint=False
    )
    day = models.DateField()
    values = models.JSONField(default=dict)

    class Meta:
        ordering = ["station_id", "day"]
        constraints = [
            models.UniqueConstraint(
                fields=["station", "day"], name="rollup_unique_station_day"
            )
        ]
