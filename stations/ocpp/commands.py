"""Version-neutral commands and answers: what the domain asks of a charger.

The domain (remote operations, smart charging, alerts, the APIs) builds these
small typed commands; the charger's version adapter (``stations.ocpp.versions``)
turns one into that charger's wire CALL when it is sent, and turns the
charger's answer back into an ``Answer``. No field here is spelled the way a
protocol version spells it: connectors are numbers, tokens are ``id_token``,
times are aware datetimes, durations carry their unit in the name.

``RawCall`` is the one exception by design: the operations console, the bulk
form, the command API and ``manage.py send_command`` accept a raw payload for
an action; the adapter validates it and turns it into the neutral command when
there is one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from cms.errors import InputError
from stations.facts import DeviceVariable


class CommandPayloadError(InputError):
    """A command the charger's protocol cannot carry; ``field`` names the culprit.

    For a neutral command ``field`` is the command's attribute
    (``connector``, ``id_token``); for a raw payload it is the wire field the
    user typed (e.g. ``idTag``), or ``action`` / ``payload``.
    """


class ResetKind(StrEnum):
    SOFT = "Soft"
    HARD = "Hard"


class Availability(StrEnum):
    OPERATIVE = "Operative"
    INOPERATIVE = "Inoperative"


class LocalListUpdate(StrEnum):
    FULL = "Full"
    DIFFERENTIAL = "Differential"


@dataclass(frozen=True, kw_only=True)
class SchedulePeriod:
    start_s: int
    limit: float  # in the schedule's rate unit (A or W)
    phases: int | None = None


@dataclass(frozen=True, kw_only=True)
class ChargingProfileSpec:
    """A charging profile as the domain stores it (``ChargingProfile`` rows)."""

    profile_id: int
    stack_level: int
    purpose: str  # ChargePointMaxProfile / TxDefaultProfile / TxProfile
    kind: str  # Absolute / Recurring / Relative
    rate_unit: str  # A / W
    periods: tuple[SchedulePeriod, ...]
    duration_s: int | None = None
    start_schedule: datetime | None = None
    min_charging_rate: float | None = None
    transaction_id: int | None = None
    recurrency_kind: str = ""
    valid_from: datetime | None = None
    valid_to: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class LocalListEntry:
    """One token of a local authorization list; ``status`` None removes it."""

    id_token: str
    status: str | None = None
    expires_at: datetime | None = None
    parent_id_token: str = ""


@dataclass(frozen=True, kw_only=True)
class Reset:
    kind: ResetKind = ResetKind.SOFT


@dataclass(frozen=True, kw_only=True)
class UnlockConnector:
    connector: int


@dataclass(frozen=True, kw_only=True)
class RemoteStart:
    id_token: str
    connector: int | None = None
    profile: ChargingProfileSpec | None = None


@dataclass(frozen=True, kw_only=True)
class RemoteStop:
    transaction_id: int


@dataclass(frozen=True, kw_only=True)
class ChangeAvailability:
    connector: int  # 0: the whole charger
    availability: Availability


@dataclass(frozen=True, kw_only=True)
class SetChargingProfile:
    connector: int
    profile: ChargingProfileSpec


@dataclass(frozen=True, kw_only=True)
class ClearChargingProfile:
    """Clear by profile id, or every profile matching the given criteria."""

    profile_id: int | None = None
    connector: int | None = None
    purpose: str = ""
    stack_level: int | None = None


@dataclass(frozen=True, kw_only=True)
class GetConfiguration:
    keys: tuple[str, ...] = ()  # empty: every key


@dataclass(frozen=True, kw_only=True)
class ChangeConfiguration:
    key: str
    value: str


@dataclass(frozen=True, kw_only=True)
class UpdateFirmware:
    location: str
    retrieve_at: datetime
    retries: int | None = None
    retry_interval_s: int | None = None
    # A signed image (1.6 security whitepaper SignedUpdateFirmware, 2.0.1
    # FirmwareType): the PEM certificate that signed it and the Base64 signature.
    signing_certificate: str = ""
    signature: str = ""


@dataclass(frozen=True, kw_only=True)
class GetDiagnostics:
    location: str
    start_time: datetime | None = None
    stop_time: datetime | None = None
    retries: int | None = None
    retry_interval_s: int | None = None


@dataclass(frozen=True, kw_only=True)
class ReserveNow:
    reservation_id: int
    connector: int  # 0: any connector of the charger
    id_token: str
    expires_at: datetime
    parent_id_token: str = ""


@dataclass(frozen=True, kw_only=True)
class CancelReservation:
    reservation_id: int


@dataclass(frozen=True, kw_only=True)
class SendLocalList:
    version: int
    update: LocalListUpdate
    entries: tuple[LocalListEntry, ...] = ()


@dataclass(frozen=True, kw_only=True)
class GetLocalListVersion:
    pass


@dataclass(frozen=True, kw_only=True)
class ClearCache:
    pass


@dataclass(frozen=True, kw_only=True)
class TriggerMessage:
    message: str  # BootNotification, MeterValues, StatusNotification, ...
    connector: int | None = None


@dataclass(frozen=True, kw_only=True)
class DataTransfer:
    vendor_id: str
    message_id: str = ""
    data: str = ""


@dataclass(frozen=True, kw_only=True)
class GetCompositeSchedule:
    connector: int  # 0: the grid connection
    duration_s: int
    rate_unit: str = ""  # A / W; empty: the charger's choice


# What a secret in a stored or logged CALL (a charger password) is replaced by.
REDACTED = "(secret, not kept)"


@dataclass(frozen=True, kw_only=True)
class CertificateSigned:
    """A certificate the CMS CA signed for the charger's CSR (1.6 security
    whitepaper A02/A03; 2.0.1 A02/A03), PEM, leaf first."""

    certificate_chain: str
    certificate_type: str = "ChargingStationCertificate"


@dataclass(frozen=True, kw_only=True)
class RenewCertificate:
    """Ask the charger to send a new CSR now (SignCertificate follows)."""


@dataclass(frozen=True, kw_only=True)
class SetBasicAuthPassword:
    """A new HTTP Basic password for the charger (security profiles 1/2)."""

    password: str


@dataclass(frozen=True, kw_only=True)
class CostUpdate:
    """The running total cost of a session, incl. tax, for the charger's display."""

    transaction_id: int  # the session (the CMS's handle)
    total_cost: Decimal


@dataclass(frozen=True, kw_only=True)
class CustomerInformation:
    """Ask for (``report``) and/or erase (``clear``) what the charger holds of a
    customer, named by an identifier or an id token (2.0.1 N09/N10)."""

    request_id: int
    report: bool
    clear: bool
    customer_identifier: str = ""
    id_token: str = ""
    id_token_kind: str = ""  # how the charger reads it (RFID card...); "" the CMS's


@dataclass(frozen=True, kw_only=True)
class RawCall:
    """An action without a neutral command (e.g. the security extensions)."""

    action: str
    payload: dict[str, Any] = field(default_factory=dict)


Command = (
    Reset
    | UnlockConnector
    | RemoteStart
    | RemoteStop
    | ChangeAvailability
    | SetChargingProfile
    | ClearChargingProfile
    | GetConfiguration
    | ChangeConfiguration
    | UpdateFirmware
    | GetDiagnostics
    | ReserveNow
    | CancelReservation
    | SendLocalList
    | GetLocalListVersion
    | ClearCache
    | TriggerMessage
    | DataTransfer
    | GetCompositeSchedule
    | CertificateSigned
    | RenewCertificate
    | SetBasicAuthPassword
    | CostUpdate
    | CustomerInformation
    | RawCall
)


# --- answers ------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ConfigurationEntry:
    key: str
    value: str | None
    is_readonly: bool = False
    # A 2.0.1 device model variable the entry reads or writes (its component,
    # EVSE/connector and variable), None for a 1.6 configuration key.
    device_variable: DeviceVariable | None = None
    # The charger's word on this entry (2.0.1 attributeStatus), "" for 1.6.
    status: str = ""


@dataclass(frozen=True, kw_only=True)
class ConfigurationRead:
    entries: tuple[ConfigurationEntry, ...]
    unknown_keys: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class LocalListVersion:
    version: int


@dataclass(frozen=True, kw_only=True)
class DiagnosticsFile:
    file_name: str  # empty: the charger has no diagnostics to upload


@dataclass(frozen=True, kw_only=True)
class CompositeSchedule:
    connector: int | None
    start: datetime | None
    rate_unit: str
    periods: tuple[SchedulePeriod, ...]
    duration_s: int | None = None


Fact = ConfigurationRead | LocalListVersion | DiagnosticsFile | CompositeSchedule


@dataclass(frozen=True, kw_only=True)
class Answer:
    """A charger's answer to a command.

    ``charger_status`` is the charger's own word (Accepted, Rejected,
    RebootRequired, Unlocked, NotSupported...; empty when the answer has none);
    ``is_accepted`` / ``is_rejected`` say what it means; ``fact`` carries what
    the answer reports (a configuration, a list version, a file name...).
    """

    charger_status: str = ""
    is_accepted: bool = False
    is_rejected: bool = False
    fact: Fact | None = None
