"""The quarterly NEVI data set (23 CFR 680.112): every session and every outage of a quarter.

One report, ``nevi_quarterly``, registered into the stations reports: the
station-local quarter that holds ``date_to``, one ``session`` row per session
started in it and one ``outage`` row per outage overlapping it (clipped to the
quarter; outages from ``stations.reliability``). It lives in billing because a
session's price and payment method are billing's; it needs ``billing.view_cdr``
(finance, administrators). Fields: docs/reliability.md.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Max, Q
from django.utils import timezone

from accounts.http import AnyUser
from billing.models import Cdr
from sessions_app.models import ChargingSession, MeterValue, SessionStatus
from stations.models import Connector
from stations.reliability.models import Outage
from stations.reliability.reports import month_add, port_id
from stations.reports.filters import (
    ReportFilters,
    report_stations_for_user,
    stations_by_zone,
    zone_range,
)
from stations.reports.registry import Column, Report, extra_columns, report_register
from stations.reports.rows import ReportRow, table_row

# Stop reasons (OCPP 1.6 §7.42 Reason, 2.0.1 ReasonEnumType) that end a session
# for a fault rather than the driver's or operator's choice; and ours.
FAILED_STOP_REASONS = frozenset(
    {
        "EmergencyStop",
        "PowerLoss",
        "HardReset",
        "SoftReset",
        "Reboot",
        "DeAuthorized",
        "GroundFault",
        "OvercurrentFault",
        "Timeout",
        "ClosedAsZombie",
    }
)
POWER = "Power.Active.Import"


def quarter_of(day: date) -> tuple[date, date]:
    """The first and last day of ``day``'s calendar quarter."""
    first = date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return first, month_add(first, 3) - timedelta(days=1)


def _minutes(seconds: float) -> Decimal:
    return (Decimal(str(seconds)) / 60).quantize(Decimal("0.01"))


def session_outcome(session: ChargingSession) -> tuple[bool, str]:
    """Whether the session succeeded, and the error when it did not."""
    if session.status == SessionStatus.REJECTED:
        return False, f"Rejected: {session.auth_status}"
    if session.stop_reason in FAILED_STOP_REASONS:
        return False, session.stop_reason
    if session.stopped_at is not None and session.energy_wh <= 0:
        return False, "NoEnergyDelivered"
    return True, ""


def nevi_quarterly_report(*, user: AnyUser, filters: ReportFilters) -> list[ReportRow]:
    """Sessions and outages of the station-local quarter of ``date_to``."""
    stations = report_stations_for_user(user=user, filters=filters)
    first, last = quarter_of(filters.date_to)
    session_rows: list[ReportRow] = []
    outage_rows: list[ReportRow] = []
    for zone_name, members in stations_by_zone(stations).items():
        zone = ZoneInfo(zone_name)
        start, end = zone_range(zone_name, first, last)
        sessions = list(
            ChargingSession.objects.filter(
                charge_point__station__in=members,
                started_at__gte=start,
                started_at__lt=end,
            )
            .select_related("charge_point")
            # The columns the rows read: whole rows of a quarter's sessions were
            # most of the report's time.
            .only(
                "started_at",
                "stopped_at",
                "energy_wh",
                "connector_number",
                "status",
                "auth_status",
                "stop_reason",
                "charge_point__ocpp_id",
                "charge_point__station_id",
            )
            .order_by("started_at", "pk")
        )
        ids = [s.pk for s in sessions]
        peaks = dict(
            MeterValue.objects.filter(session_id__in=ids, measurand=POWER, phase="")
            .values_list("session_id")
            .annotate(peak=Max("value"))
            .values_list("session_id", "peak")
        )
        # session id -> (total, currency, payment provider or None)
        cdrs = {
            session_id: (total, currency, provider)
            for session_id, total, currency, provider in Cdr.objects.filter(
                session_id__in=ids
            ).values_list("session_id", "total_amount", "currency", "payment__provider")
        }
        for session in sessions:
            station_id = session.charge_point.station_id
            succeeded, error = session_outcome(session)
            cdr = cdrs.get(session.pk)
            peak_w = peaks.get(session.pk)
            duration = (
                (session.stopped_at - session.started_at).total_seconds()
                if session.stopped_at
                else None
            )
            session_rows.append(
                table_row(
                    "session",
                    f"session {session.pk}",
                    charging_station_id=station_id or "",
                    charging_port_id=f"{session.charge_point.ocpp_id}*{session.connector_number}",
                    time_zone=zone_name,
                    start=session.started_at.astimezone(zone).isoformat(),
                    end=session.stopped_at.astimezone(zone).isoformat()
                    if session.stopped_at
                    else "",
                    duration_min="" if duration is None else _minutes(duration),
                    energy_kwh=(Decimal(session.energy_wh) / 1000).quantize(
                        Decimal("0.001")
                    ),
                    peak_power_kw=""
                    if peak_w is None
                    else (Decimal(str(peak_w)) / 1000).quantize(Decimal("0.001")),
                    payment_method=(cdr[2] or "") if cdr else "",
                    price=cdr[0] if cdr else "",
                    currency=cdr[1] if cdr else "",
                    session_successful=succeeded,
                    error_code=error,
                    outage_cause="",
                    excluded="",
                    exclusion_reason="",
                )
            )
        ports = Connector.objects.filter(charge_point__station__in=members)
        outages = (
            Outage.objects.filter(
                Q(ended_at__isnull=True) | Q(ended_at__gt=start),
                connector__in=ports,
                started_at__lt=end,
            )
            .select_related("connector__charge_point")
            .order_by("started_at", "pk")
        )
        now = timezone.now()
        for outage in outages:
            low = max(outage.started_at, start)
            high = min(outage.ended_at or now, end)
            outage_rows.append(
                table_row(
                    "outage",
                    f"outage {outage.pk}",
                    charging_station_id=outage.connector.charge_point.station_id,
                    charging_port_id=port_id(outage.connector),
                    time_zone=zone_name,
                    start=low.astimezone(zone).isoformat(),
                    end=""
                    if outage.ended_at is None and high == now
                    else high.astimezone(zone).isoformat(),
                    duration_min=_minutes((high - low).total_seconds()),
                    energy_kwh="",
                    peak_power_kw="",
                    payment_method="",
                    price="",
                    currency="",
                    session_successful="",
                    error_code="",
                    outage_cause=outage.cause,
                    excluded=outage.is_excluded,
                    exclusion_reason=outage.exclusion_reason,
                )
            )
    return session_rows + outage_rows


def _chart(rows: list[ReportRow]) -> dict[str, object]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in rows:
        if row.level == "session":
            counts[str(row.extra["charging_port_id"])][0] += 1
        else:
            counts[str(row.extra["charging_port_id"])][1] += 1
    labels = sorted(counts)
    return {
        "type": "bar",
        "labels": labels,
        "series": {
            "Sessions": [counts[label][0] for label in labels],
            "Outages": [counts[label][1] for label in labels],
        },
    }


QUARTERLY_REPORT = report_register(
    Report(
        key="nevi_quarterly",
        title="NEVI quarterly sessions and outages (23 CFR 680.112)",
        rows=nevi_quarterly_report,
        columns=(
            Column("level", lambda row: row.level),
            *extra_columns(
                "charging_station_id",
                "charging_port_id",
                "time_zone",
                "start",
                "end",
                "duration_min",
                "energy_kwh",
                "peak_power_kw",
                "payment_method",
                "price",
                "currency",
                "session_successful",
                "error_code",
                "outage_cause",
                "excluded",
                "exclusion_reason",
            ),
        ),
        permission="billing.view_cdr",
        chart=_chart,
        note=(
            "The station-local quarter of 'To': one row per session started in it, "
            "then one per outage overlapping it (clipped to the quarter). "
            "Fields: docs/reliability.md."
        ),
    )
)
