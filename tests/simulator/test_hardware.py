"""Charger models and configuration key rules."""

from __future__ import annotations

import random

from stations.simulator.charger import _firmware_version_from, next_backoff
from stations.simulator.fleet import charger_ids
from stations.simulator.hardware import (
    Configuration,
    spec_for_index,
    spec_from_connectors,
)


def test_connector_types_decide_ac_or_dc_and_the_rate_unit():
    ac = spec_from_connectors([("Type2", 22), ("Type2", 22)])
    dc = spec_from_connectors([("CCS2", 150)])
    assert ac.rate_unit_setting == "Current"
    assert ac.connectors[0].phases == 3
    assert round(ac.connectors[0].max_current_a) == 32
    assert dc.rate_unit_setting == "Power"
    assert dc.connectors[0].is_tethered
    assert spec_from_connectors([("Type2", 7.4)]).connectors[0].phases == 1


def test_default_fleet_mixes_ac_and_dc():
    specs = [spec_for_index(i) for i in range(6)]
    assert any(spec.is_dc for spec in specs)
    assert any(not spec.is_dc for spec in specs)


def test_configuration_change_rules():
    config = Configuration.for_charger(spec_for_index(0), meter_interval_s=30)
    assert config.change("MeterValueSampleInterval", "10") == "Accepted"
    assert config.integer("MeterValueSampleInterval") == 10
    assert config.change("MeterValueSampleInterval", "-1") == "Rejected"
    assert config.change("AuthorizeRemoteTxRequests", "TRUE") == "Accepted"
    assert config.flag("AuthorizeRemoteTxRequests")
    assert config.change("NumberOfConnectors", "3") == "Rejected"
    assert config.change("Unknown", "x") == "NotSupported"
    assert config.change("ConnectorPhaseRotation", "1.RST") == "RebootRequired"
    assert config.change("MeterValuesSampledData", "SoC") == "Rejected"  # AC has no SoC
    known, unknown = config.get(["HeartbeatInterval", "Nope"])
    assert known == [{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
    assert unknown == ["Nope"]


def test_demo_ids_are_two_digit_numbered():
    assert charger_ids(prefix="DEMO-CP-", start=1, count=3) == [
        "DEMO-CP-01",
        "DEMO-CP-02",
        "DEMO-CP-03",
    ]


def test_new_firmware_version_comes_from_the_file_name():
    assert (
        _firmware_version_from("https://x.example/fw/sc-3.1.0.bin", "2.3.1") == "3.1.0"
    )
    assert _firmware_version_from("https://x.example/latest.bin", "2.3.1") == "2.3.2"


def test_reconnect_backoff_grows_and_is_capped():
    rng = random.Random(3)
    delays = [next_backoff(n, min_s=1, max_s=60, rng=rng) for n in range(12)]
    assert all(0.5 <= d <= 90 for d in delays)
    assert delays[0] < 1.5
    assert min(delays[8:]) >= 30
