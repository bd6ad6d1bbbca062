"""We pull a partner CPO's Locations and Tariffs (its Sender interfaces) over real
HTTP: the first sync across pages, catch-up by date_from, a partner that is down."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from roaming.emsp.sync import partner_pull
from roaming.models import (
    Partner,
    PartnerEvse,
    PartnerLocation,
    PartnerSync,
    PartnerTariff,
)
from roaming.tasks import roaming_pull_sync_task
from tests.roaming.cpo_platform import CpoPlatform, location, stamp, tariff

pytestmark = pytest.mark.django_db(transaction=True)


def _partner() -> Partner:
    return Partner.objects.get(country_code="FR", party_id="CPX")


def _serve(platform: CpoPlatform, count: int) -> None:
    """The CPO's objects, last updated a minute ago (before any pull of ours)."""
    before = stamp(datetime.now(tz=UTC) - timedelta(minutes=1))
    for n in range(1, count + 1):
        loc = location(f"LOC{n}", f"52.5{n:05d}", "13.404954", last_updated=before)
        platform.locations[loc["id"]] = loc
    platform.tariffs["FAST"] = tariff("FAST", last_updated=before)
    platform.tariffs["SLOW"] = tariff("SLOW", last_updated=before)


def test_the_first_sync_reads_every_page_and_records_its_health(
    partner_cpo: CpoPlatform,
):
    _serve(partner_cpo, 3)  # 3 locations at 2 a page: two pages

    out = io.StringIO()
    call_command("ocpi_pull", "--partner", "FR*CPX", stdout=out)

    assert set(PartnerLocation.objects.values_list("location_id", flat=True)) == {
        "LOC1",
        "LOC2",
        "LOC3",
    }
    assert PartnerEvse.objects.count() == 6
    assert set(PartnerTariff.objects.values_list("tariff_id", flat=True)) == {
        "FAST",
        "SLOW",
    }
    pages = partner_cpo.paths("locations")
    assert len(pages) == 2
    assert "offset=2" in pages[1]
    assert "date_from" not in pages[0]  # a first sync reads everything
    health = PartnerSync.objects.get(partner=_partner(), module="locations")
    assert health.last_success_at is not None
    assert (health.pages, health.objects_received, health.objects_stored) == (2, 3, 3)
    assert health.last_error == ""
    assert "FR*CPX locations (full): 2 pages, 3 received, 3 stored" in out.getvalue()


def test_without_link_headers_the_pull_pages_by_the_total_count(
    partner_cpo: CpoPlatform,
):
    _serve(partner_cpo, 5)
    partner_cpo.send_links = False
    result = partner_pull(_partner(), "locations")
    assert result.ok, result.error
    assert result.pages == 3
    assert PartnerLocation.objects.count() == 5


def test_catch_up_asks_for_changes_since_the_last_sync_and_keeps_pushes(
    partner_cpo: CpoPlatform,
):
    _serve(partner_cpo, 3)
    assert partner_pull(_partner(), "locations").ok
    since = PartnerSync.objects.get(module="locations").synced_from
    partner_cpo.received.clear()

    # The CPO changes LOC2 and pushes a status of LOC1 meanwhile.
    later = stamp(datetime.now(tz=UTC) + timedelta(seconds=30))
    changed = location(
        "LOC2", "52.500002", "13.404954", name="Renamed", last_updated=later
    )
    partner_cpo.locations["LOC2"] = changed
    patch = partner_cpo.call(
        "PATCH",
        partner_cpo.location_url("LOC1", "LOC1-1"),
        body={"status": "CHARGING", "last_updated": later},
    )
    assert patch.status_code == 1000

    result = partner_pull(_partner(), "locations")

    assert result.ok
    assert not result.full
    (page,) = partner_cpo.paths("locations")
    assert f"date_from={stamp(since).replace(':', '%3A')}" in page
    assert result.received == 1  # only LOC2 changed since
    assert PartnerLocation.objects.get(location_id="LOC2").name == "Renamed"
    assert PartnerEvse.objects.get(uid="LOC1-1").status == "CHARGING"
    assert PartnerLocation.objects.count() == 3


def test_a_partner_that_is_down_is_caught_up_when_it_returns(
    partner_cpo: CpoPlatform,
):
    _serve(partner_cpo, 3)
    assert all(r["ok"] for r in roaming_pull_sync_task())
    partner_cpo.stop()
    later = stamp(datetime.now(tz=UTC) + timedelta(seconds=30))
    partner_cpo.locations["LOC4"] = location("LOC4", "52.400000", "13.400000",
                                             last_updated=later)  # fmt: skip
    partner_cpo.tariffs["FAST"] = tariff("FAST", currency="CHF", last_updated=later)

    results = roaming_pull_sync_task()
    assert [r["ok"] for r in results] == [False, False]
    health = PartnerSync.objects.get(module="locations")
    assert "unreachable" in health.last_error
    assert health.last_error_at is not None
    with pytest.raises(CommandError):
        call_command("ocpi_pull", stdout=io.StringIO())
    assert PartnerLocation.objects.count() == 3

    partner_cpo.start()  # back on the same port
    results = roaming_pull_sync_task()

    assert [r["ok"] for r in results] == [True, True]
    assert PartnerLocation.objects.count() == 4
    assert PartnerEvse.objects.count() == 8  # nothing duplicated
    assert PartnerTariff.objects.get(tariff_id="FAST").currency == "CHF"
    assert PartnerTariff.objects.count() == 2
    assert PartnerSync.objects.get(module="locations").last_error == ""


def test_a_full_sync_drops_tariffs_the_cpo_no_longer_has_and_names_bad_objects(
    partner_cpo: CpoPlatform,
):
    _serve(partner_cpo, 1)
    assert partner_pull(_partner(), "tariffs").ok
    del partner_cpo.tariffs["SLOW"]
    bad = location("LOC9", "52.520008", "13.404954")
    del bad["address"]
    partner_cpo.locations["LOC9"] = bad

    assert partner_pull(_partner(), "tariffs", full=True).ok
    assert list(PartnerTariff.objects.values_list("tariff_id", flat=True)) == ["FAST"]
    result = partner_pull(_partner(), "locations")
    assert (result.stored, result.rejected) == (1, 1)
    health = PartnerSync.objects.get(module="locations")
    assert health.objects_rejected == 1
    assert "LOC9" in health.last_error
    assert "address" in health.last_error
