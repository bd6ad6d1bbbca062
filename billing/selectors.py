"""Reads of billing, always within the user's networks (see stations.selectors)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.http import Http404

from accounts.models import User
from billing.exports import cdr_fees
from billing.models import Cdr, CreditNote, RatingStatus, SessionTariff, Tariff
from billing.templatetags.billing_tags import money
from sessions_app.origins import session_origin_q
from sessions_app.pricing import SessionListPrice
from stations.models import Network, Station
from stations.selectors import network_ids_for_user


def _require(user: User | AnonymousUser, perm: str) -> None:
    if not getattr(user, "is_authenticated", False) or not user.has_perm(perm):
        raise PermissionDenied(f"Your role does not allow this ({perm}).")


def tariff_list_for_user(*, user: User | AnonymousUser) -> QuerySet[Tariff]:
    _require(user, "billing.view_tariff")
    return Tariff.objects.filter(
        network_id__in=network_ids_for_user(user=user)
    ).select_related("network")


def tariff_get_for_user(
    *, user: User | AnonymousUser, pk: int, perm: str = "billing.view_tariff"
) -> Tariff:
    tariff = (
        Tariff.objects.filter(pk=pk, network_id__in=network_ids_for_user(user=user))
        .select_related("network")
        .first()
    )
    if tariff is None:
        raise Http404("No such tariff.")
    _require(user, perm)
    return tariff


@dataclass(frozen=True)
class CdrFilter:
    network: Network | None = None
    station: Station | None = None
    date_from: date | None = None
    date_to: date | None = None  # inclusive
    search: str = ""
    # Own drivers, roaming, one partner (sessions_app/origins.py); "" for all.
    origin: str = ""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.network.time_zone if self.network else "UTC")

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """Local dates of the network (UTC for all networks) -> UTC instants."""
        zone = self.zone
        start = (
            datetime.combine(self.date_from, time.min, tzinfo=zone)
            if self.date_from
            else None
        )
        end = (
            datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=zone)
            if self.date_to
            else None
        )
        return start, end


def cdr_list_for_user(
    *, user: User | AnonymousUser, filters: CdrFilter | None = None
) -> QuerySet[Cdr]:
    _require(user, "billing.view_cdr")
    queryset = Cdr.objects.filter(network_id__in=network_ids_for_user(user=user))
    filters = filters or CdrFilter()
    if filters.network is not None:
        queryset = queryset.filter(network=filters.network)
    if filters.station is not None:
        queryset = queryset.filter(station=filters.station)
    start, end = filters.bounds()
    if start is not None:
        queryset = queryset.filter(stopped_at__gte=start)
    if end is not None:
        queryset = queryset.filter(stopped_at__lt=end)
    if filters.origin:
        queryset = queryset.filter(session_origin_q(filters.origin, prefix="session__"))
    if filters.search:
        term = filters.search.strip()
        queryset = queryset.filter(number__iexact=term) | queryset.filter(
            id_tag__iexact=term
        )
    return queryset.select_related("network", "station")


def cdr_get_for_user(
    *, user: User | AnonymousUser, pk: int, perm: str = "billing.view_cdr"
) -> Cdr:
    cdr = (
        Cdr.objects.filter(pk=pk, network_id__in=network_ids_for_user(user=user))
        .select_related("network", "station", "session", "session__id_token")
        .first()
    )
    if cdr is None:
        raise Http404("No such CDR.")
    _require(user, perm)
    return cdr


def credit_note_list_for_cdr(*, cdr: Cdr) -> QuerySet[CreditNote]:
    return cdr.credit_notes.select_related("created_by")


def rating_problems_for_user(*, user: User | AnonymousUser) -> QuerySet[SessionTariff]:
    """Failed ratings and sessions waiting for the car to unplug, newest first."""
    _require(user, "billing.view_cdr")
    return (
        SessionTariff.objects.filter(
            session__charge_point__station__network_id__in=network_ids_for_user(
                user=user
            ),
            status__in=(RatingStatus.FAILED, RatingStatus.AWAITING_IDLE_END),
        )
        .select_related("session", "session__charge_point__station")
        .order_by("-session__stopped_at")
    )


@dataclass(frozen=True)
class RevenueRow:
    day: date
    network: str
    station: str
    currency: str
    sessions: int
    energy_wh: int
    net: Decimal
    tax: Decimal
    total: Decimal


def revenue_for_user(
    *, user: User | AnonymousUser, filters: CdrFilter
) -> list[RevenueRow]:
    """Revenue per network, station and local day (the network's time zone)."""
    _require(user, "billing.export_cdr")
    rows: list[RevenueRow] = []
    queryset = cdr_list_for_user(user=user, filters=filters)
    network_ids = sorted(set(queryset.values_list("network_id", flat=True)))
    for network in Network.objects.filter(pk__in=network_ids).order_by("name"):
        zone = ZoneInfo(network.time_zone)
        grouped = (
            queryset.filter(network=network)
            .annotate(day=TruncDate("stopped_at", tzinfo=zone))
            .values("day", "station__name", "currency")
            .annotate(
                sessions=Count("id"),
                energy=Sum("energy_wh"),
                net=Sum("net_amount"),
                tax=Sum("tax_amount"),
                total=Sum("total_amount"),
            )
            .order_by("day", "station__name", "currency")
        )
        rows.extend(
            RevenueRow(
                day=item["day"],
                network=network.name,
                station=item["station__name"] or "",
                currency=item["currency"],
                sessions=item["sessions"],
                energy_wh=item["energy"] or 0,
                net=item["net"] or Decimal(0),
                tax=item["tax"] or Decimal(0),
                total=item["total"] or Decimal(0),
            )
            for item in grouped
        )
    return rows


def session_price_for_user(
    *, session: Any, user: User | AnonymousUser
) -> dict[str, Any] | None:
    """The price panel of a session page: the issued CDR, or the running estimate.

    None when the user's role may not see prices. Rating here is read-only; it
    never issues or stores anything.
    """
    from billing.models import Cdr
    from billing.services import NoTariffAssigned, session_cost_estimate_in_currency

    if not (user.has_perm("billing.view_tariff") or user.has_perm("billing.view_cdr")):
        return None
    station = session.charge_point.station
    currency = station.network.currency if station else ""
    cdr = Cdr.objects.filter(session=session).first()
    if cdr is not None:
        return {
            "cdr": cdr,
            "currency": cdr.currency,
            "estimate": None,
            "no_tariff": False,
            "can_view_cdr": user.has_perm("billing.view_cdr"),
            "text": money(cdr.total_amount, cdr.currency),
        }
    try:
        estimate, currency = session_cost_estimate_in_currency(session)
    except NoTariffAssigned:
        return {
            "cdr": None,
            "currency": currency,
            "estimate": None,
            "no_tariff": True,
            "can_view_cdr": False,
            "text": "",
        }
    return {
        "cdr": None,
        "currency": currency,
        "estimate": estimate,
        "no_tariff": False,
        "can_view_cdr": False,
        "text": money(estimate, currency),
    }


def session_list_prices_for_user(
    *, session_ids: list[int], user: User | AnonymousUser
) -> dict[int, SessionListPrice] | None:
    """Billed prices (issued CDRs) of many sessions in one query; None when the
    user's role may not see prices."""
    if not (user.has_perm("billing.view_tariff") or user.has_perm("billing.view_cdr")):
        return None
    prices: dict[int, SessionListPrice] = {}
    rows = Cdr.objects.filter(session_id__in=session_ids).values_list(
        "session_id", "number", "currency", "total_amount", "net_amount", "line_items"
    )
    for session_id, number, currency, total, net, line_items in rows:
        energy, time, idle, other = cdr_fees(line_items or [])
        prices[session_id] = SessionListPrice(
            receipt_number=number,
            currency=currency,
            total=total,
            net=net,
            energy_fee=energy,
            time_fee=time,
            idle_fee=idle,
            other_fees=other,
        )
    return prices
