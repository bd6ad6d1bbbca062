"""A port trending below the uptime target this month is an alert before the month ends."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from alerts.models import Alert, Rule
from alerts.services import uptime_alerts_sweep
from stations.reliability.models import Outage
from stations.reliability.outages import outages_refresh
from stations.reliability.services import outage_classify
from tests.reports.support import status

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=BERLIN)


def _open() -> list[Alert]:
    return list(
        Alert.objects.filter(rule=Rule.UPTIME_BELOW_TARGET, resolved_at__isnull=True)
    )


@pytest.fixture
def faulted_port(connector_a):
    status(connector_a, berlin(2026, 10, 1), "Available")
    status(connector_a, berlin(2026, 11, 10), "Faulted")
    status(connector_a, berlin(2026, 11, 11, 12), "Available")  # 36 h = 2,160 min
    return connector_a


def test_port_that_spent_its_month_budget_is_alerted(faulted_port):
    # 1 Nov 00:00 to 20 Nov 12:00 Berlin = 28,080 min; (28,080 − 2,160) / 28,080
    uptime_alerts_sweep(now=berlin(2026, 11, 20, 12))

    [alert] = _open()
    assert alert.connector_id == faulted_port.pk
    assert alert.network_id == faulted_port.charge_point.station.network_id
    assert "92.308 %" in alert.title
    assert "can no longer reach the target" in alert.detail  # 2,160 > 3 % of 43,200


def test_excluding_the_outage_resolves_the_alert(faulted_port, operator):
    now = berlin(2026, 11, 20, 12)
    uptime_alerts_sweep(now=now)
    outages_refresh(connectors=[faulted_port], now=now, lookback=timedelta(days=60))
    outage = Outage.objects.get(connector=faulted_port)

    outage_classify(
        outage=outage,
        actor=operator,
        is_excluded=True,
        exclusion_reason="grid",
        note="Utility outage",
    )
    uptime_alerts_sweep(now=now + timedelta(minutes=5))

    assert _open() == []
    assert Alert.objects.get(rule=Rule.UPTIME_BELOW_TARGET).resolved_at is not None


def test_one_early_outage_is_no_trend(connector_a):
    status(connector_a, berlin(2026, 10, 1), "Available")
    status(connector_a, berlin(2026, 11, 1, 2), "Faulted")
    status(connector_a, berlin(2026, 11, 1, 3), "Available")

    # 6 h into the month: uptime 83 % so far, but 60 min is within the month's budget
    uptime_alerts_sweep(now=berlin(2026, 11, 1, 6))

    assert _open() == []


def test_trending_below_the_target_before_the_budget_is_spent(connector_a):
    status(connector_a, berlin(2026, 10, 1), "Available")
    status(connector_a, berlin(2026, 11, 2), "Faulted")
    status(connector_a, berlin(2026, 11, 2, 20), "Available")  # 1,200 min < 1,296

    # 3 Nov 12:00: 3,600 min elapsed, (3,600 − 1,200) / 3,600 = 66.667 %
    uptime_alerts_sweep(now=berlin(2026, 11, 3, 12))

    [alert] = _open()
    assert "66.667 %" in alert.title
    assert "96 min of outage left" in alert.detail


def test_the_rule_can_be_switched_off_per_network(faulted_port):
    from alerts.models import AlertRuleConfig

    AlertRuleConfig.objects.create(
        network=faulted_port.charge_point.station.network, uptime_target_enabled=False
    )

    uptime_alerts_sweep(now=berlin(2026, 11, 20, 12))

    assert _open() == []
