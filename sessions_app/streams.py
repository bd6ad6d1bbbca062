"""The ``meter_values`` and ``transactions`` kinds of the event stream (``cms.streams``).

Built from the version-neutral session events, so OCPP 1.6 and 2.0.1 chargers
give the same documents. ``transaction_id`` is the charger's own id for 2.0.1
transactions and the CMS's (the 1.6 transactionId) otherwise; ``id_tag`` is
pseudonymised per ``EVENT_STREAM_ID_TAG``.
"""

from __future__ import annotations

from cms.events import EventKind, MeterValuesSampled, SessionStarted, SessionStopped
from cms.streams import Document, pseudonym, stream_register
from sessions_app.models import ChargingSession
from stations.models import ChargePoint


def _kwh(value_wh: float | None) -> float | None:
    return None if value_wh is None else round(value_wh / 1000, 4)


def _transaction_id(session: ChargingSession) -> str:
    return session.charger_transaction_id or str(session.pk)


def meter_values_document(event: MeterValuesSampled) -> Document | None:
    session = (
        ChargingSession.objects.select_related("charge_point")
        .filter(pk=event.session_id)
        .only("charger_transaction_id", "charge_point__ocpp_id")
        .first()
    )
    if session is None:
        return None
    return {
        "charge_point_id": session.charge_point.ocpp_id,
        "connector_id": event.connector_number,
        "transaction_id": _transaction_id(session),
        "energy_kwh": _kwh(event.energy_wh),
        "power_kw": _kwh(event.power_w),
        "voltage_v": event.voltage_v,
        "current_a": event.current_a,
        "soc_pct": event.soc_percent,
        "sampled_ts": event.sampled_at,
    }


def transaction_document(event: SessionStarted | SessionStopped) -> Document | None:
    session = (
        ChargingSession.objects.select_related("charge_point")
        .filter(pk=event.session_id)
        .first()
    )
    if session is None:
        return None
    is_stop = isinstance(event, SessionStopped)
    stop_wh = session.meter_stop_wh if is_stop else None
    return {
        "event": "stop" if is_stop else "start",
        "transaction_id": _transaction_id(session),
        "charge_point_id": ChargePoint.objects.filter(pk=event.charge_point_pk)
        .values_list("ocpp_id", flat=True)
        .first(),
        "connector_id": session.connector_number,
        "id_tag": pseudonym(session.id_tag),
        "start_ts": session.started_at.isoformat(),
        "stop_ts": session.stopped_at.isoformat()
        if is_stop and session.stopped_at
        else None,
        "start_kwh": _kwh(session.meter_start_wh),
        "stop_kwh": _kwh(stop_wh),
        "stop_reason": session.stop_reason if is_stop else None,
    }


def session_streams_register() -> None:
    stream_register(
        "meter_values",
        event_kinds=(EventKind.METER_VALUES,),
        document=meter_values_document,
    )
    stream_register(
        "transactions",
        event_kinds=(EventKind.SESSION_STARTED, EventKind.SESSION_STOPPED),
        document=transaction_document,
    )
