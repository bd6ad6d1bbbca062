"""Version-neutral facts a charger reports, as the domain reads them.

Each OCPP version adapter (``stations/ocpp/v16/``, ``stations/ocpp/v201/``)
turns its wire payloads into these values and the services of ``stations`` and
``sessions_app`` take only these: no service reads a camelCase field. The
vocabulary is the domain's: energy in Wh, power in W, times aware UTC,
measurands, phases and locations by the names both OCPP versions share (OCPP
1.6 §7.31 Measurand, OCPP 2.0.1 §3.43 MeasurandEnumType), authorization
statuses as ``sessions_app.models.TokenStatus`` spells them (the values 1.6's
AuthorizationStatus and 2.0.1's AuthorizationStatusEnumType have in common,
plus 2.0.1's own).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime

ENERGY_REGISTER = "Energy.Active.Import.Register"
ENERGY_INTERVAL = "Energy.Active.Import.Interval"
POWER_ACTIVE_IMPORT = "Power.Active.Import"
STATE_OF_CHARGE = "SoC"
# The measurand when a charger names none (OCPP 1.6 §7.45, OCPP 2.0.1 §2.42).
DEFAULT_MEASURAND = ENERGY_REGISTER
SIGNED_DATA = "SignedData"

# Kilo units are stored in their base unit (Wh, W, varh, var, VA).
_UNIT_SCALE = {
    "kWh": 1000.0,
    "kW": 1000.0,
    "kvarh": 1000.0,
    "kvar": 1000.0,
    "kVA": 1000.0,
}


def normalized_value(
    raw_value: str, *, unit: str, value_format: str, multiplier: int = 0
) -> float | None:
    """The numeric value in base units, or None (signed or not a number).

    ``multiplier`` is OCPP 2.0.1's UnitOfMeasure power of ten (§2.51).
    """
    if value_format == SIGNED_DATA:
        return None
    try:
        number = float(raw_value)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    return number * _UNIT_SCALE.get(unit, 1.0) * (10.0**multiplier)


@dataclass(frozen=True)
class Sample:
    """One measured value at one instant, normalized (the meter-value store's row)."""

    timestamp: datetime
    measurand: str
    phase: str
    location: str
    unit: str
    context: str
    value_format: str
    raw_value: str
    value: float | None
    # Why the sample is kept but not used (a unit or measurand the charger's
    # protocol does not define); its value is then None.
    flag: str = ""
    # The vendor-profile quirk that changed how it was read (``VendorQuirks``).
    quirk: str = ""


@dataclass(frozen=True)
class VendorQuirks:
    """What a charger model is known to get wrong: its vendor profile's facts.

    Version-neutral: each OCPP adapter applies them to its own wire format and
    puts ``note(...)`` on what it changed.
    """

    profile_id: int
    label: str  # "Vendor Model 1.2.*"
    # Energy readings labelled Wh are in kWh.
    energy_kwh_labelled_wh: bool = False
    # Timestamps without a zone are in this IANA zone ("" = UTC).
    naive_time_zone: str = ""
    # Statuses on connector 0 (the charger as a whole) that are a habit.
    connector_zero_ignored: frozenset[str] = frozenset()
    # No StopTransaction on power loss: open sessions are closed at the next boot.
    close_sessions_at_boot: bool = False

    def note(self, what: str, limit: int = 120) -> str:
        return f"{what} (vendor profile {self.label})"[:limit]


def energy_labelled_wh(measurand: str, unit: str) -> bool:
    """An energy reading in Wh by its label (Wh is the default unit of energy)."""
    return measurand.startswith("Energy.") and unit in ("Wh", "")


def notes_joined(*notes: str, limit: int = 120) -> str:
    return "; ".join(note for note in notes if note)[:limit]


@dataclass(frozen=True)
class Authorization:
    """What the CMS answers about an id token (1.6 IdTagInfo, 2.0.1 IdTokenInfo)."""

    status: str  # TokenStatus: "Accepted" | "Blocked" | "Expired" | "Invalid" | ...
    expires_at: datetime | None = None
    group_token: str | None = None

    @property
    def is_accepted(self) -> bool:
        return self.status == "Accepted"

    def with_status(self, status: str) -> Authorization:
        return Authorization(
            status=status, expires_at=self.expires_at, group_token=self.group_token
        )


@dataclass(frozen=True)
class TransactionUpdate:
    """A running transaction's news from an OCPP 2.0.1 TransactionEvent.

    ``seq_no`` orders a transaction's events (OCPP 2.0.1 E01.FR.16: every event
    of a transaction counts up by one); ``offline`` marks an event the charger
    queued while it could not reach the CMS (E04).
    """

    charge_point_id: int
    charger_transaction_id: str  # the charger's own name of the transaction
    event: str  # "Started" | "Updated" | "Ended"
    at: datetime
    seq_no: int
    trigger_reason: str
    connector_number: int
    id_token: str | None
    offline: bool = False
    charging_state: str = ""
    stopped_reason: str = ""
    remote_start_id: int | None = None
    reservation_id: int | None = None
    samples: tuple[Sample, ...] = field(default=())
    record: dict | None = None  # the message as received, kept for reconciliation


@dataclass(frozen=True)
class DeviceVariable:
    """One attribute of one variable of a charger's device model (OCPP 2.0.1 §1.2 B).

    ``evse`` and ``connector`` are 0 for a component of the station as a whole.
    """

    component: str
    variable: str
    component_instance: str = ""
    variable_instance: str = ""
    evse: int = 0
    connector: int = 0
    attribute_type: str = "Actual"
    value: str = ""
    mutability: str = ""
    data_type: str = ""
    unit: str = ""
    values_list: str = ""


def device_variable_key(
    *,
    component: str,
    component_instance: str = "",
    evse: int = 0,
    variable: str,
    variable_instance: str = "",
) -> str:
    """How the portal, API and CLI name a device model variable as a configuration key.

    ``Component[instance]@evse.Variable[instance]``, e.g.
    ``OCPPCommCtrlr.HeartbeatInterval`` or ``EVSE@2.Power``; a connector inside an
    EVSE is addressed through its EVSE.
    """
    key = component
    if component_instance:
        key += f"[{component_instance}]"
    if evse:
        key += f"@{evse}"
    key += f".{variable}"
    if variable_instance:
        key += f"[{variable_instance}]"
    return key
