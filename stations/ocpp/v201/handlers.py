"""OCPP 2.0.1: charger->CMS frames to neutral facts, one domain service call each.

``CentralSystem`` is python-ocpp's ``ocpp.v201.ChargePoint`` with the shared
frame handling of ``stations.ocpp.central`` (parse, log, validate with the
compiled 2.0.1 schemas of ``stations.ocpp.v201.validation``, answer with the
OCPP-J 2.0.1 CallError codes). The handlers read the payload as received
(``self._current_payload``, camelCase) through ``stations.ocpp.v201.wire`` and
call the same services as 1.6: one session model, one status history, one
meter-value store, one alert engine.

EVSE -> connector addressing: our charge point's connector *n* is the 2.0.1
EVSE *n* (OCPP 2.0.1 Part 1 §2.1: an EVSE is the part that delivers energy to
one EV at a time, which is what a 1.6 connector id numbers). A 2.0.1 connector
id inside an EVSE (a second plug type on the same EVSE) is not a separate
charging point: its status is the EVSE's. EVSE 0 (or none) is the station as a
whole, as 1.6's connector 0.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.utils import timezone
from ocpp.routing import on
from ocpp.v201 import ChargePoint as V201ChargePoint
from ocpp.v201 import call_result
from ocpp.v201.enums import Action

from stations import services
from stations.ocpp.central import FrameRouter
from stations.ocpp.groupcommit import get_batcher
from stations.ocpp.protocol import format_ocpp_datetime, parse_ocpp_datetime
from stations.ocpp.runtime import side_call
from stations.ocpp.v201 import wire
from stations.ocpp.v201.commands import wire_cost, without_secrets
from stations.ocpp.v201.validation import validate
from stations.remote import services as remote
from stations.security import services as security
from stations.session_port import MeterValuesReport, sessions

logger = logging.getLogger(__name__)

_KNOWN_ACTIONS = frozenset(action.value for action in Action)


class CentralSystem(FrameRouter, V201ChargePoint):
    """The central system's side of one 2.0.1 charging station connection."""

    known_actions = _KNOWN_ACTIONS
    # OCPP-J 2.0.1 Part 4 §4.3 renamed 1.6's FormationViolation.
    format_violation = "FormatViolation"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # E01.FR.16: only a transaction's first event must name its EVSE.
        self._evse_of_transaction: dict[str, int] = {}

    def validate(self, action: str, message_type: int, payload: Any) -> None:
        validate(action, message_type, payload)

    async def _status(
        self,
        connector_number: int,
        status: str,
        *,
        at: Any,
        error_code: str = wire.NO_ERROR,
        info: str = "",
        vendor_error_code: str = "",
    ) -> None:
        # Batched with the other chargers' notifications of this process.
        await get_batcher("status").submit(
            services.StatusReport(
                charge_point_id=self.charge_point_id,
                connector_number=connector_number,
                status=status,
                error_code=error_code,
                info=info,
                vendor_error_code=vendor_error_code,
                timestamp=at,
                received_at=timezone.now(),
            )
        )

    # --- provisioning (B) ------------------------------------------------------

    @on(Action.boot_notification)
    async def on_boot_notification(self, **_: Any) -> call_result.BootNotification:
        payload = self._current_payload
        station = payload["chargingStation"]
        modem = station.get("modem") or {}
        now = timezone.now()
        # Batched with the other chargers' boots of this process (a boot storm).
        result: services.BootResult = await get_batcher("boot").submit(
            services.BootReport(
                charge_point_id=self.charge_point_id,
                vendor=station["vendorName"],
                model=station["model"],
                serial_number=station.get("serialNumber") or "",
                firmware_version=station.get("firmwareVersion") or "",
                iccid=modem.get("iccid") or "",
                imsi=modem.get("imsi") or "",
                at=now,
            )
        )
        # B01: the same three registration statuses as 1.6.
        return call_result.BootNotification(
            current_time=format_ocpp_datetime(now),
            interval=result.interval_s,
            status=result.registration_status,
        )

    @on(Action.heartbeat)
    async def on_heartbeat(self, **_: Any) -> call_result.Heartbeat:
        # Every frame marks the charger seen (the consumer's throttled write).
        return call_result.Heartbeat(current_time=format_ocpp_datetime(timezone.now()))

    # --- availability (G) ------------------------------------------------------

    @on(Action.status_notification)
    async def on_status_notification(self, **_: Any) -> call_result.StatusNotification:
        payload = self._current_payload
        # G01: a status per connector of an EVSE; our connector n is EVSE n.
        await self._status(
            payload["evseId"],
            wire.connector_status(payload["connectorStatus"]),
            at=parse_ocpp_datetime(payload["timestamp"]),
        )
        return call_result.StatusNotification()

    @on(Action.notify_event)
    async def on_notify_event(self, **_: Any) -> call_result.NotifyEvent:
        # N07/N08: a component's Problem variable turning true is a fault on
        # its EVSE (or the station): the same Faulted status a 1.6 charger
        # reports, so the alert engine raises the same alert. Other events are
        # kept in the message log.
        for fault in wire.faults_of(self._current_payload):
            await self._status(
                fault.connector_number,
                "Faulted",
                at=fault.at,
                error_code=fault.error_code,
                info=fault.info,
                vendor_error_code=fault.vendor_error_code,
            )
        return call_result.NotifyEvent()

    # --- authorization (C) and transactions (E) -------------------------------

    @on(Action.authorize)
    async def on_authorize(self, **_: Any) -> call_result.Authorize:
        token = wire.id_token_of(self._current_payload["idToken"])
        auth = await side_call(
            sessions.id_tag_authorize,
            charge_point_id=self.charge_point_id,
            id_tag=token,
            at=timezone.now(),
        )
        return call_result.Authorize(id_token_info=wire.id_token_info(auth))

    @on(Action.transaction_event)
    async def on_transaction_event(self, **_: Any) -> call_result.TransactionEvent:
        payload = self._current_payload
        update = wire.transaction_update(
            payload, charge_point_id=self.charge_point_id, received_at=timezone.now()
        )
        auth = await self.call_service(sessions.transaction_event_record, update=update)
        evse = update.connector_number or self._evse_of_transaction.get(
            update.charger_transaction_id, 0
        )
        if update.event == "Ended":
            self._evse_of_transaction.pop(update.charger_transaction_id, None)
        elif evse:
            self._evse_of_transaction[update.charger_transaction_id] = evse
        status = wire.status_of_charging_state(update.charging_state)
        if status and evse and update.event != "Ended":
            # E01/E02: the charging state is the EVSE's 1.6-style status.
            await self._status(evse, status, at=update.at)
        # I02/I03: with a tariff known, every answer tells the station the
        # transaction's cost so far (incl. tax); the Ended one the final cost.
        cost = await self.call_service(
            sessions.transaction_cost,
            charge_point_id=self.charge_point_id,
            charger_transaction_id=update.charger_transaction_id,
        )
        return call_result.TransactionEvent(
            total_cost=wire_cost(cost) if cost is not None else None,
            id_token_info=wire.id_token_info(auth) if auth is not None else None,
        )

    @on(Action.meter_values)
    async def on_meter_values(self, **_: Any) -> call_result.MeterValues:
        payload = self._current_payload
        received_at = timezone.now()
        # J01: meter values outside a transaction's events; the one store.
        await get_batcher("meter_values").submit(
            MeterValuesReport(
                charge_point_id=self.charge_point_id,
                connector_id=payload["evseId"],
                transaction_id=None,
                samples=wire.samples_of(payload["meterValue"], received_at=received_at),
                received_at=received_at,
            )
        )
        return call_result.MeterValues()

    @on(Action.reservation_status_update)
    async def on_reservation_status_update(
        self, **_: Any
    ) -> call_result.ReservationStatusUpdate:
        # H01 (ReservationStatusUpdate): the station ended a reservation on
        # its own, Expired or Removed; the reservation ends as it would by
        # the CMS's own expiry or cancellation.
        payload = self._current_payload
        await self.call_service(
            remote.reservation_status_record,
            charge_point_id=self.charge_point_id,
            reservation_id=payload["reservationId"],
            status=payload["reservationUpdateStatus"],
            at=timezone.now(),
        )
        return call_result.ReservationStatusUpdate()

    @on(Action.notify_customer_information)
    async def on_notify_customer_information(
        self, **_: Any
    ) -> call_result.NotifyCustomerInformation:
        # N09: the answer to CustomerInformation comes in parts, seqNo from 0,
        # tbc ("to be continued") true on all but the last.
        payload = self._current_payload
        await self.call_service(
            remote.customer_information_record,
            charge_point_id=self.charge_point_id,
            request_id=payload["requestId"],
            seq_no=payload["seqNo"],
            data=payload["data"],
            is_last=not payload.get("tbc", False),
            generated_at=parse_ocpp_datetime(payload["generatedAt"]),
        )
        return call_result.NotifyCustomerInformation()

    # --- firmware (L), diagnostics (N), security (A), data transfer (P) --------

    @on(Action.firmware_status_notification)
    async def on_firmware_status_notification(
        self, **_: Any
    ) -> call_result.FirmwareStatusNotification:
        await self.call_service(
            services.firmware_status_record,
            charge_point_id=self.charge_point_id,
            status=self._current_payload["status"],
            at=timezone.now(),
        )
        return call_result.FirmwareStatusNotification()

    @on(Action.log_status_notification)
    async def on_log_status_notification(
        self, **_: Any
    ) -> call_result.LogStatusNotification:
        # N01: GetLog's progress, where 1.6 had DiagnosticsStatusNotification.
        await self.call_service(
            services.diagnostics_status_record,
            charge_point_id=self.charge_point_id,
            status=self._current_payload["status"],
            at=timezone.now(),
        )
        return call_result.LogStatusNotification()

    @on(Action.security_event_notification)
    async def on_security_event_notification(
        self, **_: Any
    ) -> call_result.SecurityEventNotification:
        # A04: kept as the charger's security events (portal, Security page).
        payload = self._current_payload
        await self.call_service(
            security.security_event_record,
            charge_point_id=self.charge_point_id,
            kind=payload["type"],
            occurred_at=parse_ocpp_datetime(payload["timestamp"]),
            tech_info=payload.get("techInfo") or "",
            received_at=timezone.now(),
        )
        return call_result.SecurityEventNotification()

    @on(Action.sign_certificate)
    async def on_sign_certificate(self, **_: Any) -> call_result.SignCertificate:
        # A02/A03: sign the CSR, answer Accepted, then send CertificateSigned
        # once this answer is on the wire.
        payload = self._current_payload
        signed = await self.sign_certificate(
            csr_pem=payload["csr"],
            certificate_type=payload.get("certificateType")
            or "ChargingStationCertificate",
        )
        return call_result.SignCertificate(status="Accepted" if signed else "Rejected")

    def loggable(self, action: str, payload: Any) -> Any:
        return without_secrets(action, payload)

    @on(Action.data_transfer)
    async def on_data_transfer(self, **_: Any) -> call_result.DataTransfer:
        payload = self._current_payload
        data = payload.get("data")
        status = await self.call_service(
            services.data_transfer_record,
            charge_point_id=self.charge_point_id,
            vendor_id=payload["vendorId"],
            message_id=payload.get("messageId") or "",
            # P01: data is any JSON value in 2.0.1 (a string in 1.6).
            data=data
            if isinstance(data, str)
            else json.dumps(data)
            if data is not None
            else "",
            received_at=timezone.now(),
        )
        return call_result.DataTransfer(status=status)

    # --- device model (B) and smart charging (K) ------------------------------

    @on(Action.notify_report)
    async def on_notify_report(self, **_: Any) -> call_result.NotifyReport:
        await self.call_service(
            services.device_model_record,
            charge_point_id=self.charge_point_id,
            variables=wire.device_variables_of(self._current_payload),
            at=timezone.now(),
        )
        return call_result.NotifyReport()

    @on(Action.notify_ev_charging_needs)
    async def on_notify_ev_charging_needs(
        self, **_: Any
    ) -> call_result.NotifyEVChargingNeeds:
        # K15/K16: the CMS answers Accepted and may send a profile for the EV's
        # needs; load management allocates by the EVSE's session as for 1.6.
        return call_result.NotifyEVChargingNeeds(status="Accepted")

    @on(Action.report_charging_profiles)
    async def on_report_charging_profiles(
        self, **_: Any
    ) -> call_result.ReportChargingProfiles:
        # K09: the answer to GetChargingProfiles; kept in the message log.
        return call_result.ReportChargingProfiles()
