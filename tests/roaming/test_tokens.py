"""Tokens pushed by an eMSP, and their use at our chargers."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from ocpp.v16 import call

from roaming.credentials import partner_invite
from roaming.models import PartnerToken, RoamingSession
from sessions_app.models import ChargingSession, SessionStatus
from sessions_app.services import id_tag_authorize
from tests.factories import ChargePointFactory, StationFactory
from tests.ocpp.client import charger, wait_for
from tests.roaming.emsp import COUNTRY_CODE, PARTY_ID, EmspPlatform

pytestmark = pytest.mark.django_db(transaction=True)


def _url(
    emsp: EmspPlatform, uid: str, party: str = f"{COUNTRY_CODE}/{PARTY_ID}"
) -> str:
    return f"{emsp.cpo_endpoints[('tokens', 'RECEIVER')]}/{party}/{uid}"


def _push(emsp: EmspPlatform, uid: str, **changes) -> int:
    answer = emsp.call(
        "PUT", _url(emsp, uid), body=emsp.token(uid, **changes), routing=True
    )
    assert answer.status_code == 1000, answer.body
    return answer.status


def test_put_creates_then_updates_and_get_returns_the_token(registered):
    assert _push(registered, "CARD001") == 201
    assert _push(registered, "CARD001", issuer="Another issuer") == 200

    got = registered.call("GET", _url(registered, "CARD001"), routing=True)

    assert got.status == 200
    assert got.data["issuer"] == "Another issuer"
    assert got.data["whitelist"] == "ALLOWED"
    assert PartnerToken.objects.count() == 1


def test_patch_changes_only_the_given_fields_and_needs_last_updated(registered):
    _push(registered, "CARD001")
    url = _url(registered, "CARD001")

    no_date = registered.call("PATCH", url, body={"valid": False}, routing=True)
    assert no_date.status_code == 2001
    assert "last_updated" in no_date.body["status_message"]
    assert PartnerToken.objects.get().is_valid is True

    patched = registered.call(
        "PATCH",
        url,
        body={"valid": False, "last_updated": "2030-01-01T00:00:00Z"},
        routing=True,
    )
    assert (patched.status, patched.status_code) == (200, 1000)
    token = PartnerToken.objects.get()
    assert token.is_valid is False
    assert token.issuer == "Test eMSP"
    assert token.last_updated == datetime(2030, 1, 1, tzinfo=UTC)
    unknown = registered.call(
        "PATCH",
        _url(registered, "NOPE"),
        body={"valid": False, "last_updated": "2030-01-01T00:00:00Z"},
        routing=True,
    )
    assert (unknown.status, unknown.status_code) == (404, 2004)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"contract_id": None}, "contract_id"),
        ({"whitelist": "SOMETIMES"}, "whitelist"),
        ({"valid": 1}, "valid"),
        ({"uid": "OTHER"}, "uid"),
        ({"uid": "X" * 37}, "uid"),
    ],
)
def test_a_token_with_a_bad_field_is_2001_naming_it(registered, change, field):
    body = {**registered.token("CARD001"), **change}
    body = {k: v for k, v in body.items() if v is not None}
    answer = registered.call(
        "PUT", _url(registered, "CARD001"), body=body, routing=True
    )
    assert answer.status_code == 2001
    assert field in answer.body["status_message"]
    assert not PartnerToken.objects.exists()


def test_another_partys_tokens_are_out_of_reach(registered):
    _push(registered, "CARD001")
    other = registered.call(
        "PUT",
        _url(registered, "CARD002", party="FR/ABC"),
        body=registered.token("CARD002", country_code="FR", party_id="ABC"),
        routing=True,
    )
    assert other.status == 404
    assert (
        registered.call("GET", _url(registered, "CARD009"), routing=True).status == 404
    )


def test_a_second_partner_cannot_read_the_first_partners_tokens(registered, cpo):
    _push(registered, "CARD001")
    from tests.roaming.emsp import start_emsp

    second, server = start_emsp()
    try:
        second.token_to_cpo = "unused"
        _partner, token_a = partner_invite(country_code="FR", party_id="SEC")
        answer_body = second.credentials_object()
        for role in answer_body["roles"]:
            role["country_code"], role["party_id"] = "FR", "SEC"
        second.credentials_object = lambda: answer_body  # type: ignore[method-assign]
        assert second.register(f"{cpo}/ocpi/versions", token_a).status_code == 1000
        peek = second.call(
            "GET",
            _url(registered, "CARD001"),
            headers={"OCPI-from-country-code": "FR", "OCPI-from-party-id": "SEC"},
        )
        assert peek.status == 404
    finally:
        server.shutdown()
        server.server_close()


# --- At the charger ----------------------------------------------------------------


@pytest.fixture
def charge_point(network_a):
    station = StationFactory(network=network_a)
    return ChargePointFactory(station=station, ocpp_id="ROAM-CP")


def _authorize(charge_point, id_tag):
    return id_tag_authorize(
        charge_point_ocpp_id=charge_point.ocpp_id,
        id_tag=id_tag,
        at=datetime.now(tz=UTC),
    ).status


def test_whitelisted_tokens_are_answered_from_the_store(registered, charge_point):
    _push(registered, "ALLOWED1", whitelist="ALLOWED")
    _push(registered, "ALWAYS1", whitelist="ALWAYS")
    _push(registered, "BLOCKED1", whitelist="ALWAYS", valid=False)
    assert _authorize(charge_point, "allowed1") == "Accepted"
    assert _authorize(charge_point, "ALWAYS1") == "Accepted"
    assert _authorize(charge_point, "BLOCKED1") == "Blocked"
    assert _authorize(charge_point, "UNKNOWN1") == "Invalid"
    assert not [r for r in registered.received if r.path.endswith("/authorize")]


def test_never_tokens_are_authorized_in_real_time(registered, charge_point):
    _push(registered, "RT-OK", whitelist="NEVER")
    _push(registered, "RT-BLOCK", whitelist="NEVER")
    _push(registered, "RT-GONE", whitelist="NEVER")
    registered.authorizations = {"RT-OK": "ALLOWED", "RT-BLOCK": "NO_CREDIT"}

    assert _authorize(charge_point, "RT-OK") == "Accepted"
    assert _authorize(charge_point, "RT-BLOCK") == "Blocked"
    assert _authorize(charge_point, "RT-GONE") == "Invalid"
    asked = [
        r for r in registered.received if r.path.split("?")[0].endswith("/authorize")
    ]
    assert asked[0].path == "/ocpi/emsp/2.2.1/tokens/RT-OK/authorize?type=RFID"
    assert asked[0].body == {"location_id": str(charge_point.station_id)}
    assert asked[0].headers["ocpi-to-party-id"] == PARTY_ID


def test_a_slow_emsp_gets_the_documented_fallback_by_the_deadline(
    registered, charge_point, settings
):
    _push(registered, "RT-NEVER", whitelist="NEVER")
    _push(registered, "RT-OFFLINE", whitelist="ALLOWED_OFFLINE")
    registered.authorizations = {"RT-NEVER": "ALLOWED", "RT-OFFLINE": "BLOCKED"}
    registered.authorize_delay_s = 2.0
    settings.OCPI_AUTHORIZE_TIMEOUT_SECONDS = 0.3

    started = time.monotonic()
    never = _authorize(charge_point, "RT-NEVER")
    offline = _authorize(charge_point, "RT-OFFLINE")
    elapsed = time.monotonic() - started

    assert never == "Invalid"  # real-time only: no answer, no charging
    assert offline == "Accepted"  # ALLOWED_OFFLINE: allowed when the eMSP is silent
    assert elapsed < 1.9


def test_a_partner_token_at_a_real_charger_starts_a_session_of_that_partner(
    registered, asgi_server, charge_point
):
    _push(registered, "ROAMCARD", whitelist="NEVER")
    registered.authorizations = {"ROAMCARD": "ALLOWED"}

    async def scenario():
        async with charger(asgi_server, charge_point.ocpp_id) as client:
            authorized = await client.call(call.Authorize(id_tag="ROAMCARD"))
            started = await client.call(
                call.StartTransaction(
                    connector_id=1,
                    id_tag="ROAMCARD",
                    meter_start=0,
                    timestamp=datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                )
            )
            return authorized, started

    authorized, started = asyncio.run(scenario())

    assert authorized.id_tag_info["status"] == "Accepted"
    assert started.id_tag_info["status"] == "Accepted"
    session = ChargingSession.objects.get(pk=started.transaction_id)
    assert session.status == SessionStatus.ACTIVE
    link = wait_for(lambda: RoamingSession.objects.filter(session=session).first())
    assert link.partner.party_id == PARTY_ID
    assert link.token.uid == "ROAMCARD"
