"""Receipts say the same in HTML, text and PDF: seller, local times, billed idle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import services
from billing.receipts import receipt_pdf, receipt_text
from stations.models import Network
from tests.billing.conftest import record_status

# 14:00 UTC on a winter day is 15:00 in Berlin (CET, UTC+1).
STARTED = datetime(2026, 1, 15, 14, 0, tzinfo=UTC)


@pytest.fixture
def seller(network_a: Network) -> Network:
    network_a.legal_name = "Example Charging GmbH"
    network_a.legal_address = "Torstraße 5\n10119 Berlin"
    network_a.vat_id = "DE123456789"
    network_a.save()
    return network_a


@pytest.fixture
def idle_cdr(seller, make_tariff, finished_session):
    """EUR tariff: 0.30/kWh, idle 0.10/min per started minute after 5 free minutes;
    the car stays 31 min 21 s after charging, so 26 min 21 s are billed as 27 min."""
    make_tariff(
        currency="EUR",
        vat_percent=Decimal("19"),
        idle_grace_minutes=5,
        elements=[
            {
                "energy_price_per_kwh": Decimal("0.30"),
                "idle_price_per_minute": Decimal("0.10"),
                "idle_step_s": 60,
            }
        ],
    )
    session = finished_session(
        started_at=STARTED, charging_minutes=60, idle_minutes=None
    )
    record_status(
        session.connector,
        "Available",
        STARTED + timedelta(minutes=60) + timedelta(minutes=31, seconds=21),
    )
    return services.session_rate(session_id=session.pk)


def _html(client, user, cdr, name: str) -> str:
    client.force_login(user)
    response = client.get(reverse(f"billing:{name}", args=[cdr.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_receipt_names_the_seller_in_every_format(client, finance, idle_cdr):
    html = _html(client, finance, idle_cdr, "cdr_receipt")
    text = receipt_text(idle_cdr)
    pdf = receipt_pdf(idle_cdr)

    for needle in ("Example Charging GmbH", "Torstraße 5", "10119 Berlin"):
        assert needle in html
        assert needle in text
    assert "VAT id DE123456789" in html
    assert "VAT id DE123456789" in text
    assert b"Example Charging GmbH" in pdf
    assert b"VAT id DE123456789" in pdf


def test_receipt_times_are_the_stations_local_time_with_zone(client, finance, idle_cdr):
    html = _html(client, finance, idle_cdr, "cdr_receipt")
    detail = _html(client, finance, idle_cdr, "cdr_detail")
    text = receipt_text(idle_cdr)
    pdf = receipt_pdf(idle_cdr)

    local = "Charging 2026-01-15 15:00 – 2026-01-15 16:00"
    for document in (html, detail, text):
        assert local in document
        assert "(Europe/Berlin)" in document
        assert "2026-01-15 14:00" not in document  # never UTC labelled as local
    assert b"Charging 2026-01-15 15:00" in pdf
    assert b"\\(Europe/Berlin\\)" in pdf  # PDF strings escape parentheses
    assert b"2026-01-15 14:00" not in pdf


def test_billed_idle_time_agrees_with_the_idle_line(client, finance, idle_cdr):
    html = _html(client, finance, idle_cdr, "cdr_receipt")
    text = receipt_text(idle_cdr)

    # 31:21 measured, 5:00 free, 26:21 rounded up to 27:00, the line's quantity
    assert "idle 0:31:21 (first 0:05:00 free), billed 0:27:00" in html
    assert "(0:26:21 rounded up)" in html
    assert "0:27:00 h" in html
    assert "idle 0:31:21 (first 0:05:00 free), billed 0:27:00" in text
    assert "EUR 2.70" in html  # 27 min x 0.10


def test_unit_prices_carry_the_currency_and_the_rounding_rule_is_stated(
    client, finance, idle_cdr
):
    html = _html(client, finance, idle_cdr, "cdr_receipt")
    text = receipt_text(idle_cdr)
    pdf = receipt_pdf(idle_cdr)

    assert "EUR 0.10/min" in html
    assert "EUR 0.30/kWh" in html
    assert "0.1/min" not in html
    rule = "idle time per started minute"
    assert rule in html
    assert rule in text
    assert "rounded half-up to EUR 0.01" in html
    assert b"EUR 0.10/min" in pdf


def test_receipt_without_legal_details_falls_back_to_the_network_name(
    client, finance, inr_tariff, finished_session
):
    cdr = services.session_rate(session_id=finished_session().pk)

    html = _html(client, finance, cdr, "cdr_receipt")

    assert "Network A" in html
    assert "VAT id" not in html
