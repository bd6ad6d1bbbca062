"""The history's timestamps read as microseconds in SQL are exactly ``to_us`` of them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stations.models import StatusChange
from stations.reports.history import EpochMicros, to_us

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "at",
    [
        datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC),  # before a DST change
        datetime(2026, 3, 29, 1, 0, 0, tzinfo=UTC),  # whole second: no fraction stored
        datetime(2026, 12, 4, 2, 5, 56, 1, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),
    ],
)
def test_epoch_micros_in_sql_equals_to_us(connector_a, at):
    change = StatusChange.objects.create(
        connector=connector_a, status="Available", at=at, received_at=at
    )

    read_at, read_received = (
        StatusChange.objects.filter(pk=change.pk)
        .values_list(EpochMicros("at"), EpochMicros("received_at"))
        .get()
    )

    assert read_at == read_received == to_us(at)
