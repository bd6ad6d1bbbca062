"""The driver app starts charging at a partner CPO's EVSE and gets the same
kind of handle as at our own stations, resolved by the CPO's CommandResult and
session push (over HTTP to our live server)."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from roaming.models import EmspCommand, PartnerSession
from tests.factories import IdTokenFactory, UserFactory
from tests.roaming.cpo_peer import COUNTRY_CODE, PARTY_ID, CpoPeer
from tests.roaming.test_emsp_sessions_cdrs import session_object

pytestmark = pytest.mark.django_db(transaction=True)

START = "/api/v1/driver/partner-starts/"


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}"
    )
    return client


def _start(client: APIClient, token_pk: int, **changes):
    body = {
        "country_code": COUNTRY_CODE,
        "party_id": PARTY_ID,
        "location_id": "LOC1",
        "evse_uid": "FR*CPX*E1",
        "connector_id": "1",
        "id_token": token_pk,
        **changes,
    }
    return client.post(START, body, format="json")


def test_a_start_at_a_partner_resolves_through_result_and_session_push(
    registered_cpo: CpoPeer,
):
    driver = UserFactory(username="travelling-driver", is_driver=True)
    token = IdTokenFactory(token="TRAVEL-1", owner=driver)
    client = _client(driver)

    answer = _start(client, token.pk)
    assert answer.status_code == 202, answer.content
    handle = answer.json()
    assert handle["status"] == "pending"
    assert set(handle) >= {"id", "url", "status", "transaction_id", "failure_reason"}
    [sent] = registered_cpo.commands("START_SESSION")
    assert sent.body["token"]["uid"] == "TRAVEL-1"
    assert sent.body["evse_uid"] == "FR*CPX*E1"

    registered_cpo.send_result(sent, "ACCEPTED")
    assert client.get(handle["url"]).json()["status"] == "pending"  # no session yet

    base = registered_cpo.emsp_endpoints[("sessions", "RECEIVER")]
    session = session_object(
        "S-TRAVEL",
        "TRAVEL-1",
        authorization_reference=sent.body["authorization_reference"],
    )
    put = registered_cpo.call(
        "PUT", f"{base}/{COUNTRY_CODE}/{PARTY_ID}/S-TRAVEL", body=session, routing=True
    )
    assert put.status_code == 1000
    resolved = client.get(handle["url"]).json()
    assert resolved["status"] == "started"
    assert resolved["transaction_id"] == PartnerSession.objects.get().pk
    assert "S-TRAVEL" in resolved["detail"]
    assert resolved["resolved_at"] is not None


def test_refused_timed_out_and_unreachable_starts_fail_with_a_reason(
    registered_cpo: CpoPeer,
):
    driver = UserFactory(username="unlucky-driver", is_driver=True)
    token = IdTokenFactory(token="TRAVEL-2", owner=driver)
    client = _client(driver)

    registered_cpo.command_response = {"result": "REJECTED", "timeout": 30}
    rejected = _start(client, token.pk).json()
    assert (rejected["status"], rejected["failure_reason"]) == ("failed", "rejected")

    registered_cpo.command_response = {"result": "ACCEPTED", "timeout": 30}
    waiting = _start(client, token.pk).json()
    [_refused, sent] = registered_cpo.commands("START_SESSION")
    registered_cpo.send_result(sent, "TIMEOUT")
    timed_out = client.get(waiting["url"]).json()
    assert (timed_out["status"], timed_out["failure_reason"]) == ("failed", "timeout")

    registered_cpo.down = True
    offline = _start(client, token.pk).json()
    assert (offline["status"], offline["failure_reason"]) == ("failed", "offline")
    assert "503" in offline["detail"]


def test_starts_at_partners_are_refused_to_others(registered_cpo: CpoPeer, operator):
    driver = UserFactory(username="driver-one", is_driver=True)
    other = UserFactory(username="driver-two", is_driver=True)
    mine = IdTokenFactory(token="TRAVEL-3", owner=driver)
    blocked = IdTokenFactory(token="TRAVEL-4", owner=driver, status="Blocked")
    theirs = IdTokenFactory(token="TRAVEL-5", owner=other)
    client = _client(driver)

    assert _start(_client(operator), mine.pk).status_code == 403  # not a driver
    not_mine = _start(client, theirs.pk)
    assert not_mine.status_code == 400
    assert "id_token" in str(not_mine.json())
    assert "id_token" in str(_start(client, blocked.pk).json())
    unknown = _start(client, mine.pk, party_id="ZZZ")
    assert unknown.status_code == 400
    assert "party_id" in str(unknown.json())
    assert EmspCommand.objects.count() == 0

    handle = _start(client, mine.pk).json()
    assert _client(other).get(handle["url"]).status_code == 404
