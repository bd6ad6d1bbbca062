"""The session list as a streamed CSV file.

Times are the station's local time in ISO 8601 with the UTC offset, the zone
named in its column. Roles that may see prices get each session's billed price
(its issued CDR, read through ``sessions_app.pricing``) split into energy, time,
idle and other fees; sessions not billed yet leave those cells empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from itertools import islice
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AnonymousUser
from django.db.models import QuerySet
from django.http import StreamingHttpResponse

from accounts.models import User
from cms.csvexport import csv_safe_text, csv_streaming_response
from sessions_app.models import ChargingSession
from sessions_app.pricing import session_list_prices

CHUNK_SIZE = 500
HEADER = [
    "session_id",
    "started_at",
    "stopped_at",
    "time_zone",
    "network",
    "station",
    "charger",
    "connector",
    "id_tag",
    "status",
    "energy_kwh",
    "duration_seconds",
    "stop_reason",
]
PRICE_HEADER = [
    "receipt_number",
    "currency",
    "energy_fee",
    "time_fee",
    "idle_fee",
    "other_fees",
    "net",
    "total",
]


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).isoformat() if moment else ""


def _row(session: ChargingSession) -> list[Any]:
    station = session.charge_point.station
    zone = ZoneInfo(station.time_zone if station else "UTC")
    duration = (
        int((session.stopped_at - session.started_at).total_seconds())
        if session.stopped_at
        else ""
    )
    return [
        session.pk,
        _local(session.started_at, zone),
        _local(session.stopped_at, zone),
        zone.key,
        csv_safe_text(station.network.name) if station else "",
        csv_safe_text(station.name) if station else "",
        csv_safe_text(session.charge_point.ocpp_id),
        session.connector_number,
        csv_safe_text(session.id_tag),
        session.status,
        Decimal(session.energy_wh or 0) / 1000,
        duration,
        csv_safe_text(session.stop_reason or ""),
    ]


def session_export_rows(
    *, sessions: QuerySet[ChargingSession], user: User | AnonymousUser
) -> Iterator[list[Any]]:
    """Header, then one row per session, prices read a chunk at a time."""
    with_prices = session_list_prices(session_ids=[], user=user) is not None
    yield HEADER + (PRICE_HEADER if with_prices else [])
    rows = sessions.select_related(
        "charge_point", "charge_point__station", "charge_point__station__network"
    ).iterator(chunk_size=CHUNK_SIZE)
    while chunk := list(islice(rows, CHUNK_SIZE)):
        prices = (
            session_list_prices(session_ids=[s.pk for s in chunk], user=user) or {}
            if with_prices
            else {}
        )
        for session in chunk:
            row = _row(session)
            if with_prices:
                price = prices.get(session.pk)
                row += (
                    [
                        price.receipt_number,
                        price.currency,
                        price.energy_fee,
                        price.time_fee,
                        price.idle_fee,
                        price.other_fees,
                        price.net,
                        price.total,
                    ]
                    if price
                    else [""] * len(PRICE_HEADER)
                )
            yield row


def sessions_csv_response(
    *, sessions: QuerySet[ChargingSession], user: User | AnonymousUser
) -> StreamingHttpResponse:
    return csv_streaming_response(
        session_export_rows(sessions=sessions, user=user), filename="sessions"
    )
