"""Charging profiles from an eMSP cap its drivers' sessions in our load manager."""

from __future__ import annotations

from decimal import Decimal

import pytest

from roaming.models import RoamingChargingProfile, RoamingSession
from roaming.publication import location_publication_set
from roaming.tasks import roaming_retry_sweep_task
from sessions_app.models import SessionStatus
from stations.smart.models import SmartProfileState, SmartProfileStatus
from stations.smart.services import site_replan, site_static_limit_set
from tests.factories import StationFactory
from tests.roaming.emsp import COUNTRY_CODE, PARTY_ID, EmspPlatform
from tests.smart.support import answer_all, site_connectors, start_session, tx_limits

pytestmark = pytest.mark.django_db(transaction=True)


def _session(emsp: EmspPlatform, connector, uid: str):
    url = (
        f"{emsp.cpo_endpoints[('tokens', 'RECEIVER')]}/{COUNTRY_CODE}/{PARTY_ID}/{uid}"
    )
    assert emsp.call("PUT", url, body=emsp.token(uid), routing=True).status == 201
    session = start_session(connector, id_tag=uid)
    from cms.events import SessionStarted
    from roaming.cpo.tokens import roaming_session_link

    roaming_session_link(
        SessionStarted(session_id=session.pk, charge_point_pk=connector.charge_point_id)
    )
    assert RoamingSession.objects.filter(session=session).exists()
    return session


@pytest.fixture
def site(network_a):
    """A load-managed 22 kW site with four 22 kW AC connectors, published."""
    station = StationFactory(network=network_a, name="Managed site")
    site_static_limit_set(station=station, limit_kw=Decimal("22"), actor=None)
    location_publication_set(network=network_a, is_published=True)
    return station


def _profile(limit: float, unit: str = "W") -> dict:
    return {
        "charging_rate_unit": unit,
        "charging_profile_period": [{"start_period": 0, "limit": limit}],
    }


def _url(emsp: EmspPlatform, session_id: int | str) -> str:
    return f"{emsp.cpo_endpoints[('chargingprofiles', 'RECEIVER')]}/{session_id}"


def test_a_profile_caps_the_session_and_its_result_follows_the_chargers_answer(
    registered: EmspPlatform, site
):
    connectors = site_connectors(site, chargers=1)
    session = _session(registered, connectors[0], "SCSP0001")
    site_replan(station_id=site.pk, trigger="test")
    answer_all()
    assert tx_limits(connectors)[connectors[0].pk] == 31.8  # alone: 22 kW in amps

    answer = registered.call(
        "PUT",
        _url(registered, session.pk),
        body={
            "charging_profile": _profile(6900),
            "response_url": registered.response_url("profile-1"),
        },
        routing=True,
    )
    assert answer.status_code == 1000
    assert answer.data["result"] == "ACCEPTED"
    assert answer.data["timeout"] > 0
    # The plan gave the charger a new TxProfile within the partner's 6.9 kW.
    assert tx_limits(connectors)[connectors[0].pk] == 10.0  # 6900 W at 3 x 230 V
    assert registered.command_results("profile-1") == []  # the charger has not answered

    answer_all("Accepted")
    assert registered.command_results("profile-1") == [{"result": "ACCEPTED"}]
    state = SmartProfileState.objects.get(
        purpose="TxProfile", transaction_id=session.pk
    )
    assert state.limit_w <= 6900

    # Cleared: the session gets the site's share again.
    cleared = registered.call(
        "DELETE",
        _url(registered, session.pk)
        + f"?response_url={registered.response_url('clear-1')}",
        routing=True,
    )
    assert cleared.data["result"] == "ACCEPTED"
    assert tx_limits(connectors)[connectors[0].pk] == 31.8
    answer_all("Accepted")
    assert registered.command_results("clear-1") == [{"result": "ACCEPTED"}]
    roaming_retry_sweep_task()  # nothing is sent twice
    assert len(registered.command_results("profile-1")) == 1


def test_a_charger_refusing_the_capped_profile_gives_rejected(
    registered: EmspPlatform, site
):
    connectors = site_connectors(site, chargers=1)
    session = _session(registered, connectors[0], "SCSP0002")
    site_replan(station_id=site.pk, trigger="test")
    answer_all()
    registered.call(
        "PUT",
        _url(registered, session.pk),
        body={
            "charging_profile": _profile(16, unit="A"),
            "response_url": registered.response_url("profile-2"),
        },
        routing=True,
    )
    assert tx_limits(connectors)[connectors[0].pk] == 16.0
    answer_all("Rejected")
    assert registered.command_results("profile-2") == [{"result": "REJECTED"}]


def test_requests_that_cannot_be_served_get_the_right_answer_and_store_nothing(
    registered: EmspPlatform, site, network_a
):
    connectors = site_connectors(site, chargers=1)
    own = start_session(connectors[1], id_tag="OWNCARD9")  # one of our drivers
    roaming = _session(registered, connectors[0], "SCSP0003")
    unmanaged = StationFactory(network=network_a, name="No load management")
    plain = site_connectors(unmanaged, chargers=1)[0]
    elsewhere = _session(registered, plain, "SCSP0004")
    body = {
        "charging_profile": _profile(7000),
        "response_url": registered.response_url("nope"),
    }

    def put(session_id, payload=body):
        return registered.call(
            "PUT", _url(registered, session_id), body=payload, routing=True
        )

    assert put(own.pk).data["result"] == "UNKNOWN_SESSION"  # not the partner's
    assert put("999999").data["result"] == "UNKNOWN_SESSION"
    assert put(elsewhere.pk).data["result"] == "NOT_SUPPORTED"
    roaming.status = SessionStatus.COMPLETED
    roaming.save(update_fields=["status"])
    assert put(roaming.pk).data["result"] == "REJECTED"

    missing = put(own.pk, {"response_url": registered.response_url("x")})
    assert missing.status_code == 2001
    assert "charging_profile" in missing.body["status_message"]
    bad_unit = put(
        own.pk,
        {**body, "charging_profile": _profile(7000, unit="kW")},
    )
    assert bad_unit.status_code == 2001
    assert "charging_rate_unit" in bad_unit.body["status_message"]
    no_periods = put(
        own.pk,
        {**body, "charging_profile": {"charging_rate_unit": "W"}},
    )
    assert "charging_profile_period" in no_periods.body["status_message"]
    malformed = registered.call(
        "PUT", _url(registered, roaming.pk), raw_body=b"{nope", routing=True
    )
    assert malformed.status == 400
    assert not RoamingChargingProfile.objects.exists()
    assert registered.command_results("nope") == []


def test_the_active_profile_is_sent_to_the_response_url(registered: EmspPlatform, site):
    connectors = site_connectors(site, chargers=1)
    session = _session(registered, connectors[0], "SCSP0005")
    site_replan(station_id=site.pk, trigger="test")
    answer_all()
    no_duration = registered.call(
        "GET",
        _url(registered, session.pk) + f"?response_url={registered.response_url('g')}",
        routing=True,
    )
    assert no_duration.status_code == 2001
    answer = registered.call(
        "GET",
        _url(registered, session.pk)
        + f"?duration=900&response_url={registered.response_url('active-1')}",
        routing=True,
    )
    assert answer.data["result"] == "ACCEPTED"
    [result] = registered.command_results("active-1")
    assert result["result"] == "ACCEPTED"
    period = result["profile"]["charging_profile"]["charging_profile_period"][0]
    state = SmartProfileState.objects.get(
        purpose="TxProfile", transaction_id=session.pk
    )
    assert state.status == SmartProfileStatus.ACTIVE
    assert period == {"start_period": 0, "limit": float(state.limit_w)}
