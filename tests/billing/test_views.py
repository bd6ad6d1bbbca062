"""Finance screens: permissions and scope, tariff editing, receipts, exports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from accounts.models import AuditLog
from billing import services
from billing.models import Cdr, CreditNote, Tariff, TariffAssignment, TariffRevision

ELEMENT_PREFIX = "elements"


def tariff_post(**overrides: str) -> dict[str, str]:
    data = {
        "name": "Night saver",
        "currency": "INR",
        "vat_percent": "18",
        "idle_grace_minutes": "5",
        "idle_fee_cap": "300",
        "is_active": "on",
        f"{ELEMENT_PREFIX}-TOTAL_FORMS": "1",
        f"{ELEMENT_PREFIX}-INITIAL_FORMS": "0",
        f"{ELEMENT_PREFIX}-0-energy_price_per_kwh": "18",
        f"{ELEMENT_PREFIX}-0-energy_step_wh": "1",
        f"{ELEMENT_PREFIX}-0-time_step_s": "1",
        f"{ELEMENT_PREFIX}-0-idle_price_per_minute": "3",
        f"{ELEMENT_PREFIX}-0-idle_step_s": "60",
    }
    data.update(overrides)
    return data


def snapshot_state() -> tuple:
    return (
        list(Tariff.objects.values_list("pk", "name", "revision", "vat_percent")),
        TariffAssignment.objects.count(),
        TariffRevision.objects.count(),
        AuditLog.objects.count(),
        CreditNote.objects.count(),
    )


@pytest.fixture
def issued_cdr(inr_tariff, finished_session) -> Cdr:
    return services.session_rate(session_id=finished_session(idle_minutes=10).pk)


# --- Permission matrix ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [("finance", 302), ("administrator", 302), ("operator", 403), ("support", 403)],
)
def test_tariff_create_by_role(client, request, network_a, role, expected):
    client.force_login(request.getfixturevalue(role))
    before = snapshot_state()

    response = client.post(
        reverse("billing:tariff_create"), tariff_post(network=str(network_a.pk))
    )

    assert response.status_code == expected
    if expected == 403:
        assert snapshot_state() == before
    else:
        tariff = Tariff.objects.get(name="Night saver")
        assert tariff.network == network_a
        assert tariff.revision == 1
        assert AuditLog.objects.filter(action="tariff.create").count() == 1


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("finance", 302),
        ("administrator", 302),
        ("operator", 403),
        ("support", 403),
        ("outsider", 404),
        ("no_role_user", 404),
    ],
)
def test_tariff_edit_by_role(client, request, inr_tariff, role, expected):
    client.force_login(request.getfixturevalue(role))
    before = snapshot_state()

    response = client.post(
        reverse("billing:tariff_edit", args=[inr_tariff.pk]),
        tariff_post(name="Standard", vat_percent="5"),
    )

    assert response.status_code == expected
    inr_tariff.refresh_from_db()
    if expected == 302:
        assert inr_tariff.vat_percent == Decimal("5")
        assert inr_tariff.revision == 2
        assert AuditLog.objects.filter(action="tariff.update").exists()
    else:
        assert snapshot_state() == before
        assert inr_tariff.vat_percent == Decimal("0")


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("finance", 200),
        ("administrator", 200),
        ("operator", 200),
        ("support", 200),
        ("outsider", 404),
    ],
)
def test_tariff_view_by_role(client, request, inr_tariff, role, expected):
    client.force_login(request.getfixturevalue(role))

    detail = client.get(reverse("billing:tariff_detail", args=[inr_tariff.pk]))
    listing = client.get(reverse("billing:tariff_list"))

    assert detail.status_code == expected
    assert listing.status_code == 200
    assert (b"Standard" in listing.content) == (expected == 200)
    can_edit = role in {"finance", "administrator"}
    if expected == 200:
        assert (b"/edit/" in detail.content) == can_edit


@pytest.mark.parametrize(
    ("role", "expected"),
    [("operator", 403), ("support", 403), ("outsider", 404)],
)
def test_assignment_changes_denied(
    client, request, inr_tariff, station_a, role, expected
):
    client.force_login(request.getfixturevalue(role))
    assignment = inr_tariff.assignments.get()
    before = snapshot_state()

    added = client.post(
        reverse("billing:tariff_assignment_add", args=[inr_tariff.pk]),
        {"station": str(station_a.pk)},
    )
    removed = client.post(
        reverse("billing:tariff_assignment_remove", args=[inr_tariff.pk, assignment.pk])
    )

    assert added.status_code == removed.status_code == expected
    assert snapshot_state() == before


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("finance", 200),
        ("administrator", 200),
        ("operator", 403),
        ("support", 403),
        ("outsider", 404),
    ],
)
def test_cdr_and_receipts_by_role(client, request, issued_cdr, role, expected):
    client.force_login(request.getfixturevalue(role))

    for name in ("cdr_detail", "cdr_receipt", "cdr_receipt_pdf"):
        response = client.get(reverse(f"billing:{name}", args=[issued_cdr.pk]))
        assert response.status_code == expected, name


@pytest.mark.parametrize(
    ("role", "expected"), [("operator", 403), ("support", 403), ("outsider", 404)]
)
def test_credit_note_denied(client, request, issued_cdr, role, expected):
    client.force_login(request.getfixturevalue(role))
    before = snapshot_state()

    response = client.post(
        reverse("billing:cdr_credit_note", args=[issued_cdr.pk]),
        {"total_amount": "10", "reason": "x"},
    )

    assert response.status_code == expected
    assert snapshot_state() == before


@pytest.mark.parametrize(
    ("role", "expected"),
    [("operator", 403), ("support", 403), ("no_role_user", 403)],
)
def test_finance_lists_and_exports_denied(client, request, issued_cdr, role, expected):
    client.force_login(request.getfixturevalue(role))

    for name in ("cdr_list", "revenue", "export_csv", "export_xlsx"):
        assert client.get(reverse(f"billing:{name}")).status_code == expected, name


def test_anonymous_is_sent_to_login(client, issued_cdr):
    response = client.get(reverse("billing:cdr_list"))

    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_outsider_lists_do_not_show_other_networks(client, outsider, issued_cdr):
    """Even with the finance role, network B's user sees nothing of network A."""
    outsider.groups.add(Group.objects.get(name="Finance"))
    client.force_login(outsider)

    listing = client.get(reverse("billing:cdr_list"))
    export = client.get(reverse("billing:export_csv"))

    assert issued_cdr.number.encode() not in listing.content
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert len(rows) == 1  # the header only


# --- Tariff form ----------------------------------------------------------------------


def test_tariff_form_names_the_bad_field(client, finance, network_a):
    client.force_login(finance)

    response = client.post(
        reverse("billing:tariff_create"),
        tariff_post(
            network=str(network_a.pk),
            vat_percent="150",
            **{f"{ELEMENT_PREFIX}-0-energy_price_per_kwh": "-1"},
        ),
    )

    assert response.status_code == 400
    assert "vat_percent" in response.context["form"].errors
    assert "energy_price_per_kwh" in response.context["formset"].forms[0].errors
    assert not Tariff.objects.exists()


def test_tariff_form_requires_a_price(client, finance, network_a):
    client.force_login(finance)

    response = client.post(
        reverse("billing:tariff_create"),
        tariff_post(
            network=str(network_a.pk),
            **{
                f"{ELEMENT_PREFIX}-0-energy_price_per_kwh": "",
                f"{ELEMENT_PREFIX}-0-idle_price_per_minute": "",
                f"{ELEMENT_PREFIX}-0-start_time": "22:00",
            },
        ),
    )

    assert response.status_code == 400
    assert "energy_price_per_kwh" in response.context["formset"].forms[0].errors


def test_finance_cannot_create_a_tariff_in_another_network(client, finance, network_b):
    client.force_login(finance)

    response = client.post(
        reverse("billing:tariff_create"), tariff_post(network=str(network_b.pk))
    )

    assert response.status_code == 400
    assert "network" in response.context["form"].errors
    assert not Tariff.objects.exists()


def test_finance_assigns_a_tariff_to_a_station(client, finance, inr_tariff, station_a):
    client.force_login(finance)

    response = client.post(
        reverse("billing:tariff_assignment_add", args=[inr_tariff.pk]),
        {"station": str(station_a.pk), "connector_type": "CCS2"},
    )

    assert response.status_code == 302
    assert inr_tariff.assignments.filter(
        station=station_a, connector_type="CCS2"
    ).exists()
    assert AuditLog.objects.filter(action="tariff.assign", actor=finance).exists()


# --- Receipts and credit notes ---------------------------------------------------------


def test_receipt_html_shows_lines_and_total(client, finance, issued_cdr):
    client.force_login(finance)

    response = client.get(reverse("billing:cdr_receipt", args=[issued_cdr.pk]))

    content = response.content.decode()
    assert issued_cdr.number in content
    assert "INR 396.00" in content
    assert "INR 30.00" in content
    assert "INR 426.00" in content


def test_receipt_pdf_contains_the_total(client, finance, issued_cdr):
    client.force_login(finance)

    response = client.get(reverse("billing:cdr_receipt_pdf", args=[issued_cdr.pk]))

    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert b"INR 426.00" in response.content


def test_credit_note_form_issues_and_validates(client, finance, issued_cdr):
    client.force_login(finance)
    url = reverse("billing:cdr_credit_note", args=[issued_cdr.pk])

    too_much = client.post(url, {"total_amount": "1000", "reason": "Refund"})
    ok = client.post(url, {"total_amount": "26", "reason": "Refund idle"})

    assert too_much.status_code == 400
    assert "total_amount" in too_much.context["credit_form"].errors
    assert ok.status_code == 302
    assert CreditNote.objects.get().total_amount == Decimal("26.00")


def test_rating_failure_is_listed_and_can_be_retried(
    client, finance, finished_session, make_tariff
):
    session = finished_session()
    services.session_rate(session_id=session.pk)
    client.force_login(finance)

    listing = client.get(reverse("billing:cdr_list"))
    make_tariff()
    retry = client.post(reverse("billing:session_rating_retry", args=[session.pk]))

    assert b"No active tariff" in listing.content
    assert retry.status_code == 302
    assert Cdr.objects.filter(session=session).exists()


# --- Exports ---------------------------------------------------------------------------


@pytest.fixture
def many_cdrs(make_tariff, finished_session) -> list[Cdr]:
    make_tariff(vat_percent=Decimal("18"))
    cdrs = []
    for i in range(12):
        session = finished_session(
            energy_wh=1000 + i * 1237,
            started_at=timezone.now() - timedelta(hours=60 - i * 4),
            charging_minutes=37 + i,
            idle_minutes=i * 3,
        )
        cdrs.append(services.session_rate(session_id=session.pk))
    return cdrs


def test_csv_export_reconciles_with_cdrs(client, finance, many_cdrs):
    client.force_login(finance)
    services.credit_note_issue(
        actor=finance, cdr=many_cdrs[0], total_amount=Decimal("5"), reason="x"
    )

    response = client.get(reverse("billing:export_csv"))

    assert response.streaming
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header, body, totals = rows[0], rows[1:-1], rows[-1]
    col = {name: i for i, name in enumerate(header)}
    assert len(body) == 12
    expected_total = sum(c.total_amount for c in Cdr.objects.all())
    assert sum(Decimal(r[col["total"]]) for r in body) == expected_total
    assert Decimal(totals[col["total"]]) == expected_total
    assert Decimal(totals[col["net"]]) == sum(c.net_amount for c in many_cdrs)
    assert Decimal(totals[col["tax"]]) == sum(c.tax_amount for c in many_cdrs)
    assert Decimal(totals[col["credited"]]) == Decimal("5")
    assert {r[col["receipt_number"]] for r in body} == {c.number for c in many_cdrs}


def test_xlsx_export_reconciles_with_cdrs(client, finance, many_cdrs):
    client.force_login(finance)

    response = client.get(reverse("billing:export_xlsx"))

    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(workbook.active.iter_rows(values_only=True))
    header, body, totals = rows[0], rows[1:-1], rows[-1]
    col = header.index("total")
    assert len(body) == 12
    expected = sum(c.total_amount for c in many_cdrs)
    assert sum(Decimal(str(r[col])) for r in body) == expected
    assert Decimal(str(totals[col])) == expected


def test_export_filters_by_local_date_range(client, finance, many_cdrs, network_a):
    client.force_login(finance)
    target = many_cdrs[-1].stopped_at.astimezone(ZoneInfo(network_a.time_zone)).date()

    response = client.get(
        reverse("billing:export_csv"),
        {"network": network_a.pk, "date_from": target, "date_to": target},
    )

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    expected = [
        c
        for c in many_cdrs
        if c.stopped_at.astimezone(ZoneInfo(network_a.time_zone)).date() == target
    ]
    assert len(rows) - 2 == len(expected)


def test_export_rejects_a_reversed_date_range(client, finance, many_cdrs):
    client.force_login(finance)

    response = client.get(
        reverse("billing:export_csv"),
        {"date_from": "2025-02-01", "date_to": "2025-01-01"},
    )

    assert response.status_code == 400
    assert "date_to" in response.context["form"].errors


def test_revenue_per_station_and_day_adds_up(client, finance, many_cdrs):
    client.force_login(finance)

    response = client.get(reverse("billing:revenue"))

    rows = response.context["rows"]
    assert sum(r.sessions for r in rows) == 12
    assert sum(r.total for r in rows) == sum(c.total_amount for c in many_cdrs)


def test_edit_page_shows_the_current_elements(client, finance, inr_tariff):
    client.force_login(finance)

    edit = client.get(reverse("billing:tariff_edit", args=[inr_tariff.pk]))
    create = client.get(reverse("billing:tariff_create"))

    assert edit.status_code == 200
    assert create.status_code == 200
    element = edit.context["formset"].forms[0]
    assert element.initial["energy_price_per_kwh"] == Decimal("18")
    assert element.initial["idle_price_per_minute"] == Decimal("3")
