"""The fleet generator of ``bench/reports.py`` at a tiny size (PostgreSQL only)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from sessions_app.models import ChargingSession, MeterValue
from stations.models import Connector, Network, StatusChange
from stations.reports.availability import availability_report
from stations.reports.energy import energy_report
from stations.reports.filters import ReportFilters
from stations.reports.models import ConnectorDailyRollup
from stations.reports.tasks import report_rollups_update
from tests.factories import user_with_role

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the generator writes PostgreSQL SQL"
)


def test_generator_builds_a_fleet_the_reports_read(db):
    from bench import reports as bench

    end = datetime(2026, 3, 1, tzinfo=UTC)
    sizes = {
        "sessions": 40,
        "meter_values": 2000,
        "chargers": 4,
        "networks": bench.NETWORKS,
        "stations_per_network": bench.STATIONS_PER_NETWORK,
        "days": 10,
        "version": 1,
    }
    with connection.cursor() as cursor:
        meta = bench.generate(cursor.cursor, sizes, end=end)

    assert meta["counts"]["charging_chargingsession"] == 40
    assert MeterValue.objects.count() == 2000
    assert Connector.objects.count() == 8
    assert ChargingSession.objects.filter(cdr__isnull=False).count() == 40
    assert StatusChange.objects.filter(status="Faulted").exists()
    report_rollups_update(now=end + timedelta(hours=1))
    assert ConnectorDailyRollup.objects.exists()
    network = Network.objects.order_by("pk").first()
    user = user_with_role("Operations", network, username="bench-smoke")
    filters = ReportFilters(
        (end - timedelta(days=10)).date(), (end - timedelta(days=1)).date(), network.pk
    )
    energy = sum(r.tally.energy_wh for r in energy_report(user=user, filters=filters))
    expected = sum(
        s.energy_wh
        for s in ChargingSession.objects.filter(charge_point__station__network=network)
    )
    assert energy == expected
    known = [
        r.tally
        for r in availability_report(user=user, filters=filters)
        if r.level == "station" and r.tally.known_s
    ]
    assert known
    assert all(0 < tally.availability < 1 for tally in known)  # faults, offline
