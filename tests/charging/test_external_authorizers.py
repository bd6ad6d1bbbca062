from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sessions_app import services
from sessions_app.models import ChargingSession, SessionStatus
from sessions_app.services import (
    Authorization,
    external_authorizers_register,
    id_tag_authorize,
    session_start_from_ocpp,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def partner_authorizer(monkeypatch):
    monkeypatch.setattr(services, "_external_authorizers", [])
    asked: list[str] = []

    def authorizer(*, id_tag, charge_point, at):
        asked.append(id_tag)
        if id_tag == "PARTNER1":
            return Authorization(status="Accepted")
        return None

    external_authorizers_register(authorizer)
    return asked


def test_an_unknown_tag_is_answered_by_a_registered_authorizer(
    charge_point_a, partner_authorizer
):
    result = id_tag_authorize(
        charge_point_ocpp_id=charge_point_a.ocpp_id, id_tag="PARTNER1", at=T0
    )
    assert result.status == "Accepted"
    assert partner_authorizer == ["PARTNER1"]


def test_a_tag_no_authorizer_knows_stays_invalid(charge_point_a, partner_authorizer):
    result = id_tag_authorize(
        charge_point_ocpp_id=charge_point_a.ocpp_id, id_tag="NOBODY", at=T0
    )
    assert result.status == "Invalid"


def test_a_start_with_an_externally_accepted_tag_opens_an_active_session(
    charge_point_a, partner_authorizer
):
    session_id, auth = session_start_from_ocpp(
        charge_point_ocpp_id=charge_point_a.ocpp_id,
        connector_id=1,
        id_tag="PARTNER1",
        meter_start_wh=0,
        started_at=T0,
        reservation_id=None,
    )
    assert auth.is_accepted
    session = ChargingSession.objects.get(pk=session_id)
    assert session.status == SessionStatus.ACTIVE
    assert session.id_token is None


def test_our_own_tokens_never_reach_the_external_authorizers(
    charge_point_a, network_a, partner_authorizer
):
    from tests.factories import IdTokenFactory

    IdTokenFactory(token="OURS1", network=network_a)
    result = id_tag_authorize(
        charge_point_ocpp_id=charge_point_a.ocpp_id, id_tag="OURS1", at=T0
    )
    assert result.status == "Accepted"
    assert partner_authorizer == []
