"""Shared setup of the smart-charging tests: a 22 kW site with four AC connectors."""

from __future__ import annotations

from decimal import Decimal

from django.utils import timezone

from sessions_app.models import ChargingSession, SessionStatus
from stations.models import ChargePointCommand, CommandStatus, Connector, Station
from stations.remote.dispatch import command_finish
from stations.smart.services import smart_profile_result_apply
from tests.factories import ChargePointFactory, ConnectorFactory


def site_connectors(station: Station, *, chargers: int = 2) -> list[Connector]:
    """Two connected two-connector 22 kW AC chargers at ``station``."""
    connectors = []
    for index in range(chargers):
        charge_point = ChargePointFactory(
            station=station, ocpp_id=f"SMART-{station.pk}-{index}", is_connected=True
        )
        connectors += [
            ConnectorFactory(
                charge_point=charge_point,
                connector_id=number,
                max_power_kw=Decimal("22"),
            )
            for number in (1, 2)
        ]
    return connectors


def start_session(connector: Connector, *, id_tag: str = "TAG1") -> ChargingSession:
    return ChargingSession.objects.create(
        charge_point=connector.charge_point,
        connector=connector,
        connector_number=connector.connector_id,
        id_tag=id_tag,
        status=SessionStatus.ACTIVE,
        meter_start_wh=0,
        started_at=timezone.now(),
    )


def pending_profile_commands() -> list[ChargePointCommand]:
    return list(
        ChargePointCommand.objects.filter(
            action="SetChargingProfile", status=CommandStatus.PENDING
        ).order_by("pk")
    )


def answer_all(answer: str = "Accepted") -> list[int]:
    """The chargers answer every pending SetChargingProfile; returns the command ids."""
    status = CommandStatus.ACCEPTED if answer == "Accepted" else CommandStatus.REJECTED
    ids = []
    for command in pending_profile_commands():
        command_finish(
            command_id=command.pk, status=status, response_payload={"status": answer}
        )
        smart_profile_result_apply(command_id=command.pk)
        ids.append(command.pk)
    return ids


def tx_limits(connectors: list[Connector]) -> dict[int, float | None]:
    """The latest TxProfile limit (in the profile's unit) sent per connector."""
    result: dict[int, float | None] = {}
    for connector in connectors:
        command = (
            ChargePointCommand.objects.filter(
                charge_point=connector.charge_point,
                action="SetChargingProfile",
                payload__connectorId=connector.connector_id,
                payload__csChargingProfiles__chargingProfilePurpose="TxProfile",
            )
            .order_by("-pk")
            .first()
        )
        result[connector.pk] = (
            command.payload["csChargingProfiles"]["chargingSchedule"][
                "chargingSchedulePeriod"
            ][0]["limit"]
            if command
            else None
        )
    return result
