"""The demo's networks, stations and charge points (their chargers connect with
a public password), and the demo users' network grants. Registered into
``cms.demo``; ``make run``'s simulated fleet connects as these chargers."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from guardian.shortcuts import assign_perm

from accounts.demo import DEMO_USERS
from accounts.models import User
from accounts.services import audit_record
from cms.demo import DemoLoad, DemoTally, SharedPassword
from stations.models import (
    ChargePoint,
    Connector,
    ConnectorType,
    Network,
    RegistrationStatus,
    Station,
)

DEMO_NETWORK = "Demo Network"
SECOND_NETWORK = "Northside Energy"
# Public demo credential (demo mode only); simulate_fleet --demo connects with it.
CHARGE_POINT_PASSWORD = "demo-cp-password"  # noqa: S105


@dataclass(frozen=True)
class _StationSpec:
    name: str
    address: str
    postal_code: str
    city: str
    country: str
    latitude: str
    longitude: str
    time_zone: str
    power_limit_kw: str | None
    region: str


@dataclass(frozen=True)
class _ChargePointSpec:
    ocpp_id: str
    station: str
    vendor: str
    model: str
    # (connector type, max power kW) per connector, numbered from 1
    connectors: tuple[tuple[str, str], ...]


_CCS2_150 = (ConnectorType.CCS2.value, "150")
_CCS2_50 = (ConnectorType.CCS2.value, "50")
_TYPE2_22 = (ConnectorType.TYPE2.value, "22")
_CHADEMO_50 = (ConnectorType.CHADEMO.value, "50")

DEMO_STATIONS = (
    _StationSpec(
        "City Mall", "Alexanderstraße 9", "10178", "Berlin", "DE",
        "52.521918", "13.413215", "Europe/Berlin", "200", "Berlin",
    ),
    _StationSpec(
        "Central Station", "Europaplatz 1", "10557", "Berlin", "DE",
        "52.525084", "13.369402", "Europe/Berlin", "400", "Berlin",
    ),
    _StationSpec(
        "Airport P3", "Melli-Beese-Ring 1", "12529", "Schönefeld", "DE",
        "52.364727", "13.508898", "Europe/Berlin", None, "Brandenburg",
    ),
    _StationSpec(
        "Harbour Depot", "Waalhaven Zuidzijde 21", "3089 JH", "Rotterdam", "NL",
        "51.888323", "4.437447", "Europe/Amsterdam", "250", "Zuid-Holland",
    ),
)  # fmt: skip

DEMO_CHARGE_POINTS = (
    _ChargePointSpec("DEMO-CP-01", "City Mall", "Alfen", "Eve Double Pro-line", (_TYPE2_22, _TYPE2_22)),
    _ChargePointSpec("DEMO-CP-02", "City Mall", "Alfen", "Eve Double Pro-line", (_TYPE2_22, _TYPE2_22)),
    _ChargePointSpec("DEMO-CP-03", "City Mall", "ABB", "Terra 54", (_CCS2_50, _CHADEMO_50)),
    _ChargePointSpec("DEMO-CP-04", "Central Station", "Alpitronic", "HYC150", (_CCS2_150, _CCS2_150)),
    _ChargePointSpec("DEMO-CP-05", "Central Station", "Alpitronic", "HYC150", (_CCS2_150,)),
    _ChargePointSpec("DEMO-CP-06", "Central Station", "ABB", "Terra 54", (_CCS2_50, _CHADEMO_50)),
    _ChargePointSpec("DEMO-CP-07", "Airport P3", "Alfen", "Eve Single Pro-line", (_TYPE2_22,)),
    _ChargePointSpec("DEMO-CP-08", "Airport P3", "Alfen", "Eve Double Pro-line", (_TYPE2_22, _TYPE2_22)),
    _ChargePointSpec("DEMO-CP-09", "Airport P3", "Kempower", "S-Series 50", (_CCS2_50,)),
    _ChargePointSpec("DEMO-CP-10", "Harbour Depot", "Kempower", "S-Series 150", (_CCS2_150, _CCS2_50)),
    _ChargePointSpec("DEMO-CP-11", "Harbour Depot", "ABB", "Terra 54", (_CCS2_50, _CHADEMO_50)),
    _ChargePointSpec("DEMO-CP-12", "Harbour Depot", "Alfen", "Eve Single Pro-line", (_TYPE2_22,)),
)  # fmt: skip

NORTHSIDE_STATION = _StationSpec(
    "Nordhavn Hub", "Orientkaj 4", "2150", "Copenhagen", "DK",
    "55.711307", "12.595135", "Europe/Copenhagen", "150", "Hovedstaden",
)  # fmt: skip
NORTHSIDE_CHARGE_POINTS = (
    _ChargePointSpec("NORTH-CP-01", "Nordhavn Hub", "Kempower", "S-Series 50", (_CCS2_50,)),
    _ChargePointSpec("NORTH-CP-02", "Nordhavn Hub", "Alfen", "Eve Double Pro-line", (_TYPE2_22, _TYPE2_22)),
)  # fmt: skip


def _network(name: str, currency: str, time_zone: str, tally: DemoTally) -> Network:
    network, created = Network.objects.get_or_create(
        name=name, defaults={"currency": currency, "time_zone": time_zone}
    )
    tally.add("networks", created)
    return network


def _station(network: Network, spec: _StationSpec, tally: DemoTally) -> Station:
    station, created = Station.objects.get_or_create(
        network=network,
        name=spec.name,
        defaults={
            "address": spec.address,
            "postal_code": spec.postal_code,
            "city": spec.city,
            "country": spec.country,
            "latitude": Decimal(spec.latitude),
            "longitude": Decimal(spec.longitude),
            "time_zone": spec.time_zone,
            "power_limit_kw": Decimal(spec.power_limit_kw)
            if spec.power_limit_kw
            else None,
            "region": spec.region,
        },
    )
    tally.add("stations", created)
    return station


def _charge_point(
    spec: _ChargePointSpec,
    stations: dict[str, Station],
    tally: DemoTally,
    password: SharedPassword,
) -> ChargePoint:
    number = int(spec.ocpp_id.rsplit("-", 1)[1])
    charge_point, created = ChargePoint.objects.get_or_create(
        ocpp_id=spec.ocpp_id,
        defaults={
            "station": stations[spec.station],
            "display_name": f"{spec.station} #{number}",
            "vendor": spec.vendor,
            "model": spec.model,
            "serial_number": f"{spec.vendor[:3].upper()}-{2024000 + number * 37}",
            "registration_status": RegistrationStatus.ACCEPTED,
        },
    )
    tally.add("charge points", created)
    if not password.matches(charge_point.password_hash):
        charge_point.password_hash = password.encoded
        charge_point.save(update_fields=["password_hash"])
        if not created:
            tally.updated.append(f"{spec.ocpp_id} OCPP password")
    for connector_id, (connector_type, max_power_kw) in enumerate(spec.connectors, 1):
        _connector, connector_created = Connector.objects.get_or_create(
            charge_point=charge_point,
            connector_id=connector_id,
            defaults={
                "connector_type": connector_type,
                "max_power_kw": Decimal(max_power_kw),
            },
        )
        tally.add("connectors", connector_created)
    return charge_point


def _grant(user: User, network: Network, tally: DemoTally) -> None:
    if not user.has_perm("stations.access_network", network):
        assign_perm("stations.access_network", user, network)
        tally.add("network grants", True)


def stations_demo_load(load: DemoLoad) -> None:
    tally = load.tally
    password = load.password(CHARGE_POINT_PASSWORD)
    demo = _network(DEMO_NETWORK, "EUR", "Europe/Berlin", tally)
    stations = {spec.name: _station(demo, spec, tally) for spec in DEMO_STATIONS}
    for spec in DEMO_CHARGE_POINTS:
        _charge_point(spec, stations, tally, password)

    northside = _network(SECOND_NETWORK, "DKK", "Europe/Copenhagen", tally)
    north_stations = {
        NORTHSIDE_STATION.name: _station(northside, NORTHSIDE_STATION, tally)
    }
    for spec in NORTHSIDE_CHARGE_POINTS:
        _charge_point(spec, north_stations, tally, password)

    usernames = [username for username, *_ in DEMO_USERS]
    for user in User.objects.filter(username__in=usernames):
        _grant(user, demo, tally)

    def audit(tally: DemoTally) -> None:
        if tally.changed:
            audit_record(
                actor=None,
                action="demo_data.load",
                network=demo,
                after=dict(tally.created),
                detail=f"manage.py load_demo_data: {tally.summary()}",
            )

    load.on_finish(audit)
