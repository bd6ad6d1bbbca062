"""The demo's roaming partner: an eMSP whose drivers charge in the demo network.

"Demo eMSP" (DE*DMO) is registered without endpoints of its own, so nothing is
pushed anywhere; its two cards (``DEMO_PARTNER_TAGS``, presented by the simulated
fleet) are whitelisted, so their sessions at the demo network start at once and
show as roaming sessions of the partner, rated with the tariff published to it.
The demo network is published to partners. Registered into ``cms.demo``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.utils import timezone

from billing.models import Tariff
from billing.services import tariff_create
from cms.demo import DemoLoad
from roaming.models import (
    LocationPublication,
    Partner,
    PartnerStatus,
    PartnerToken,
    TariffPublication,
    TokenType,
    WhitelistType,
)
from stations.demo import DEMO_NETWORK
from stations.models import Network
from stations.simulator.fleet import DEMO_PARTNER_TAGS

DEMO_PARTNER = ("DE", "DMO")
DEMO_PARTNER_TARIFF = "Demo roaming (DE*DMO)"


def _partner(load: DemoLoad) -> Partner:
    country_code, party_id = DEMO_PARTNER
    partner, created = Partner.objects.get_or_create(
        country_code=country_code,
        party_id=party_id,
        defaults={
            "name": "Demo eMSP",
            "status": PartnerStatus.REGISTERED,
            "version": "2.2.1",
            "registered_at": timezone.now(),
            "roles": [
                {
                    "role": "EMSP",
                    "business_details": {"name": "Demo eMSP"},
                    "country_code": country_code,
                    "party_id": party_id,
                }
            ],
        },
    )
    load.tally.add("roaming partners", created)
    return partner


def _tokens(partner: Partner, load: DemoLoad) -> None:
    for number, uid in enumerate(DEMO_PARTNER_TAGS, start=1):
        contract_id = f"DE-DMO-C{number:05d}"
        data: dict[str, Any] = {
            "country_code": partner.country_code,
            "party_id": partner.party_id,
            "uid": uid,
            "type": TokenType.RFID,
            "contract_id": contract_id,
            "issuer": "Demo eMSP",
            "valid": True,
            "whitelist": WhitelistType.ALLOWED,
        }
        _token, created = PartnerToken.objects.get_or_create(
            country_code=partner.country_code,
            party_id=partner.party_id,
            uid=uid,
            type=TokenType.RFID,
            defaults={
                "partner": partner,
                "contract_id": contract_id,
                "issuer": "Demo eMSP",
                "is_valid": True,
                "whitelist": WhitelistType.ALLOWED,
                "data": data,
                "last_updated": timezone.now(),
            },
        )
        load.tally.add("partner tokens", created)


def _publication(partner: Partner, network: Network, load: DemoLoad) -> None:
    _row, created = LocationPublication.objects.get_or_create(
        network=network, defaults={"is_published": True}
    )
    load.tally.add("roaming publications", created)
    tariff = Tariff.objects.filter(network=network, name=DEMO_PARTNER_TARIFF).first()
    if tariff is None:
        # Published to the partner only: no assignment, so walk-in drivers
        # keep the network's tariffs.
        tariff = tariff_create(
            actor=None,
            network=network,
            data={
                "name": DEMO_PARTNER_TARIFF,
                "currency": network.currency,
                "vat_percent": Decimal("19"),
            },
            elements=[
                {
                    "energy_price_per_kwh": Decimal("0.59"),
                    "flat_price": Decimal("0.50"),
                }
            ],
        )
        load.tally.add("tariffs", True)
    _published, created = TariffPublication.objects.get_or_create(
        partner=partner, network=network, defaults={"tariff": tariff}
    )
    load.tally.add("partner tariffs", created)


def roaming_demo_load(load: DemoLoad) -> None:
    partner = _partner(load)
    _tokens(partner, load)
    _publication(partner, Network.objects.get(name=DEMO_NETWORK), load)
