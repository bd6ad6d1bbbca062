"""Finance on the session list: a price column and a CSV export with the billed
price split into fees, times in the station's zone with their offset."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from django.contrib.auth.models import Permission
from django.urls import reverse

from tests.factories import ChargingSessionFactory, UserFactory


def _csv(response) -> list[dict[str, str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_session_list_shows_the_billed_price(client, finance, eur_billed, connector_a):
    _session, cdr = eur_billed
    ChargingSessionFactory(
        charge_point=connector_a.charge_point, connector=connector_a, energy_wh=500
    )
    client.force_login(finance)

    response = client.get(reverse("charging:session_list"))

    content = response.content.decode()
    assert '<th class="num">Price</th>' in content
    assert f"EUR {cdr.total_amount:.2f}" in content  # 3.00 energy + 2.00 idle, + 19 %
    assert "running" in content


def test_session_export_has_prices_fees_and_local_times(client, finance, eur_billed):
    session, cdr = eur_billed
    client.force_login(finance)

    response = client.get(reverse("charging:session_export_csv"))

    assert response["Content-Type"].startswith("text/csv")
    (row,) = _csv(response)
    assert row["session_id"] == str(session.pk)
    assert row["started_at"] == "2026-01-15T15:00:00+01:00"
    assert row["stopped_at"] == "2026-01-15T16:00:00+01:00"
    assert row["time_zone"] == "Europe/Berlin"
    assert Decimal(row["energy_kwh"]) == Decimal("10")
    assert row["receipt_number"] == cdr.number
    assert Decimal(row["energy_fee"]) == Decimal("3.00")
    assert Decimal(row["idle_fee"]) == Decimal("2.00")
    assert Decimal(row["total"]) == cdr.total_amount


def test_session_export_follows_the_lists_filters(client, finance, eur_billed):
    client.force_login(finance)

    response = client.get(
        reverse("charging:session_export_csv"), {"token": "NO-SUCH-TOKEN"}
    )

    assert _csv(response) == []


def test_a_role_without_prices_gets_neither_column(client, network_a, eur_billed):
    reader = UserFactory(networks=[network_a])
    reader.user_permissions.add(Permission.objects.get(codename="view_chargingsession"))
    client.force_login(reader)

    page = client.get(reverse("charging:session_list"))
    export = client.get(reverse("charging:session_export_csv"))

    assert page.status_code == 200
    assert "Price</th>" not in page.content.decode()
    (row,) = _csv(export)
    assert "total" not in row
    assert "receipt_number" not in row


def test_the_export_is_refused_without_the_session_permission(client, network_a):
    client.force_login(UserFactory(networks=[network_a]))

    response = client.get(reverse("charging:session_export_csv"))

    assert response.status_code == 403


def test_the_export_holds_only_the_users_networks(client, outsider, eur_billed):
    client.force_login(outsider)

    response = client.get(reverse("charging:session_export_csv"))

    assert _csv(response) == []
