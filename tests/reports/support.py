"""Hand-built status, connection and session histories for the report tests."""

from __future__ import annotations

from datetime import datetime

from sessions_app.models import ChargingSession, MeterValue
from stations.models import ChargePoint, ConnectionEvent, Connector, StatusChange


def status(
    connector: Connector | None, at: datetime, value: str, **kwargs: object
) -> None:
    charge_point = kwargs.pop("charge_point", None) or (
        connector.charge_point if connector else None
    )
    StatusChange.objects.create(
        charge_point=charge_point,
        connector=connector,
        status=value,
        at=at,
        received_at=kwargs.pop("received_at", at),
        is_applied=bool(kwargs.pop("is_applied", True)),
    )


def connection(charge_point: ChargePoint, at: datetime, kind: str) -> None:
    ConnectionEvent.objects.create(charge_point=charge_point, kind=kind, at=at)


def session(
    connector: Connector,
    started_at: datetime,
    stopped_at: datetime | None,
    energy_wh: int,
    readings: list[tuple[datetime, int]] = (),  # type: ignore[assignment]
) -> ChargingSession:
    created = ChargingSession.objects.create(
        charge_point=connector.charge_point,
        connector=connector,
        connector_number=connector.connector_id,
        id_tag="TAG1",
        meter_start_wh=1000,
        meter_stop_wh=1000 + energy_wh if stopped_at else None,
        started_at=started_at,
        stopped_at=stopped_at,
        last_meter_at=stopped_at,
        energy_wh=energy_wh,
        status="completed" if stopped_at else "active",
    )
    for at, delivered in readings:
        MeterValue.objects.create(
            charge_point=connector.charge_point,
            session=created,
            connector_number=connector.connector_id,
            timestamp=at,
            raw_value=str(1000 + delivered),
            value=1000 + delivered,
            unit="Wh",
            received_at=at,
        )
    return created
