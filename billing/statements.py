"""A network's monthly statement: what was billed and credited in one calendar
month of the network's time zone, per currency and per station.

A CDR belongs to the month it was issued in and a credit note to the month it
was issued in (a credit note for an older receipt lowers the month it is written,
as accounting books it). Sums are ``Decimal`` over the stored, rounded amounts,
so the statement reconciles with the CDR export of the same month.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from billing.exports import cdr_fees
from billing.models import Cdr, CreditNote
from stations.models import Network


@dataclass
class StatementLine:
    """The sums of one currency (and one station, or all of them)."""

    station: str
    currency: str
    sessions: int = 0
    energy_wh: int = 0
    energy_fee: Decimal = Decimal(0)
    time_fee: Decimal = Decimal(0)
    idle_fee: Decimal = Decimal(0)
    other_fees: Decimal = Decimal(0)
    net: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    total: Decimal = Decimal(0)

    @property
    def energy_kwh(self) -> Decimal:
        return Decimal(self.energy_wh) / 1000


@dataclass
class CurrencyTotal:
    currency: str
    billed: StatementLine
    credit_notes: int = 0
    credited: Decimal = Decimal(0)

    @property
    def after_credits(self) -> Decimal:
        return self.billed.total - self.credited


@dataclass
class Statement:
    network: Network
    month: date  # the first day
    zone: ZoneInfo
    start: datetime
    end: datetime
    stations: list[StatementLine] = field(default_factory=list)
    totals: list[CurrencyTotal] = field(default_factory=list)


def month_bounds(month: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[first day 00:00, next month's first day 00:00) in ``zone``."""
    first = month.replace(day=1)
    following = (
        first.replace(year=first.year + 1, month=1)
        if first.month == 12
        else first.replace(month=first.month + 1)
    )
    return (
        datetime.combine(first, time.min, tzinfo=zone),
        datetime.combine(following, time.min, tzinfo=zone),
    )


def _add(line: StatementLine, row: Mapping[str, Any]) -> None:
    energy, time_fee, idle, other = cdr_fees(row["line_items"] or [])
    line.sessions += 1
    line.energy_wh += row["energy_wh"]
    line.energy_fee += energy
    line.time_fee += time_fee
    line.idle_fee += idle
    line.other_fees += other
    line.net += row["net_amount"]
    line.tax += row["tax_amount"]
    line.total += row["total_amount"]


def network_statement(*, network: Network, month: date) -> Statement:
    """The statement of ``network`` for the calendar month holding ``month``."""
    zone = ZoneInfo(network.time_zone)
    start, end = month_bounds(month, zone)
    statement = Statement(
        network=network, month=month.replace(day=1), zone=zone, start=start, end=end
    )
    per_station: dict[tuple[str, str], StatementLine] = {}
    per_currency: dict[str, CurrencyTotal] = {}
    rows = (
        Cdr.objects.filter(network=network, issued_at__gte=start, issued_at__lt=end)
        .order_by("issued_at", "id")
        .values(
            "station__name",
            "currency",
            "energy_wh",
            "net_amount",
            "tax_amount",
            "total_amount",
            "line_items",
        )
    )
    for row in rows.iterator(chunk_size=2000):
        station = row["station__name"] or "—"
        currency = row["currency"]
        key = (station, currency)
        if key not in per_station:
            per_station[key] = StatementLine(station=station, currency=currency)
        _add(per_station[key], row)
        if currency not in per_currency:
            per_currency[currency] = CurrencyTotal(
                currency=currency,
                billed=StatementLine(station="All stations", currency=currency),
            )
        _add(per_currency[currency].billed, row)
    notes = CreditNote.objects.filter(
        network=network, created_at__gte=start, created_at__lt=end
    ).values_list("cdr__currency", "total_amount")
    for currency, amount in notes:
        if currency not in per_currency:
            per_currency[currency] = CurrencyTotal(
                currency=currency,
                billed=StatementLine(station="All stations", currency=currency),
            )
        per_currency[currency].credit_notes += 1
        per_currency[currency].credited += amount
    statement.stations = [per_station[key] for key in sorted(per_station)]
    statement.totals = [per_currency[key] for key in sorted(per_currency)]
    return statement


STATEMENT_HEADER = [
    "station",
    "currency",
    "sessions",
    "energy_kwh",
    "energy_fee",
    "time_fee",
    "idle_fee",
    "other_fees",
    "net",
    "tax",
    "total",
]


def statement_rows(statement: Statement) -> list[list[Any]]:
    """The statement as CSV rows: per station, the totals, then credit notes."""
    rows: list[list[Any]] = [STATEMENT_HEADER]
    for line in [*statement.stations, *(t.billed for t in statement.totals)]:
        rows.append(
            [
                line.station,
                line.currency,
                line.sessions,
                line.energy_kwh,
                line.energy_fee,
                line.time_fee,
                line.idle_fee,
                line.other_fees,
                line.net,
                line.tax,
                line.total,
            ]
        )
    for total in statement.totals:
        rows.append(
            [f"Credit notes ({total.credit_notes})", total.currency]
            + [""] * 8
            + [-total.credited]
        )
        rows.append(
            ["Total after credit notes", total.currency]
            + [""] * 8
            + [total.after_credits]
        )
    return rows
