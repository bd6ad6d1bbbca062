"""Typed factories for the charging network, tokens, sessions and users."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.contrib.auth.models import Group
from django.utils import timezone
from factory.django import DjangoModelFactory
from guardian.shortcuts import assign_perm

from accounts.models import Role, User
from cms.events import ConnectorStatusChanged
from sessions_app.models import ChargingSession, IdToken
from stations.models import ChargePoint, Connector, Network, Station


class NetworkFactory(DjangoModelFactory[Network]):
    class Meta:
        model = Network

    name = factory.Sequence(lambda n: f"Network {n}")
    currency = "EUR"
    time_zone = "Europe/Berlin"


class StationFactory(DjangoModelFactory[Station]):
    class Meta:
        model = Station

    network = factory.SubFactory(NetworkFactory)
    name = factory.Sequence(lambda n: f"Station {n}")
    address = "Hauptstraße 1"
    city = "Berlin"
    country = "DE"
    latitude = Decimal("52.520008")
    longitude = Decimal("13.404954")
    time_zone = "Europe/Berlin"


class ChargePointFactory(DjangoModelFactory[ChargePoint]):
    class Meta:
        model = ChargePoint
        skip_postgeneration_save = True

    ocpp_id = factory.Sequence(lambda n: f"CP-{n:04d}")
    station = factory.SubFactory(StationFactory)
    vendor = "ACME"
    model = "Wallbox 22"
    heartbeat_interval_s = 300

    @factory.post_generation
    def password(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        if extracted:
            self.set_password(extracted)
            if create:
                self.save(update_fields=["password_hash"])


class ConnectorFactory(DjangoModelFactory[Connector]):
    class Meta:
        model = Connector

    charge_point = factory.SubFactory(ChargePointFactory)
    connector_id = 1
    connector_type = "Type2"
    max_power_kw = Decimal("22")
    status = "Available"


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.django.Password("pw-test-1234")

    @factory.post_generation
    def roles(
        self, create: bool, extracted: list[str] | None, **kwargs: object
    ) -> None:
        for role in extracted or []:
            self.groups.add(Group.objects.get(name=str(role)))

    @factory.post_generation
    def networks(
        self, create: bool, extracted: list[Network] | None, **kwargs: object
    ) -> None:
        for network in extracted or []:
            assign_perm("stations.access_network", self, network)


class IdTokenFactory(DjangoModelFactory[IdToken]):
    class Meta:
        model = IdToken

    token = factory.Sequence(lambda n: f"TAG{n:05d}")
    status = "Accepted"


class ChargingSessionFactory(DjangoModelFactory[ChargingSession]):
    class Meta:
        model = ChargingSession

    charge_point = factory.SubFactory(ChargePointFactory)
    connector_number = 1
    id_tag = "TAG00001"
    meter_start_wh = 1000
    started_at = factory.LazyFunction(timezone.now)


def user_with_role(role: Role | str, *networks: Network, **kwargs: object) -> User:
    return UserFactory(roles=[role], networks=list(networks), **kwargs)


def connector_status_event(
    charge_point_pk: int, status: str = "Available", *, connector_number: int = 1
) -> ConnectorStatusChanged:
    """A committed StatusNotification as the event path carries it."""
    return ConnectorStatusChanged(
        connector_pk=None,
        connector_number=connector_number,
        charge_point_pk=charge_point_pk,
        station_id=None,
        network_id=None,
        status=status,
        error_code="NoError",
        at=None,
    )
