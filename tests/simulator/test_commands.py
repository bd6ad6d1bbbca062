"""Every CMS-initiated OCPP 1.6 call gets a realistic answer and consequence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocpp.v16 import call

from tests.simulator.central import CentralSystem, Received, power_w, sampled
from tests.simulator.support import DC_50, running


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def statuses(central: CentralSystem, connector_id: int) -> list[str]:
    return [
        m.payload["status"]
        for m in central.messages("StatusNotification")
        if m.payload["connector_id"] == connector_id
    ]


async def start_remote_session(
    central: CentralSystem, ocpp_id: str, id_tag: str = "APP-1"
) -> Received:
    await central.wait_online(ocpp_id)
    answer = await central.call(
        ocpp_id, call.RemoteStartTransaction(id_tag=id_tag, connector_id=1)
    )
    assert answer.status == "Accepted"
    return await central.wait_message(
        "StartTransaction", lambda m: m.payload["id_tag"] == id_tag
    )


async def test_remote_start_starts_a_session_and_remote_stop_ends_it():
    async with CentralSystem() as central, running(central.url) as charger:
        start = await start_remote_session(central, charger.ocpp_id)
        transaction_id = 101
        await central.wait_message(
            "MeterValues", lambda m: m.payload.get("transaction_id") == transaction_id
        )
        unknown = await central.call(
            charger.ocpp_id, call.RemoteStopTransaction(transaction_id=999)
        )
        known = await central.call(
            charger.ocpp_id, call.RemoteStopTransaction(transaction_id=transaction_id)
        )
        stop = await central.wait_message("StopTransaction")
        await central.wait_for(
            lambda: statuses(central, 1)[-1:] == ["Finishing"], what="Finishing"
        )

    assert start.payload["connector_id"] == 1
    assert unknown.status == "Rejected"
    assert known.status == "Accepted"
    assert stop.payload["transaction_id"] == transaction_id
    assert stop.payload["reason"] == "Remote"
    connector_statuses = statuses(central, 1)
    assert (
        connector_statuses.index("Finishing")
        == connector_statuses.index("Charging") + 1
    )


async def test_remote_start_is_rejected_when_no_connector_is_free():
    async with CentralSystem() as central, running(central.url, spec=DC_50) as charger:
        await start_remote_session(central, charger.ocpp_id)
        second = await central.call(
            charger.ocpp_id, call.RemoteStartTransaction(id_tag="APP-2")
        )
        wrong_connector = await central.call(
            charger.ocpp_id, call.RemoteStartTransaction(id_tag="APP-2", connector_id=5)
        )

    assert second.status == "Rejected"
    assert wrong_connector.status == "Rejected"
    assert len(central.messages("StartTransaction")) == 1


async def test_soft_reset_stops_the_transaction_reconnects_and_boots_again():
    async with CentralSystem() as central, running(central.url) as charger:
        await start_remote_session(central, charger.ocpp_id)
        answer = await central.call(charger.ocpp_id, call.Reset(type="Soft"))
        stop = await central.wait_message("StopTransaction")
        await central.wait_for(
            lambda: len(central.messages("BootNotification")) == 2, what="second boot"
        )
        await central.wait_online(charger.ocpp_id, connection=2)

    assert answer.status == "Accepted"
    assert stop.payload["reason"] == "SoftReset"
    assert central.connection_count == 2
    second_boot = central.messages("BootNotification")[1]
    assert second_boot.connection == 2
    assert stop.connection == 1


async def test_set_charging_profile_lowers_reported_power_and_clearing_restores_it():
    async with (
        CentralSystem() as central,
        running(central.url, spec=DC_50, speedup=1.0) as charger,
    ):
        await start_remote_session(central, charger.ocpp_id)
        before = await central.wait_message(
            "MeterValues", lambda m: power_w(m) > 20_000
        )
        profile = {
            "chargingProfileId": 7,
            "stackLevel": 1,
            "chargingProfilePurpose": "TxProfile",
            "chargingProfileKind": "Relative",
            "chargingSchedule": {
                "chargingRateUnit": "W",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10000.0}],
            },
        }
        answer = await central.call(
            charger.ocpp_id,
            call.SetChargingProfile(connector_id=1, cs_charging_profiles=profile),
        )
        limited_at = len(central.received)
        limited = await central.wait_for(
            lambda: (
                [m for m in central.received[limited_at:] if m.action == "MeterValues"][
                    1:3
                ]
                if len(
                    [
                        m
                        for m in central.received[limited_at:]
                        if m.action == "MeterValues"
                    ]
                )
                >= 3
                else None
            ),
            what="meter values under the profile",
        )
        composite = await central.call(
            charger.ocpp_id, call.GetCompositeSchedule(connector_id=1, duration=600)
        )
        cleared = await central.call(charger.ocpp_id, call.ClearChargingProfile(id=7))
        cleared_again = await central.call(
            charger.ocpp_id, call.ClearChargingProfile(id=7)
        )
        cleared_at = len(central.received)
        restored = await central.wait_for(
            lambda: [
                m
                for m in central.received[cleared_at:]
                if m.action == "MeterValues" and power_w(m) > 20_000
            ],
            what="power back up",
        )

    assert answer.status == "Accepted"
    assert power_w(before) > 20_000
    assert all(0 < power_w(m) <= 10_000 for m in limited)
    assert composite.status == "Accepted"
    assert composite.charging_schedule["charging_rate_unit"] == "W"
    assert (
        composite.charging_schedule["charging_schedule_period"][0]["limit"] == 10000.0
    )
    assert cleared.status == "Accepted"
    assert cleared_again.status == "Unknown"
    assert restored


async def test_ac_charger_obeys_an_amp_profile_per_phase():
    async with CentralSystem() as central, running(central.url, speedup=1.0) as charger:
        await start_remote_session(central, charger.ocpp_id)
        profile = {
            "chargingProfileId": 3,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "startSchedule": iso(datetime.now(UTC) - timedelta(minutes=1)),
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8.0}],
            },
        }
        answer = await central.call(
            charger.ocpp_id,
            call.SetChargingProfile(connector_id=0, cs_charging_profiles=profile),
        )
        limited_at = len(central.received)
        limited = await central.wait_for(
            lambda: (
                [m for m in central.received[limited_at:] if m.action == "MeterValues"][
                    1:3
                ]
                if len(
                    [
                        m
                        for m in central.received[limited_at:]
                        if m.action == "MeterValues"
                    ]
                )
                >= 3
                else None
            ),
            what="meter values under the profile",
        )

    assert answer.status == "Accepted"
    for message in limited:
        currents = [float(v["value"]) for v in sampled(message, "Current.Import")]
        assert 0 < max(currents) <= 8.0
        assert power_w(message) <= 8.0 * 3 * 230


async def test_charging_profiles_that_cannot_apply_are_rejected():
    tx_profile = {
        "chargingProfileId": 1,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10.0}],
        },
    }
    max_profile = {**tx_profile, "chargingProfilePurpose": "ChargePointMaxProfile"}
    async with CentralSystem() as central, running(central.url) as charger:
        await central.wait_online(charger.ocpp_id)
        without_transaction = await central.call(
            charger.ocpp_id,
            call.SetChargingProfile(connector_id=1, cs_charging_profiles=tx_profile),
        )
        max_on_connector = await central.call(
            charger.ocpp_id,
            call.SetChargingProfile(connector_id=1, cs_charging_profiles=max_profile),
        )
        too_high = await central.call(
            charger.ocpp_id,
            call.SetChargingProfile(
                connector_id=0, cs_charging_profiles={**max_profile, "stackLevel": 99}
            ),
        )
        max_on_charger = await central.call(
            charger.ocpp_id,
            call.SetChargingProfile(connector_id=0, cs_charging_profiles=max_profile),
        )

    assert without_transaction.status == "Rejected"
    assert max_on_connector.status == "Rejected"
    assert too_high.status == "Rejected"
    assert max_on_charger.status == "Accepted"


async def test_get_and_change_configuration_follow_the_ocpp_rules():
    async with CentralSystem() as central, running(central.url) as charger:
        await central.wait_online(charger.ocpp_id)
        everything = await central.call(charger.ocpp_id, call.GetConfiguration())
        some = await central.call(
            charger.ocpp_id,
            call.GetConfiguration(key=["MeterValueSampleInterval", "NoSuchKey"]),
        )
        changes = {
            key_value: (
                await central.call(
                    charger.ocpp_id, call.ChangeConfiguration(*key_value)
                )
            ).status
            for key_value in [
                ("MeterValueSampleInterval", "15"),
                ("NumberOfConnectors", "4"),
                ("NoSuchKey", "1"),
                ("WebSocketPingInterval", "30"),
                ("HeartbeatInterval", "soon"),
                ("MeterValuesSampledData", "Energy.Active.Import.Register,Frequency"),
            ]
        }
        after = await central.call(
            charger.ocpp_id, call.GetConfiguration(key=["MeterValueSampleInterval"])
        )

    keys = {entry["key"]: entry for entry in everything.configuration_key}
    assert keys["ChargingScheduleAllowedChargingRateUnit"]["value"] == "Current"
    assert keys["ChargingScheduleAllowedChargingRateUnit"]["readonly"] is True
    assert keys["NumberOfConnectors"]["value"] == "2"
    assert keys["HeartbeatInterval"]["readonly"] is False
    for expected in (
        "ChargeProfileMaxStackLevel",
        "AuthorizeRemoteTxRequests",
        "LocalAuthListEnabled",
    ):
        assert expected in keys
    assert [entry["key"] for entry in some.configuration_key] == [
        "MeterValueSampleInterval"
    ]
    assert some.unknown_key == ["NoSuchKey"]
    assert changes == {
        ("MeterValueSampleInterval", "15"): "Accepted",
        ("NumberOfConnectors", "4"): "Rejected",
        ("NoSuchKey", "1"): "NotSupported",
        ("WebSocketPingInterval", "30"): "RebootRequired",
        ("HeartbeatInterval", "soon"): "Rejected",
        (
            "MeterValuesSampledData",
            "Energy.Active.Import.Register,Frequency",
        ): "Rejected",
    }
    assert after.configuration_key[0]["value"] == "15"


async def test_unlock_availability_cache_and_data_transfer_answers():
    async with CentralSystem() as central, running(central.url) as charger:
        await central.wait_online(charger.ocpp_id)
        unlock = await central.call(
            charger.ocpp_id, call.UnlockConnector(connector_id=2)
        )
        unlock_missing = await central.call(
            charger.ocpp_id, call.UnlockConnector(connector_id=9)
        )
        inoperative = await central.call(
            charger.ocpp_id, call.ChangeAvailability(connector_id=2, type="Inoperative")
        )
        await central.wait_for(
            lambda: statuses(central, 2)[-1:] == ["Unavailable"], what="Unavailable"
        )
        blocked_start = await central.call(
            charger.ocpp_id, call.RemoteStartTransaction(id_tag="APP-1", connector_id=2)
        )
        operative = await central.call(
            charger.ocpp_id, call.ChangeAvailability(connector_id=2, type="Operative")
        )
        await central.wait_for(
            lambda: statuses(central, 2)[-1:] == ["Available"], what="Available"
        )
        await start_remote_session(central, charger.ocpp_id)
        scheduled = await central.call(
            charger.ocpp_id, call.ChangeAvailability(connector_id=1, type="Inoperative")
        )
        cache = await central.call(charger.ocpp_id, call.ClearCache())
        foreign = await central.call(
            charger.ocpp_id, call.DataTransfer(vendor_id="Other")
        )
        ours = await central.call(
            charger.ocpp_id, call.DataTransfer(vendor_id="SimCharge", message_id="Ping")
        )
        unlock_busy = await central.call(
            charger.ocpp_id, call.UnlockConnector(connector_id=1)
        )
        stop = await central.wait_message("StopTransaction")
        await central.wait_for(
            lambda: statuses(central, 1)[-1:] == ["Unavailable"],
            what="scheduled Unavailable",
        )

    assert unlock.status == "Unlocked"
    assert unlock_missing.status == "NotSupported"
    assert inoperative.status == "Accepted"
    assert blocked_start.status == "Rejected"
    assert operative.status == "Accepted"
    assert scheduled.status == "Scheduled"
    assert cache.status == "Accepted"
    assert foreign.status == "UnknownVendorId"
    assert ours.status == "Accepted"
    assert unlock_busy.status == "Unlocked"
    assert stop.payload["reason"] == "UnlockCommand"


async def test_dc_connector_with_fixed_cable_cannot_be_unlocked():
    async with CentralSystem() as central, running(central.url, spec=DC_50) as charger:
        await central.wait_online(charger.ocpp_id)
        answer = await central.call(
            charger.ocpp_id, call.UnlockConnector(connector_id=1)
        )
        config = await central.call(
            charger.ocpp_id,
            call.GetConfiguration(key=["ChargingScheduleAllowedChargingRateUnit"]),
        )

    assert answer.status == "NotSupported"
    assert config.configuration_key[0]["value"] == "Power"


async def test_trigger_message_sends_the_requested_message():
    async with CentralSystem() as central, running(central.url) as charger:
        await central.wait_online(charger.ocpp_id)
        answers = {}
        for requested, expected in [
            ("Heartbeat", "Heartbeat"),
            ("MeterValues", "MeterValues"),
            ("FirmwareStatusNotification", "FirmwareStatusNotification"),
            ("DiagnosticsStatusNotification", "DiagnosticsStatusNotification"),
            ("BootNotification", "BootNotification"),
        ]:
            count = len(central.messages(expected))
            answers[requested] = (
                await central.call(
                    charger.ocpp_id, call.TriggerMessage(requested_message=requested)
                )
            ).status
            await central.wait_for(
                lambda e=expected, c=count: len(central.messages(e)) > c, what=expected
            )
        status_count = len(central.messages("StatusNotification"))
        answers["StatusNotification"] = (
            await central.call(
                charger.ocpp_id,
                call.TriggerMessage(
                    requested_message="StatusNotification", connector_id=2
                ),
            )
        ).status
        await central.wait_for(
            lambda: len(central.messages("StatusNotification")) > status_count,
            what="status",
        )
        answers["bad connector"] = (
            await central.call(
                charger.ocpp_id,
                call.TriggerMessage(requested_message="Heartbeat", connector_id=7),
            )
        ).status

    assert answers == {
        "Heartbeat": "Accepted",
        "MeterValues": "Accepted",
        "FirmwareStatusNotification": "Accepted",
        "DiagnosticsStatusNotification": "Accepted",
        "BootNotification": "Accepted",
        "StatusNotification": "Accepted",
        "bad connector": "Rejected",
    }
    assert central.messages("StatusNotification")[-1].payload["connector_id"] == 2
    triggered = central.messages("MeterValues")[-1].payload["meter_value"][0][
        "sampled_value"
    ]
    assert {value["context"] for value in triggered} == {"Trigger"}


async def test_update_firmware_reports_progress_and_reboots_with_the_new_version():
    async with (
        CentralSystem() as central,
        running(central.url, speedup=120.0) as charger,
    ):
        await central.wait_online(charger.ocpp_id)
        answer = await central.call(
            charger.ocpp_id,
            call.UpdateFirmware(
                location="https://fw.example.org/sc-3.0.7.bin",
                retrieve_date=iso(datetime.now(UTC)),
            ),
        )
        installed = await central.wait_message(
            "FirmwareStatusNotification",
            lambda m: m.payload["status"] == "Installed",
            deadline_s=20,
        )

    assert answer is not None
    progress = [
        m.payload["status"] for m in central.messages("FirmwareStatusNotification")
    ]
    assert progress == ["Downloading", "Downloaded", "Installing", "Installed"]
    boots = central.messages("BootNotification")
    assert [b.payload["firmware_version"] for b in boots] == ["2.3.1", "3.0.7"]
    assert installed.connection == 2


async def test_failing_firmware_and_diagnostics_locations_report_failure():
    async with (
        CentralSystem() as central,
        running(central.url, speedup=120.0) as charger,
    ):
        await central.wait_online(charger.ocpp_id)
        await central.call(
            charger.ocpp_id,
            call.UpdateFirmware(
                location="https://fw.example.org/fail.bin",
                retrieve_date=iso(datetime.now(UTC)),
            ),
        )
        diagnostics = await central.call(
            charger.ocpp_id, call.GetDiagnostics(location="ftp://logs.example.org/")
        )
        failing = await central.call(
            charger.ocpp_id, call.GetDiagnostics(location="ftp://fail.example.org/")
        )
        await central.wait_message(
            "FirmwareStatusNotification",
            lambda m: m.payload["status"] == "DownloadFailed",
        )
        await central.wait_message(
            "DiagnosticsStatusNotification",
            lambda m: m.payload["status"] == "UploadFailed",
        )
        await central.wait_message(
            "DiagnosticsStatusNotification", lambda m: m.payload["status"] == "Uploaded"
        )

    assert diagnostics.file_name.startswith("SIM-1-diagnostics-")
    assert failing.file_name
    assert len(central.messages("BootNotification")) == 1


async def test_reservation_holds_the_connector_for_its_id_tag():
    async with CentralSystem() as central, running(central.url) as charger:
        await central.wait_online(charger.ocpp_id)
        expiry = iso(datetime.now(UTC) + timedelta(hours=1))
        reserved = await central.call(
            charger.ocpp_id,
            call.ReserveNow(
                connector_id=1, expiry_date=expiry, id_tag="RES-TAG", reservation_id=5
            ),
        )
        await central.wait_for(
            lambda: statuses(central, 1)[-1:] == ["Reserved"], what="Reserved"
        )
        taken = await central.call(
            charger.ocpp_id,
            call.ReserveNow(
                connector_id=1, expiry_date=expiry, id_tag="OTHER", reservation_id=6
            ),
        )
        stranger = await central.call(
            charger.ocpp_id, call.RemoteStartTransaction(id_tag="OTHER", connector_id=1)
        )
        holder = await central.call(
            charger.ocpp_id,
            call.RemoteStartTransaction(id_tag="RES-TAG", connector_id=1),
        )
        start = await central.wait_message("StartTransaction")
        second = await central.call(
            charger.ocpp_id,
            call.ReserveNow(
                connector_id=2, expiry_date=expiry, id_tag="X", reservation_id=8
            ),
        )
        cancelled = await central.call(
            charger.ocpp_id, call.CancelReservation(reservation_id=8)
        )
        cancelled_again = await central.call(
            charger.ocpp_id, call.CancelReservation(reservation_id=8)
        )
        await central.wait_for(
            lambda: statuses(central, 2)[-1:] == ["Available"],
            what="reservation cancelled",
        )
        short = iso(datetime.now(UTC) + timedelta(seconds=1))
        await central.call(
            charger.ocpp_id,
            call.ReserveNow(
                connector_id=2, expiry_date=short, id_tag="X", reservation_id=9
            ),
        )
        await central.wait_for(
            lambda: statuses(central, 2)[-2:] == ["Reserved", "Available"],
            what="expiry",
        )

    assert reserved.status == "Accepted"
    assert taken.status == "Occupied"
    assert stranger.status == "Rejected"
    assert holder.status == "Accepted"
    assert start.payload["reservation_id"] == 5
    assert second.status == "Accepted"
    assert cancelled.status == "Accepted"
    assert cancelled_again.status == "Rejected"


async def test_local_list_versions_are_tracked():
    entry = {"idTag": "LOCAL-1", "idTagInfo": {"status": "Accepted"}}
    async with CentralSystem() as central, running(central.url) as charger:
        await central.wait_online(charger.ocpp_id)
        full = await central.call(
            charger.ocpp_id,
            call.SendLocalList(
                list_version=3, update_type="Full", local_authorization_list=[entry]
            ),
        )
        version = await central.call(charger.ocpp_id, call.GetLocalListVersion())
        stale = await central.call(
            charger.ocpp_id,
            call.SendLocalList(
                list_version=3, update_type="Differential", local_authorization_list=[]
            ),
        )
        newer = await central.call(
            charger.ocpp_id,
            call.SendLocalList(
                list_version=4,
                update_type="Differential",
                local_authorization_list=[{"idTag": "LOCAL-1"}],
            ),
        )

    assert full.status == "Accepted"
    assert version.list_version == 3
    assert stale.status == "VersionMismatch"
    assert newer.status == "Accepted"
    assert charger.local_list == {}
    assert charger.local_list_version == 4


async def test_clock_aligned_meter_values_follow_the_configured_interval():
    async with (
        CentralSystem() as central,
        running(central.url, meter_interval_s=0) as charger,
    ):
        await start_remote_session(central, charger.ocpp_id)
        answer = await central.call(
            charger.ocpp_id,
            call.ChangeConfiguration(key="ClockAlignedDataInterval", value="1"),
        )
        aligned = await central.wait_message(
            "MeterValues",
            lambda m: (
                m.payload["meter_value"][0]["sampled_value"][0]["context"]
                == "Sample.Clock"
            ),
        )

    assert answer.status == "Accepted"
    values = aligned.payload["meter_value"][0]["sampled_value"]
    assert [v["measurand"] for v in values] == ["Energy.Active.Import.Register"]
    assert aligned.payload["transaction_id"] == 101
    assert all(
        m.payload["meter_value"][0]["sampled_value"][0]["context"] != "Sample.Periodic"
        for m in central.messages("MeterValues")
    )


async def test_stopping_the_simulator_ends_sessions_and_reports_connectors_free():
    async with CentralSystem() as central:
        async with running(central.url) as charger:
            await start_remote_session(central, charger.ocpp_id)
            await central.wait_message("MeterValues")
        stop = await central.wait_message("StopTransaction")

    assert stop.payload["reason"] == "Other"
    assert statuses(central, 1)[-1:] == ["Available"]
