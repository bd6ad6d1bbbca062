"""The settlement per partner and month reconciles with the CDRs pushed."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse

from accounts.models import Role
from roaming.models import Partner, PartnerToken
from roaming.tasks import roaming_retry_sweep_task
from tests.factories import user_with_role
from tests.roaming.test_pushes import _roaming_session

pytestmark = pytest.mark.django_db(transaction=True)


def test_finance_sees_and_exports_the_partners_month_matching_the_pushed_cdr(
    registered, network_a, station_a, client, finance
):
    session = _roaming_session(registered, network_a, station_a)
    roaming_retry_sweep_task()
    [pushed] = registered.pushes("cdrs")
    partner = PartnerToken.objects.get().partner
    month = session.stopped_at.strftime("%Y-%m")
    client.force_login(finance)
    url = reverse("roaming:settlement")

    page = client.get(url, {"partner": partner.pk, "month": month})
    export = client.get(url, {"partner": partner.pk, "month": month, "format": "csv"})

    assert page.status_code == 200
    settlement = page.context["settlement"]
    assert [row.cdr_id for row in settlement.rows] == [pushed.body["id"]]
    assert export.status_code == 200
    [row] = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert row["cdr_id"] == pushed.body["id"]
    assert row["session_id"] == pushed.body["session_id"]
    assert float(row["energy_kwh"]) == pushed.body["total_energy"]
    assert float(row["net_amount"]) == pushed.body["total_cost"]["excl_vat"]
    assert float(row["total_amount"]) == pushed.body["total_cost"]["incl_vat"]
    other_month = client.get(url, {"partner": partner.pk, "month": "2001-01"})
    assert other_month.context["settlement"].rows == []


@pytest.mark.parametrize("role", ["operator", "support"])
def test_roles_without_cdr_access_are_refused(client, request, role):
    client.force_login(request.getfixturevalue(role))
    assert client.get(reverse("roaming:settlement")).status_code == 403


def test_a_bad_month_is_a_400_naming_it(registered, client, finance):
    partner = Partner.objects.get()
    client.force_login(finance)
    page = client.get(
        reverse("roaming:settlement"), {"partner": partner.pk, "month": "13/2026"}
    )
    assert page.status_code == 400
    assert "month" in page.content.decode()


def test_finance_of_another_network_sees_none_of_its_cdrs(
    registered, network_a, station_a, network_b, client
):
    session = _roaming_session(registered, network_a, station_a)
    partner = PartnerToken.objects.get().partner
    client.force_login(user_with_role(Role.FINANCE, network_b))
    page = client.get(
        reverse("roaming:settlement"),
        {"partner": partner.pk, "month": session.stopped_at.strftime("%Y-%m")},
    )
    assert page.status_code == 200
    assert page.context["settlement"].rows == []
