"""Streamed CSV and XLSX exports of CDRs that reconcile exactly with the records.

Rows come from ``iterator(chunk_size=...)`` over a ``values_list`` query, so an
export of 100,000 sessions never holds them all in memory. CSV is generated row
by row into the response; XLSX is written by openpyxl's write-only workbook to
a temporary file on disk and streamed from there. The last row holds the totals
per currency, summed with ``Decimal`` from the same rows.

Times are the station's local time: in CSV as ISO 8601 with the UTC offset
(``2026-01-15T15:00:00+01:00``); in XLSX as real date-time cells (spreadsheets
have no offsets) with the zone in the ``time_zone`` column. Amounts are numbers
in both; the fee columns split the net by what was priced (they add up to it).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import DecimalField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import FileResponse, StreamingHttpResponse
from openpyxl import Workbook

from billing.models import Cdr, CreditNote
from cms.csvexport import csv_safe_text, csv_streaming_response

CHUNK_SIZE = 2000
HEADER = [
    "receipt_number",
    "issued_at",
    "network",
    "station",
    "session_id",
    "id_tag",
    "started_at",
    "stopped_at",
    "energy_kwh",
    "charging_seconds",
    "idle_seconds",
    "billed_idle_seconds",
    "time_zone",
    "currency",
    "energy_fee",
    "time_fee",
    "idle_fee",
    "other_fees",
    "vat_percent",
    "net",
    "tax",
    "total",
    "credited",
]
# Which fee column a CDR line's kind adds to (idle_cap lowers the idle fee).
_FEE_COLUMN = {"energy": 0, "time": 1, "idle": 2, "idle_cap": 2}
_FEE_OTHER = 3
_FIELDS = (
    "number",
    "issued_at",
    "network__name",
    "station__name",
    "station__time_zone",
    "session_id",
    "id_tag",
    "started_at",
    "stopped_at",
    "energy_wh",
    "charging_seconds",
    "idle_seconds",
    "billed_idle_seconds",
    "currency",
    "vat_percent",
    "net_amount",
    "tax_amount",
    "total_amount",
    "credited",
    "line_items",
)


def _local(moment: datetime, zone: str | None) -> datetime:
    return moment.astimezone(ZoneInfo(zone or "UTC"))


def cdr_fees(line_items: list[dict[str, Any]]) -> list[Decimal]:
    """A CDR's net split into energy, time, idle (after its cap) and other fees."""
    fees = [Decimal(0)] * 4
    for line in line_items:
        fees[_FEE_COLUMN.get(str(line.get("kind")), _FEE_OTHER)] += Decimal(
            str(line.get("amount") or "0")
        )
    return fees


def _quantize(amount: Decimal) -> Decimal:
    return amount.quantize(Decimal("0.0001"))


def export_rows(queryset: QuerySet[Cdr]) -> Iterator[list[Any]]:
    """Header, one row per CDR (times in the station's zone), then totals rows."""
    credited = (
        CreditNote.objects.filter(cdr=OuterRef("pk"))
        .values("cdr")
        .annotate(s=Sum("total_amount"))
        .values("s")
    )
    rows = (
        queryset.annotate(
            credited=Coalesce(
                Subquery(credited),
                Value(Decimal(0)),
                output_field=DecimalField(max_digits=14, decimal_places=4),
            )
        )
        .order_by("issued_at", "id")
        .values_list(*_FIELDS)
    )
    yield HEADER
    totals: dict[str, list[Any]] = {}
    for (
        number,
        issued_at,
        network,
        station,
        zone,
        session_id,
        id_tag,
        started_at,
        stopped_at,
        energy_wh,
        charging_s,
        idle_s,
        billed_idle_s,
        currency,
        vat,
        net,
        tax,
        total,
        credit,
        line_items,
    ) in rows.iterator(chunk_size=CHUNK_SIZE):
        fees = cdr_fees(line_items or [])
        bucket = totals.setdefault(currency, [0, 0] + [Decimal(0)] * 8)
        bucket[0] += 1
        bucket[1] += energy_wh
        for index, amount in enumerate((net, tax, total, credit, *fees), start=2):
            bucket[index] += amount
        yield [
            number,
            _local(issued_at, zone),
            csv_safe_text(network),
            csv_safe_text(station or ""),
            session_id,
            csv_safe_text(id_tag),
            _local(started_at, zone),
            _local(stopped_at, zone),
            Decimal(energy_wh) / 1000,
            charging_s,
            idle_s,
            billed_idle_s,
            zone or "UTC",
            currency,
            *(_quantize(fee) for fee in fees),
            vat,
            _quantize(net),
            _quantize(tax),
            _quantize(total),
            _quantize(credit),
        ]
    for currency, bucket in sorted(totals.items()):
        count, energy_wh, net, tax, total, credit, *fees = bucket
        yield [
            f"TOTAL ({count} sessions)",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            Decimal(energy_wh) / 1000,
            "",
            "",
            "",
            "",
            currency,
            *(_quantize(fee) for fee in fees),
            "",
            _quantize(net),
            _quantize(tax),
            _quantize(total),
            _quantize(credit),
        ]


def _csv_row(row: list[Any]) -> list[Any]:
    return [cell.isoformat() if isinstance(cell, datetime) else cell for cell in row]


def _xlsx_row(row: list[Any]) -> list[Any]:
    # A spreadsheet date-time has no zone: the local wall time, zone in its column.
    return [
        cell.replace(tzinfo=None) if isinstance(cell, datetime) else cell
        for cell in row
    ]


def csv_response(queryset: QuerySet[Cdr], filename: str) -> StreamingHttpResponse:
    return csv_streaming_response(
        (_csv_row(row) for row in export_rows(queryset)), filename=filename
    )


def xlsx_response(queryset: QuerySet[Cdr], filename: str) -> FileResponse:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("CDRs")
    for row in export_rows(queryset):
        sheet.append(_xlsx_row(row))
    # A temporary file, not memory: write-only mode already spools rows to disk.
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed by FileResponse
    workbook.save(handle)
    handle.seek(0)
    return FileResponse(
        handle,
        as_attachment=True,
        filename=f"{filename}.xlsx",
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
