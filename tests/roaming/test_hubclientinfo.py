"""Hub Client Info pushed by a hub: stored, served back, shown, and acted upon."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.urls import reverse

from roaming.models import HubClientInfo
from sessions_app.services import id_tag_authorize
from tests.factories import ChargePointFactory, StationFactory
from tests.roaming.emsp import COUNTRY_CODE, PARTY_ID, EmspPlatform

pytestmark = pytest.mark.django_db(transaction=True)

HUB_ROLE = {
    "role": "HUB",
    "business_details": {"name": "Test Hub"},
    "party_id": "HUB",
    "country_code": "DE",
}


def _register(emsp: EmspPlatform) -> EmspPlatform:
    out = io.StringIO()
    call_command(
        "ocpi_token_a",
        "--country-code",
        COUNTRY_CODE,
        "--party-id",
        PARTY_ID,
        stdout=out,
    )
    versions_url, token_a = (line.split("=", 1)[1] for line in out.getvalue().split())
    assert emsp.register(versions_url, token_a).status_code == 1000
    return emsp


@pytest.fixture
def hub(cpo, emsp: EmspPlatform) -> EmspPlatform:
    """A platform with an eMSP and a HUB role (the eMSP reached through the hub)."""
    emsp.extra_roles = [HUB_ROLE]
    return _register(emsp)


def _now() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _url(platform: EmspPlatform, party: str) -> str:
    return f"{platform.cpo_endpoints[('hubclientinfo', 'RECEIVER')]}/{party}"


def _client_info(status: str) -> dict:
    return {
        "country_code": COUNTRY_CODE,
        "party_id": PARTY_ID,
        "role": "EMSP",
        "status": status,
        "last_updated": _now(),
    }


def test_a_hub_puts_patches_and_gets_client_info(hub):
    url = _url(hub, f"{COUNTRY_CODE}/{PARTY_ID}")
    created = hub.call("PUT", url, body=_client_info("PLANNED"), routing=True)
    assert (created.status, created.status_code) == (201, 1000)

    patched = hub.call(
        "PATCH", url, body={"status": "CONNECTED", "last_updated": _now()}, routing=True
    )
    assert patched.status_code == 1000
    got = hub.call("GET", url, routing=True)
    assert got.data["status"] == "CONNECTED"
    assert got.data["role"] == "EMSP"
    assert HubClientInfo.objects.get().status == "CONNECTED"


def test_bad_client_info_is_refused_with_the_field_and_nothing_stored(hub):
    url = _url(hub, f"{COUNTRY_CODE}/{PARTY_ID}")
    missing = hub.call(
        "PUT",
        url,
        body={k: v for k, v in _client_info("OFFLINE").items() if k != "status"},
        routing=True,
    )
    wrong = hub.call("PUT", url, body=_client_info("ASLEEP"), routing=True)
    other_party = hub.call(
        "PUT", _url(hub, "FR/XYZ"), body=_client_info("OFFLINE"), routing=True
    )
    unknown = hub.call(
        "PATCH",
        _url(hub, "FR/XYZ"),
        body={"status": "OFFLINE", "last_updated": _now()},
        routing=True,
    )
    assert missing.status_code == 2001
    assert "status" in missing.body["status_message"]
    assert wrong.status_code == 2001
    assert "ASLEEP" in wrong.body["status_message"]
    assert other_party.status_code == 2001
    assert "differs from the URL" in other_party.body["status_message"]
    assert unknown.status == 404
    assert not HubClientInfo.objects.exists()


def test_client_info_from_a_connection_without_a_hub_role_is_refused(
    registered: EmspPlatform,
):
    url = _url(registered, f"{COUNTRY_CODE}/{PARTY_ID}")
    answer = registered.call("PUT", url, body=_client_info("OFFLINE"), routing=True)
    assert answer.status == 403
    assert "HUB" in answer.body["status_message"]
    assert not HubClientInfo.objects.exists()


def test_a_party_the_hub_reports_offline_is_not_asked_in_real_time(
    hub, network_a, settings, client, administrator
):
    """The fallback applies at once, without the wait for a partner that cannot answer."""
    charge_point = ChargePointFactory(
        station=StationFactory(network=network_a), ocpp_id="HUB-CP"
    )
    tokens = hub.cpo_endpoints[("tokens", "RECEIVER")]
    for uid, whitelist in (("HUB-NEVER", "NEVER"), ("HUB-OFFL", "ALLOWED_OFFLINE")):
        pushed = hub.call(
            "PUT",
            f"{tokens}/{COUNTRY_CODE}/{PARTY_ID}/{uid}",
            body=hub.token(uid, whitelist=whitelist),
            routing=True,
        )
        assert pushed.status_code == 1000
    hub.authorizations = {"HUB-NEVER": "ALLOWED", "HUB-OFFL": "BLOCKED"}
    hub.authorize_delay_s = 3.0
    settings.OCPI_AUTHORIZE_TIMEOUT_SECONDS = 2.5
    url = _url(hub, f"{COUNTRY_CODE}/{PARTY_ID}")
    assert (
        hub.call("PUT", url, body=_client_info("OFFLINE"), routing=True).status == 201
    )

    def authorize(id_tag: str) -> str:
        return id_tag_authorize(
            charge_point_ocpp_id=charge_point.ocpp_id,
            id_tag=id_tag,
            at=datetime.now(tz=UTC),
        ).status

    started = time.monotonic()
    assert authorize("HUB-NEVER") == "Invalid"
    assert authorize("HUB-OFFL") == "Accepted"
    assert time.monotonic() - started < 2.0  # neither waited for the deadline
    assert not [r for r in hub.received if "/authorize" in r.path]

    client.force_login(administrator)
    page = client.get(reverse("roaming:partner_detail", args=[hub_partner_pk()]))
    assert "Parties behind this hub" in page.content.decode()
    assert "Offline" in page.content.decode()

    # Back online: asked again.
    hub.authorize_delay_s = 0.0
    hub.call(
        "PATCH", url, body={"status": "CONNECTED", "last_updated": _now()}, routing=True
    )
    assert authorize("HUB-NEVER") == "Accepted"
    assert [r for r in hub.received if "/authorize" in r.path]


def hub_partner_pk() -> int:
    from roaming.models import Partner

    return Partner.objects.get(country_code=COUNTRY_CODE, party_id=PARTY_ID).pk
