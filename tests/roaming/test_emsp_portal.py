"""Partner CPOs' locations in the portal: operations and administrators only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from roaming.models import PartnerLocation
from tests.roaming.portal_data import partner_cpo_data

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("role", ["support", "finance", "no_role_user"])
def test_partner_location_pages_are_refused_to_other_roles(client, request, role):
    partner_cpo_data()
    client.force_login(request.getfixturevalue(role))
    location = PartnerLocation.objects.get()
    pages = [
        client.get(reverse("roaming:partner_location_list")),
        client.get(reverse("roaming:partner_location_detail", args=[location.pk])),
    ]
    assert [page.status_code for page in pages] == [403, 403]
    home = client.get("/")
    if home.status_code == 200:  # a user without a role has no portal at all
        nav = [item["label"] for item in home.context["nav_items"]]
        assert "Partner locations" not in nav


def test_anonymous_visitors_are_sent_to_login(client):
    response = client.get(reverse("roaming:partner_location_list"))
    assert response.status_code == 302
    assert "/accounts/login" in response["Location"]


@pytest.mark.parametrize("role", ["operator", "administrator"])
def test_operations_and_administrators_read_partner_locations(client, request, role):
    partner_cpo_data()
    client.force_login(request.getfixturevalue(role))
    listing = client.get(reverse("roaming:partner_location_list"))
    assert listing.status_code == 200
    (row,) = listing.context["rows"]
    assert (row.evses, row.available, row.removed) == (1, 0, 1)
    missing = client.get(reverse("roaming:partner_location_detail", args=[999999]))
    assert missing.status_code == 404


def test_the_partner_page_shows_pull_health(client, administrator):
    partner = partner_cpo_data()
    client.force_login(administrator)
    page = client.get(reverse("roaming:partner_detail", args=[partner.pk]))
    (sync,) = page.context["syncs"]
    assert sync.module == "locations"
    assert "LOC9: Missing required field: address" in page.content.decode()
