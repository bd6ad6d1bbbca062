"""One party, two roles: CPO for our stations, EMSP for our drivers (credentials
"CredentialsRole class"); a partner's roles decide which modules talk to it."""

from __future__ import annotations

import pytest

from roaming.credentials import partner_register_with
from roaming.models import Partner
from tests.roaming.cpo_peer import CpoPeer
from tests.roaming.emsp import EmspPlatform

pytestmark = pytest.mark.django_db(transaction=True)

BOTH_ROLES = [
    {
        "role": role,
        "business_details": {"name": "CMS"},
        "party_id": "CMS",
        "country_code": "NL",
    }
    for role in ("CPO", "EMSP")
]


def test_a_cpo_registers_with_us_and_sees_both_our_roles(
    registered_cpo: CpoPeer,
):
    assert registered_cpo.emsp_roles == BOTH_ROLES
    # Version details list our eMSP interfaces next to the CPO ones.
    assert ("tokens", "SENDER") in registered_cpo.emsp_endpoints
    assert ("tokens", "RECEIVER") in registered_cpo.emsp_endpoints
    partner = Partner.objects.get(country_code="FR", party_id="CPX")
    assert partner.is_registered
    assert partner.has_role("CPO")
    assert not partner.has_role("EMSP")
    assert partner.endpoint_url("tokens", "RECEIVER") == registered_cpo.module_url(
        "tokens"
    )

    # Our eMSP modules serve it; our CPO modules do not (it has no EMSP role).
    tokens = registered_cpo.call(
        "GET", registered_cpo.emsp_endpoints[("tokens", "SENDER")], routing=True
    )
    assert (tokens.status, tokens.status_code) == (200, 1000)
    locations = registered_cpo.call(
        "GET", registered_cpo.emsp_endpoints[("locations", "SENDER")], routing=True
    )
    assert (locations.status, locations.status_code) == (403, 2000)
    assert "EMSP" in locations.body["status_message"]


def test_we_register_with_a_cpo_at_its_versions_url(cpo, cpo_peer: CpoPeer):
    cpo_peer.token_a = "token-a-from-the-cpo"
    partner = partner_register_with(
        versions_url=cpo_peer.versions_url(),
        token_a=cpo_peer.token_a,
        country_code="FR",
        party_id="CPX",
    )

    assert partner.is_registered
    assert partner.has_role("CPO")
    assert partner.endpoint_url("commands", "RECEIVER") == cpo_peer.module_url(
        "commands"
    )
    # It learnt our roles and our endpoints with the token we gave it.
    assert cpo_peer.emsp_roles == BOTH_ROLES
    assert ("tokens", "SENDER") in cpo_peer.emsp_endpoints
    # The token it now uses works on our eMSP side.
    answer = cpo_peer.call(
        "GET", cpo_peer.emsp_endpoints[("tokens", "SENDER")], routing=True
    )
    assert answer.status_code == 1000


def test_an_emsp_partner_is_refused_our_emsp_modules(registered: EmspPlatform):
    url = registered.cpo_endpoints[("tokens", "SENDER")]
    answer = registered.call("GET", url, routing=True)
    assert (answer.status, answer.status_code) == (403, 2000)
    assert "CPO" in answer.body["status_message"]
    authorize = registered.call("POST", url + "/ANY/authorize", routing=True)
    assert authorize.status == 403
