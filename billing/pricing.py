"""The price a driver would pay on a connector, before any session exists."""

from __future__ import annotations

from typing import Any

from billing.models import Tariff
from billing.services import tariff_for_session
from sessions_app.models import ChargingSession, IdToken
from stations.models import Connector


def tariff_for_connector(
    *, connector: Connector, id_token: IdToken | None = None
) -> Tariff | None:
    """The tariff a session started now on ``connector`` would be rated with.

    Uses the same assignment rules as rating (``tariff_for_session``) on an
    unsaved session, so the quoted price and the billed one cannot drift apart.
    """
    probe = ChargingSession(
        charge_point=connector.charge_point,
        connector=connector,
        connector_number=connector.connector_id,
        id_token=id_token,
    )
    return tariff_for_session(probe)


def tariff_price_summary(tariff: Tariff) -> dict[str, Any]:
    """Prices of ``tariff`` as a driver app shows them (excl. tax, with VAT rate)."""
    return {
        "tariff_id": tariff.pk,
        "name": tariff.name,
        "currency": tariff.currency,
        "vat_percent": tariff.vat_percent,
        "min_price": tariff.min_price,
        "max_price": tariff.max_price,
        "idle_grace_minutes": tariff.idle_grace_minutes,
        "idle_fee_cap": tariff.idle_fee_cap,
        "elements": [
            {
                "energy_price_per_kwh": element.energy_price_per_kwh,
                "time_price_per_hour": element.time_price_per_hour,
                "idle_price_per_minute": element.idle_price_per_minute,
                "flat_price": element.flat_price,
                "start_time": element.start_time,
                "end_time": element.end_time,
                "days_of_week": list(element.days_of_week or []),
                "min_power_kw": element.min_power_kw,
                "max_power_kw": element.max_power_kw,
            }
            for element in tariff.elements.all()
        ],
    }
