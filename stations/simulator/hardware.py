"""Simulated charger models and their OCPP 1.6 configuration keys (spec §9)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

VENDOR = "SimCharge"
DC_CONNECTOR_TYPES = frozenset({"CCS2", "CCS1", "CHAdeMO", "GBT", "NACS"})

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
CURRENT_OFFERED = "Current.Offered"
VOLTAGE = "Voltage"
SOC = "SoC"
AC_MEASURANDS = (ENERGY_REGISTER, POWER, CURRENT, CURRENT_OFFERED, VOLTAGE)
DC_MEASURANDS = (*AC_MEASURANDS, SOC)


@dataclass(frozen=True)
class ConnectorSpec:
    connector_type: str
    max_power_w: float
    is_dc: bool
    phases: int
    is_tethered: bool

    @property
    def max_current_a(self) -> float:
        return self.max_power_w / (self.phases * 230.0)


@dataclass(frozen=True)
class ChargerSpec:
    model: str
    connectors: tuple[ConnectorSpec, ...]
    vendor: str = VENDOR
    firmware_version: str = "2.3.1"
    meter_type: str = "SimMeter EM340"

    @property
    def is_dc(self) -> bool:
        return any(connector.is_dc for connector in self.connectors)

    @property
    def rate_unit_setting(self) -> str:
        """ChargingScheduleAllowedChargingRateUnit: amps for AC, watts for DC."""
        return "Power" if self.is_dc else "Current"

    @property
    def measurands(self) -> tuple[str, ...]:
        return DC_MEASURANDS if self.is_dc else AC_MEASURANDS


def connector_spec(connector_type: str, max_power_kw: float) -> ConnectorSpec:
    """Hardware for a connector type and rating (DC connectors have fixed cables)."""
    is_dc = connector_type in DC_CONNECTOR_TYPES
    single_phase = not is_dc and max_power_kw <= 7.4
    return ConnectorSpec(
        connector_type=connector_type,
        max_power_w=float(max_power_kw) * 1000.0,
        is_dc=is_dc,
        phases=1 if is_dc or single_phase else 3,
        is_tethered=is_dc,
    )


def spec_from_connectors(connectors: Iterable[tuple[str, float]]) -> ChargerSpec:
    """Build a charger from (connector type, max kW) pairs, e.g. from the CMS data."""
    specs = tuple(connector_spec(kind, kw) for kind, kw in connectors)
    if not specs:
        raise ValueError("a charger needs at least one connector")
    peak_kw = round(max(spec.max_power_w for spec in specs) / 1000)
    prefix = "SC-DC" if any(spec.is_dc for spec in specs) else "SC-AC"
    return ChargerSpec(model=f"{prefix}{peak_kw}-{len(specs)}", connectors=specs)


_CATALOGUE: tuple[tuple[tuple[str, float], ...], ...] = (
    (("Type2", 22.0), ("Type2", 22.0)),
    (("CCS2", 150.0),),
    (("Type2", 11.0),),
    (("CCS2", 50.0), ("CHAdeMO", 50.0)),
    (("Type2", 22.0), ("Type2", 22.0)),
    (("Type2", 7.4),),
)


def spec_for_index(index: int) -> ChargerSpec:
    """A mixed fleet: mostly AC 22 kW twin sockets, some DC fast chargers."""
    return spec_from_connectors(_CATALOGUE[index % len(_CATALOGUE)])


@dataclass
class ConfigKey:
    value: str
    kind: str  # "int", "bool", "measurands", "text"
    is_readonly: bool = False
    is_reboot_required: bool = False


def _bool(value: bool) -> str:
    return "true" if value else "false"


@dataclass
class Configuration:
    """The charger's configuration keys with OCPP 1.6 ChangeConfiguration rules."""

    keys: dict[str, ConfigKey] = field(default_factory=dict)
    measurands: tuple[str, ...] = AC_MEASURANDS

    @classmethod
    def for_charger(
        cls, spec: ChargerSpec, *, meter_interval_s: int, heartbeat_s: int = 300
    ) -> Configuration:
        sampled = [ENERGY_REGISTER, POWER, CURRENT, VOLTAGE]
        if spec.is_dc:
            sampled.append(SOC)
        rw_int = {
            "HeartbeatInterval": heartbeat_s,
            "MeterValueSampleInterval": meter_interval_s,
            "ClockAlignedDataInterval": 0,
            "ConnectionTimeOut": 60,
            "ResetRetries": 3,
            "TransactionMessageAttempts": 3,
            "TransactionMessageRetryInterval": 20,
            "MinimumStatusDuration": 0,
        }
        ro_int = {
            "NumberOfConnectors": len(spec.connectors),
            "GetConfigurationMaxKeys": 60,
            "ChargeProfileMaxStackLevel": 10,
            "ChargingScheduleMaxPeriods": 24,
            "MaxChargingProfilesInstalled": 16,
            "LocalAuthListMaxLength": 500,
            "SendLocalListMaxLength": 250,
        }
        rw_bool = {
            "AllowOfflineTxForUnknownId": False,
            "AuthorizationCacheEnabled": True,
            "AuthorizeRemoteTxRequests": False,
            "LocalAuthorizeOffline": True,
            "LocalPreAuthorize": False,
            "LocalAuthListEnabled": True,
            "StopTransactionOnEVSideDisconnect": True,
            "StopTransactionOnInvalidId": True,
            "UnlockConnectorOnEVSideDisconnect": True,
        }
        ro_bool = {
            "ReserveConnectorZeroSupported": False,
            "ConnectorSwitch3to1PhaseSupported": False,
        }
        keys: dict[str, ConfigKey] = {}
        keys.update({k: ConfigKey(str(v), "int") for k, v in rw_int.items()})
        keys.update(
            {k: ConfigKey(str(v), "int", is_readonly=True) for k, v in ro_int.items()}
        )
        keys.update({k: ConfigKey(_bool(v), "bool") for k, v in rw_bool.items()})
        keys.update(
            {
                k: ConfigKey(_bool(v), "bool", is_readonly=True)
                for k, v in ro_bool.items()
            }
        )
        keys.update(
            {
                "MeterValuesSampledData": ConfigKey(",".join(sampled), "measurands"),
                "MeterValuesAlignedData": ConfigKey(ENERGY_REGISTER, "measurands"),
                "StopTxnSampledData": ConfigKey(ENERGY_REGISTER, "measurands"),
                "StopTxnAlignedData": ConfigKey("", "measurands"),
                "ChargingScheduleAllowedChargingRateUnit": ConfigKey(
                    spec.rate_unit_setting, "text", is_readonly=True
                ),
                "SupportedFeatureProfiles": ConfigKey(
                    "Core,FirmwareManagement,LocalAuthListManagement,"
                    "Reservation,SmartCharging,RemoteTrigger",
                    "text",
                    is_readonly=True,
                ),
                "ConnectorPhaseRotation": ConfigKey(
                    ",".join(
                        f"{n}.{'RST' if not c.is_dc else 'NotApplicable'}"
                        for n, c in enumerate(spec.connectors, start=1)
                    ),
                    "text",
                    is_reboot_required=True,
                ),
                # The WebSocket keep-alive is set up when the socket opens.
                "WebSocketPingInterval": ConfigKey(
                    "60", "int", is_reboot_required=True
                ),
            }
        )
        return cls(keys=keys, measurands=spec.measurands)

    def get(self, names: list[str] | None) -> tuple[list[dict[str, object]], list[str]]:
        """Answer GetConfiguration: (configurationKey entries, unknownKey names)."""
        wanted = names or list(self.keys)
        known = [
            {
                "key": name,
                "readonly": self.keys[name].is_readonly,
                "value": self.keys[name].value,
            }
            for name in wanted
            if name in self.keys
        ]
        unknown = [name for name in wanted if name not in self.keys]
        return known, unknown

    def change(self, name: str, value: str) -> str:
        """Apply ChangeConfiguration; return the OCPP ConfigurationStatus."""
        key = self.keys.get(name)
        if key is None:
            return "NotSupported"
        if key.is_readonly or not self._is_valid(key, value):
            return "Rejected"
        key.value = value.strip() if key.kind != "text" else value
        if key.kind == "bool":
            key.value = key.value.lower()
        return "RebootRequired" if key.is_reboot_required else "Accepted"

    def _is_valid(self, key: ConfigKey, value: str) -> bool:
        text = value.strip()
        if key.kind == "int":
            return text.isdigit() and int(text) <= 86_400 * 7
        if key.kind == "bool":
            return text.lower() in ("true", "false")
        if key.kind == "measurands":
            items = [item.strip() for item in text.split(",") if item.strip()]
            return all(item in self.measurands for item in items)
        return True

    def integer(self, name: str) -> int:
        return int(self.keys[name].value)

    def flag(self, name: str) -> bool:
        return self.keys[name].value == "true"

    def items(self, name: str) -> list[str]:
        return [item.strip() for item in self.keys[name].value.split(",") if item]
