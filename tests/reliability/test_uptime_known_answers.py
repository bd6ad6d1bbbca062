"""NEVI uptime and 15-minute records against hand-computed numbers.

One station in America/Los_Angeles (DST: 2025-11-02 back, 2026-03-08 forward),
report month June 2026: the trailing year is 2025-07-01 00:00 PDT to
2026-07-01 00:00 PDT, 365 days = 525,600 minutes.

Port A (charger CP-A), known since 2025-06-01:
- 2025-11-15 10:00-20:00 Faulted: 600 min;
- 2026-02-03 Faulted 10:00-12:00 while the charger is offline 11:00-13:00
  (overlapping): 10-11 Faulted + 11-13 offline = 180 min, not 240;
- 2026-05-10 offline 08:00-14:00 (360 min), a grid outage 10:00-12:00 inside it
  classified as excluded: 120 min excluded;
- 2026-06-01 a 30 s disconnect (within the 60 s grace): no outage.
T_outage = 1,140, T_excluded = 120:
μ = (525,600 − 1,020) / 525,600 × 100 = 99.806 (without exclusions 99.783).

Port B (charger CP-B), added 2026-01-01 00:00 PST: T = 2026-01-01 08:00Z to
2026-07-01 07:00Z = 181 days − 1 h (DST) = 260,580 min; Faulted 2026-04-01
09:00-10:00 (60 min): μ = 260,520 / 260,580 × 100 = 99.977.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog
from stations.reliability.models import Outage
from stations.reliability.outages import outages_refresh
from stations.reliability.services import outages_classify_event
from tests.factories import ChargePointFactory, ConnectorFactory
from tests.reports.support import connection, status

LA = ZoneInfo("America/Los_Angeles")
JUNE = {"date_from": "2026-06-01", "date_to": "2026-06-30"}


def la(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=LA)


@pytest.fixture
def ports(station_a):
    station_a.time_zone = "America/Los_Angeles"
    station_a.save(update_fields=["time_zone"])
    cp_a = ChargePointFactory(station=station_a, ocpp_id="CP-A")
    cp_b = ChargePointFactory(station=station_a, ocpp_id="CP-B")
    port_a = ConnectorFactory(charge_point=cp_a, connector_id=1)
    port_b = ConnectorFactory(charge_point=cp_b, connector_id=1)
    connection(cp_a, la(2025, 6, 1), "connected")
    status(port_a, la(2025, 6, 1), "Available")
    status(port_a, la(2025, 11, 15, 10), "Faulted")
    status(port_a, la(2025, 11, 15, 20), "Available")
    status(port_a, la(2026, 2, 3, 10), "Faulted")
    connection(cp_a, la(2026, 2, 3, 11), "disconnected")
    status(port_a, la(2026, 2, 3, 12), "Available", received_at=la(2026, 2, 3, 13))
    connection(cp_a, la(2026, 2, 3, 13), "connected")
    connection(cp_a, la(2026, 5, 10, 8), "disconnected")
    connection(cp_a, la(2026, 5, 10, 14), "connected")
    connection(cp_a, la(2026, 6, 1, 9), "disconnected")
    connection(cp_a, la(2026, 6, 1, 9) + timedelta(seconds=30), "connected")
    connection(cp_b, la(2026, 1, 1), "connected")
    status(port_b, la(2026, 1, 1), "Available")
    status(port_b, la(2026, 4, 1, 9), "Faulted")
    status(port_b, la(2026, 4, 1, 10), "Available")
    return port_a, port_b


@pytest.fixture
def classified(ports, operator):
    port_a, port_b = ports
    outages_refresh(
        connectors=[port_a, port_b],
        now=timezone.now(),
        lookback=timezone.now() - la(2025, 6, 1),
    )
    result = outages_classify_event(
        connectors=[port_a, port_b],
        actor=operator,
        window_start=la(2026, 5, 10, 10),
        window_end=la(2026, 5, 10, 12),
        exclusion_reason="grid",
        event_label="PG&E outage 4711",
        note="Utility confirmed a feeder outage.",
        evidence="https://utility.example/outages/4711",
    )
    assert (result.outages, result.ports) == (1, 1)  # port B had no outage then
    return ports


def _csv(response) -> list[dict[str, str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_outage_records_follow_the_history(ports):
    port_a, port_b = ports

    outages_refresh(
        connectors=[port_a, port_b],
        now=timezone.now(),
        lookback=timezone.now() - la(2025, 6, 1),
    )

    rows = list(
        Outage.objects.filter(connector=port_a)
        .order_by("started_at")
        .values_list("started_at", "ended_at", "cause")
    )
    assert rows == [
        (la(2025, 11, 15, 10), la(2025, 11, 15, 20), "faulted"),
        (la(2026, 2, 3, 10), la(2026, 2, 3, 11), "faulted"),
        (la(2026, 2, 3, 11), la(2026, 2, 3, 13), "offline"),
        (la(2026, 5, 10, 8), la(2026, 5, 10, 14), "offline"),
    ]
    assert list(
        Outage.objects.filter(connector=port_b).values_list("started_at", "cause")
    ) == [(la(2026, 4, 1, 9), "faulted")]


def test_refresh_twice_keeps_one_record_per_outage_and_its_classification(
    classified,
):
    port_a, port_b = classified

    outages_refresh(
        connectors=[port_a, port_b], now=timezone.now(), lookback=timedelta(days=600)
    )

    assert Outage.objects.count() == 5
    grid = Outage.objects.get(connector=port_a, started_at=la(2026, 5, 10, 8))
    assert grid.is_excluded
    assert (grid.excluded_from, grid.excluded_until) == (
        la(2026, 5, 10, 10),
        la(2026, 5, 10, 12),
    )
    assert AuditLog.objects.filter(
        action="outage.classify_event", object_id=str(grid.pk)
    ).exists()


def test_nevi_uptime_export_matches_the_hand_computation(client, finance, classified):
    client.force_login(finance)

    rows = _csv(client.get(reverse("reports:csv", args=["nevi_uptime"]), JUNE))

    ports = {r["charging_port_id"]: r for r in rows if r["level"] == "port"}
    assert ports["CP-A*1"]["t_period_min"] == "525600.00"
    assert ports["CP-A*1"]["t_outage_min"] == "1140.00"
    assert ports["CP-A*1"]["t_excluded_min"] == "120.00"
    assert ports["CP-A*1"]["uptime_pct"] == "99.806"
    assert ports["CP-A*1"]["uptime_without_exclusions_pct"] == "99.783"
    assert ports["CP-A*1"]["period_start"] == "2025-07-01T00:00:00-07:00"
    assert ports["CP-A*1"]["period_end"] == "2026-07-01T00:00:00-07:00"
    assert ports["CP-B*1"]["period_start"] == "2026-01-01T00:00:00-08:00"
    assert ports["CP-B*1"]["t_period_min"] == "260580.00"
    assert ports["CP-B*1"]["t_outage_min"] == "60.00"
    assert ports["CP-B*1"]["uptime_pct"] == "99.977"
    assert ports["CP-B*1"]["meets_97_pct"] == "True"


def test_monthly_rows_have_the_minutes_of_dst_months(client, finance, classified):
    client.force_login(finance)

    rows = _csv(client.get(reverse("reports:csv", args=["nevi_uptime"]), JUNE))

    months = {
        r["month"]: r
        for r in rows
        if r["level"] == "month" and r["charging_port_id"] == "CP-A*1"
    }
    assert len(months) == 12
    assert months["2025-11"]["t_period_min"] == "43260.00"  # 30 days + 1 h
    assert months["2026-03"]["t_period_min"] == "44580.00"  # 31 days − 1 h
    assert months["2026-05"]["t_outage_min"] == "360.00"
    assert months["2026-05"]["t_excluded_min"] == "120.00"
    # (44,640 − 240) / 44,640 × 100
    assert Decimal(months["2026-05"]["uptime_pct"]) == Decimal("99.462")


def test_api_answers_the_same_numbers(client, operator, classified):
    client.force_login(operator)

    response = client.get("/api/v1/reports/nevi_uptime/", JUNE)

    assert response.status_code == 200
    port = next(
        r
        for r in response.json()["rows"]
        if r["level"] == "port" and r["charging_port_id"] == "CP-A*1"
    )
    assert port["uptime_pct"] == "99.806"


@pytest.mark.parametrize(
    ("day", "count"), [("2026-03-08", 92), ("2025-11-02", 100), ("2026-05-10", 96)]
)
def test_fifteen_minute_records_per_local_day(client, finance, classified, day, count):
    client.force_login(finance)

    rows = _csv(
        client.get(
            reverse("reports:csv", args=["reliability_intervals"]),
            {"date_from": day, "date_to": day},
        )
    )

    port_a = [r for r in rows if r["charging_port_id"] == "CP-A*1"]
    assert len(port_a) == count
    if day == "2026-05-10":
        by_start = {r["interval_start"][11:16]: r for r in port_a}
        assert by_start["07:45"]["state"] == "up"
        assert (by_start["08:00"]["state"], by_start["08:00"]["outage_min"]) == (
            "down",
            "15.00",
        )
        assert by_start["10:00"]["state"] == "excluded"
        assert by_start["10:00"]["excluded_min"] == "15.00"
        assert by_start["13:45"]["state"] == "down"
        assert by_start["14:00"]["state"] == "up"


def test_port_unknown_before_it_was_added_is_left_out_of_its_records(
    client, finance, classified
):
    client.force_login(finance)

    rows = _csv(
        client.get(
            reverse("reports:csv", args=["reliability_intervals"]),
            {"date_from": "2025-12-31", "date_to": "2025-12-31"},
        )
    )

    port_b = [r for r in rows if r["charging_port_id"] == "CP-B*1"]
    assert {r["state"] for r in port_b} == {"unknown"}


def test_fifteen_minute_records_refuse_a_long_range(client, finance, classified):
    client.force_login(finance)

    response = client.get(
        "/api/v1/reports/reliability_intervals/",
        {"date_from": "2026-01-01", "date_to": "2026-03-01"},
    )

    assert response.status_code == 400
    assert "date_from" in response.json()["errors"] or "date_from" in str(
        response.json()
    )
