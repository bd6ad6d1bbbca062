"""Session prices as the session pages and the driver API show them.

Prices are billing's (a higher app): billing registers its readers here in its
``AppConfig.ready()``, so sessions ask without importing billing. Without
billing installed a session simply shows no price.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User
    from sessions_app.models import ChargingSession

# The cost so far (or the receipt total) and its currency; None without a tariff.
CostEstimate = Callable[["ChargingSession"], "tuple[Decimal, str] | None"]
# The price panel of a session page for a user; None when the role may not see it.
PricePanel = Callable[..., "dict[str, Any] | None"]


@dataclass(frozen=True)
class SessionListPrice:
    """A session's billed price as lists and exports show it (its issued CDR)."""

    receipt_number: str
    currency: str
    total: Decimal
    net: Decimal
    energy_fee: Decimal
    time_fee: Decimal
    idle_fee: Decimal
    other_fees: Decimal


# Session id -> its billed price, for many sessions in one go; None when the
# user's role may not see prices (the list then has no price column).
ListPrices = Callable[..., "dict[int, SessionListPrice] | None"]


@dataclass
class _Readers:
    estimate: CostEstimate | None = None
    panel: PricePanel | None = None
    list_prices: ListPrices | None = None


_readers = _Readers()


def session_price_readers_register(
    *,
    estimate: CostEstimate,
    panel: PricePanel,
    list_prices: ListPrices | None = None,
) -> None:
    _readers.estimate = estimate
    _readers.panel = panel
    _readers.list_prices = list_prices


def session_list_prices(
    *, session_ids: list[int], user: User | AnonymousUser
) -> dict[int, SessionListPrice] | None:
    """Billed prices of sessions by id (those without a CDR are left out)."""
    if _readers.list_prices is None:
        return None
    return _readers.list_prices(session_ids=session_ids, user=user)


def session_cost_estimate(session: ChargingSession) -> tuple[Decimal, str] | None:
    return _readers.estimate(session) if _readers.estimate is not None else None


def session_price_panel(
    *, session: ChargingSession, user: User | AnonymousUser
) -> dict[str, Any] | None:
    if _readers.panel is None:
        return None
    return _readers.panel(session=session, user=user)
