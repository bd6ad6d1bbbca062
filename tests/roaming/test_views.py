"""Partner pages: administrators only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from accounts.models import AuditLog
from roaming.credentials import partner_invite
from roaming.models import Partner, PartnerStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def partner():
    return partner_invite(country_code="DE", party_id="EMS", name="Test eMSP")[0]


def _state():
    return (
        list(Partner.objects.values_list("status", "token_a_hash", "token_hash")),
        AuditLog.objects.count(),
    )


@pytest.mark.parametrize("role", ["operator", "support", "finance", "outsider"])
def test_partner_pages_are_refused_to_everyone_but_administrators(
    client, request, role, partner
):
    client.force_login(request.getfixturevalue(role))
    before = _state()
    pages = [
        client.get(reverse("roaming:partner_list")),
        client.get(reverse("roaming:partner_detail", args=[partner.pk])),
        client.post(
            reverse("roaming:partner_invite"),
            {"country_code": "FR", "party_id": "ABC"},
        ),
        client.post(
            reverse("roaming:partner_register"),
            {
                "country_code": "FR",
                "party_id": "ABC",
                "versions_url": "http://127.0.0.1:9/versions",
                "token_a": "x",
                "token_encoding": "BASE64",
            },
        ),
        client.post(reverse("roaming:partner_unregister", args=[partner.pk])),
    ]
    assert [page.status_code for page in pages] == [403] * 5
    assert _state() == before


def test_anonymous_visitors_are_sent_to_login(client, partner):
    response = client.get(reverse("roaming:partner_list"))
    assert response.status_code == 302
    assert "/accounts/login" in response["Location"]


def test_an_administrator_issues_a_token_a_shown_once(client, administrator):
    client.force_login(administrator)
    page = client.post(
        reverse("roaming:partner_invite"),
        {"name": "Roam FR", "country_code": "fr", "party_id": "abc"},
    )
    assert page.status_code == 200
    assert page["Cache-Control"] == "no-store"
    token_a = page.context["token_a"]
    assert token_a in page.content.decode()
    partner = Partner.objects.get(country_code="FR", party_id="ABC")
    assert partner.status == PartnerStatus.PENDING
    assert AuditLog.objects.filter(
        action="ocpi.partner.token_a", actor=administrator
    ).exists()
    listing = client.get(reverse("roaming:partner_list"))
    assert "FR*ABC" in listing.content.decode()
    assert token_a not in listing.content.decode()
    nav = [item["label"] for item in listing.context["nav_items"]]
    assert "Roaming partners" in nav


def test_the_navigation_hides_partners_from_other_roles(client, operator):
    client.force_login(operator)
    page = client.get(reverse("stations:overview"))
    assert "Roaming partners" not in [
        item["label"] for item in page.context["nav_items"]
    ]


def test_invite_with_a_bad_country_code_names_the_field(client, administrator):
    client.force_login(administrator)
    page = client.post(
        reverse("roaming:partner_invite"), {"country_code": "1X", "party_id": "ABC"}
    )
    assert page.status_code == 400
    assert "country_code" in page.context["form"].errors
    assert not Partner.objects.exists()


def test_register_with_an_unreachable_partner_shows_why(client, administrator):
    client.force_login(administrator)
    page = client.post(
        reverse("roaming:partner_register"),
        {
            "country_code": "FR",
            "party_id": "ABC",
            "versions_url": "http://127.0.0.1:9/versions",
            "token_a": "abc",
            "token_encoding": "BASE64",
        },
    )
    assert page.status_code == 400
    assert "unreachable" in str(page.context["form"].errors["versions_url"])


def test_the_partner_page_shows_push_health(client, administrator, partner):
    client.force_login(administrator)
    page = client.get(reverse("roaming:partner_detail", args=[partner.pk]))
    assert page.status_code == 200
    assert page.context["health"].queued == 0
    assert 'data-testid="push-health"' in page.content.decode()


def test_the_publish_command_publishes_and_withdraws(network_a, station_a):
    import io

    from django.core.management import CommandError, call_command

    from roaming.cpo.locations import published_stations

    call_command("ocpi_publish", "--network", network_a.name, stdout=io.StringIO())
    assert list(published_stations()) == [station_a]
    call_command(
        "ocpi_publish",
        "--station",
        str(station_a.pk),
        "--withdraw",
        stdout=io.StringIO(),
    )
    assert list(published_stations()) == []
    assert AuditLog.objects.filter(action="ocpi.location.withdrawn").exists()
    with pytest.raises(CommandError):
        call_command("ocpi_publish", "--network", "No such network")
