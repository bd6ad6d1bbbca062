"""Bulk onboarding of chargers from CSV (the portal's import page).

The first line names the columns (case and spaces do not matter):

=====================  ========  ====================================================
column (aliases)       required  meaning
=====================  ========  ====================================================
``ocpp_id`` (id)       yes       the charger's OCPP identity (chargeBoxIdentity)
``station``            yes       the name of a station of the chosen network
``connectors``         no        how many connectors, 1 (default) to 10
``connector_types``    no        Type2 (default), CCS2, CHAdeMO...; one for all, or
                                 one per connector separated by ``;``
``max_power_kw``       no        22 (default); one for all, or one per connector
``display_name``       no        free text shown in the portal
=====================  ========  ====================================================

A charger that already connected (it waits in Unassigned) is placed at its station,
its registration accepted and its connectors set; a new one is registered. A charger
already at another station is refused. The whole file is checked first and nothing
is written when any line is wrong: every error names its line and column.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from accounts.http import AnyUser
from cms.csvimport import CsvImportError, ImportLineError, csv_records
from stations import inventory
from stations.models import (
    ChargePoint,
    Connector,
    ConnectorType,
    RegistrationStatus,
    Station,
    ocpp_id_validator,
)

COLUMN_ALIASES = {
    "ocpp_id": "ocpp_id",
    "id": "ocpp_id",
    "charge_point": "ocpp_id",
    "charger": "ocpp_id",
    "station": "station",
    "connectors": "connectors",
    "connector_count": "connectors",
    "connector_types": "connector_types",
    "connector_type": "connector_types",
    "types": "connector_types",
    "max_power_kw": "max_power_kw",
    "max_power": "max_power_kw",
    "power_kw": "max_power_kw",
    "display_name": "display_name",
    "name": "display_name",
}
HINT = (
    "Known columns: ocpp_id, station, connectors, connector_types, max_power_kw, "
    "display_name."
)
MAX_CONNECTORS = 10
DEFAULT_POWER_KW = Decimal("22")


class ChargerImportError(CsvImportError):
    """The charger file was rejected; ``errors`` lists every problem found."""


@dataclass(frozen=True)
class _Row:
    line: int
    ocpp_id: str
    station: Station
    types: tuple[str, ...]
    powers: tuple[Decimal, ...]
    display_name: str | None


@dataclass
class ChargerImportSummary:
    registered: int = 0
    assigned: int = 0
    connectors: int = 0


def _per_connector(
    text: str, count: int, line: int, column: str, errors: list[ImportLineError]
) -> list[str] | None:
    values = [value.strip() for value in text.split(";")] if text else []
    if len(values) == 1:
        return values * count
    if values and len(values) != count:
        errors.append(
            ImportLineError(
                line,
                column,
                f"{len(values)} values for {count} connectors: give one for all "
                f"or one per connector.",
            )
        )
        return None
    return values


def _connector_type(text: str) -> str | None:
    for value, label in ConnectorType.choices:
        if text.lower() in (str(value).lower(), str(label).lower()):
            return str(value)
    return None


def _parse_row(
    line: int, record: dict[str, str], stations: dict[str, list[Station]]
) -> tuple[_Row | None, list[ImportLineError]]:
    errors: list[ImportLineError] = []
    ocpp_id = record.get("ocpp_id", "")
    try:
        ocpp_id_validator(ocpp_id)
    except ValidationError:
        errors.append(
            ImportLineError(
                line,
                "ocpp_id",
                "1 to 48 characters, without spaces, '/', '?' or '#'."
                if ocpp_id
                else "An OCPP id is required.",
            )
        )
    name = record.get("station", "")
    matches = stations.get(name.lower(), [])
    if not name:
        errors.append(ImportLineError(line, "station", "A station is required."))
    elif not matches:
        errors.append(
            ImportLineError(line, "station", f"No station “{name}” in this network.")
        )
    elif len(matches) > 1:
        errors.append(
            ImportLineError(line, "station", f"Several stations are named “{name}”.")
        )
    count_text = record.get("connectors", "") or "1"
    count = int(count_text) if count_text.isdigit() else 0
    if not 1 <= count <= MAX_CONNECTORS:
        errors.append(
            ImportLineError(
                line, "connectors", f"A whole number from 1 to {MAX_CONNECTORS}."
            )
        )
        count = 1
    raw_types = _per_connector(
        record.get("connector_types", ""), count, line, "connector_types", errors
    )
    types: list[str] = []
    for text in raw_types or []:
        kind = _connector_type(text) if text else ConnectorType.TYPE2.value
        if kind is None:
            errors.append(
                ImportLineError(
                    line,
                    "connector_types",
                    f"“{text}” is not a connector type: use "
                    + ", ".join(str(v) for v in ConnectorType.values)
                    + ".",
                )
            )
        else:
            types.append(kind)
    raw_powers = _per_connector(
        record.get("max_power_kw", ""), count, line, "max_power_kw", errors
    )
    powers: list[Decimal] = []
    for text in raw_powers or []:
        try:
            power = Decimal(text) if text else DEFAULT_POWER_KW
        except InvalidOperation:
            power = Decimal(-1)
        if not Decimal(0) < power <= Decimal(1000) or power != power.quantize(
            Decimal("0.01")
        ):
            errors.append(
                ImportLineError(
                    line, "max_power_kw", f"“{text}”: kW above 0, at most 1000."
                )
            )
        else:
            powers.append(power)
    if not types:
        types = [ConnectorType.TYPE2.value] * count
    if not powers:
        powers = [DEFAULT_POWER_KW] * count
    if errors:
        return None, errors
    return (
        _Row(
            line=line,
            ocpp_id=ocpp_id,
            station=matches[0],
            types=tuple(types),
            powers=tuple(powers),
            display_name=record.get("display_name"),
        ),
        [],
    )


def _check_existing(rows: list[_Row]) -> tuple[dict[str, ChargePoint], list[Any]]:
    existing = {
        cp.ocpp_id: cp
        for cp in ChargePoint.objects.filter(
            ocpp_id__in=[row.ocpp_id for row in rows]
        ).select_related("station")
    }
    errors = []
    for row in rows:
        current = existing.get(row.ocpp_id)
        if current is not None and current.station_id not in (None, row.station.pk):
            errors.append(
                ImportLineError(
                    row.line,
                    "ocpp_id",
                    f"{row.ocpp_id} is already at station “{current.station}”; "
                    "move it on its own page.",
                )
            )
    return existing, errors


def charge_points_import(
    *, actor: AnyUser | None, csv_text: str, stations: QuerySet[Station]
) -> ChargerImportSummary:
    """Register or place the chargers of a CSV file at ``stations``; all or none.

    Raises ChargerImportError listing every bad line.
    """
    by_name: dict[str, list[Station]] = {}
    for station in stations:
        by_name.setdefault(station.name.lower(), []).append(station)
    records, errors = csv_records(
        csv_text, aliases=COLUMN_ALIASES, required="ocpp_id", hint=HINT
    )
    rows: list[_Row] = []
    seen: dict[str, int] = {}
    for line, record in records:
        row, row_errors = _parse_row(line, record, by_name)
        errors.extend(row_errors)
        if row is None:
            continue
        if row.ocpp_id in seen:
            errors.append(
                ImportLineError(
                    line, "ocpp_id", f"Duplicate of line {seen[row.ocpp_id]}."
                )
            )
            continue
        seen[row.ocpp_id] = line
        rows.append(row)
    if not rows and not errors:
        errors.append(ImportLineError(2, "file", "The file holds no charger lines."))
    existing, existing_errors = _check_existing(rows)
    errors.extend(existing_errors)
    if errors:
        raise ChargerImportError(sorted(errors, key=lambda e: e.line))
    summary = ChargerImportSummary()
    with transaction.atomic():
        for row in rows:
            _onboard(
                actor=actor, row=row, current=existing.get(row.ocpp_id), summary=summary
            )
    return summary


def _onboard(
    *,
    actor: AnyUser | None,
    row: _Row,
    current: ChargePoint | None,
    summary: ChargerImportSummary,
) -> None:
    if current is None:
        current = inventory.charge_point_register(
            actor=actor,
            ocpp_id=row.ocpp_id,
            station=row.station,
            display_name=row.display_name or "",
        )
        summary.registered += 1
    else:
        if current.station_id is None:
            inventory.charge_point_assign(
                actor=actor, charge_point=current, station=row.station
            )
            summary.assigned += 1
        if current.registration_status != RegistrationStatus.ACCEPTED:
            inventory.charge_point_approve(actor=actor, charge_point=current)
        if row.display_name is not None and row.display_name != current.display_name:
            inventory.charge_point_update(
                actor=actor,
                charge_point=current,
                fields={"display_name": row.display_name},
            )
    connectors = {
        c.connector_id: c for c in Connector.objects.filter(charge_point=current)
    }
    for number, (kind, power) in enumerate(
        zip(row.types, row.powers, strict=True), start=1
    ):
        fields = {"connector_id": number, "connector_type": kind, "max_power_kw": power}
        connector = connectors.get(number)
        if connector is None:
            inventory.connector_create(actor=actor, charge_point=current, fields=fields)
            summary.connectors += 1
        elif (connector.connector_type, connector.max_power_kw) != (kind, power):
            inventory.connector_update(actor=actor, connector=connector, fields=fields)
