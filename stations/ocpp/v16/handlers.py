"""OCPP 1.6J: frames to typed handler calls, one domain service call each.

``CentralSystem`` is python-ocpp's ``ocpp.v16.ChargePoint`` with the shared
frame handling of ``stations.ocpp.central`` (parse, log, validate with the
compiled schemas of ``stations.ocpp.v16.validation``, answer with the OCPP-J
1.6 CallError codes).
"""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone
from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.routing import on
from ocpp.v16 import ChargePoint as V16ChargePoint
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from stations import services
from stations.facts import Sample, VendorQuirks
from stations.fleet.profiles import charger_vendor_quirks, vendor_quirks
from stations.fleet.quirkcounts import QuirkKind, quirk_count
from stations.ocpp.central import FrameRouter
from stations.ocpp.groupcommit import get_batcher
from stations.ocpp.protocol import (
    CALL,
    Frame,
    format_ocpp_datetime,
    parse_ocpp_datetime,
)
from stations.ocpp.runtime import side_call
from stations.ocpp.v16.commands import without_secrets
from stations.ocpp.v16.validation import validate, without_odd_sampled_values
from stations.ocpp.v16.wire import charger_time, id_tag_info, samples_of
from stations.security import services as security
from stations.session_port import MeterValuesReport, sessions

logger = logging.getLogger(__name__)

_KNOWN_ACTIONS = frozenset(action.value for action in Action)


def _text(value: str | None) -> str:
    return value or ""


class CentralSystem(FrameRouter, V16ChargePoint):
    """The central system's side of one 1.6 charger connection."""

    known_actions = _KNOWN_ACTIONS
    format_violation = "FormationViolation"  # OCPP-J 1.6 §4.2.3 spells it so
    _strict: bool | None = None  # ChargePoint.strict_payloads, read once

    def validate(self, action: str, message_type: int, payload: Any) -> None:
        validate(action, message_type, payload)

    async def _validate_call(self, frame: Frame) -> None:
        """Validate a CALL; odd sampledValues alone do not refuse it.

        OCPP-J 1.6 §4.2.3 would answer FormationViolation for the whole frame,
        and the charger would never get its stop or readings accepted (it
        resends the same frame). Unless the charger is in strict mode, the frame
        is validated without them, answered with a CALLRESULT, and they are
        stored flagged (``wire.samples_of``).
        """
        lenient, odd = without_odd_sampled_values(frame.action, frame.payload)
        if odd and not await self._strict_payloads():
            logger.warning(
                "%s: %s with %d sampledValue(s) of unknown unit/measurand, kept flagged",
                self.id,
                frame.action,
                odd,
            )
            validate(frame.action, CALL, lenient)
            quirk_count(self.charge_point_id, QuirkKind.SCHEMA_LENIENT)
            return
        validate(frame.action, CALL, frame.payload)

    _quirks: VendorQuirks | None = None
    _quirks_known = False

    async def _vendor_quirks(self) -> VendorQuirks | None:
        """The charger's vendor profile: read once per connection, again at boot."""
        if not self._quirks_known:
            self._quirks = await side_call(
                charger_vendor_quirks, charge_point_id=self.charge_point_id
            )
            self._quirks_known = True
        return self._quirks

    def _count_profile_quirks(self, samples: list[Sample], *notes: str) -> None:
        applied = sum(1 for sample in samples if sample.quirk) + sum(map(bool, notes))
        quirk_count(self.charge_point_id, QuirkKind.PROFILE_APPLIED, applied)

    async def _strict_payloads(self) -> bool:
        if self._strict is None:
            self._strict = bool(
                await side_call(
                    services.charge_point_strict_payloads,
                    charge_point_id=self.charge_point_id,
                )
            )
        return self._strict

    # --- handlers: one service call each -----------------------------------

    @on(Action.boot_notification)
    async def on_boot_notification(
        self,
        charge_point_vendor: str,
        charge_point_model: str,
        charge_point_serial_number: str | None = None,
        charge_box_serial_number: str | None = None,
        firmware_version: str | None = None,
        iccid: str | None = None,
        imsi: str | None = None,
        meter_type: str | None = None,
        meter_serial_number: str | None = None,
        **_: Any,
    ) -> call_result.BootNotification:
        now = timezone.now()
        # Batched with the other chargers' boots of this process (a boot storm).
        result: services.BootResult = await get_batcher("boot").submit(
            services.BootReport(
                charge_point_id=self.charge_point_id,
                vendor=charge_point_vendor,
                model=charge_point_model,
                serial_number=_text(charge_point_serial_number),
                charge_box_serial_number=_text(charge_box_serial_number),
                firmware_version=_text(firmware_version),
                iccid=_text(iccid),
                imsi=_text(imsi),
                meter_type=_text(meter_type),
                meter_serial_number=_text(meter_serial_number),
                at=now,
            )
        )
        # A new firmware may bring another vendor profile.
        self._quirks = quirks = await side_call(
            vendor_quirks,
            vendor=charge_point_vendor,
            model=charge_point_model,
            firmware=_text(firmware_version),
        )
        self._quirks_known = True
        if quirks is not None and quirks.close_sessions_at_boot:
            # The model loses StopTransaction on power loss (OCPP 1.6 §5.3 asks
            # it to keep them): what is still open now will never be stopped.
            closed = await self.call_service(
                sessions.sessions_close_at_boot,
                charge_point_id=self.charge_point_id,
                quirk=quirks.note("no StopTransaction, closed at the next boot"),
                at=now,
            )
            quirk_count(self.charge_point_id, QuirkKind.PROFILE_APPLIED, closed)
        return call_result.BootNotification(
            current_time=format_ocpp_datetime(now),
            interval=result.interval_s,
            status=result.registration_status,
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        # Every frame already marks the charger seen (the consumer's throttled
        # ``charge_point_seen`` write), so a Heartbeat needs no database work.
        return call_result.Heartbeat(current_time=format_ocpp_datetime(timezone.now()))

    @on(Action.status_notification)
    async def on_status_notification(
        self,
        connector_id: int,
        error_code: str,
        status: str,
        info: str | None = None,
        timestamp: str | None = None,
        vendor_id: str | None = None,
        vendor_error_code: str | None = None,
        **_: Any,
    ) -> call_result.StatusNotification:
        if connector_id < 0:
            raise PropertyConstraintViolationError(
                details={"cause": "connectorId must not be negative"}
            )
        quirks = await self._vendor_quirks()
        at, time_quirk = charger_time(timestamp, quirks) if timestamp else (None, "")
        ignored = (
            quirks.note(f"{status} on connector 0 is this model's habit, ignored")
            if quirks is not None
            and connector_id == 0
            and status in quirks.connector_zero_ignored
            else ""
        )
        if ignored or time_quirk:
            quirk_count(self.charge_point_id, QuirkKind.PROFILE_APPLIED)
        # Batched with the other chargers' notifications of this process.
        await get_batcher("status").submit(
            services.StatusReport(
                charge_point_id=self.charge_point_id,
                connector_number=connector_id,
                status=status,
                error_code=error_code,
                info=_text(info),
                vendor_id=_text(vendor_id),
                vendor_error_code=_text(vendor_error_code),
                timestamp=at,
                received_at=timezone.now(),
                ignored_quirk=ignored,
                quirk=time_quirk,
            )
        )
        return call_result.StatusNotification()

    @on(Action.authorize)
    async def on_authorize(self, id_tag: str, **_: Any) -> call_result.Authorize:
        # Read-only (token, charger, open sessions): it runs beside the ORM
        # thread instead of queueing behind the other chargers' writes.
        auth = await side_call(
            sessions.id_tag_authorize,
            charge_point_id=self.charge_point_id,
            id_tag=id_tag,
            at=timezone.now(),
        )
        return call_result.Authorize(id_tag_info=id_tag_info(auth))

    @on(Action.start_transaction)
    async def on_start_transaction(
        self,
        connector_id: int,
        id_tag: str,
        meter_start: int,
        timestamp: str,
        reservation_id: int | None = None,
        **_: Any,
    ) -> call_result.StartTransaction:
        started_at, quirk = charger_time(timestamp, await self._vendor_quirks())
        if quirk:
            quirk_count(self.charge_point_id, QuirkKind.PROFILE_APPLIED)
        transaction_id, auth = await self.call_service(
            sessions.session_start_from_ocpp,
            charge_point_id=self.charge_point_id,
            connector_id=connector_id,
            id_tag=id_tag,
            meter_start_wh=meter_start,
            started_at=started_at,
            reservation_id=reservation_id,
            quirk=quirk,
        )
        return call_result.StartTransaction(
            transaction_id=transaction_id, id_tag_info=id_tag_info(auth)
        )

    @on(Action.stop_transaction)
    async def on_stop_transaction(
        self,
        meter_stop: int,
        timestamp: str,
        transaction_id: int,
        reason: str | None = None,
        id_tag: str | None = None,
        **_: Any,
    ) -> call_result.StopTransaction:
        raw = self._current_payload
        quirks = await self._vendor_quirks()
        stopped_at, quirk = charger_time(timestamp, quirks)
        samples = samples_of(
            raw.get("transactionData"), received_at=timezone.now(), quirks=quirks
        )
        self._count_profile_quirks(samples, quirk)
        auth = await self.call_service(
            sessions.session_stop_from_ocpp,
            charge_point_id=self.charge_point_id,
            transaction_id=transaction_id,
            meter_stop_wh=meter_stop,
            stopped_at=stopped_at,
            reason=reason,
            id_tag=id_tag,
            samples=samples,
            payload=raw,
            quirk=quirk,
        )
        return call_result.StopTransaction(
            id_tag_info=id_tag_info(auth) if auth is not None else None
        )

    @on(Action.meter_values)
    async def on_meter_values(
        self, connector_id: int, transaction_id: int | None = None, **_: Any
    ) -> call_result.MeterValues:
        received_at = timezone.now()
        samples = samples_of(
            self._current_payload.get("meterValue"),
            received_at=received_at,
            quirks=await self._vendor_quirks(),
        )
        self._count_profile_quirks(samples)
        # Group commit with the other chargers of this process; answered once stored.
        await get_batcher("meter_values").submit(
            MeterValuesReport(
                charge_point_id=self.charge_point_id,
                connector_id=connector_id,
                transaction_id=transaction_id,
                samples=samples,
                received_at=received_at,
            )
        )
        return call_result.MeterValues()

    @on(Action.data_transfer)
    async def on_data_transfer(
        self,
        vendor_id: str,
        message_id: str | None = None,
        data: str | None = None,
        **_: Any,
    ) -> call_result.DataTransfer:
        status = await self.call_service(
            services.data_transfer_record,
            charge_point_id=self.charge_point_id,
            vendor_id=vendor_id,
            message_id=_text(message_id),
            data=_text(data),
            received_at=timezone.now(),
        )
        return call_result.DataTransfer(status=status)

    @on(Action.diagnostics_status_notification)
    async def on_diagnostics_status_notification(
        self, status: str, **_: Any
    ) -> call_result.DiagnosticsStatusNotification:
        await self.call_service(
            services.diagnostics_status_record,
            charge_point_id=self.charge_point_id,
            status=status,
            at=timezone.now(),
        )
        return call_result.DiagnosticsStatusNotification()

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(
        self, status: str, **_: Any
    ) -> call_result.FirmwareStatusNotification:
        await self.call_service(
            services.firmware_status_record,
            charge_point_id=self.charge_point_id,
            status=status,
            at=timezone.now(),
        )
        return call_result.FirmwareStatusNotification()

    # --- the 1.6 security extension (OCPP 1.6 Security Whitepaper ed. 2) ------------

    def loggable(self, action: str, payload: Any) -> Any:
        return without_secrets(action, payload)

    @on(Action.sign_certificate)
    async def on_sign_certificate(
        self, csr: str, **_: Any
    ) -> call_result.SignCertificate:
        # A02/A03: answer Accepted once the CSR is signed, then send
        # CertificateSigned (after this answer is on the wire).
        signed = await self.sign_certificate(
            csr_pem=csr, certificate_type="ChargingStationCertificate"
        )
        return call_result.SignCertificate(status="Accepted" if signed else "Rejected")

    @on(Action.security_event_notification)
    async def on_security_event_notification(
        self, type: str, timestamp: str, tech_info: str | None = None, **_: Any
    ) -> call_result.SecurityEventNotification:
        await self.call_service(
            security.security_event_record,
            charge_point_id=self.charge_point_id,
            kind=type,
            occurred_at=parse_ocpp_datetime(timestamp),
            tech_info=_text(tech_info),
            received_at=timezone.now(),
        )
        return call_result.SecurityEventNotification()

    @on(Action.signed_firmware_status_notification)
    async def on_signed_firmware_status_notification(
        self, status: str, **_: Any
    ) -> call_result.SignedFirmwareStatusNotification:
        # SignedUpdateFirmware's progress (whitepaper L01), kept as firmware status.
        await self.call_service(
            services.firmware_status_record,
            charge_point_id=self.charge_point_id,
            status=status,
            at=timezone.now(),
        )
        return call_result.SignedFirmwareStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status_notification(
        self, status: str, **_: Any
    ) -> call_result.LogStatusNotification:
        # GetLog's progress (whitepaper N01), kept as the diagnostics status.
        await self.call_service(
            services.diagnostics_status_record,
            charge_point_id=self.charge_point_id,
            status=status,
            at=timezone.now(),
        )
        return call_result.LogStatusNotification()
