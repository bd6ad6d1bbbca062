"""A finished session at one of our connectors with a partner's (or our) token."""

from __future__ import annotations

from datetime import datetime, timedelta

from cms.events import SessionStarted
from roaming.cpo.tokens import roaming_session_link
from sessions_app.models import ChargingSession, SessionStatus
from stations.models import Connector, StatusChange
from tests.factories import ChargingSessionFactory


def finished_session(
    connector: Connector,
    id_tag: str,
    *,
    start: datetime,
    charging: timedelta,
    idle: timedelta,
    energy_wh: int,
) -> ChargingSession:
    """Charged ``energy_wh`` for ``charging``, unplugged after ``idle``; linked to
    its partner as the session.started subscriber does."""
    session = ChargingSessionFactory(
        charge_point=connector.charge_point,
        connector=connector,
        connector_number=connector.connector_id,
        id_token=None,
        id_tag=id_tag,
        meter_start_wh=0,
        meter_stop_wh=energy_wh,
        started_at=start,
        stopped_at=start + charging,
        status=SessionStatus.COMPLETED,
        energy_wh=energy_wh,
    )
    for status, at in (
        ("Charging", start),
        ("Finishing", start + charging),
        ("Available", start + charging + idle),
    ):
        StatusChange.objects.create(
            connector=connector, status=status, at=at, received_at=at
        )
    roaming_session_link(
        SessionStarted(session_id=session.pk, charge_point_pk=connector.charge_point_id)
    )
    return session
