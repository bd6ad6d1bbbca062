"""Partner CPO data for the portal tests, stored through the Receiver's functions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from roaming.emsp.locations import evse_patch, location_store, owner_for
from roaming.emsp.tariffs import tariff_store
from roaming.models import Partner, PartnerStatus, PartnerSync
from tests.roaming.cpo_platform import location, stamp, tariff


def partner_cpo_data() -> Partner:
    """Blitz Laden (FR*CPX): LOC1 with one EVSE charging, one REMOVED; tariff FAST."""
    partner = Partner.objects.create(
        country_code="FR",
        party_id="CPX",
        name="Blitz Laden GmbH",
        status=PartnerStatus.REGISTERED,
        roles=[{"role": "CPO", "country_code": "FR", "party_id": "CPX"}],
    )
    owner = owner_for(partner, "FR", "CPX")
    before = datetime.now(tz=UTC) - timedelta(hours=1)
    location_store(
        owner,
        "LOC1",
        location("LOC1", "52.530000", "13.404954", last_updated=stamp(before)),
    )
    for uid, status in (("LOC1-1", "CHARGING"), ("LOC1-2", "REMOVED")):
        evse_patch(owner, "LOC1", uid, {"status": status, "last_updated": stamp()})
    tariff_store(owner, "FAST", tariff("FAST"))
    PartnerSync.objects.create(
        partner=partner,
        module="locations",
        last_success_at=datetime.now(tz=UTC),
        objects_received=3,
        objects_stored=3,
        last_error="locations LOC9: Missing required field: address",
    )
    return partner
