"""Vendor profiles: which one a charger gets, and who may edit them."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog
from stations.fleet.models import VendorProfile
from stations.fleet.profiles import (
    charger_vendor_quirks,
    vendor_profile_resolve,
    vendor_quirks,
)
from tests.factories import ChargePointFactory

pytestmark = pytest.mark.django_db


def make(vendor: str = "ACME", model: str = "", firmware: str = "", **quirks):
    return VendorProfile.objects.create(
        vendor=vendor,
        model=model,
        firmware_pattern=firmware,
        updated_at=timezone.now(),
        **quirks,
    )


def test_the_most_specific_profile_wins():
    vendor_only = make()
    firmware_only = make(firmware="1.*")
    model_only = make(model="Wallbox 22")
    exact = make(model="Wallbox 22", firmware="1.2.*")
    profiles = list(VendorProfile.objects.all())

    def pick(model: str, firmware: str) -> VendorProfile | None:
        return vendor_profile_resolve(profiles, model=model, firmware=firmware)

    assert pick("Wallbox 22", "1.2.3") == exact
    assert pick("wallbox 22", "1.3.0") == model_only
    assert pick("Other", "1.3.0") == firmware_only
    assert pick("Other", "2.0") == vendor_only
    assert vendor_profile_resolve([exact], model="Other", firmware="1.2.3") is None


def test_a_charger_gets_its_reported_models_quirks(settings):
    settings.VENDOR_PROFILE_CACHE_SECONDS = 0
    make(vendor="Zapp", model="Z1", firmware="4.*", naive_time_zone="Europe/Paris")
    charger = ChargePointFactory(vendor="zapp", model="Z1", firmware_version="4.0.1")
    other = ChargePointFactory(vendor="Zapp", model="Z1", firmware_version="5.0")

    quirks = charger_vendor_quirks(charge_point_id=charger.pk)

    assert quirks is not None
    assert quirks.naive_time_zone == "Europe/Paris"
    assert quirks.label == "Zapp Z1 4.*"
    assert charger_vendor_quirks(charge_point_id=other.pk) is None
    assert vendor_quirks(vendor="", model="Z1", firmware="4.0") is None


FORM = {
    "vendor": "Volt",
    "model": "V2",
    "firmware_pattern": "2.*",
    "energy_kwh_labelled_wh": "on",
    "naive_time_zone": "",
    "connector_zero_ignored": "Charging",
    "notes": "Meter register in kWh since 2.0",
}


def test_an_administrator_adds_edits_and_removes_a_profile_audited(
    client, administrator
):
    client.force_login(administrator)

    assert client.post(reverse("fleet:vendor_profiles"), FORM).status_code == 302
    created = VendorProfile.objects.get(vendor="Volt")
    assert created.energy_kwh_labelled_wh
    assert created.updated_by == administrator
    page = client.get(reverse("fleet:vendor_profiles"))
    assert b"energy in kWh labelled Wh" in page.content
    assert b"connector 0 ignored: Charging" in page.content

    edited = {**FORM, "naive_time_zone": "Europe/Vienna"}
    edit_url = reverse("fleet:vendor_profile", kwargs={"pk": created.pk})
    assert client.post(edit_url, edited).status_code == 302
    created.refresh_from_db()
    assert created.naive_time_zone == "Europe/Vienna"

    remove_url = reverse("fleet:vendor_profile_remove", kwargs={"pk": created.pk})
    assert client.post(remove_url).status_code == 302
    assert not VendorProfile.objects.exists()
    actions = list(
        AuditLog.objects.filter(action__startswith="vendor_profile.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "vendor_profile.create",
        "vendor_profile.update",
        "vendor_profile.delete",
    ]
    update = AuditLog.objects.get(action="vendor_profile.update")
    assert update.before["naive_time_zone"] == ""
    assert update.after["naive_time_zone"] == "Europe/Vienna"


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("naive_time_zone", "Mars/Olympus", b"Mars/Olympus"),
        ("connector_zero_ignored", "Charging,Sleeping", b"Not a connector status: Sleeping"),
    ],
)  # fmt: skip
def test_bad_input_is_refused_naming_the_field(
    client, administrator, field, value, message
):
    client.force_login(administrator)

    page = client.post(reverse("fleet:vendor_profiles"), {**FORM, field: value})

    assert page.status_code == 400
    assert message in page.content
    assert f'id="id_{field}_errors"'.encode() in page.content
    assert not VendorProfile.objects.exists()


def test_a_duplicate_profile_is_refused(client, administrator):
    make(vendor="Volt", model="V2", firmware="2.*")
    client.force_login(administrator)

    page = client.post(reverse("fleet:vendor_profiles"), FORM)

    assert page.status_code == 400
    assert b"already exists" in page.content


@pytest.mark.parametrize("role", ["operator", "support", "finance", "outsider"])
def test_only_administrators_see_or_edit_profiles(client, request, role):
    existing = make(vendor="Volt")
    client.force_login(request.getfixturevalue(role))

    listing = client.get(reverse("fleet:vendor_profiles"))
    created = client.post(reverse("fleet:vendor_profiles"), FORM)
    edited = client.post(
        reverse("fleet:vendor_profile", kwargs={"pk": existing.pk}), FORM
    )
    removed = client.post(
        reverse("fleet:vendor_profile_remove", kwargs={"pk": existing.pk})
    )

    assert [r.status_code for r in (listing, created, edited, removed)] == [403] * 4
    assert list(VendorProfile.objects.values_list("vendor", "model")) == [("Volt", "")]
    assert b"Vendor profiles" not in client.get(reverse("stations:overview")).content
