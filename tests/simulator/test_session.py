"""The simulator against a minimal central system: boot, heartbeats, sessions."""

from __future__ import annotations

import base64

import pytest
from ocpp.v16 import call

from tests.simulator.central import CentralSystem, power_w, register_wh, sampled
from tests.simulator.support import DC_50, running


async def test_charger_boots_reports_every_connector_and_heartbeats():
    async with (
        CentralSystem(heartbeat_interval=1) as central,
        running(central.url, ocpp_id="CP/7 Süd", password="s3cret"),
    ):
        boot = await central.wait_message("BootNotification")
        statuses = await central.wait_for(
            lambda: (
                len(central.messages("StatusNotification")) >= 3
                and central.messages("StatusNotification")
            ),
            what="statuses",
        )
        await central.wait_for(
            lambda: len(central.messages("Heartbeat")) >= 2, what="heartbeats"
        )

    assert boot.charger == "CP/7 Süd"
    assert central.paths[0] == "/ocpp/CP%2F7%20S%C3%BCd"
    expected = base64.b64encode("CP/7 Süd:s3cret".encode()).decode()
    assert central.headers[0]["authorization"] == f"Basic {expected}"
    assert boot.payload["charge_point_vendor"] == "SimCharge"
    assert boot.payload["charge_point_model"] == "SC-AC22-2"
    for field in (
        "firmware_version",
        "charge_point_serial_number",
        "iccid",
        "imsi",
        "meter_type",
    ):
        assert boot.payload[field]
    assert [s.payload["connector_id"] for s in statuses[:3]] == [0, 1, 2]
    assert all(s.payload["status"] == "Available" for s in statuses[:3])
    assert all(s.payload["timestamp"].endswith("Z") for s in statuses)


@pytest.mark.parametrize("first_answer", ["Pending", "Rejected"])
async def test_charger_retries_boot_after_interval_and_sends_nothing_else_before_accepted(
    first_answer,
):
    async with (
        CentralSystem(
            boot_statuses=[first_answer, "Accepted"], heartbeat_interval=1
        ) as central,
        running(central.url),
    ):
        await central.wait_for(
            lambda: len(central.messages("BootNotification")) >= 2, what="second boot"
        )
        await central.wait_message("StatusNotification")

    actions = [m.action for m in central.received]
    assert actions[:2] == ["BootNotification", "BootNotification"]


async def test_random_session_sends_start_rising_meter_values_and_stop():
    async with (
        CentralSystem() as central,
        running(
            central.url,
            speedup=600.0,
            mean_idle_s=30.0,
            mean_stay_s=3600.0,
            id_tags=("TAG-9",),
        ),
    ):
        stop = await central.wait_message("StopTransaction", deadline_s=30)

    authorize = central.messages("Authorize")[0]
    start = central.messages("StartTransaction")[0]
    transaction_id = stop.payload["transaction_id"]
    meter_values = [
        m
        for m in central.messages("MeterValues")
        if m.payload.get("transaction_id") == transaction_id
    ]
    assert authorize.payload["id_tag"] == "TAG-9"
    assert start.payload["id_tag"] == "TAG-9"
    assert start.payload["timestamp"].endswith("Z")
    assert len(meter_values) >= 2
    registers = [register_wh(m) for m in meter_values]
    assert registers == sorted(registers)
    assert registers[-1] > start.payload["meter_start"]
    assert stop.payload["meter_stop"] >= registers[-1]
    assert stop.payload["reason"] in ("Local", "EVDisconnected")
    assert any(power_w(m) > 0 for m in meter_values)
    first = meter_values[0]
    assert sampled(first, "Power.Active.Import")[0]["unit"] == "W"
    assert {v["phase"] for v in sampled(first, "Current.Import")} == {"L1", "L2", "L3"}
    assert all(
        v["context"] == "Sample.Periodic"
        for v in first.payload["meter_value"][0]["sampled_value"]
    )
    contexts = [
        v["sampled_value"][0]["context"] for v in stop.payload["transaction_data"]
    ]
    assert contexts == ["Transaction.Begin", "Transaction.End"]
    connector_statuses = [
        m.payload["status"]
        for m in central.messages("StatusNotification")
        if m.payload["connector_id"] == start.payload["connector_id"]
    ]
    assert connector_statuses.index("Preparing") < connector_statuses.index("Charging")


async def test_dc_session_reports_state_of_charge_rising():
    async with (
        CentralSystem() as central,
        running(central.url, spec=DC_50, speedup=300.0) as charger,
    ):
        await central.wait_online(charger.ocpp_id)
        answer = await central.call(
            charger.ocpp_id, call.RemoteStartTransaction(id_tag="TAG-1", connector_id=1)
        )
        await central.wait_for(
            lambda: (
                len([m for m in central.messages("MeterValues") if sampled(m, "SoC")])
                >= 3
            ),
            what="SoC samples",
        )

    assert answer.status == "Accepted"
    socs = [
        float(sampled(m, "SoC")[0]["value"])
        for m in central.messages("MeterValues")
        if sampled(m, "SoC")
    ]
    assert socs == sorted(socs)
    assert socs[-1] > socs[0]


async def test_rejected_id_tag_does_not_start_a_transaction():
    async with (
        CentralSystem(rejected_tags=("BLOCKED",)) as central,
        running(central.url, speedup=600.0, mean_idle_s=10.0, id_tags=("BLOCKED",)),
    ):
        await central.wait_message("Authorize")
        await central.wait_for(
            lambda: (
                [
                    m
                    for m in central.messages("StatusNotification")
                    if m.payload["status"] == "Preparing"
                ]
                and central.messages("StatusNotification")[-1].payload["status"]
                == "Available"
            ),
            what="back to Available",
        )

    assert central.messages("StartTransaction") == []
