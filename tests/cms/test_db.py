"""The database helpers the gateway's batched writes rely on."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DataError, connection, transaction
from django.utils import timezone

from cms.db import insert_rows, update_rows
from stations.models import OcppMessage
from stations.ocpp.messagelog import LOG_FIELDS, LogEntry, write_entries

pytestmark = pytest.mark.django_db


def test_inserted_rows_read_back_as_written_json_null_and_time_included(
    charge_point_a,
):
    at = timezone.now() - timedelta(minutes=5)
    rows = [
        ("CP-A-01", charge_point_a.pk, "in", 2, "u1", "MeterValues",
         {"connectorId": 1, "note": "quote ' and \\ backslash\ttab"}, "", "", at),
        ("UNKNOWN", None, "out", 4, "u2", "", None, "[2,", "FormationViolation", at),
    ]  # fmt: skip
    assert insert_rows(OcppMessage, LOG_FIELDS, rows) == 2

    stored = {m.unique_id: m for m in OcppMessage.objects.all()}
    first, second = stored["u1"], stored["u2"]
    assert first.charge_point_id == charge_point_a.pk
    assert first.payload == {"connectorId": 1, "note": "quote ' and \\ backslash\ttab"}
    assert first.at == at
    assert second.charge_point_id is None
    assert second.payload is None  # SQL NULL, not JSON null
    assert second.raw == "[2,"
    assert second.error_code == "FormationViolation"


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite does not enforce varchar lengths"
)
def test_a_row_the_database_refuses_fails_the_whole_insert_with_a_django_error(
    charge_point_a,
):
    too_long = "x" * 200  # action is varchar(64)
    rows = [
        ("CP-A-01", charge_point_a.pk, "in", 2, "ok", "Heartbeat", {}, "", "", timezone.now()),
        ("CP-A-01", charge_point_a.pk, "in", 2, "bad", too_long, {}, "", "", timezone.now()),
    ]  # fmt: skip
    with pytest.raises(DataError), transaction.atomic():
        insert_rows(OcppMessage, LOG_FIELDS, rows)
    assert not OcppMessage.objects.exists()


def test_message_log_entries_are_cut_to_their_columns_and_written(charge_point_a):
    entry = LogEntry(
        ocpp_id="CP-A-01",
        charge_point_id=charge_point_a.pk,
        direction="in",
        message_type=2,
        unique_id="u" * 100,
        action="DataTransfer",
        payload={"data": "y" * 50},
    )
    write_entries(entries=[entry])
    stored = OcppMessage.objects.get()
    assert stored.unique_id == "u" * 64
    assert stored.payload == {"data": "y" * 50}


def test_update_rows_writes_each_objects_own_values(charge_point_a, charge_point_b):
    charge_point_a.vendor, charge_point_b.vendor = "Alpha", "Beta"
    assert (
        update_rows(type(charge_point_a), [charge_point_a, charge_point_b], ["vendor"])
        == 2
    )
    charge_point_a.refresh_from_db()
    charge_point_b.refresh_from_db()
    assert (charge_point_a.vendor, charge_point_b.vendor) == ("Alpha", "Beta")
