"""Exports: station-local times with offsets (CSV) or as real date-times (XLSX),
amounts as numbers, the net split into energy, time, idle and other fees."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from billing.models import Cdr


@pytest.fixture
def idle_fee_cdr(eur_billed) -> Cdr:
    return eur_billed[1]


def _csv(client, user) -> list[dict[str, str]]:
    client.force_login(user)
    response = client.get(reverse("billing:export_csv"))
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_csv_times_are_iso_8601_with_the_stations_offset(client, finance, idle_fee_cdr):
    row = _csv(client, finance)[0]

    assert row["started_at"] == "2026-01-15T15:00:00+01:00"
    assert row["stopped_at"] == "2026-01-15T16:00:00+01:00"
    # issued_at in the same zone as the rest: no UTC next to +01:00
    assert row["issued_at"].endswith("+01:00")
    assert row["time_zone"] == "Europe/Berlin"


def test_csv_fee_columns_add_up_to_the_net(client, finance, idle_fee_cdr):
    row = _csv(client, finance)[0]

    assert Decimal(row["energy_fee"]) == Decimal("3.0000")  # 10 kWh x 0.30
    assert Decimal(row["idle_fee"]) == Decimal("2.0000")  # 20 min x 0.10
    fees = sum(
        Decimal(row[name])
        for name in ("energy_fee", "time_fee", "idle_fee", "other_fees")
    )
    assert fees == Decimal(row["net"]) == idle_fee_cdr.net_amount


def test_xlsx_has_real_dates_and_numeric_amounts(client, finance, idle_fee_cdr):
    client.force_login(finance)

    response = client.get(reverse("billing:export_xlsx"))

    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    sheet = workbook.active
    header = [cell.value for cell in sheet[1]]
    row = dict(zip(header, sheet[2], strict=True))
    assert row["started_at"].is_date
    assert row["started_at"].value == datetime(2026, 1, 15, 15, 0)  # Berlin wall time
    assert row["time_zone"].value == "Europe/Berlin"
    assert row["total"].data_type == "n"
    assert row["idle_fee"].data_type == "n"
    assert Decimal(str(row["idle_fee"].value)) == Decimal("2")
