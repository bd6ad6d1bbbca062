from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from stations.models import ChargePoint, Connector, Station
from tests.factories import ChargePointFactory, ConnectorFactory, StationFactory

pytestmark = pytest.mark.django_db


def test_duplicate_ocpp_identity_is_refused_by_the_database(charge_point_a):
    with pytest.raises(IntegrityError), transaction.atomic():
        ChargePoint.objects.create(ocpp_id=charge_point_a.ocpp_id)
    assert ChargePoint.objects.filter(ocpp_id=charge_point_a.ocpp_id).count() == 1


def test_duplicate_connector_number_on_one_charge_point_is_refused(charge_point_a):
    ConnectorFactory(charge_point=charge_point_a, connector_id=1)
    with pytest.raises(IntegrityError), transaction.atomic():
        Connector.objects.create(
            charge_point=charge_point_a, connector_id=1, max_power_kw=Decimal(11)
        )
    assert charge_point_a.connectors.count() == 1


def test_same_connector_number_on_two_charge_points_is_fine(
    charge_point_a, charge_point_b
):
    ConnectorFactory(charge_point=charge_point_a, connector_id=1)
    ConnectorFactory(charge_point=charge_point_b, connector_id=1)
    assert Connector.objects.count() == 2


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_power_kw", Decimal("-1")),
        ("max_power_kw", Decimal("0")),
        ("connector_id", 0),
    ],
)
def test_connector_rejects_nonpositive_values_in_the_database(
    charge_point_a, field, value
):
    values = {
        "charge_point": charge_point_a,
        "connector_id": 1,
        "max_power_kw": Decimal(22),
    }
    values[field] = value
    with pytest.raises(IntegrityError), transaction.atomic():
        Connector.objects.create(**values)


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [(Decimal("91"), Decimal("0")), (Decimal("0"), Decimal("-181"))],
)
def test_station_coordinates_out_of_range_are_refused(network_a, latitude, longitude):
    with pytest.raises(IntegrityError), transaction.atomic():
        Station.objects.create(
            network=network_a, name="Bad", latitude=latitude, longitude=longitude
        )


def test_station_names_are_unique_within_a_network_only(network_a, network_b):
    StationFactory(network=network_a, name="Depot")
    StationFactory(network=network_b, name="Depot")
    with pytest.raises(IntegrityError), transaction.atomic():
        StationFactory(network=network_a, name="Depot")


def test_charge_point_password_is_stored_hashed():
    charge_point = ChargePointFactory(password="s3cret-pass")
    charge_point.refresh_from_db()
    assert "s3cret-pass" not in charge_point.password_hash
    assert charge_point.check_password("s3cret-pass")
    assert not charge_point.check_password("wrong")


def test_charge_point_without_password_never_matches():
    charge_point = ChargePointFactory()
    assert not charge_point.check_password("")
