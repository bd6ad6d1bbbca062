"""Registration in both directions against a live server, from the eMSP's side."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from accounts.models import AuditLog
from cms.errors import InputError
from roaming.credentials import partner_invite, partner_register_with
from roaming.models import Partner, PartnerStatus, TokenEncoding
from tests.roaming.emsp import COUNTRY_CODE, PARTY_ID, EmspPlatform

pytestmark = pytest.mark.django_db(transaction=True)


def _token_a(cpo: str) -> tuple[str, str]:
    out = io.StringIO()
    call_command(
        "ocpi_token_a", "--country-code", "de", "--party-id", "ems", stdout=out
    )
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("versions_url=")
    assert lines[1].startswith("token_a=")
    return lines[0].split("=", 1)[1], lines[1].split("=", 1)[1]


def test_token_a_command_prints_the_versions_url_and_a_token(cpo):
    versions_url, token_a = _token_a(cpo)
    assert versions_url == f"{cpo}/ocpi/versions"
    assert len(token_a) >= 32
    partner = Partner.objects.get(country_code="DE", party_id="EMS")
    assert partner.status == PartnerStatus.PENDING
    # Stored hashed only: the token itself is nowhere in the row.
    assert token_a not in str(Partner.objects.filter(pk=partner.pk).values().get())


def test_full_registration_hands_over_token_c_and_kills_token_a(
    cpo, emsp: EmspPlatform
):
    versions_url, token_a = _token_a(cpo)

    answer = emsp.register(versions_url, token_a)

    assert answer.status == 200
    assert answer.status_code == 1000
    credentials = answer.data
    assert credentials["url"] == versions_url
    assert credentials["roles"][0]["role"] == "CPO"
    assert credentials["token"] not in {token_a, emsp.token_for_cpo}
    # The CPO fetched our versions and details with our Token B.
    fetched = [r.path for r in emsp.received if r.method == "GET"]
    assert "/ocpi/emsp/versions" in fetched
    assert "/ocpi/emsp/2.2.1" in fetched
    partner = Partner.objects.get(country_code=COUNTRY_CODE, party_id=PARTY_ID)
    assert partner.status == PartnerStatus.REGISTERED
    assert partner.endpoint_url("cdrs", "RECEIVER") == (
        f"{emsp.base_url}/ocpi/emsp/2.2.1/cdrs"
    )
    # Token C works; Token A is dead.
    details_url = emsp.cpo_endpoints[("credentials", "SENDER")]
    assert emsp.call("GET", details_url).status == 200
    dead = emsp.call("GET", versions_url, token=token_a)
    assert dead.status == 401
    assert dead.status_code == 2000
    # A second POST is refused with 405 and changes nothing.
    again = emsp.call("POST", details_url, body=emsp.credentials_object())
    assert again.status == 405
    partner.refresh_from_db()
    assert emsp.call("GET", details_url).status == 200
    # Every call of the partner is in the audit log.
    actions = set(
        AuditLog.objects.filter(object_id=str(partner.pk)).values_list(
            "action", flat=True
        )
    )
    assert {
        "ocpi.in.versions.get",
        "ocpi.in.credentials.post",
        "ocpi.partner.registered",
        "ocpi.out",
    } <= actions


def test_put_updates_the_token_and_delete_unregisters(cpo, emsp: EmspPlatform):
    versions_url, token_a = _token_a(cpo)
    emsp.register(versions_url, token_a)
    credentials_url = emsp.cpo_endpoints[("credentials", "SENDER")]
    old_token_c = emsp.token_to_cpo

    emsp.token_for_cpo = "a-new-token-for-the-cpo"
    updated = emsp.call("PUT", credentials_url, body=emsp.credentials_object())

    assert updated.status == 200
    assert updated.status_code == 1000
    new_token_c = updated.data["token"]
    assert new_token_c != old_token_c
    assert emsp.call("GET", credentials_url, token=old_token_c).status == 401
    assert Partner.objects.get().outgoing_token == "a-new-token-for-the-cpo"

    gone = emsp.call("DELETE", credentials_url, token=new_token_c)
    assert gone.status == 200
    assert gone.status_code == 1000
    assert Partner.objects.get().status == PartnerStatus.UNREGISTERED
    assert emsp.call("GET", credentials_url, token=new_token_c).status == 401


def test_put_and_delete_before_registration_are_405(cpo, emsp: EmspPlatform):
    _versions_url, token_a = _token_a(cpo)
    credentials_url = f"{cpo}/ocpi/2.2.1/credentials"
    put = emsp.call(
        "PUT", credentials_url, token=token_a, body=emsp.credentials_object()
    )
    delete = emsp.call("DELETE", credentials_url, token=token_a)
    assert (put.status, delete.status) == (405, 405)
    assert Partner.objects.get().status == PartnerStatus.PENDING


def test_an_unknown_ocpi_path_is_404_in_the_response_format(cpo, emsp):
    answer = emsp.call("GET", f"{cpo}/ocpi/cpo/2.2.1/no-such-module", token="x")
    assert answer.status == 404
    assert answer.status_code == 2000


@pytest.mark.parametrize(
    ("authorization", "status"),
    [(None, 401), ("Token bm90LWEtdG9rZW4=", 401), ("Bearer abc", 401)],
)
def test_missing_or_unknown_token_is_401(cpo, emsp, authorization, status):
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = emsp.call(
        "GET",
        f"{cpo}/ocpi/versions",
        authorization=authorization if authorization is not None else "",
        headers=headers,
    )
    assert answer.status == status
    assert answer.status_code == 2000
    assert "timestamp" in answer.body
    assert "data" not in answer.body


def test_request_and_correlation_ids_are_echoed(cpo, emsp):
    _versions_url, token_a = _token_a(cpo)
    answer = emsp.call(
        "GET",
        f"{cpo}/ocpi/versions",
        token=token_a,
        headers={"X-Request-ID": "req-1", "X-Correlation-ID": "corr-1"},
    )
    assert answer.headers["x-request-id"] == "req-1"
    assert answer.headers["x-correlation-id"] == "corr-1"


def test_a_raw_token_is_accepted_only_for_partners_configured_so(cpo, emsp):
    _versions_url, token_a = _token_a(cpo)
    url = f"{cpo}/ocpi/versions"
    assert emsp.call("GET", url, authorization=f"Token {token_a}").status == 401
    Partner.objects.update(token_encoding=TokenEncoding.RAW)
    assert emsp.call("GET", url, authorization=f"Token {token_a}").status == 200


def test_malformed_json_is_400_and_missing_fields_are_2001(cpo, emsp):
    _versions_url, token_a = _token_a(cpo)
    url = f"{cpo}/ocpi/2.2.1/credentials"
    malformed = emsp.call("POST", url, token=token_a, raw_body=b"{not json")
    assert malformed.status == 400
    assert malformed.status_code == 2000
    body = emsp.credentials_object()
    del body["roles"][0]["party_id"]
    missing = emsp.call("POST", url, token=token_a, body=body)
    assert missing.status == 200
    assert missing.status_code == 2001
    assert "roles[0].party_id" in missing.body["status_message"]
    assert Partner.objects.get().status == PartnerStatus.PENDING


def test_a_partner_whose_versions_fail_gets_3001_and_keeps_its_token_a(
    cpo, emsp: EmspPlatform
):
    versions_url, token_a = _token_a(cpo)
    emsp.versions_failure = 500
    answer = emsp.register(versions_url, token_a)
    assert answer.status == 200
    assert answer.status_code == 3001
    assert Partner.objects.get().status == PartnerStatus.PENDING
    emsp.versions_failure = None
    assert emsp.register(versions_url, token_a).status_code == 1000


def test_roles_that_do_not_include_the_invited_party_are_2001(cpo, emsp):
    _versions_url, token_a = _token_a(cpo)
    body = emsp.credentials_object()
    body["roles"][0]["party_id"] = "XYZ"
    answer = emsp.call(
        "POST", f"{cpo}/ocpi/2.2.1/credentials", token=token_a, body=body
    )
    assert answer.status_code == 2001
    assert Partner.objects.get().status == PartnerStatus.PENDING


def test_we_register_with_a_partners_versions_url(cpo, emsp: EmspPlatform):
    """We are the Sender: the eMSP issued a Token A; it gets our Token B."""
    token_a_of_emsp = emsp.token_for_cpo
    token_c_of_emsp = "emsp-token-c-for-the-cpo"

    # The eMSP accepts our POST: it stores our token and issues its Token C.
    original_answer = emsp.answer

    def answer(method: str, path: str):
        if method == "POST" and path.endswith("/credentials"):
            body = emsp.received[-1].body
            emsp.token_to_cpo = body["token"]
            emsp.token_for_cpo = token_c_of_emsp
            data = {**emsp.credentials_object(), "token": token_c_of_emsp}
            return 200, {"data": data, "status_code": 1000, "timestamp": "x"}
        return original_answer(method, path)

    emsp.answer = answer  # type: ignore[method-assign]

    partner = partner_register_with(
        versions_url=emsp.versions_url(),
        token_a=token_a_of_emsp,
        country_code=COUNTRY_CODE,
        party_id=PARTY_ID,
    )

    assert partner.status == PartnerStatus.REGISTERED
    assert partner.outgoing_token == token_c_of_emsp
    # The eMSP can call us with the token we gave it.
    assert emsp.call("GET", f"{cpo}/ocpi/versions").status == 200
    assert emsp.call("GET", f"{cpo}/ocpi/2.2.1/credentials").status == 200


def test_registering_with_a_partner_that_does_not_answer_fails_by_the_deadline(
    cpo, emsp, settings
):
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)  # accepts the connection, never answers
    port = listener.getsockname()[1]
    settings.OCPI_TIMEOUT_SECONDS = 0.5
    try:
        with pytest.raises(InputError) as raised:
            partner_register_with(
                versions_url=f"http://127.0.0.1:{port}/versions",
                token_a="abc",
                country_code="DE",
                party_id="SLO",
            )
    finally:
        listener.close()
    assert raised.value.field == "versions_url"
    assert "timed out" in str(raised.value)
    assert Partner.objects.get(party_id="SLO").status == PartnerStatus.PENDING


def test_partner_invite_refuses_a_registered_party(cpo, emsp):
    versions_url, token_a = _token_a(cpo)
    emsp.register(versions_url, token_a)
    with pytest.raises(InputError):
        partner_invite(country_code="DE", party_id="EMS")
