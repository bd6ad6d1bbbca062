"""The running cost told to the charging station during a session (OCPP 2.0.1 I02).

A 2.0.1 TransactionEvent answer carries the cost so far
(``services.transaction_cost``), but a station sends events only on its own
triggers: an EV parked after charging sends nothing while time and idle fees
run on. The sweep sends CostUpdated (I02: "the CSMS MAY send a
CostUpdatedRequest with the running total cost") for every open session on a
connected 2.0.1 station whose cost moved since it was last told. The cost is
the session page's estimate (``sessions_app.pricing``, billing's rating); the
command goes through the one send path of ``stations.remote.services``
(system audit row, dispatch, outcome).
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.conf import settings

from sessions_app import pricing
from sessions_app.models import ChargingSession, SessionStatus
from stations.models import ChargePointCommand, OcppProtocol
from stations.ocpp.commands import CommandPayloadError, CostUpdate
from stations.remote.services import command_submit

logger = logging.getLogger(__name__)

COST_UPDATED = "CostUpdated"
_CENT = Decimal("0.01")


def _cost_last_told(session: ChargingSession) -> Decimal | None:
    """The totalCost of the newest CostUpdated sent for the session's transaction."""
    payload = (
        ChargePointCommand.objects.filter(
            charge_point_id=session.charge_point_id,
            action=COST_UPDATED,
            payload__transactionId=session.charger_transaction_id,
        )
        .order_by("-pk")
        .values_list("payload", flat=True)
        .first()
    )
    if not isinstance(payload, dict) or payload.get("totalCost") is None:
        return None
    return Decimal(str(payload["totalCost"])).quantize(_CENT)


def session_cost_updates_sweep(*, limit: int | None = None) -> int:
    """Send CostUpdated where a running cost moved; returns how many were sent."""
    sessions = (
        ChargingSession.objects.select_related("charge_point__station__network")
        .filter(
            stopped_at__isnull=True,
            status=SessionStatus.ACTIVE,
            charge_point__is_connected=True,
            charge_point__ocpp_protocol=OcppProtocol.OCPP201,
        )
        .exclude(charger_transaction_id="")
        .order_by("pk")
    )[: limit or settings.COST_UPDATED_BATCH]
    sent = 0
    for session in sessions:
        estimate = pricing.session_cost_estimate(session)
        if estimate is None:  # no tariff: nothing to show the driver
            continue
        cost = estimate[0].quantize(_CENT)
        if _cost_last_told(session) == cost:
            continue
        try:
            command_submit(
                charge_point=session.charge_point,
                command=CostUpdate(transaction_id=session.pk, total_cost=cost),
                requested_by=None,
            )
        except CommandPayloadError:
            # The station reconnected speaking 1.6 since it was read.
            logger.info("No CostUpdated for session %s", session.pk)
            continue
        sent += 1
    return sent
