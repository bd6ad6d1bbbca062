"""The demo's roaming partner: its drivers' sessions in the demo are roaming sessions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from billing import services as billing
from roaming.models import Partner, RoamingPush
from sessions_app.services import id_tag_authorize
from stations.models import ChargePoint
from stations.simulator.fleet import DEMO_ID_TAGS, DEMO_PARTNER_TAGS
from tests.roaming.sessions import finished_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(settings):
    settings.DEMO_MODE = True
    settings.DEMO_PASSWORD = "demo-test-password-42"
    call_command("load_demo_data", stdout=StringIO())
    call_command("load_demo_data", stdout=StringIO())  # a second load adds nothing


def test_the_demo_partners_drivers_charge_as_roaming_at_its_tariff(demo, client):
    partner = Partner.objects.get(country_code="DE", party_id="DMO")
    assert set(DEMO_PARTNER_TAGS) <= set(DEMO_ID_TAGS)  # the fleet presents them
    charge_point = ChargePoint.objects.get(ocpp_id="DEMO-CP-01")
    connector = charge_point.connectors.get(connector_id=1)
    status = id_tag_authorize(
        charge_point_ocpp_id=charge_point.ocpp_id,
        id_tag=DEMO_PARTNER_TAGS[0],
        at=datetime.now(tz=UTC),
    ).status
    assert status == "Accepted"

    session = finished_session(
        connector,
        DEMO_PARTNER_TAGS[0],
        start=timezone.now() - timedelta(hours=3),
        charging=timedelta(hours=1),
        idle=timedelta(minutes=1),
        energy_wh=20000,
    )
    assert session.roaming.partner == partner
    cdr = billing.session_rate(session_id=session.pk)
    assert cdr is not None
    # 20 kWh at 0.59 plus 0.50 flat: the tariff published to the partner.
    assert cdr.net_amount == Decimal("12.30")
    assert not RoamingPush.objects.exists()  # the demo partner has no endpoints

    client.login(username="finance", password="demo-test-password-42")
    listed = client.get(
        reverse("charging:session_list"), {"origin": f"partner:{partner.pk}"}
    )
    assert [s.pk for s in listed.context["page"]] == [session.pk]
