"""Quirks seen in traffic, counted per model, and the report that shows them."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from stations.fleet.models import QuirkKind, QuirkTally, VendorProfile
from stations.fleet.quirkcounts import quirk_count, quirk_counts_flush
from tests.factories import ChargePointFactory, IdTokenFactory
from tests.ocpp.client import exchange, raw_socket, wait_for


def tallies(vendor: str) -> dict[str, int]:
    return dict(QuirkTally.objects.filter(vendor=vendor).values_list("kind", "count"))


@pytest.mark.django_db
def test_counts_stay_in_memory_until_flushed_then_add_up(
    station_a, django_assert_num_queries
):
    charger = ChargePointFactory(station=station_a, vendor="Cnt", model="C1")
    with django_assert_num_queries(0):
        assert quirk_counts_flush(force=True) == 0  # nothing counted: no query
        quirk_count(charger.pk, QuirkKind.ODD_SAMPLE, 3)
        quirk_count(charger.pk, QuirkKind.LATE_ANSWER)

    assert quirk_counts_flush(force=True) == 4
    quirk_count(charger.pk, QuirkKind.ODD_SAMPLE, 2)
    quirk_counts_flush(force=True)

    assert tallies("Cnt") == {"odd_sample": 5, "late_answer": 1}
    row = QuirkTally.objects.get(kind="odd_sample")
    assert (row.network_id, row.model, row.day) == (
        station_a.network_id, "C1", timezone.now().date(),
    )  # fmt: skip


def body(response: Any) -> str:
    return b"".join(response.streaming_content).decode()


def frames(transaction_id: Any = "TX") -> list[list[Any]]:
    status = {"connectorId": 1, "errorCode": "NoError"}
    return [
        [2, "mv", "MeterValues", {"connectorId": 1, "transactionId": transaction_id, "meterValue": [
            {"timestamp": "2030-03-01T08:30:00Z", "sampledValue": [
                {"value": "2.5", "unit": "Wh", "measurand": "Energy.Active.Import.Register"},
                {"value": "7", "unit": "Furlong", "measurand": "Energy.Active.Import.Register"},
            ]},
        ]}],
        [2, "st-2", "StatusNotification", {**status, "status": "Charging", "timestamp": "2030-03-01T08:40:00Z"}],
        [2, "st-1", "StatusNotification", {**status, "status": "Preparing", "timestamp": "2030-03-01T08:35:00Z"}],
        [2, "st-3", "StatusNotification", {**status, "status": "Charging", "timestamp": "2030-03-01T08:50:00Z"}],
    ]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_quirks_of_a_chargers_traffic_reach_the_report_per_model(
    server_factory, station_a, operator, support, finance, outsider, client
):
    server = server_factory(QUIRK_COUNT_FLUSH_SECONDS="0")
    VendorProfile.objects.create(
        vendor="QuirkCo", model="Q1", energy_kwh_labelled_wh=True,
        updated_at=timezone.now(),
    )  # fmt: skip
    ChargePointFactory(station=station_a, ocpp_id="CP-QC-1")
    IdTokenFactory(token="CARD-QC", network=station_a.network)

    async def scenario() -> None:
        async with raw_socket(server, "CP-QC-1") as socket:
            await exchange(socket, [2, "boot", "BootNotification", {"chargePointVendor": "QuirkCo", "chargePointModel": "Q1", "firmwareVersion": "1.0"}])  # fmt: skip
            started = await exchange(socket, [2, "start", "StartTransaction", {"connectorId": 1, "idTag": "CARD-QC", "meterStart": 0, "timestamp": "2030-03-01T08:00:00Z"}])  # fmt: skip
            for frame in frames(started[2]["transactionId"]):
                assert (await exchange(socket, frame))[0] == 3

    asyncio.run(scenario())

    expected = {
        "schema_lenient": 1,  # the MeterValues validated without its odd value
        "odd_sample": 1,  # that value, kept flagged
        "profile_applied": 1,  # 2.5 "Wh" read as 2.5 kWh
        "out_of_order": 1,  # the 08:35 status after the 08:40 one
    }
    wait_for(lambda: tallies("QuirkCo") == expected, 20, what=f"tallies {expected}")

    today = timezone.now().date()
    window = {
        "date_from": (today - timedelta(days=1)).isoformat(),
        "date_to": (today + timedelta(days=1)).isoformat(),
    }
    client.force_login(operator)
    page = client.get(reverse("reports:report", args=["quirks"]), window)
    assert page.status_code == 200
    assert b"QuirkCo / Q1 / 1.0" in page.content
    export = client.get(reverse("reports:csv", args=["quirks"]), window)
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(body(export))))
    quirk_row = next(row for row in rows if row["vendor"] == "QuirkCo")
    assert quirk_row["chargers"] == "1"
    assert quirk_row["quirks"] == "4"
    assert {kind: quirk_row[kind] for kind in expected} == {
        kind: str(n) for kind, n in expected.items()
    }
    assert quirk_row["late_answer"] == "0"

    # Support and finance do not get the report; another network's
    # operator gets it without this network's model.
    for user in (support, finance):
        client.force_login(user)
        denied = client.get(reverse("reports:report", args=["quirks"]), window)
        denied_csv = client.get(reverse("reports:csv", args=["quirks"]), window)
        assert (denied.status_code, denied_csv.status_code) == (403, 403)
    client.force_login(outsider)
    theirs = client.get(reverse("reports:csv", args=["quirks"]), window)
    assert theirs.status_code == 200
    assert "QuirkCo" not in body(theirs)
