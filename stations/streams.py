"""The ``status`` kind of the event stream (``cms.streams``): connector status changes.

One document per applied StatusNotification (OCPP 1.6) or StatusNotification /
NotifyEvent status of an EVSE (OCPP 2.0.1, already read into the neutral status
by its adapter), so both versions give the same document.
"""

from __future__ import annotations

from cms.events import ConnectorStatusChanged, EventKind
from cms.streams import Document, stream_register
from stations.models import ChargePoint


def status_document(event: ConnectorStatusChanged) -> Document | None:
    charge_point = (
        ChargePoint.objects.select_related("station")
        .filter(pk=event.charge_point_pk)
        .only("ocpp_id", "station__region")
        .first()
    )
    if charge_point is None:  # deleted since
        return None
    station = charge_point.station
    return {
        "charge_point_id": charge_point.ocpp_id,
        "connector_id": event.connector_number,
        "location_id": str(event.station_id) if event.station_id else None,
        "network_region": (station.region or None) if station is not None else None,
        "status": event.status,
        "error_code": event.error_code,
        "vendor_error_code": event.vendor_error_code,
        "info": event.info,
        "event_ts": event.at,
    }


def status_stream_register() -> None:
    stream_register(
        "status", event_kinds=(EventKind.CONNECTOR_STATUS,), document=status_document
    )
