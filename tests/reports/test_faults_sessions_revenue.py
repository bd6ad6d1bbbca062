"""Fault rates, session distributions and revenue: known answers, scope, roles."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.urls import reverse

from billing.models import Cdr
from stations.reports.filters import local_range
from stations.reports.models import ConnectorHourlyRollup
from tests.factories import ChargePointFactory, ConnectorFactory
from tests.reports.support import session, status

DAY = date(2026, 3, 10)
RANGE = {"date_from": "2026-03-10", "date_to": "2026-03-11"}
_numbers = count(1)


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


def _csv(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(body)))


def _page_and_csv(client, kind, params=RANGE):
    page = client.get(reverse("reports:report", args=[kind]), params)
    export = client.get(reverse("reports:csv", args=[kind]), params)
    assert page.status_code == 200
    assert export.status_code == 200
    rows = _csv(export)
    assert rows[0] == page.context["columns"]
    assert rows[1:] == [[str(cell) for cell in row] for row in page.context["table"]]
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def _cdr(connector, started_at, stopped_at, *, total, currency="EUR", **extra):
    charging = session(connector, started_at, stopped_at, extra.pop("energy_wh", 5000))
    number = next(_numbers)
    net = (total / Decimal("1.19")).quantize(Decimal("0.01"))
    snapshot = {
        "tariff_id": extra.pop("tariff_id", 1),
        "name": extra.pop("tariff", "AC"),
    }
    return Cdr.objects.create(
        session=charging,
        network=connector.charge_point.station.network,
        station=connector.charge_point.station,
        number=f"R-{number}",
        sequence=number,
        currency=currency,
        started_at=started_at,
        stopped_at=stopped_at,
        charging_completed_at=stopped_at,
        energy_wh=charging.energy_wh,
        charging_seconds=int((stopped_at - started_at).total_seconds()),
        idle_seconds=extra.pop("idle_seconds", 0),
        billed_idle_seconds=0,
        vat_percent=Decimal("19.00"),
        net_amount=net,
        tax_amount=total - net,
        total_amount=total,
        line_items=[],
        tariff_snapshot=snapshot,
        issued_at=stopped_at,
    )


# --- Fault rates -------------------------------------------------------------------


@pytest.fixture
def fault_history(connector_a, charge_point_b):
    start, _ = local_range(connector_a.charge_point.station, DAY, DAY)
    charger = connector_a.charge_point
    charger.firmware_version = "1.0"
    charger.save()
    second = ChargePointFactory(
        station=charger.station, ocpp_id="CP-A-02", firmware_version="2.0"
    )
    connector_2 = ConnectorFactory(charge_point=second, connector_id=1)
    status(connector_a, start - timedelta(hours=1), "Faulted")  # before: no new fault
    status(connector_a, start + timedelta(hours=1), "Faulted")  # repeat: not counted
    status(connector_a, start + timedelta(hours=2), "Available")
    status(connector_a, start + timedelta(hours=3), "Faulted")  # fault 1
    status(connector_a, start + timedelta(hours=4), "Available")
    status(None, start + timedelta(hours=5), "Faulted", charge_point=charger)  # 2
    status(None, start + timedelta(hours=6), "Available", charge_point=charger)
    status(connector_a, start + timedelta(hours=7), "Faulted", is_applied=False)
    status(connector_2, start - timedelta(days=1), "Available")
    connector_b = ConnectorFactory(charge_point=charge_point_b, connector_id=1)
    status(connector_b, start + timedelta(hours=1), "Faulted")
    return charger, second


def test_fault_rates_per_firmware_and_top_chargers(client, operator, fault_history):
    client.force_login(operator)

    rows = _page_and_csv(client, "faults")

    models = {r["firmware"]: r for r in rows if r["level"] == "model"}
    assert set(models) == {"1.0", "2.0"}  # network B's charger is not in scope
    assert (models["1.0"]["faults"], models["1.0"]["charger_days"]) == ("2", "2")
    assert models["1.0"]["faults_per_charger_day"] == "1.000"
    # Faulted 0-2 h, 3-4 h and (whole charger) 5-6 h on the first day.
    assert models["1.0"]["downtime_hours"] == "4.00"
    assert (models["2.0"]["faults"], models["2.0"]["downtime_hours"]) == ("0", "0.00")
    top_faults = [r["name"] for r in rows if r["level"] == "top by faults"]
    top_down = [r["name"] for r in rows if r["level"] == "top by downtime"]
    assert top_faults == ["City Mall / CP-A-01"]
    assert top_down == ["City Mall / CP-A-01"]


def test_outsider_sees_only_network_b_faults(client, outsider, fault_history):
    client.force_login(outsider)

    rows = _page_and_csv(client, "faults")

    assert [r["name"] for r in rows if r["level"] != "model"] == [
        "Airport / CP-B-01",
        "Airport / CP-B-01",
    ]
    assert [r["faults"] for r in rows if r["level"] == "model"] == ["1"]


# --- Distributions -------------------------------------------------------------------


def test_duration_energy_and_idle_distributions(client, operator, connector_a):
    start, _ = local_range(connector_a.charge_point.station, DAY, DAY)
    # Crosses local midnight into the next day: counted on its start day.
    _cdr(
        connector_a,
        start + timedelta(hours=23),
        start + timedelta(hours=25, minutes=30),
        total=Decimal("9.99"),
        energy_wh=25000,
        idle_seconds=1200,
    )
    session(
        connector_a,
        start + timedelta(hours=8),
        start + timedelta(hours=8, minutes=10),
        1500,
    )
    session(connector_a, start - timedelta(hours=1), start, 7000)  # the day before
    session(connector_a, start + timedelta(hours=9), None, 100)  # still charging
    client.force_login(operator)

    rows = _page_and_csv(client, "sessions")

    table = {(r["distribution"], r["bucket"]): r for r in rows}
    assert table[("duration", "< 15 min")]["sessions"] == "1"
    assert table[("duration", "2-4 h")]["sessions"] == "1"
    assert table[("duration", "all")]["sessions"] == "2"
    assert table[("duration", "all")]["total"] == "2.667"  # 10 min + 2.5 h
    assert table[("energy", "< 5 kWh")]["sessions"] == "1"
    assert table[("energy", "20-40 kWh")]["share_pct"] == "50.00"
    assert table[("energy", "all")]["total"] == "26.500"
    assert table[("idle", "10-30 min")]["sessions"] == "1"
    assert table[("idle", "all")]["sessions"] == "1"  # only the session with a CDR
    assert table[("idle", "all")]["total"] == "0.333"


def test_distributions_are_scoped(client, outsider, connector_a):
    start, _ = local_range(connector_a.charge_point.station, DAY, DAY)
    session(connector_a, start + timedelta(hours=8), start + timedelta(hours=9), 1500)
    client.force_login(outsider)

    rows = _page_and_csv(client, "sessions")

    assert {r["sessions"] for r in rows} == {"0"}


# --- Revenue --------------------------------------------------------------------------


@pytest.fixture
def cdrs(connector_a, charge_point_b):
    station = connector_a.charge_point.station
    start, _ = local_range(station, DAY, DAY)
    second = ConnectorFactory(charge_point=connector_a.charge_point, connector_id=2)
    made = [
        _cdr(
            connector_a,
            start + timedelta(hours=8),
            start + timedelta(hours=9),
            total=Decimal("10.01"),
            tariff="AC",
            tariff_id=1,
        ),
        _cdr(
            second,
            start + timedelta(hours=10),
            start + timedelta(hours=11),
            total=Decimal("0.02"),
            tariff="AC",
            tariff_id=1,
        ),
        # Stops 00:30 local on the 11th (23:30 UTC on the 10th).
        _cdr(
            connector_a,
            start + timedelta(hours=23),
            start + timedelta(hours=24, minutes=30),
            total=Decimal("3.33"),
            tariff="Night",
            tariff_id=2,
        ),
        _cdr(
            second,
            start + timedelta(hours=12),
            start + timedelta(hours=13),
            total=Decimal("7.00"),
            currency="CHF",
            tariff="Roaming",
            tariff_id=3,
        ),
    ]
    outside = _cdr(
        connector_a,
        start - timedelta(hours=2),
        start - timedelta(minutes=1),
        total=Decimal("99.00"),
    )
    connector_b = ConnectorFactory(charge_point=charge_point_b, connector_id=1)
    other = _cdr(
        connector_b,
        start + timedelta(hours=8),
        start + timedelta(hours=9),
        total=Decimal("55.55"),
    )
    return made, outside, other


def test_revenue_matches_the_cdrs_exactly(client, finance, cdrs):
    made, _, _ = cdrs
    client.force_login(finance)

    rows = _page_and_csv(client, "revenue")

    def pick(level):
        return [r for r in rows if r["level"] == level]

    assert [(r["name"], r["currency"], r["total"]) for r in pick("network")] == [
        ("Network A", "CHF", "7.0000"),
        ("Network A", "EUR", "13.3600"),
    ]
    days = [
        (r["day"], r["currency"], r["sessions"], r["total"])
        for r in pick("station day")
    ]
    assert days == [
        ("2026-03-10", "CHF", "1", "7.0000"),
        ("2026-03-10", "EUR", "2", "10.0300"),
        ("2026-03-11", "EUR", "1", "3.3300"),
    ]
    tariffs = {(r["name"], r["currency"]): r["total"] for r in pick("tariff")}
    assert tariffs == {
        ("Network A / AC (#1)", "EUR"): "10.0300",
        ("Network A / Night (#2)", "EUR"): "3.3300",
        ("Network A / Roaming (#3)", "CHF"): "7.0000",
    }
    # Reconciliation: every level sums to exactly the CDRs, per currency and column.
    for currency in ("EUR", "CHF"):
        mine = [c for c in made if c.currency == currency]
        for column, attr in (
            ("net", "net_amount"),
            ("tax", "tax_amount"),
            ("total", "total_amount"),
        ):
            expected = sum((getattr(c, attr) for c in mine), Decimal(0))
            for level in ("network", "station", "station day", "tariff"):
                got = sum(
                    (
                        Decimal(r[column])
                        for r in pick(level)
                        if r["currency"] == currency
                    ),
                    Decimal(0),
                )
                assert got == expected, (currency, column, level)


def test_revenue_api_agrees_with_the_page(client, api_client, administrator, cdrs):
    client.force_login(administrator)
    api_client.force_authenticate(administrator)

    rows = _page_and_csv(client, "revenue")
    api = api_client.get(reverse("reports_api:report", args=["revenue"]), RANGE)

    assert api.status_code == 200
    assert api.json()["rows"] == rows


@pytest.mark.parametrize("role", ["operator", "support"])
def test_revenue_is_denied_without_view_cdr(client, api_client, request, cdrs, role):
    user = request.getfixturevalue(role)
    client.force_login(user)
    api_client.force_authenticate(user)
    before = list(Cdr.objects.order_by("pk").values())

    page = client.get(reverse("reports:report", args=["revenue"]), RANGE)
    export = client.get(reverse("reports:csv", args=["revenue"]), RANGE)
    api = api_client.get(reverse("reports_api:report", args=["revenue"]), RANGE)

    assert (page.status_code, export.status_code, api.status_code) == (403, 403, 403)
    assert "errors" in api.json()
    assert list(Cdr.objects.order_by("pk").values()) == before


def test_outsider_revenue_is_network_b_only(client, network_b, cdrs):
    from accounts.roles import Role
    from tests.conftest import user_with_role

    finance_b = user_with_role(Role.FINANCE, network_b, username="finance_b")
    client.force_login(finance_b)

    rows = _page_and_csv(client, "revenue")
    station_a = cdrs[0][0].station

    assert {r["name"].split(" / ")[0] for r in rows} == {"Network B"}
    assert [r["total"] for r in rows if r["level"] == "network"] == ["55.5500"]
    denied = client.get(
        reverse("reports:report", args=["revenue"]), {**RANGE, "station": station_a.pk}
    )
    assert denied.status_code == 404


def test_faults_and_sessions_api(api_client, operator, fault_history):
    api_client.force_authenticate(operator)

    faults = api_client.get(reverse("reports_api:report", args=["faults"]), RANGE)
    sessions = api_client.get(reverse("reports_api:report", args=["sessions"]), RANGE)

    assert faults.status_code == 200
    assert faults.json()["columns"][:2] == ["level", "name"]
    assert {r["firmware"] for r in faults.json()["rows"] if r["level"] == "model"} == {
        "1.0",
        "2.0",
    }
    assert sessions.status_code == 200
    assert len(sessions.json()["rows"]) == 7 + 1 + 6 + 1 + 5 + 1


@pytest.mark.parametrize("kind", ["faults", "sessions", "revenue"])
def test_bad_filters_on_the_new_reports_name_the_field(
    client, api_client, finance, kind
):
    client.force_login(finance)
    api_client.force_authenticate(finance)
    params = {"date_from": "2026-03-12", "date_to": "2026-03-11"}

    page = client.get(reverse("reports:report", args=[kind]), params)
    api = api_client.get(reverse("reports_api:report", args=[kind]), params)

    assert page.status_code == 400
    assert page.context["error"].field == "date_from"
    assert api.status_code == 400
    assert api.json()["errors"][0]["field"] == "date_from"


def test_index_lists_revenue_only_with_view_cdr(client, operator, finance):
    client.force_login(operator)
    kinds_operator = [
        kind for kind, _ in client.get(reverse("reports:index")).context["reports"]
    ]
    client.force_login(finance)
    kinds_finance = [
        kind for kind, _ in client.get(reverse("reports:index")).context["reports"]
    ]

    assert "faults" in kinds_operator
    assert "sessions" in kinds_operator
    assert "revenue" not in kinds_operator
    assert "revenue" in kinds_finance


def test_cdr_without_station_counts_under_its_network(client, finance, connector_a):
    start, _ = local_range(connector_a.charge_point.station, DAY, DAY)
    with_station = _cdr(
        connector_a,
        start + timedelta(hours=8),
        start + timedelta(hours=9),
        total=Decimal("4.00"),
    )
    unplaced = _cdr(
        connector_a,
        start + timedelta(hours=10),
        start + timedelta(hours=11),
        total=Decimal("1.50"),
    )
    Cdr.objects.filter(pk=unplaced.pk).update(station=None)
    client.force_login(finance)

    rows = _page_and_csv(client, "revenue")
    only_station = _page_and_csv(
        client, "revenue", {**RANGE, "station": with_station.station_id}
    )

    assert [(r["level"], r["name"], r["total"]) for r in rows[:3]] == [
        ("network", "Network A", "5.5000"),
        ("station", "Network A / (no station)", "1.5000"),
        ("station", "Network A / City Mall", "4.0000"),
    ]
    assert [r["total"] for r in only_station if r["level"] == "network"] == ["4.0000"]


def test_fault_downtime_is_the_same_from_rollups(client, operator, fault_history):
    from stations.reports.tasks import report_rollups_update

    client.force_login(operator)
    raw = _page_and_csv(client, "faults")
    start, _ = local_range(fault_history[0].station, DAY, DAY)
    report_rollups_update(now=start + timedelta(days=3))

    rolled = _page_and_csv(client, "faults")

    assert ConnectorHourlyRollup.objects.filter(faulted_s__gt=0).exists()
    assert rolled == raw


# --- Day roll-ups of revenue and sessions --------------------------------------------


def test_revenue_and_distributions_from_day_rollups_match_the_cdrs(
    client, administrator, cdrs
):
    from django.utils import timezone

    from stations.reports.models import StationDailyRevenue, StationDailySessions
    from stations.reports.tasks import report_rollups_update

    client.force_login(administrator)
    raw_revenue = _page_and_csv(client, "revenue")
    raw_sessions = _page_and_csv(client, "sessions")

    report_rollups_update(now=timezone.now())

    assert StationDailyRevenue.objects.exists()
    assert StationDailySessions.objects.exists()
    assert _page_and_csv(client, "revenue") == raw_revenue
    assert _page_and_csv(client, "sessions") == raw_sessions
    # A CDR issued after the run counts at once, and once after the next run.
    made, _, _ = cdrs
    start, _ = local_range(made[0].station, DAY, DAY)
    late = _cdr(
        made[0].session.connector,
        start + timedelta(hours=14),
        start + timedelta(hours=15),
        total=Decimal("1.19"),
    )
    network_eur = [
        r["total"]
        for r in _page_and_csv(client, "revenue")
        if r["level"] == "network"
        and r["name"] == "Network A"
        and r["currency"] == "EUR"
    ]
    assert network_eur == ["14.5500"]
    report_rollups_update(now=timezone.now())
    again = _page_and_csv(client, "revenue")
    assert [
        r["total"]
        for r in again
        if r["level"] == "network"
        and r["name"] == "Network A"
        and r["currency"] == "EUR"
    ] == ["14.5500"]
    assert late.total_amount == Decimal("1.19")
