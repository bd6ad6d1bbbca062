"""Roaming sessions in the session, CDR and revenue lists: own vs roaming, per partner."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from billing import services as billing
from roaming.models import Partner, PartnerStatus, PartnerToken
from tests.factories import ChargePointFactory, ConnectorFactory
from tests.roaming.sessions import finished_session

pytestmark = pytest.mark.django_db


def _partner(country_code: str, party_id: str) -> Partner:
    return Partner.objects.create(
        name=f"{party_id} roaming",
        country_code=country_code,
        party_id=party_id,
        status=PartnerStatus.REGISTERED,
    )


def _token(partner: Partner, uid: str) -> None:
    PartnerToken.objects.create(
        partner=partner,
        country_code=partner.country_code,
        party_id=partner.party_id,
        uid=uid,
        type="RFID",
        contract_id=f"C-{uid}",
        issuer=partner.name,
        is_valid=True,
        whitelist="ALLOWED",
        data={},
        last_updated=timezone.now(),
    )


def _rated(connector, id_tag: str, hours_ago: int):
    session = finished_session(
        connector,
        id_tag,
        start=timezone.now() - timedelta(hours=hours_ago),
        charging=timedelta(minutes=30),
        idle=timedelta(minutes=1),
        energy_wh=5000,
    )
    cdr = billing.session_rate(session_id=session.pk)
    assert cdr is not None
    return cdr


@pytest.fixture
def cdrs(network_a, station_a):
    tariff = billing.tariff_create(
        actor=None,
        network=network_a,
        data={"name": "Standard", "currency": "EUR", "vat_percent": Decimal("20")},
        elements=[{"energy_price_per_kwh": Decimal("0.40")}],
    )
    billing.tariff_assignment_add(actor=None, tariff=tariff)
    first, second = _partner("DE", "EMS"), _partner("FR", "ROA")
    _token(first, "ROAM-DE")
    _token(second, "ROAM-FR")
    connectors = [
        ConnectorFactory(
            charge_point=ChargePointFactory(station=station_a, ocpp_id=f"RF-{n}"),
            connector_id=1,
        )
        for n in range(3)
    ]
    return {
        "own": _rated(connectors[0], "OWNCARD1", 10),
        "de": _rated(connectors[1], "ROAM-DE", 8),
        "fr": _rated(connectors[2], "ROAM-FR", 6),
        "partners": (first, second),
    }


def test_lists_filter_own_drivers_roaming_and_one_partner(client, finance, cdrs):
    client.force_login(finance)
    first, _second = cdrs["partners"]

    def session_tags(origin: str) -> set[str]:
        page = client.get(reverse("charging:session_list"), {"origin": origin})
        assert page.status_code == 200
        return {session.id_tag for session in page.context["page"]}

    def cdr_numbers(origin: str) -> set[str]:
        page = client.get(reverse("billing:cdr_list"), {"origin": origin})
        assert page.status_code == 200
        return {cdr.number for cdr in page.context["page"]}

    assert session_tags("") == {"OWNCARD1", "ROAM-DE", "ROAM-FR"}
    assert session_tags("own") == {"OWNCARD1"}
    assert session_tags("roaming") == {"ROAM-DE", "ROAM-FR"}
    assert session_tags(f"partner:{first.pk}") == {"ROAM-DE"}
    assert cdr_numbers("own") == {cdrs["own"].number}
    assert cdr_numbers("roaming") == {cdrs["de"].number, cdrs["fr"].number}
    assert cdr_numbers(f"partner:{first.pk}") == {cdrs["de"].number}

    revenue = client.get(reverse("billing:revenue"), {"origin": "roaming"})
    assert revenue.status_code == 200
    [row] = revenue.context["rows"]
    assert row.sessions == 2
    assert row.net == cdrs["de"].net_amount + cdrs["fr"].net_amount

    export = client.get(reverse("billing:export_csv"), {"origin": "own"})
    text = b"".join(export.streaming_content).decode()  # type: ignore[attr-defined]
    assert cdrs["own"].number in text
    assert cdrs["de"].number not in text

    sessions_csv = client.get(
        reverse("charging:session_export_csv"), {"origin": f"partner:{first.pk}"}
    )
    body = b"".join(sessions_csv.streaming_content).decode()  # type: ignore[attr-defined]
    assert "ROAM-DE" in body
    assert "OWNCARD1" not in body
    assert "ROAM-FR" not in body


def test_an_unknown_origin_is_refused_naming_the_field(client, finance, cdrs):
    client.force_login(finance)
    sessions = client.get(reverse("charging:session_list"), {"origin": "partner:999"})
    cdr_page = client.get(reverse("billing:cdr_list"), {"origin": "mars"})
    assert sessions.status_code == 400
    assert "origin" in sessions.context["form"].errors
    assert cdr_page.status_code == 400
    assert "origin" in cdr_page.context["form"].errors


def test_the_partner_filter_offers_only_partners_with_sessions_and_not_to_others(
    client, finance, outsider, cdrs
):
    _partner("IT", "NON")  # no session: no choice
    client.force_login(finance)
    page = client.get(reverse("charging:session_list"))
    labels = [label for _value, label in page.context["form"].fields["origin"].choices]
    assert any("DE*EMS" in label for label in labels)
    assert not any("IT*NON" in label for label in labels)
    # Another network's operator filters by roaming and sees none of network A's.
    client.force_login(outsider)
    other = client.get(reverse("charging:session_list"), {"origin": "roaming"})
    assert list(other.context["page"]) == []
