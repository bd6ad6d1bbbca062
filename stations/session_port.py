"""The OCPP gateway's way into the session services.

``sessions_app`` sits above ``stations`` (it builds on charge points, networks and
remote commands), yet a charger's transaction facts need the session services'
answers at once: StartTransaction waits for a transaction id and an
authorization, Authorize for a verdict. They are calls, not events, so the
gateway calls them through this port, which ``sessions_app`` fills from its
``ready()`` (``session_services_register(sessions_app.services)``); nothing in
``stations`` imports ``sessions_app``. The version adapters (``stations/ocpp/v16/``,
``stations/ocpp/v201/``) hand over neutral facts (``stations.facts``) only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, cast

from stations.facts import Authorization, Sample, TransactionUpdate


@dataclass(frozen=True)
class MeterValuesReport:
    """One charger's meter values as the gateway received them (group-committed)."""

    charge_point_id: int
    connector_id: int
    transaction_id: int | None
    samples: list[Sample]
    received_at: datetime


class SessionServices(Protocol):
    """What the gateway asks of the session services (``sessions_app.services``)."""

    def id_tag_authorize(
        self, *, charge_point_id: int | None = None, id_tag: str, at: datetime
    ) -> Authorization: ...

    def session_start_from_ocpp(
        self,
        *,
        charge_point_id: int | None = None,
        connector_id: int,
        id_tag: str,
        meter_start_wh: int,
        started_at: datetime,
        reservation_id: int | None,
        quirk: str = "",
    ) -> tuple[int, Authorization]: ...

    def session_stop_from_ocpp(
        self,
        *,
        charge_point_id: int | None = None,
        transaction_id: int,
        meter_stop_wh: int,
        stopped_at: datetime,
        reason: str | None,
        id_tag: str | None,
        samples: list[Sample] | None,
        payload: dict,
        quirk: str = "",
    ) -> Authorization | None: ...

    def sessions_close_at_boot(
        self, *, charge_point_id: int, quirk: str, at: datetime
    ) -> int: ...

    def meter_values_record(
        self,
        *,
        charge_point_id: int | None = None,
        connector_id: int,
        transaction_id: int | None,
        samples: list[Sample],
        received_at: datetime,
    ) -> None: ...

    def meter_values_record_batch(
        self, *, reports: list[MeterValuesReport]
    ) -> None: ...

    def transaction_event_record(
        self, *, update: TransactionUpdate
    ) -> Authorization | None: ...

    def transaction_cost(
        self, *, charge_point_id: int, charger_transaction_id: str
    ) -> Decimal | None: ...


_registered: list[SessionServices] = []


def session_services_register(services: SessionServices) -> None:
    """Fill the port (``sessions_app``'s ``ready()``); a second call replaces it."""
    _registered[:] = [services]


class _Port:
    def __getattr__(self, name: str) -> Any:
        if not _registered:
            raise RuntimeError(
                "no session services registered: sessions_app must be installed"
            )
        return getattr(_registered[0], name)


# The gateway's handle: ``sessions.session_start_from_ocpp(...)``, looked up at
# call time, so the port may be filled after this module is imported.
sessions = cast(SessionServices, _Port())
