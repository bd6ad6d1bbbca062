from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from billing import services
from sessions_app.models import MeterValue
from tests.factories import ChargingSessionFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def issued_cdr(inr_tariff, finished_session):
    return services.session_rate(session_id=finished_session(idle_minutes=10).pk)


def test_finished_session_page_shows_the_issued_cdr_total(client, finance, issued_cdr):
    client.force_login(finance)

    response = client.get(
        reverse("charging:session_detail", args=[issued_cdr.session_id])
    )

    body = response.content.decode()
    assert response.status_code == 200
    # 22 kWh x 18 INR + 10 idle minutes x 3 INR
    assert "INR 426.00" in body
    assert issued_cdr.number in body


def test_open_session_page_shows_a_running_estimate(
    client, support, inr_tariff, connector_a
):
    session = ChargingSessionFactory(
        charge_point=connector_a.charge_point,
        connector=connector_a,
        started_at=timezone.now() - timedelta(minutes=30),
        meter_start_wh=1000,
        meter_last_wh=11000,
        energy_wh=10000,
    )
    for minutes, register_wh in ((0, 1000), (30, 11000)):
        MeterValue.objects.create(
            charge_point=connector_a.charge_point,
            session=session,
            connector_number=1,
            timestamp=session.started_at + timedelta(minutes=minutes),
            raw_value=str(register_wh),
            value=register_wh,
            unit="Wh",
            received_at=timezone.now(),
        )
    client.force_login(support)

    response = client.get(reverse("charging:session_detail", args=[session.pk]))

    body = response.content.decode()
    assert 'data-testid="price-estimate"' in body
    assert "INR 180.00" in body  # 10 kWh x 18 INR so far


def test_session_page_says_when_no_tariff_applies(client, operator, finished_session):
    session = finished_session()
    client.force_login(operator)

    response = client.get(reverse("charging:session_detail", args=[session.pk]))

    assert "No tariff applies to this session." in response.content.decode()
