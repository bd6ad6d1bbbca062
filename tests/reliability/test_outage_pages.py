"""Outage pages and the uptime reports: roles, network scope, classification, exports."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from accounts.models import AuditLog
from stations.reliability.models import Outage
from tests.factories import ConnectorFactory

START = datetime(2026, 5, 10, 8, tzinfo=UTC)


@pytest.fixture
def outage(connector_a):
    return Outage.objects.create(
        connector=connector_a,
        started_at=START,
        ended_at=START + timedelta(hours=6),
        cause="offline",
    )


@pytest.fixture
def other_outage(charge_point_b):
    port = ConnectorFactory(charge_point=charge_point_b, connector_id=1)
    return Outage.objects.create(
        connector=port,
        started_at=START,
        ended_at=START + timedelta(hours=1),
        cause="faulted",
    )


def _ids(response) -> set[int]:
    return {row.outage.pk for row in response.context["rows"]}


@pytest.mark.parametrize("role", ["operator", "finance", "administrator"])
def test_roles_with_outages_see_their_networks_outages(
    client, request, outage, other_outage, role
):
    client.force_login(request.getfixturevalue(role))

    response = client.get(reverse("reliability:outage_list"))

    assert response.status_code == 200
    assert outage.pk in _ids(response)
    if role != "administrator":
        assert other_outage.pk not in _ids(response)
    assert "Europe/Berlin" in response.content.decode()  # the station's zone, named


def test_outsider_sees_only_its_own_network(client, outsider, outage, other_outage):
    client.force_login(outsider)

    response = client.get(reverse("reliability:outage_list"))

    assert _ids(response) == {other_outage.pk}


def test_support_is_denied_the_outage_list_and_the_uptime_reports(
    client, support, outage
):
    client.force_login(support)
    june = {"date_from": "2026-06-01", "date_to": "2026-06-30"}

    assert client.get(reverse("reliability:outage_list")).status_code == 403
    for name in ("reports:report", "reports:csv", "reports:xlsx"):
        assert client.get(reverse(name, args=["nevi_uptime"]), june).status_code == 403
    assert client.get("/api/v1/reports/nevi_uptime/", june).status_code == 403
    index = client.get(reverse("reports:index"))
    assert "nevi_uptime" not in [key for key, _ in index.context["reports"]]


def test_operator_classifies_an_outage_as_excluded_audited(client, operator, outage):
    client.force_login(operator)

    response = client.post(
        reverse("reliability:outage_classify", args=[outage.pk]),
        {
            "is_excluded": "1",
            "exclusion_reason": "vandalism",
            "note": "Cable cut, police report filed.",
            "evidence": "Police report 2026-1234",
        },
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 200
    assert "Vandalism or theft" in response.content.decode()
    outage.refresh_from_db()
    assert (outage.is_excluded, outage.exclusion_reason) == (True, "vandalism")
    assert outage.classified_by == operator
    entry = AuditLog.objects.get(action="outage.classify", object_id=str(outage.pk))
    assert entry.before["is_excluded"] is False
    assert entry.after["is_excluded"] is True


def test_excluding_without_a_note_names_the_field_and_changes_nothing(
    client, operator, outage
):
    client.force_login(operator)

    response = client.post(
        reverse("reliability:outage_classify", args=[outage.pk]),
        {"is_excluded": "1", "exclusion_reason": "grid", "note": ""},
        HTTP_HX_REQUEST="true",
    )

    assert response.status_code == 400
    assert "note: Say why the outage is excluded." in response.content.decode()
    outage.refresh_from_db()
    assert not outage.is_excluded
    assert not outage.is_classified
    assert not AuditLog.objects.filter(action="outage.classify").exists()


@pytest.mark.parametrize("role", ["finance", "support"])
def test_roles_without_classification_cannot_classify(client, request, outage, role):
    client.force_login(request.getfixturevalue(role))

    response = client.post(
        reverse("reliability:outage_classify", args=[outage.pk]),
        {"is_excluded": "1", "exclusion_reason": "grid", "note": "x"},
    )
    event = client.post(
        reverse("reliability:outage_event"),
        {
            "event_label": "Grid",
            "exclusion_reason": "grid",
            "window_start": "2026-05-10T09:00",
            "window_end": "2026-05-10T11:00",
            "stations": [outage.connector.charge_point.station_id],
        },
    )

    assert response.status_code == 403
    assert event.status_code == 403
    outage.refresh_from_db()
    assert not outage.is_classified


def test_outsider_cannot_classify_another_networks_outage(client, outsider, outage):
    client.force_login(outsider)

    response = client.post(
        reverse("reliability:outage_classify", args=[outage.pk]),
        {"is_excluded": "1", "exclusion_reason": "grid", "note": "x"},
    )

    assert response.status_code == 404
    outage.refresh_from_db()
    assert not outage.is_classified


def test_known_event_excludes_the_overlap_of_every_port(
    client, operator, outage, station_a
):
    second = Outage.objects.create(
        connector=ConnectorFactory(
            charge_point=outage.connector.charge_point, connector_id=2
        ),
        started_at=START + timedelta(hours=2),
        ended_at=None,
        cause="faulted",
    )
    client.force_login(operator)  # the operator's zone: the network's (Europe/Berlin)

    response = client.post(
        reverse("reliability:outage_event"),
        {
            "event_label": "Stadtwerke ticket 99",
            "exclusion_reason": "grid",
            "window_start": "2026-05-10T11:00",  # 09:00 UTC
            "window_end": "2026-05-10T13:00",  # 11:00 UTC
            "stations": [station_a.pk],
            "note": "Feeder outage",
        },
    )

    assert response.status_code == 302
    outage.refresh_from_db()
    second.refresh_from_db()
    assert (outage.excluded_from, outage.excluded_until) == (
        START + timedelta(hours=1),
        START + timedelta(hours=3),
    )
    assert (second.excluded_from, second.excluded_until) == (
        START + timedelta(hours=2),
        START + timedelta(hours=3),
    )
    assert AuditLog.objects.filter(action="outage.classify_event").count() == 2


def test_known_event_with_the_end_before_the_start_is_refused(
    client, operator, outage, station_a
):
    client.force_login(operator)

    response = client.post(
        reverse("reliability:outage_event"),
        {
            "event_label": "Grid",
            "exclusion_reason": "grid",
            "window_start": "2026-05-10T13:00",
            "window_end": "2026-05-10T11:00",
            "stations": [station_a.pk],
        },
    )

    assert response.status_code == 400
    assert "window_end: The end must be after the start." in response.content.decode()
    outage.refresh_from_db()
    assert not outage.is_classified


def test_outsider_gets_404_for_another_networks_station_report(
    client, outsider, station_a
):
    client.force_login(outsider)

    response = client.get(
        "/api/v1/reports/nevi_uptime/",
        {"date_from": "2026-06-01", "date_to": "2026-06-30", "station": station_a.pk},
    )

    assert response.status_code == 404


def test_xlsx_export_has_the_csv_columns_and_numbers(client, finance, connector_a):
    client.force_login(finance)
    params = {"date_from": "2026-06-01", "date_to": "2026-06-30"}

    response = client.get(reverse("reports:xlsx", args=["nevi_uptime"]), params)

    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    rows = list(sheet.iter_rows(values_only=True))
    page = client.get(reverse("reports:report", args=["nevi_uptime"]), params)
    assert list(rows[0]) == page.context["columns"]
    assert len(rows) - 1 == len(page.context["table"])
