"""What we owe CPO partners per month, from the CDRs they sent us, reconciled
against their session pushes; finance only, within its networks."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.models import Role
from roaming.models import Partner
from tests.factories import IdTokenFactory, user_with_role
from tests.roaming.cpo_peer import COUNTRY_CODE, PARTY_ID, CpoPeer
from tests.roaming.test_emsp_sessions_cdrs import cdr_object, session_object

pytestmark = pytest.mark.django_db(transaction=True)


def _send(cpo: CpoPeer, session_id: str, cdr_id: str, uid: str, **cdr: object):
    base = cpo.emsp_endpoints[("sessions", "RECEIVER")]
    session = session_object(
        session_id,
        uid,
        kwh=12.5,
        status="COMPLETED",
        end_date_time="2026-12-01T09:00:00Z",
        total_cost={"excl_vat": 5.0, "incl_vat": 6.05},
    )
    url = f"{base}/{COUNTRY_CODE}/{PARTY_ID}/{session_id}"
    assert cpo.call("PUT", url, body=session, routing=True).status_code == 1000
    cdrs = cpo.emsp_endpoints[("cdrs", "RECEIVER")]
    body = cdr_object(cdr_id, session_id, uid, **cdr)
    assert cpo.call("POST", cdrs, body=body, routing=True).status_code == 1000


@pytest.fixture
def cdrs(registered_cpo: CpoPeer, network_a):
    IdTokenFactory(token="OWED-A", network=network_a)
    _send(registered_cpo, "S-A1", "CDR-A1", "OWED-A")
    _send(registered_cpo, "S-A2", "CDR-A2", "OWED-A",
          total_energy=20.0, total_cost={"excl_vat": 9.0, "incl_vat": 10.89})  # fmt: skip
    return Partner.objects.get(country_code=COUNTRY_CODE, party_id=PARTY_ID)


def test_finance_sees_what_we_owe_the_cpo_with_disputes_flagged(cdrs, client, finance):
    client.force_login(finance)
    url = reverse("roaming:settlement")
    page = client.get(url, {"partner": cdrs.pk, "month": "2026-12"})

    assert page.status_code == 200
    owed = page.context["owed"]
    assert [(r.cdr_id, r.disputed) for r in owed.rows] == [
        ("CDR-A1", False),
        ("CDR-A2", True),
    ]
    totals = owed.totals["EUR"]
    assert totals["incl_vat"] == Decimal("16.94")
    assert totals["undisputed"] == Decimal("6.05")
    assert totals["disputed"] == Decimal("10.89")
    html = page.content.decode()
    assert "Disputed" in html
    assert "energy 20000 Wh, the session pushes said 12500 Wh" in html

    export = client.get(
        url, {"partner": cdrs.pk, "month": "2026-12", "format": "csv",
              "direction": "owed"},
    )  # fmt: skip
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert [(r["cdr_id"], r["incl_vat"], r["pushed_cost"], r["disputed"])
            for r in rows] == [("CDR-A1", "6.05", "6.0500", "no"),
                               ("CDR-A2", "10.89", "6.0500", "yes")]  # fmt: skip
    assert rows[0]["session_id"] == "S-A1"
    assert rows[1]["pushed_energy_kwh"] == "12.500"
    other_month = client.get(url, {"partner": cdrs.pk, "month": "2026-11"})
    assert other_month.context["owed"].rows == []


@pytest.mark.parametrize("role", ["operator", "support"])
def test_roles_without_cdr_access_see_nothing_owed(cdrs, client, request, role):
    client.force_login(request.getfixturevalue(role))
    url = reverse("roaming:settlement")
    assert client.get(url, {"partner": cdrs.pk, "month": "2026-12"}).status_code == 403
    export = client.get(
        url, {"partner": cdrs.pk, "month": "2026-12", "format": "csv",
              "direction": "owed"},
    )  # fmt: skip
    assert export.status_code == 403


def test_finance_of_another_network_sees_none_of_our_drivers_cdrs(
    cdrs, network_b, client
):
    client.force_login(user_with_role(Role.FINANCE, network_b))
    page = client.get(
        reverse("roaming:settlement"), {"partner": cdrs.pk, "month": "2026-12"}
    )
    assert page.status_code == 200
    assert page.context["owed"].rows == []
