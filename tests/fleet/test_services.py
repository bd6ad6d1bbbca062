"""Campaign planning rules: batches, allowed hours in the station's zone, idle."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stations.fleet.models import FirmwareCampaign
from stations.fleet.services import (
    CampaignInputError,
    TargetFilter,
    batch_numbers,
    campaign_create,
    charger_is_idle,
    in_allowed_hours,
)
from stations.models import Station
from tests.factories import ChargePointFactory, ConnectorFactory, StationFactory

IMAGE = "https://firmware.example.com/simcharge-2.4.0.bin"


@settings(deadline=None)
@given(
    count=st.integers(min_value=0, max_value=300),
    canary=st.integers(min_value=0, max_value=100),
    size=st.integers(min_value=1, max_value=50),
)
def test_batches_start_with_the_canary_share_and_never_exceed_the_size(
    count, canary, size
):
    numbers = batch_numbers(count=count, canary_percent=canary, batch_size=size)
    assert len(numbers) == count
    assert numbers == sorted(numbers)
    canaries = numbers.count(0)
    assert canaries * 100 >= count * canary
    assert canaries == 0 or (canaries - 1) * 100 < count * canary
    for number in set(numbers) - {0}:
        assert numbers.count(number) <= size


def test_allowed_hours_are_the_stations_own():
    campaign = FirmwareCampaign(allowed_from_hour=22, allowed_to_hour=6)
    berlin = Station(time_zone="Europe/Berlin")
    tokyo = Station(time_zone="Asia/Tokyo")
    at = datetime(2026, 1, 15, 21, 30, tzinfo=UTC)  # Berlin 22:30, Tokyo 06:30
    assert in_allowed_hours(campaign, berlin, at)
    assert not in_allowed_hours(campaign, tokyo, at)
    daytime = FirmwareCampaign(allowed_from_hour=9, allowed_to_hour=17)
    assert in_allowed_hours(daytime, tokyo, datetime(2026, 1, 15, 1, tzinfo=UTC))
    assert not in_allowed_hours(daytime, berlin, datetime(2026, 1, 15, 1, tzinfo=UTC))


@pytest.mark.django_db
def test_a_charger_with_a_transaction_status_is_not_idle(charge_point_a):
    connector = ConnectorFactory(charge_point=charge_point_a, connector_id=1)
    assert charger_is_idle(charge_point_a.pk)
    connector.status = "SuspendedEV"
    connector.save()
    assert not charger_is_idle(charge_point_a.pk)


@pytest.mark.django_db
def test_targets_follow_the_filter_within_the_network(operator, station_a, station_b):
    other_station = StationFactory(network=station_a.network)
    ChargePointFactory(station=station_a, ocpp_id="T-1", vendor="Alfen")
    ChargePointFactory(station=station_a, ocpp_id="T-2", vendor="ABB")
    ChargePointFactory(station=other_station, ocpp_id="T-3", vendor="Alfen")
    ChargePointFactory(station=station_b, ocpp_id="T-4", vendor="Alfen")
    campaign = campaign_create(
        network=station_a.network,
        name="Alfen",
        location=IMAGE,
        version="2.4.0",
        created_by=operator,
        target=TargetFilter(vendor="alfen"),
    )
    assert list(campaign.targets.values_list("charge_point__ocpp_id", flat=True)) == [
        "T-1",
        "T-3",
    ]
    with pytest.raises(CampaignInputError) as refused:
        campaign_create(
            network=station_a.network,
            name="Wrong station",
            location=IMAGE,
            version="2.4.0",
            created_by=operator,
            target=TargetFilter(station=station_b),
        )
    assert refused.value.field == "station"
