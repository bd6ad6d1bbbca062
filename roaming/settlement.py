"""Roaming settlement per partner and month, both ways.

What an eMSP partner owes us: the CDRs we issued for sessions started with the
partner's tokens (the same CDRs we pushed and serve for pull), so the export
reconciles with the partner's CDRs by id. What we owe a CPO partner: the CDRs
it sent us for our drivers' sessions at its stations, each beside what its
session pushes said, disputed ones flagged. Months are calendar months in UTC,
as CDR times are.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from accounts.models import User
from accounts.scope import is_administrator
from billing.models import Cdr
from billing.selectors import cdr_list_for_user
from cms.errors import InputError
from roaming.emsp.sessions import session_live_cost
from roaming.models import Partner, PartnerCdr
from stations.selectors import network_ids_for_user


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


# --- What we owe CPO partners for our drivers' sessions at their stations ---------


@dataclass(frozen=True)
class OwedRow:
    cdr_id: str
    session_id: str
    location_id: str
    evse_uid: str
    token_uid: str
    started_at: datetime
    ended_at: datetime
    energy_kwh: Decimal
    # What the session pushes said (None: no session was pushed).
    pushed_energy_kwh: Decimal | None
    pushed_cost: Decimal | None
    currency: str
    cost_excl_vat: Decimal
    cost_incl_vat: Decimal
    disputed: bool
    dispute_reason: str


@dataclass(frozen=True)
class OwedSettlement:
    partner: Partner
    month: date
    rows: list[OwedRow]
    # currency -> energy_kwh, excl_vat, incl_vat (all CDRs), disputed (incl_vat of
    # the disputed ones), undisputed (incl_vat of the others).
    totals: dict[str, dict[str, Decimal]]


def _partner_cdrs_for_user(user: User | AnonymousUser) -> QuerySet[PartnerCdr]:
    """Partners' CDRs of our drivers whose token is in a network ``user`` sees;
    CDRs of tokens in no network (or unknown to us) only for administrators."""
    if not user.has_perm("billing.view_cdr"):
        raise PermissionDenied("Your role does not allow this (billing.view_cdr).")
    visible = Q(id_token__network_id__in=network_ids_for_user(user=user))
    if is_administrator(user):
        visible |= Q(id_token__network__isnull=True) | Q(id_token__isnull=True)
    return PartnerCdr.objects.filter(visible)


def owed_settlement_for_user(
    *, user: User | AnonymousUser, partner: Partner, month: date
) -> OwedSettlement:
    """What we owe ``partner`` (a CPO) for ``month``: the CDRs it sent us, each
    beside what its session pushes said, disputes flagged."""
    start, end = _bounds(month)
    cdrs = (
        _partner_cdrs_for_user(user)
        .filter(partner=partner, ended_at__gte=start, ended_at__lt=end)
        .select_related("partner_session")
        .order_by("ended_at", "pk")
    )
    rows = [_owed_row(cdr) for cdr in cdrs]
    totals: dict[str, dict[str, Decimal]] = defaultdict(
        lambda: {
            k: Decimal(0)
            for k in ("energy_kwh", "excl_vat", "incl_vat", "disputed", "undisputed")
        }
    )
    for row in rows:
        sums = totals[row.currency]
        sums["energy_kwh"] += row.energy_kwh
        sums["excl_vat"] += row.cost_excl_vat
        sums["incl_vat"] += row.cost_incl_vat
        sums["disputed" if row.disputed else "undisputed"] += row.cost_incl_vat
    return OwedSettlement(partner=partner, month=month, rows=rows, totals=dict(totals))


def _owed_row(cdr: PartnerCdr) -> OwedRow:
    session = cdr.partner_session
    return OwedRow(
        cdr_id=cdr.cdr_id,
        session_id=cdr.ocpi_session_id,
        location_id=cdr.location_id,
        evse_uid=cdr.evse_uid,
        token_uid=cdr.token_uid,
        started_at=cdr.started_at,
        ended_at=cdr.ended_at,
        energy_kwh=Decimal(cdr.energy_wh) / 1000,
        pushed_energy_kwh=(
            Decimal(session.energy_wh) / 1000 if session is not None else None
        ),
        pushed_cost=session_live_cost(session) if session is not None else None,
        currency=cdr.currency,
        cost_excl_vat=cdr.cost_excl_vat.quantize(Decimal("0.01")),
        cost_incl_vat=cdr.cost_incl_vat.quantize(Decimal("0.01")),
        disputed=cdr.disputed,
        dispute_reason=cdr.dispute_reason,
    )


def owed_settlement_csv(settlement: OwedSettlement) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["cdr_id", "session_id", "location_id", "evse_uid", "token_uid",
         "started_at_utc", "ended_at_utc", "energy_kwh", "pushed_energy_kwh",
         "currency", "excl_vat", "incl_vat", "pushed_cost", "disputed",
         "dispute_reason"]
    )  # fmt: skip
    for row in settlement.rows:
        writer.writerow(
            [row.cdr_id, row.session_id, row.location_id, row.evse_uid,
             row.token_uid, row.started_at.astimezone(UTC).isoformat(),
             row.ended_at.astimezone(UTC).isoformat(), f"{row.energy_kwh:.3f}",
             "" if row.pushed_energy_kwh is None else f"{row.pushed_energy_kwh:.3f}",
             row.currency, row.cost_excl_vat, row.cost_incl_vat,
             "" if row.pushed_cost is None else row.pushed_cost,
             "yes" if row.disputed else "no", row.dispute_reason]
        )  # fmt: skip
    return out.getvalue()
