"""Roaming settlement: what each partner owes for its drivers' sessions, per month.

The rows are the CDRs we issued for sessions started with the partner's tokens
(the same CDRs we pushed and serve for pull), so the export reconciles with the
partner's CDRs by id. Months are calendar months in UTC, as CDR times are.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from django.contrib.auth.models import AnonymousUser

from accounts.models import User
from billing.models import Cdr
from billing.selectors import cdr_list_for_user
from cms.errors import InputError
from roaming.models import Partner


@dataclass(frozen=True)
class SettlementRow:
    cdr_id: str
    session_id: int
    station: str
    started_at: datetime
    stopped_at: datetime
    energy_kwh: Decimal
    currency: str
    net_amount: Decimal
    tax_amount: Decimal
    total_amount: Decimal


@dataclass(frozen=True)
class Settlement:
    partner: Partner
    month: date
    rows: list[SettlementRow]
    totals: dict[str, dict[str, Decimal]]  # currency -> energy_kwh, net, tax, total


def month_parse(value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m").replace(tzinfo=UTC).date()
    except ValueError:
        raise InputError("A month as YYYY-MM.", field="month") from None


def _bounds(month: date) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=UTC)
    end = datetime(month.year + month.month // 12, month.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def settlement_for_user(
    *, user: User | AnonymousUser, partner: Partner, month: date
) -> Settlement:
    """The partner's CDRs of ``month`` in the networks ``user`` may see."""
    start, end = _bounds(month)
    cdrs = (
        cdr_list_for_user(user=user)  # billing.view_cdr and network scope
        .filter(
            session__roaming__partner=partner, stopped_at__gte=start, stopped_at__lt=end
        )
        .order_by("stopped_at", "pk")
    )
    rows = [_row(cdr) for cdr in cdrs]
    totals: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {k: Decimal(0) for k in ("energy_kwh", "net", "tax", "total")}
    )
    for row in rows:
        sums = totals[row.currency]
        sums["energy_kwh"] += row.energy_kwh
        sums["net"] += row.net_amount
        sums["tax"] += row.tax_amount
        sums["total"] += row.total_amount
    return Settlement(partner=partner, month=month, rows=rows, totals=dict(totals))


def _row(cdr: Cdr) -> SettlementRow:
    return SettlementRow(
        cdr_id=cdr.number,
        session_id=cdr.session_id,
        station=cdr.station.name if cdr.station else "",
        started_at=cdr.started_at,
        stopped_at=cdr.stopped_at,
        energy_kwh=Decimal(cdr.energy_wh) / 1000,
        currency=cdr.currency,
        net_amount=cdr.net_amount,
        tax_amount=cdr.tax_amount,
        total_amount=cdr.total_amount,
    )


def settlement_csv(settlement: Settlement) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["cdr_id", "session_id", "station", "started_at_utc", "stopped_at_utc",
         "energy_kwh", "currency", "net_amount", "tax_amount", "total_amount"]
    )  # fmt: skip
    for row in settlement.rows:
        writer.writerow(
            [row.cdr_id, row.session_id, row.station,
             row.started_at.astimezone(UTC).isoformat(),
             row.stopped_at.astimezone(UTC).isoformat(),
             f"{row.energy_kwh:.3f}", row.currency, row.net_amount,
             row.tax_amount, row.total_amount]
        )  # fmt: skip
    return out.getvalue()
