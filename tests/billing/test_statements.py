"""A network's monthly statement: the month in the network's zone, sums that
reconcile with the receipts, credit notes of the month, refusals by role."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.urls import reverse

from billing import services
from billing.models import Cdr

# Berlin: 2026-01-31 23:30 local is 22:30 UTC; 2026-02-01 00:30 local is 23:30 UTC.
LAST_OF_JANUARY = datetime(2026, 1, 31, 22, 30, tzinfo=UTC)
FIRST_OF_FEBRUARY = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)


@pytest.fixture
def month_cdrs(eur_billed, finished_session, finance) -> list[Cdr]:
    _session, january = eur_billed
    february = services.session_rate(session_id=finished_session(energy_wh=5000).pk)
    Cdr.objects.filter(pk=january.pk).update(issued_at=LAST_OF_JANUARY)
    Cdr.objects.filter(pk=february.pk).update(issued_at=FIRST_OF_FEBRUARY)
    note = services.credit_note_issue(
        actor=finance, cdr=january, total_amount=Decimal("1.00"), reason="Goodwill"
    )
    type(note).objects.filter(pk=note.pk).update(created_at=LAST_OF_JANUARY)
    january.refresh_from_db()
    return [january, february]


def _get(client, user, network, month: str, **extra):
    client.force_login(user)
    return client.get(
        reverse("billing:statement"), {"network": network.pk, "month": month, **extra}
    )


def test_statement_holds_the_networks_local_month(
    client, finance, network_a, month_cdrs
):
    january, _february = month_cdrs

    response = _get(client, finance, network_a, "2026-01")

    statement = response.context["statement"]
    (total,) = statement.totals
    assert total.billed.sessions == 1  # the one issued at 23:30 Berlin time
    assert total.billed.total == january.total_amount
    assert total.billed.energy_fee == Decimal("3.00")
    assert total.billed.idle_fee == Decimal("2.00")
    assert total.credited == Decimal("1.00")
    assert total.after_credits == january.total_amount - Decimal("1.00")
    content = response.content.decode()
    assert "January 2026" in content
    assert "2026-01-01 00:00 to 2026-02-01 00:00" in content
    assert "(Europe/Berlin)" in content


def test_next_month_has_the_receipt_issued_after_midnight(
    client, finance, network_a, month_cdrs
):
    _january, february = month_cdrs

    response = _get(client, finance, network_a, "2026-02")

    (total,) = response.context["statement"].totals
    assert total.billed.sessions == 1
    assert total.billed.total == february.total_amount
    assert total.credited == Decimal("0")


def test_statement_csv_reconciles(client, finance, network_a, month_cdrs):
    january, _ = month_cdrs

    response = _get(client, finance, network_a, "2026-01", format="csv")

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["station", "currency", "sessions"]
    totals = [row for row in rows if row[0] == "All stations"]
    assert Decimal(totals[0][-1]) == january.total_amount
    assert rows[-1][0] == "Total after credit notes"
    assert Decimal(rows[-1][-1]) == january.total_amount - Decimal("1.00")


@pytest.mark.parametrize("role", ["operator", "support"])
def test_statement_is_refused_to_roles_without_receipts(
    client, request, role, network_a
):
    response = _get(client, request.getfixturevalue(role), network_a, "2026-01")

    assert response.status_code == 403


def test_statement_of_a_network_outside_the_scope_is_refused(
    client, finance, network_b
):
    response = _get(client, finance, network_b, "2026-01")

    assert response.status_code == 400
    assert "network" in response.context["form"].errors
    assert response.context["statement"] is None


def test_a_wrong_month_names_the_field(client, finance, network_a):
    response = _get(client, finance, network_a, "January")

    assert response.status_code == 400
    assert "month" in response.context["form"].errors
