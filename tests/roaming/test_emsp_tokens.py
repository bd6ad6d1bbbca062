"""Our drivers' tokens for CPOs (eMSP Tokens Sender): pull and real-time authorization."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from sessions_app.models import IdToken
from tests.factories import IdTokenFactory
from tests.roaming.cpo_peer import CpoPeer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tokens(db):
    fleet = IdTokenFactory(token="FLEET-GROUP", kind=IdToken.Kind.FLEET)
    return {
        "ok": IdTokenFactory(token="DRIVER-OK", label="Card 4711"),
        "app": IdTokenFactory(token="DRIVER-APP", kind=IdToken.Kind.APP),
        "blocked": IdTokenFactory(token="DRIVER-BLOCK", status="Blocked"),
        "expired": IdTokenFactory(
            token="DRIVER-OLD", expires_at=timezone.now() - timedelta(days=1)
        ),
        "group": fleet,
        "member": IdTokenFactory(token="DRIVER-FLEET", parent=fleet),
    }


def _authorize(cpo: CpoPeer, uid: str, kind: str = "RFID"):
    url = cpo.emsp_endpoints[("tokens", "SENDER")] + f"/{uid}/authorize?type={kind}"
    return cpo.call("POST", url, body={"location_id": "LOC1"}, routing=True)


def test_a_cpo_pulls_our_tokens_across_pages(registered_cpo: CpoPeer, tokens):
    url = registered_cpo.emsp_endpoints[("tokens", "SENDER")] + "?limit=4"
    items, pages = registered_cpo.get_all(url)

    assert len(pages) == 2
    by_uid = {item["uid"]: item for item in items}
    assert set(by_uid) == {t.token for t in tokens.values()}
    assert by_uid["DRIVER-OK"]["valid"] is True
    assert by_uid["DRIVER-OK"]["visual_number"] == "Card 4711"
    assert by_uid["DRIVER-OK"]["contract_id"] == "NL-CMS-DRIVER-OK"
    assert by_uid["DRIVER-APP"]["type"] == "APP_USER"
    assert by_uid["DRIVER-BLOCK"]["valid"] is False
    assert by_uid["DRIVER-OLD"]["valid"] is False
    assert by_uid["DRIVER-FLEET"]["group_id"] == "FLEET-GROUP"
    assert {item["whitelist"] for item in items} == {"ALLOWED"}


def test_real_time_authorization_answers_from_our_token_rules(
    registered_cpo: CpoPeer, tokens
):
    assert _authorize(registered_cpo, "DRIVER-OK").data["allowed"] == "ALLOWED"
    assert _authorize(registered_cpo, "DRIVER-APP", "APP_USER").data["allowed"] == (
        "ALLOWED"
    )
    assert _authorize(registered_cpo, "DRIVER-BLOCK").data["allowed"] == "BLOCKED"
    assert _authorize(registered_cpo, "DRIVER-OLD").data["allowed"] == "EXPIRED"
    answer = _authorize(registered_cpo, "DRIVER-FLEET")
    assert answer.data["allowed"] == "ALLOWED"
    assert answer.data["location"] == {"location_id": "LOC1"}
    assert answer.data["token"]["uid"] == "DRIVER-FLEET"

    # Blocking the group token blocks its member at once.
    tokens["group"].status = "Blocked"
    tokens["group"].save()
    assert _authorize(registered_cpo, "DRIVER-FLEET").data["allowed"] == "BLOCKED"


def test_unknown_tokens_and_bad_requests_get_the_ocpi_errors(
    registered_cpo: CpoPeer, tokens
):
    unknown = _authorize(registered_cpo, "NOBODY")
    assert (unknown.status, unknown.status_code) == (404, 2004)
    wrong_type = _authorize(registered_cpo, "DRIVER-OK", "APP_USER")
    assert wrong_type.status == 404
    bad_type = _authorize(registered_cpo, "DRIVER-OK", "CARD")
    assert bad_type.status_code == 2001
    assert "type" in bad_type.body["status_message"]
    url = registered_cpo.emsp_endpoints[("tokens", "SENDER")] + "/DRIVER-OK/authorize"
    malformed = registered_cpo.call("POST", url, raw_body=b"{oops", routing=True)
    assert malformed.status == 400
    stranger = registered_cpo.call("GET", registered_cpo.emsp_endpoints[("tokens", "SENDER")],
                               token="not-a-token")  # fmt: skip
    assert stranger.status == 401
