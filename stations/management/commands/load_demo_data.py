"""Create the demo network, its fleet, id tokens and one user per role.

Idempotent: every object is looked up by its natural key and created only when
missing, so a second run changes nothing (``make run`` runs it on every start).
Objects an operator edited in the portal keep their edits. Passwords are reset
only when they no longer match, so the logins ``make run`` prints always work.

Demo users have a known password, so the command refuses to run unless
``DEMO_MODE`` is on.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from guardian.shortcuts import assign_perm

from accounts.models import Role, User
from accounts.services import audit_record
from billing.models import Tariff
from billing.services import tariff_assignment_add, tariff_create
from sessions_app.models import IdToken, TokenStatus
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
TOKEN_COUNT = 20
BLOCKED_TAG = "DEMO-TAG-019"
EXPIRED_TAG = "DEMO-TAG-020"
DRIVER_TAG = "DEMO-TAG-001"


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

# username, role, first name, last name; all scoped to the demo network only.
DEMO_USERS = (
    ("admin", Role.ADMINISTRATOR, "Ada", "Admin"),
    ("ops", Role.OPERATIONS, "Oskar", "Operations"),
    ("support", Role.SUPPORT, "Sofia", "Support"),
    ("finance", Role.FINANCE, "Felix", "Finance"),
)

# Labels read like a real card register.
_TOKEN_LABELS = (
    "App: Dana Fischer", "Fleet van B-EV 101", "Fleet van B-EV 102", "Fleet van B-EV 103",
    "Card: Jonas Weber", "Card: Lea Schmidt", "Card: Noah Becker", "Card: Mia Wagner",
    "Card: Paul Hoffmann", "Card: Emma Schulz", "Taxi 4711", "Taxi 4712",
    "Car sharing GO-17", "Car sharing GO-18", "Car sharing GO-19", "Staff: night shift",
    "Staff: day shift", "Visitor card 1", "Card reported stolen", "Card of former staff",
)  # fmt: skip


class _SharedPassword:
    """One hash of a public demo password, shared by every object that uses it.

    Hashing is deliberately slow (PBKDF2), and ``make run`` loads the demo data on
    every start: hashing once and checking each distinct stored hash once keeps
    a rerun fast. A shared salt costs nothing for a password that is printed.
    """

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self._encoded: str | None = None
        self._matches: dict[str, bool] = {}

    @property
    def encoded(self) -> str:
        if self._encoded is None:
            self._encoded = make_password(self.raw)
            self._matches[self._encoded] = True
        return self._encoded

    def matches(self, encoded: str) -> bool:
        if not encoded:
            return False
        if encoded not in self._matches:
            self._matches[encoded] = check_password(self.raw, encoded)
        return self._matches[encoded]


def _tariff(
    network: Network,
    name: str,
    tally: _Tally,
    *,
    data: dict[str, Any],
    element: dict[str, Any],
    connector_type: str = "",
    min_power_kw: Decimal | None = None,
) -> None:
    """A tariff and its assignment, created once (the name identifies it)."""
    if Tariff.objects.filter(network=network, name=name).exists():
        return
    tariff = tariff_create(
        actor=None, network=network, data={"name": name, **data}, elements=[element]
    )
    tariff_assignment_add(
        actor=None,
        tariff=tariff,
        connector_type=connector_type,
        min_power_kw=min_power_kw,
    )
    tally.add("tariffs", True)


def _tariffs(demo: Network, northside: Network, tally: _Tally) -> None:
    """AC at the network default, DC fast charging above 50 kW, both with idle fees."""
    idle = {"idle_grace_minutes": 15, "idle_fee_cap": Decimal("12.00")}
    _tariff(
        demo,
        "Demo AC",
        tally,
        data={"currency": "EUR", "vat_percent": Decimal("19"), **idle},
        element={
            "energy_price_per_kwh": Decimal("0.49"),
            "idle_price_per_minute": Decimal("0.10"),
        },
    )
    _tariff(
        demo,
        "Demo DC fast",
        tally,
        data={"currency": "EUR", "vat_percent": Decimal("19"), **idle},
        element={
            "energy_price_per_kwh": Decimal("0.69"),
            "idle_price_per_minute": Decimal("0.20"),
        },
        min_power_kw=Decimal("50"),
    )
    _tariff(
        northside,
        "Northside standard",
        tally,
        data={"currency": "DKK", "vat_percent": Decimal("25")},
        element={"energy_price_per_kwh": Decimal("3.95")},
    )


class _Tally:
    def __init__(self) -> None:
        self.created: dict[str, int] = {}
        self.updated: list[str] = []

    def add(self, kind: str, created: bool) -> None:
        if created:
            self.created[kind] = self.created.get(kind, 0) + 1

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def summary(self) -> str:
        parts = [f"{count} {kind}" for kind, count in self.created.items()]
        sentences = ["created " + ", ".join(parts)] if parts else []
        if self.updated:
            sentences.append("updated " + ", ".join(self.updated))
        return "; ".join(sentences) or "nothing changed"


def _network(name: str, currency: str, time_zone: str, tally: _Tally) -> Network:
    network, created = Network.objects.get_or_create(
        name=name, defaults={"currency": currency, "time_zone": time_zone}
    )
    tally.add("networks", created)
    return network


def _station(network: Network, spec: _StationSpec, tally: _Tally) -> Station:
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
    tally: _Tally,
    password: _SharedPassword,
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


def _token(
    token: str,
    network: Network,
    tally: _Tally,
    *,
    label: str,
    status: str = TokenStatus.ACCEPTED,
    expires_at: datetime | None = None,
    kind: str = IdToken.Kind.RFID,
    owner: User | None = None,
) -> IdToken:
    id_token, created = IdToken.objects.get_or_create(
        token=token,
        defaults={
            "network": network,
            "label": label,
            "status": status,
            "expires_at": expires_at,
            "kind": kind,
            "owner": owner,
        },
    )
    tally.add("id tokens", created)
    return id_token


def _user(
    username: str,
    tally: _Tally,
    password: _SharedPassword,
    *,
    first_name: str,
    last_name: str,
    is_driver: bool = False,
) -> User:
    user, created = User.objects.get_or_create(
        username=username,
        defaults={
            "first_name": first_name,
            "last_name": last_name,
            "email": f"{username}@demo.example.org",
            "is_driver": is_driver,
        },
    )
    tally.add("users", created)
    if not password.matches(user.password):
        user.password = password.encoded
        user.save(update_fields=["password"])
        if not created:
            tally.updated.append(f"password of {username}")
    return user


def _grant(user: User, network: Network, tally: _Tally) -> None:
    if not user.has_perm("stations.access_network", network):
        assign_perm("stations.access_network", user, network)
        tally.add("network grants", True)


class Command(BaseCommand):
    help = (
        "Create the demo network (4 stations, 12 charge points, id tokens) and the "
        "demo users admin/ops/support/finance/driver. Demo mode only; safe to rerun."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEMO_MODE:
            raise CommandError(
                "load_demo_data creates users with a known password, so it only runs "
                "in demo mode: set DEMO_MODE=true (make run does)."
            )
        missing_roles = {str(role) for role in Role} - set(
            Group.objects.values_list("name", flat=True)
        )
        if missing_roles:
            raise CommandError(
                f"Role groups missing ({', '.join(sorted(missing_roles))}): "
                "run `manage.py migrate` first."
            )
        tally = self._load()
        if tally.changed:
            self.stdout.write(self.style.SUCCESS(f"Demo data: {tally.summary()}."))
        else:
            self.stdout.write("Demo data already loaded; nothing changed.")

    @transaction.atomic
    def _load(self) -> _Tally:
        tally = _Tally()
        charge_point_password = _SharedPassword(CHARGE_POINT_PASSWORD)
        if not settings.DEMO_PASSWORD:
            raise CommandError("DEMO_PASSWORD is empty: the demo users need one.")
        user_password = _SharedPassword(settings.DEMO_PASSWORD)
        demo = _network(DEMO_NETWORK, "EUR", "Europe/Berlin", tally)
        stations = {spec.name: _station(demo, spec, tally) for spec in DEMO_STATIONS}
        for spec in DEMO_CHARGE_POINTS:
            _charge_point(spec, stations, tally, charge_point_password)

        northside = _network(SECOND_NETWORK, "DKK", "Europe/Copenhagen", tally)
        north_stations = {
            NORTHSIDE_STATION.name: _station(northside, NORTHSIDE_STATION, tally)
        }
        for spec in NORTHSIDE_CHARGE_POINTS:
            _charge_point(spec, north_stations, tally, charge_point_password)

        for username, role, first_name, last_name in DEMO_USERS:
            user = _user(
                username,
                tally,
                user_password,
                first_name=first_name,
                last_name=last_name,
            )
            if not user.groups.filter(name=str(role)).exists():
                user.groups.add(Group.objects.get(name=str(role)))
                tally.add("role memberships", True)
            _grant(user, demo, tally)

        driver = _user(
            "driver",
            tally,
            user_password,
            first_name="Dana",
            last_name="Fischer",
            is_driver=True,
        )
        expired_at = datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
        for number in range(1, TOKEN_COUNT + 1):
            token = f"DEMO-TAG-{number:03d}"
            _token(
                token,
                demo,
                tally,
                label=_TOKEN_LABELS[number - 1],
                status=TokenStatus.BLOCKED
                if token == BLOCKED_TAG
                else (
                    TokenStatus.EXPIRED
                    if token == EXPIRED_TAG
                    else TokenStatus.ACCEPTED
                ),
                expires_at=expired_at if token == EXPIRED_TAG else None,
                kind=IdToken.Kind.APP if token == DRIVER_TAG else IdToken.Kind.RFID,
                owner=driver if token == DRIVER_TAG else None,
            )
        for number in (1, 2):
            _token(
                f"NORTH-TAG-{number:03d}",
                northside,
                tally,
                label=f"Card: Northside customer {number}",
            )

        _tariffs(demo, northside, tally)

        if tally.changed:
            audit_record(
                actor=None,
                action="demo_data.load",
                network=demo,
                after=dict(tally.created),
                detail=f"manage.py load_demo_data: {tally.summary()}",
            )
        return tally
