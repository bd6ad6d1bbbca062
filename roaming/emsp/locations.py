"""Locations module, eMSP side, Receiver interface (OCPI 2.2.1 mod_locations).

A partner CPO pushes its Locations, EVSEs and Connectors to
``.../emsp/2.2.1/locations/{country_code}/{party_id}/{location_id}[/{evse_uid}[/{connector_id}]]``
(PUT a whole object, PATCH some fields of it, GET what we hold); the pull
(``roaming.emsp.sync``) stores what it reads through the same functions. Each
level is a row (``PartnerLocation``, ``PartnerEvse``, ``PartnerConnector``) with
the object as received and the fields we query. A field we cannot use is
refused with 2001 naming it; odd but usable values are kept and noted.
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.http import HttpRequest

from roaming.countries import ALPHA_3
from roaming.models import Partner, PartnerConnector, PartnerEvse, PartnerLocation
from roaming.transport import (
    CLIENT_ERROR,
    INVALID_PARAMETERS,
    UNKNOWN_LOCATION,
    NotFound,
    OcpiError,
    OcpiResult,
    OcpiView,
    ocpi_datetime_parse,
    ocpi_timestamp,
    request_json,
    require_object,
)

# mod_locations "Status enum".
EVSE_STATUSES = {
    "AVAILABLE",
    "BLOCKED",
    "CHARGING",
    "INOPERATIVE",
    "OUTOFORDER",
    "PLANNED",
    "REMOVED",
    "RESERVED",
    "UNKNOWN",
}
REMOVED = "REMOVED"
# mod_locations "ConnectorType enum" (an unknown one is kept and noted).
CONNECTOR_STANDARDS = {
    "CHADEMO",
    "CHAOJI",
    *(f"DOMESTIC_{letter}" for letter in "ABCDEFGHIJKLMNO"),
    "GBT_AC",
    "GBT_DC",
    "IEC_60309_2_single_16",
    "IEC_60309_2_three_16",
    "IEC_60309_2_three_32",
    "IEC_60309_2_three_64",
    "IEC_62196_T1",
    "IEC_62196_T1_COMBO",
    "IEC_62196_T2",
    "IEC_62196_T2_COMBO",
    "IEC_62196_T3A",
    "IEC_62196_T3C",
    "NEMA_5_20",
    "NEMA_6_30",
    "NEMA_6_50",
    "NEMA_10_30",
    "NEMA_10_50",
    "NEMA_14_30",
    "NEMA_14_50",
    "PANTOGRAPH_BOTTOM_UP",
    "PANTOGRAPH_TOP_DOWN",
    "TESLA_R",
    "TESLA_S",
}
# mod_locations "ConnectorFormat enum" and "PowerType enum".
CONNECTOR_FORMATS = {"SOCKET", "CABLE"}
# Phases behind each power type: max_voltage is line to neutral on AC
# (mod_locations "Connector object" max_voltage).
POWER_TYPE_PHASES = {
    "AC_1_PHASE": 1,
    "AC_2_PHASE": 2,
    "AC_2_PHASE_SPLIT": 2,
    "AC_3_PHASE": 3,
    "DC": 1,
}
# mod_locations "Capability enum".
CAPABILITIES = {
    "CHARGING_PROFILE_CAPABLE",
    "CHARGING_PREFERENCES_CAPABLE",
    "CHIP_CARD_SUPPORT",
    "CONTACTLESS_CARD_SUPPORT",
    "CREDIT_CARD_PAYABLE",
    "DEBIT_CARD_PAYABLE",
    "PED_TERMINAL",
    "REMOTE_START_STOP_CAPABLE",
    "RESERVABLE",
    "RFID_READER",
    "START_SESSION_CONNECTOR_REQUIRED",
    "TOKEN_GROUP_CAPABLE",
    "UNLOCK_CAPABLE",
}
# mod_locations "GeoLocation class": decimal degrees as strings with 5 to 7 decimals.
_COUNTRIES = set(ALPHA_3.values())
_LATITUDE = re.compile(r"^-?[0-9]{1,2}\.[0-9]{5,7}$")
_LONGITUDE = re.compile(r"^-?[0-9]{1,3}\.[0-9]{5,7}$")


def _invalid(message: str) -> OcpiError:
    return OcpiError(INVALID_PARAMETERS, message)


@dataclass
class _Checked:
    """A validated object: its columns, and what was odd but usable."""

    columns: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _string(
    obj: dict[str, Any],
    name: str,
    max_length: int,
    *,
    path: str,
    checked: _Checked,
    required: bool = True,
) -> str:
    value = obj.get(name)
    label = f"{path}{name}"
    if value is None:
        if required:
            raise _invalid(f"Missing required field: {label}")
        return ""
    if not isinstance(value, str) or (required and not value):
        raise _invalid(f"{label}: a non-empty string is required")
    if len(value) > max_length:
        # Longer than the spec's string(n): usable, kept whole in the object.
        checked.notes.append(f"{label}: longer than {max_length} characters")
        return value[:max_length]
    return value


def _choice(obj: dict[str, Any], name: str, allowed: set[str], *, path: str) -> str:
    """A required enum field (mod_locations "Status", "ConnectorFormat", "PowerType")."""
    value = obj.get(name)
    if value is None:
        raise _invalid(f"Missing required field: {path}{name}")
    if value not in allowed:
        raise _invalid(f"{path}{name}: unknown value {value!r}")
    return str(value)


def _datetime(obj: dict[str, Any], name: str, *, path: str) -> datetime:
    value = obj.get(name)
    if value is None:
        raise _invalid(f"Missing required field: {path}{name}")
    if not isinstance(value, str):
        raise _invalid(f"{path}{name}: an RFC 3339 date-time string is required")
    return ocpi_datetime_parse(value, field=f"{path}{name}")


def _positive_int(obj: dict[str, Any], name: str, *, path: str) -> int:
    value = obj.get(name)
    if value is None:
        raise _invalid(f"Missing required field: {path}{name}")
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _invalid(f"{path}{name}: a non-negative integer is required")
    return int(value)


def _coordinate(
    value: Any, pattern: re.Pattern[str], bound: int, *, label: str, checked: _Checked
) -> Decimal:
    if isinstance(value, int | float) and not isinstance(value, bool):
        # GeoLocation coordinates are strings; a JSON number is still usable.
        checked.notes.append(f"{label}: a number, not a string")
        value = str(value)
    if not isinstance(value, str):
        raise _invalid(f"{label}: decimal degrees as a string are required")
    try:
        degrees = Decimal(value.strip())
    except InvalidOperation:
        raise _invalid(f"{label}: not decimal degrees: {value!r}") from None
    if not degrees.is_finite() or abs(degrees) > bound:
        raise _invalid(f"{label}: {value!r} is outside -{bound}..{bound}")
    if not pattern.match(value.strip()):
        checked.notes.append(f"{label}: {value!r} does not have 5 to 7 decimals")
    return degrees.quantize(Decimal("0.000001"))


def _location(obj: dict[str, Any], checked: _Checked) -> None:
    """mod_locations "Location object" (without its EVSEs)."""
    c, path = checked.columns, ""
    c["country_code"] = _string(obj, "country_code", 2, path=path, checked=checked)
    c["party_id"] = _string(obj, "party_id", 3, path=path, checked=checked)
    c["location_id"] = _string(obj, "id", 36, path=path, checked=checked)
    publish = obj.get("publish")
    if not isinstance(publish, bool):
        raise _invalid(
            "Missing required field: publish"
            if publish is None
            else "publish: true or false is required"
        )
    c["publish"] = publish
    c["name"] = _string(obj, "name", 255, path=path, checked=checked, required=False)
    c["address"] = _string(obj, "address", 45, path=path, checked=checked)
    c["city"] = _string(obj, "city", 45, path=path, checked=checked)
    c["postal_code"] = _string(
        obj, "postal_code", 10, path=path, checked=checked, required=False
    )
    c["country"] = _string(obj, "country", 3, path=path, checked=checked)
    if c["country"].upper() not in _COUNTRIES:
        checked.notes.append(f"country: {c['country']!r} is not an ISO 3166 alpha-3")
    coordinates = obj.get("coordinates")
    if coordinates is None:
        raise _invalid("Missing required field: coordinates")
    coordinates = require_object(coordinates, field="coordinates")
    for axis, pattern, bound in (
        ("latitude", _LATITUDE, 90),
        ("longitude", _LONGITUDE, 180),
    ):
        if coordinates.get(axis) is None:
            raise _invalid(f"Missing required field: coordinates.{axis}")
        c[axis] = _coordinate(
            coordinates[axis],
            pattern,
            bound,
            label=f"coordinates.{axis}",
            checked=checked,
        )
    c["time_zone"] = _string(obj, "time_zone", 255, path=path, checked=checked)
    try:
        zoneinfo.ZoneInfo(c["time_zone"])
    except (ValueError, zoneinfo.ZoneInfoNotFoundError):
        checked.notes.append(f"time_zone: {c['time_zone']!r} is not an IANA zone")
    operator = obj.get("operator")
    c["operator_name"] = ""
    if operator is not None:
        operator = require_object(operator, field="operator")
        c["operator_name"] = _string(
            operator, "name", 100, path="operator.", checked=checked
        )
    c["last_updated"] = _datetime(obj, "last_updated", path=path)


def _evse(obj: dict[str, Any], path: str, checked: _Checked) -> None:
    """mod_locations "EVSE object" (without its Connectors)."""
    c = checked.columns
    c["uid"] = _string(obj, "uid", 36, path=path, checked=checked)
    c["evse_id"] = _string(
        obj, "evse_id", 48, path=path, checked=checked, required=False
    )
    c["status"] = _choice(obj, "status", EVSE_STATUSES, path=path)
    capabilities = obj.get("capabilities") or []
    if not isinstance(capabilities, list):
        raise _invalid(f"{path}capabilities: a list is required")
    for capability in capabilities:
        if capability not in CAPABILITIES:
            checked.notes.append(f"{path}capabilities: unknown {capability!r}")
    c["last_updated"] = _datetime(obj, "last_updated", path=path)


def _connector(obj: dict[str, Any], path: str, checked: _Checked) -> None:
    """mod_locations "Connector object"."""
    c = checked.columns
    c["connector_id"] = _string(obj, "id", 36, path=path, checked=checked)
    c["standard"] = _string(obj, "standard", 40, path=path, checked=checked)
    if c["standard"] not in CONNECTOR_STANDARDS:
        checked.notes.append(
            f"{path}standard: unknown connector type {c['standard']!r}"
        )
    c["format"] = _choice(obj, "format", CONNECTOR_FORMATS, path=path)
    c["power_type"] = power_type = _choice(
        obj, "power_type", set(POWER_TYPE_PHASES), path=path
    )
    c["max_voltage"] = _positive_int(obj, "max_voltage", path=path)
    c["max_amperage"] = _positive_int(obj, "max_amperage", path=path)
    watts = obj.get("max_electric_power")
    if watts is None:
        watts = c["max_voltage"] * c["max_amperage"] * POWER_TYPE_PHASES[power_type]
    else:
        watts = _positive_int(obj, "max_electric_power", path=path)
    c["max_power_kw"] = (Decimal(watts) / 1000).quantize(Decimal("0.01"))
    tariff_ids = obj.get("tariff_ids") or []
    if not isinstance(tariff_ids, list) or not all(
        isinstance(t, str) for t in tariff_ids
    ):
        raise _invalid(f"{path}tariff_ids: a list of strings is required")
    c["tariff_ids"] = tariff_ids
    c["last_updated"] = _datetime(obj, "last_updated", path=path)


# --- Storing ------------------------------------------------------------------------


@dataclass(frozen=True)
class Owner:
    """The CPO party of the URL: one of the partner's own (mod_locations "Receiver Interface")."""

    partner: Partner
    country_code: str
    party_id: str


def owner_for(partner: Partner, country_code: str, party_id: str) -> Owner:
    # mod_locations "Receiver Interface": country_code and party_id of the URL
    # are the CPO's own; a partner cannot write another party's objects.
    if not partner.has_party(country_code, party_id):
        raise OcpiError(
            CLIENT_ERROR,
            f"{country_code}*{party_id} is not a party of this connection",
            http_status=403,
        )
    return Owner(partner, country_code.upper(), party_id.upper())


def _location_row(owner: Owner, location_id: str) -> PartnerLocation | None:
    return (
        PartnerLocation.objects.select_for_update()
        .filter(
            country_code=owner.country_code,
            party_id=owner.party_id,
            location_id=location_id,
        )
        .first()
    )


def _unknown(message: str) -> NotFound:
    return NotFound(message, UNKNOWN_LOCATION)


def _check_key(
    obj: dict[str, Any], name: str, expected: str, *, path: str = ""
) -> None:
    value = obj.get(name)
    if value is not None and str(value) != expected:
        raise _invalid(f"{path}{name}: {value!r} does not match the URL ({expected!r})")


def _without(obj: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in obj.items() if name != key}


def _connectors_checked(items: Any, path: str) -> list[tuple[dict[str, Any], _Checked]]:
    if not isinstance(items, list) or not items:
        # mod_locations "EVSE object": connectors, cardinality +.
        raise _invalid(f"{path}connectors: at least one Connector is required")
    checked = []
    for index, item in enumerate(items):
        where = f"{path}connectors[{index}]."
        item = require_object(item, field=f"{path}connectors[{index}]")
        result = _Checked()
        _connector(item, where, result)
        checked.append((item, result))
    return checked


def _evse_checked(
    obj: dict[str, Any], path: str
) -> tuple[_Checked, list[tuple[dict[str, Any], _Checked]]]:
    result = _Checked()
    _evse(obj, path, result)
    return result, _connectors_checked(obj.get("connectors"), path)


def _store_connectors(
    evse: PartnerEvse, connectors: list[tuple[dict[str, Any], _Checked]]
) -> None:
    keep = []
    for obj, checked in connectors:
        columns = dict(checked.columns)
        connector_id = columns.pop("connector_id")
        PartnerConnector.objects.update_or_create(
            evse=evse, connector_id=connector_id, defaults={**columns, "data": obj}
        )
        keep.append(connector_id)
    evse.connectors.exclude(connector_id__in=keep).delete()


def _store_evse(
    location: PartnerLocation,
    obj: dict[str, Any],
    checked: _Checked,
    connectors: list[tuple[dict[str, Any], _Checked]],
) -> PartnerEvse:
    columns = dict(checked.columns)
    uid = columns.pop("uid")
    notes = checked.notes + [n for _o, c in connectors for n in c.notes]
    evse, _created = PartnerEvse.objects.update_or_create(
        location=location,
        uid=uid,
        defaults={**columns, "data": _without(obj, "connectors"), "notes": notes},
    )
    _store_connectors(evse, connectors)
    return evse


def _touch(row: PartnerLocation | PartnerEvse, moment: datetime) -> None:
    """A child changed: the parent's last_updated is at least the child's
    (mod_locations "Location object" last_updated: "or one of its EVSEs or Connectors")."""
    if moment > row.last_updated:
        row.last_updated = moment
        row.data = {**row.data, "last_updated": _iso(moment)}
        row.save(update_fields=["last_updated", "data"])


def _iso(moment: datetime) -> str:
    return ocpi_timestamp(moment)


def location_store(owner: Owner, location_id: str, obj: Any) -> bool:
    """PUT a whole Location (with its EVSEs); False when ours is newer (kept)."""
    obj = require_object(obj)
    _check_key(obj, "country_code", owner.country_code)
    _check_key(obj, "party_id", owner.party_id)
    _check_key(obj, "id", location_id)
    checked = _Checked()
    _location(obj, checked)
    evses = obj.get("evses") or []
    if not isinstance(evses, list):
        raise _invalid("evses: a list of EVSE objects is required")
    evses_checked = []
    for index, evse in enumerate(evses):
        evse = require_object(evse, field=f"evses[{index}]")
        evses_checked.append((evse, *_evse_checked(evse, f"evses[{index}].")))
    with transaction.atomic():
        row = _location_row(owner, location_id)
        if row is not None and checked.columns["last_updated"] < row.last_updated:
            return False  # an older copy (a pull behind a push): ours stays
        columns = {**checked.columns, "partner": owner.partner}
        columns.pop("location_id")
        row, _created = PartnerLocation.objects.update_or_create(
            country_code=owner.country_code,
            party_id=owner.party_id,
            location_id=location_id,
            defaults={
                **columns,
                "data": _without(obj, "evses"),
                "notes": checked.notes,
            },
        )
        uids = []
        for evse_obj, evse_checked, connectors in evses_checked:
            _store_evse(row, evse_obj, evse_checked, connectors)
            uids.append(evse_checked.columns["uid"])
        # A PUT replaces the Location: EVSEs it no longer has are gone (a CPO
        # following mod_locations keeps them, with status REMOVED).
        row.evses.exclude(uid__in=uids).delete()
    return True


def location_patch(owner: Owner, location_id: str, patch: Any) -> None:
    """PATCH fields of a Location; it must carry last_updated (mod_locations "PATCH Method")."""
    patch = require_object(patch)
    _check_key(patch, "country_code", owner.country_code)
    _check_key(patch, "party_id", owner.party_id)
    _check_key(patch, "id", location_id)
    _datetime(patch, "last_updated", path="")
    with transaction.atomic():
        row = _location_row(owner, location_id)
        if row is None:
            raise _unknown(f"Unknown location {location_id}")
        merged = {**row.data, **_without(patch, "evses")}
        checked = _Checked()
        _location(merged, checked)
        evses = patch.get("evses")
        evses_checked = []
        if evses is not None:
            if not isinstance(evses, list):
                raise _invalid("evses: a list of EVSE objects is required")
            for index, evse in enumerate(evses):
                evse = require_object(evse, field=f"evses[{index}]")
                evses_checked.append((evse, *_evse_checked(evse, f"evses[{index}].")))
        columns = dict(checked.columns)
        columns.pop("location_id")
        for name, value in columns.items():
            setattr(row, name, value)
        row.data, row.notes = merged, checked.notes
        row.save()
        for evse_obj, evse_checked, connectors in evses_checked:
            _store_evse(row, evse_obj, evse_checked, connectors)


def evse_store(owner: Owner, location_id: str, evse_uid: str, obj: Any) -> bool:
    """PUT a whole EVSE (with its Connectors) into a Location we hold."""
    obj = require_object(obj)
    _check_key(obj, "uid", evse_uid)
    checked, connectors = _evse_checked(obj, "")
    with transaction.atomic():
        location = _location_row(owner, location_id)
        if location is None:
            raise _unknown(f"Unknown location {location_id}")
        current = location.evses.filter(uid=evse_uid).first()
        if (
            current is not None
            and checked.columns["last_updated"] < current.last_updated
        ):
            return False
        _store_evse(location, obj, checked, connectors)
        _touch(location, checked.columns["last_updated"])
    return True


def _evse_row(owner: Owner, location_id: str, evse_uid: str) -> PartnerEvse:
    evse = (
        PartnerEvse.objects.select_for_update()
        .select_related("location")
        .filter(
            location__country_code=owner.country_code,
            location__party_id=owner.party_id,
            location__location_id=location_id,
            uid=evse_uid,
        )
        .first()
    )
    if evse is None:
        raise _unknown(f"Unknown EVSE {location_id}/{evse_uid}")
    return evse


def evse_patch(owner: Owner, location_id: str, evse_uid: str, patch: Any) -> None:
    """PATCH fields of an EVSE, e.g. its live status (mod_locations "PATCH Method")."""
    patch = require_object(patch)
    _check_key(patch, "uid", evse_uid)
    _datetime(patch, "last_updated", path="")
    with transaction.atomic():
        evse = _evse_row(owner, location_id, evse_uid)
        merged = {**evse.data, **_without(patch, "connectors")}
        checked = _Checked()
        _evse(merged, "", checked)
        connectors = None
        if "connectors" in patch:
            connectors = _connectors_checked(patch["connectors"], "")
        columns = dict(checked.columns)
        columns.pop("uid")
        for name, value in columns.items():
            setattr(evse, name, value)
        evse.data = merged
        evse.save()
        if connectors is not None:
            _store_connectors(evse, connectors)
        _touch(evse.location, checked.columns["last_updated"])


def connector_store(
    owner: Owner, location_id: str, evse_uid: str, connector_id: str, obj: Any
) -> bool:
    """PUT a whole Connector into an EVSE we hold."""
    obj = require_object(obj)
    _check_key(obj, "id", connector_id)
    checked = _Checked()
    _connector(obj, "", checked)
    with transaction.atomic():
        evse = _evse_row(owner, location_id, evse_uid)
        current = evse.connectors.filter(connector_id=connector_id).first()
        if (
            current is not None
            and checked.columns["last_updated"] < current.last_updated
        ):
            return False
        columns = dict(checked.columns)
        columns.pop("connector_id")
        PartnerConnector.objects.update_or_create(
            evse=evse, connector_id=connector_id, defaults={**columns, "data": obj}
        )
        _touch(evse, checked.columns["last_updated"])
        _touch(evse.location, checked.columns["last_updated"])
    return True


def connector_patch(
    owner: Owner, location_id: str, evse_uid: str, connector_id: str, patch: Any
) -> None:
    patch = require_object(patch)
    _check_key(patch, "id", connector_id)
    _datetime(patch, "last_updated", path="")
    with transaction.atomic():
        evse = _evse_row(owner, location_id, evse_uid)
        connector = evse.connectors.filter(connector_id=connector_id).first()
        if connector is None:
            raise _unknown(f"Unknown connector {location_id}/{evse_uid}/{connector_id}")
        merged = {**connector.data, **patch}
        checked = _Checked()
        _connector(merged, "", checked)
        columns = dict(checked.columns)
        columns.pop("connector_id")
        for name, value in columns.items():
            setattr(connector, name, value)
        connector.data = merged
        connector.save()
        _touch(evse, checked.columns["last_updated"])
        _touch(evse.location, checked.columns["last_updated"])


# --- Reading back -------------------------------------------------------------------


def connector_object(connector: PartnerConnector) -> dict[str, Any]:
    return dict(connector.data)


def evse_object(evse: PartnerEvse) -> dict[str, Any]:
    return {
        **evse.data,
        "connectors": [connector_object(c) for c in evse.connectors.all()],
    }


def location_object(location: PartnerLocation) -> dict[str, Any]:
    """The Location as we hold it, EVSEs and Connectors included."""
    evses = location.evses.prefetch_related("connectors")
    return {**location.data, "evses": [evse_object(e) for e in evses]}


class PartnerLocationView(OcpiView):
    """.../emsp/2.2.1/locations/{country_code}/{party_id}/{location_id}[/{evse_uid}[/{connector_id}]]."""

    module = "locations"
    partner_role = "CPO"

    def get(
        self,
        request: HttpRequest,
        country_code: str,
        party_id: str,
        location_id: str,
        evse_uid: str | None = None,
        connector_id: str | None = None,
    ) -> OcpiResult:
        owner = owner_for(self.caller.partner, country_code, party_id)
        location = PartnerLocation.objects.filter(
            country_code=owner.country_code,
            party_id=owner.party_id,
            location_id=location_id,
        ).first()
        if location is None:
            raise _unknown(f"Unknown location {location_id}")
        if evse_uid is None:
            return OcpiResult(data=location_object(location))
        evse = location.evses.filter(uid=evse_uid).first()
        if evse is None:
            raise _unknown(f"Unknown EVSE {location_id}/{evse_uid}")
        if connector_id is None:
            return OcpiResult(data=evse_object(evse))
        connector = evse.connectors.filter(connector_id=connector_id).first()
        if connector is None:
            raise _unknown(f"Unknown connector {location_id}/{evse_uid}/{connector_id}")
        return OcpiResult(data=connector_object(connector))

    def put(self, request: HttpRequest, **url: str) -> OcpiResult:
        return self._write(
            request, (location_store, evse_store, connector_store), **url
        )

    def patch(self, request: HttpRequest, **url: str) -> OcpiResult:
        return self._write(
            request, (location_patch, evse_patch, connector_patch), **url
        )

    def _write(
        self,
        request: HttpRequest,
        writers: tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]],
        *,
        country_code: str,
        party_id: str,
        location_id: str,
        evse_uid: str | None = None,
        connector_id: str | None = None,
    ) -> OcpiResult:
        """PUT or PATCH of the object the URL names: Location, EVSE or Connector."""
        owner = owner_for(self.caller.partner, country_code, party_id)
        body = request_json(request)
        keys = [k for k in (location_id, evse_uid, connector_id) if k is not None]
        writers[len(keys) - 1](owner, *keys, body)
        return OcpiResult()
