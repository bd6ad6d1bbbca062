from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.models import AuditLog
from sessions_app.models import ChargingSession, IdToken, MeterValue, UnmatchedStop
from sessions_app.services import meter_values_record
from sessions_app.templatetags.charging_tags import duration, kw, kwh, local_time
from stations.models import OcppMessage
from stations.ocpp.v16.wire import samples_of
from tests.factories import (
    ChargePointFactory,
    ChargingSessionFactory,
    IdTokenFactory,
    StationFactory,
)

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def token_a(network_a):
    return IdTokenFactory(token="CARD-A", network=network_a, label="Fleet van")


@pytest.fixture
def session_a(charge_point_a):
    return ChargingSessionFactory(
        charge_point=charge_point_a,
        id_tag="CARD-A",
        started_at=T0,
        stopped_at=T0 + timedelta(hours=1, minutes=5),
        status="completed",
        meter_start_wh=1000,
        meter_stop_wh=13346,
        energy_wh=12346,
        stop_reason="EVDisconnected",
    )


@pytest.fixture
def unmatched_a(charge_point_a):
    return UnmatchedStop.objects.create(
        charge_point=charge_point_a,
        transaction_id=999,
        meter_stop_wh=5000,
        stopped_at=T0,
        reason="Local",
        payload={"transactionId": 999},
        received_at=T0,
    )


def _login(client, user):
    if user is not None:
        client.force_login(user)
    return client


# --- Anonymous, role and scope denials ---------------------------------------------


@pytest.mark.parametrize(
    "url_name",
    [
        "token_list",
        "token_create",
        "token_import",
        "session_list",
        "unmatched_stop_list",
    ],
)
def test_anonymous_is_sent_to_login(client, url_name):
    response = client.get(reverse(f"charging:{url_name}"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_anonymous_cannot_edit_a_token_or_resolve_a_stop(client, token_a, unmatched_a):
    response = client.post(
        reverse("charging:token_edit", args=[token_a.pk]),
        {"token": "CARD-A", "kind": "rfid", "status": "Blocked"},
    )
    assert response.status_code == 302
    response = client.post(
        reverse("charging:unmatched_stop_resolve", args=[unmatched_a.pk]),
        {"note": "x"},
    )
    assert response.status_code == 302
    token_a.refresh_from_db()
    unmatched_a.refresh_from_db()
    assert token_a.status == "Accepted"
    assert unmatched_a.resolved_at is None


@pytest.mark.parametrize("url_name", ["token_list", "token_create", "token_import"])
def test_finance_may_not_see_tokens(client, finance, url_name):
    response = _login(client, finance).get(reverse(f"charging:{url_name}"))
    assert response.status_code == 403


def test_finance_cannot_create_or_change_tokens(client, finance, token_a, network_a):
    _login(client, finance)
    response = client.post(
        reverse("charging:token_create"),
        {
            "network": network_a.pk,
            "token": "NEW1",
            "kind": "rfid",
            "status": "Accepted",
        },
    )
    assert response.status_code == 403
    response = client.post(
        reverse("charging:token_edit", args=[token_a.pk]),
        {"token": "CARD-A", "kind": "rfid", "status": "Blocked"},
    )
    assert response.status_code == 403
    response = client.post(
        reverse("charging:token_import"),
        {
            "network": network_a.pk,
            "file": SimpleUploadedFile("t.csv", b"token\nNEW2\n"),
        },
    )
    assert response.status_code == 403
    assert list(IdToken.objects.values_list("token", "status")) == [
        ("CARD-A", "Accepted")
    ]


def test_outsider_gets_404_on_network_a_objects(
    client, outsider, token_a, session_a, unmatched_a
):
    _login(client, outsider)
    assert (
        client.get(reverse("charging:token_edit", args=[token_a.pk])).status_code == 404
    )
    response = client.post(
        reverse("charging:token_edit", args=[token_a.pk]),
        {"token": "CARD-A", "kind": "rfid", "status": "Blocked"},
    )
    assert response.status_code == 404
    assert (
        client.get(reverse("charging:session_detail", args=[session_a.pk])).status_code
        == 404
    )
    response = client.post(
        reverse("charging:unmatched_stop_resolve", args=[unmatched_a.pk]),
        {"note": "mine now"},
    )
    assert response.status_code == 404
    token_a.refresh_from_db()
    unmatched_a.refresh_from_db()
    assert token_a.status == "Accepted"
    assert unmatched_a.resolved_at is None


def test_outsider_lists_show_nothing_of_network_a(
    client, outsider, token_a, session_a, unmatched_a, charge_point_b
):
    ChargingSessionFactory(charge_point=charge_point_b, id_tag="CARD-B", started_at=T0)
    _login(client, outsider)
    sessions = client.get(reverse("charging:session_list")).context["page"]
    assert [s.id_tag for s in sessions] == ["CARD-B"]
    assert list(client.get(reverse("charging:token_list")).context["page"]) == []
    stops = client.get(reverse("charging:unmatched_stop_list")).context["page"]
    assert list(stops) == []


def test_support_may_not_see_or_resolve_unmatched_stops(client, support, unmatched_a):
    _login(client, support)
    assert client.get(reverse("charging:unmatched_stop_list")).status_code == 403
    response = client.post(
        reverse("charging:unmatched_stop_resolve", args=[unmatched_a.pk]),
        {"note": "done"},
    )
    assert response.status_code == 403
    unmatched_a.refresh_from_db()
    assert unmatched_a.resolved_at is None


def test_navigation_shows_unmatched_stops_to_operations_only(client, operator, support):
    url = reverse("charging:unmatched_stop_list")
    page = _login(client, operator).get(reverse("charging:session_list"))
    assert url in [item["url"] for item in page.context["nav_items"]]
    client.logout()
    page = _login(client, support).get(reverse("charging:session_list"))
    assert url not in [item["url"] for item in page.context["nav_items"]]


# --- Tokens -----------------------------------------------------------------------


def test_support_creates_a_token_and_it_is_audited(client, support, network_a, token_a):
    _login(client, support)
    response = client.post(
        reverse("charging:token_create"),
        {
            "network": network_a.pk,
            "token": "04AABBCC",
            "kind": "rfid",
            "label": "Driver card",
            "status": "Accepted",
            "expires_at": "2027-01-31T18:00",
            "parent_token": "card-a",
            "max_concurrent_sessions": "1",
        },
    )
    assert response.status_code == 302
    created = IdToken.objects.get(token="04AABBCC")
    assert created.parent == token_a
    assert created.network == network_a
    # Wall-clock time in the network's zone (Berlin, CET = UTC+1).
    assert created.expires_at == datetime(2027, 1, 31, 17, 0, tzinfo=UTC)
    assert AuditLog.objects.filter(
        action="id_token.create", actor=support, object_id=str(created.pk)
    ).exists()


def test_token_form_errors_name_the_field_and_save_nothing(
    client, operator, network_a, network_b, token_a
):
    IdTokenFactory(token="OTHER-NET", network=network_b)
    _login(client, operator)
    response = client.post(
        reverse("charging:token_create"),
        {
            "network": network_a.pk,
            "token": "card-a",
            "kind": "rfid",
            "status": "Accepted",
            "parent_token": "OTHER-NET",
            "owner_email": "nobody@example.org",
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == {"parent_token", "owner_email"}
    response = client.post(
        reverse("charging:token_create"),
        {"network": network_b.pk, "token": "X1", "kind": "rfid", "status": "Accepted"},
    )
    assert "network" in response.context["form"].errors
    response = client.post(
        reverse("charging:token_create"),
        {
            "network": network_a.pk,
            "token": "card-a",
            "kind": "rfid",
            "status": "Accepted",
        },
    )
    assert "already exists" in str(response.context["form"].errors["token"])
    assert IdToken.objects.count() == 2


def test_operator_blocks_a_token(client, operator, token_a):
    _login(client, operator)
    response = client.post(
        reverse("charging:token_edit", args=[token_a.pk]),
        {"token": "CARD-A", "kind": "rfid", "label": "Fleet van", "status": "Blocked"},
    )
    assert response.status_code == 302
    token_a.refresh_from_db()
    assert token_a.status == "Blocked"
    entry = AuditLog.objects.get(action="id_token.update")
    assert (entry.before["status"], entry.after["status"]) == ("Accepted", "Blocked")


def test_token_list_search_and_status_filter(client, operator, network_a):
    IdTokenFactory(token="AAA1", network=network_a, status="Accepted", label="Taxi")
    IdTokenFactory(token="BBB2", network=network_a, status="Blocked", label="Taxi")
    IdTokenFactory(token="CCC3", network=network_a, status="Accepted", label="Bus")
    _login(client, operator)
    page = client.get(reverse("charging:token_list"), {"q": "taxi"}).context["page"]
    assert [t.token for t in page] == ["AAA1", "BBB2"]
    page = client.get(
        reverse("charging:token_list"), {"q": "taxi", "status": "Blocked"}
    ).context["page"]
    assert [t.token for t in page] == ["BBB2"]


def _count_queries(client, url, params=None):
    with CaptureQueriesContext(connection) as context:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(context)


def test_token_list_queries_do_not_grow_with_rows(
    client, operator, network_a, django_assert_num_queries
):
    parent = IdTokenFactory(token="GROUP", network=network_a)
    _login(client, operator)
    IdTokenFactory.create_batch(2, network=network_a, parent=parent)
    few = _count_queries(client, reverse("charging:token_list"))
    IdTokenFactory.create_batch(30, network=network_a, parent=parent, owner=operator)
    with django_assert_num_queries(few):
        client.get(reverse("charging:token_list"))


def test_token_import_page_imports_and_reports_line_errors(client, operator, network_a):
    _login(client, operator)
    url = reverse("charging:token_import")
    response = client.post(
        url,
        {
            "network": network_a.pk,
            "file": SimpleUploadedFile(
                "t.csv", b"token,status\nGOOD1,Accepted\nBAD2,Sometimes\n"
            ),
        },
    )
    assert response.status_code == 400
    assert [(e.line, e.column) for e in response.context["line_errors"]] == [
        (3, "status")
    ]
    assert b"Nothing was imported" in response.content
    assert not IdToken.objects.exists()

    response = client.post(
        url,
        {
            "network": network_a.pk,
            "file": SimpleUploadedFile("t.csv", b"token,status\nGOOD1,Accepted\n"),
        },
    )
    assert response.status_code == 302
    assert IdToken.objects.get().network == network_a


def test_token_import_refuses_a_file_that_is_not_utf8(client, operator, network_a):
    response = _login(client, operator).post(
        reverse("charging:token_import"),
        {"network": network_a.pk, "file": SimpleUploadedFile("t.csv", b"\xff\xfe\x00")},
    )
    assert "file" in response.context["form"].errors
    assert not IdToken.objects.exists()


# --- Sessions ----------------------------------------------------------------------


def test_session_list_filters(client, operator, network_a, charge_point_a, session_a):
    other_station = StationFactory(network=network_a, name="Depot")
    other_cp = ChargePointFactory(station=other_station, ocpp_id="CP-DEPOT")
    active = ChargingSessionFactory(
        charge_point=other_cp, id_tag="OTHER", started_at=T0 + timedelta(days=2)
    )
    flagged = ChargingSessionFactory(
        charge_point=charge_point_a,
        id_tag="OTHER",
        started_at=T0 + timedelta(days=1),
        has_register_regression=True,
    )
    _login(client, operator)

    def ids(**params):
        response = client.get(reverse("charging:session_list"), params)
        assert response.status_code == 200
        return [s.pk for s in response.context["page"]]

    assert ids() == [active.pk, flagged.pk, session_a.pk]
    assert ids(status="completed") == [session_a.pk]
    assert ids(status="flagged") == [flagged.pk]
    assert ids(token="card-a") == [session_a.pk]
    assert ids(charger="depot") == [active.pk]
    assert ids(station=other_station.pk) == [active.pk]
    assert ids(network=network_a.pk, date_from="2026-03-02", date_to="2026-03-02") == [
        flagged.pk
    ]
    assert ids(sort="-energy_wh")[0] == session_a.pk
    assert ids(sort="started_at") == [session_a.pk, flagged.pk, active.pk]


def test_session_list_rejects_a_bad_date_range_naming_the_field(client, operator):
    response = _login(client, operator).get(
        reverse("charging:session_list"),
        {"date_from": "2026-03-05", "date_to": "2026-03-01"},
    )
    assert response.status_code == 400
    assert "date_to" in response.context["form"].errors


def test_session_list_queries_do_not_grow_with_rows(
    client, finance, charge_point_a, django_assert_num_queries
):
    _login(client, finance)
    ChargingSessionFactory.create_batch(2, charge_point=charge_point_a)
    few = _count_queries(client, reverse("charging:session_list"))
    for station in StationFactory.create_batch(
        3, network=charge_point_a.station.network
    ):
        ChargingSessionFactory.create_batch(
            10, charge_point=ChargePointFactory(station=station)
        )
    with django_assert_num_queries(few):
        response = client.get(reverse("charging:session_list"))
    assert len(response.context["page"]) == 32


def test_session_detail_shows_energy_duration_local_times_chart_and_frames(
    client, finance, charge_point_a, token_a
):
    session = ChargingSessionFactory(
        charge_point=charge_point_a,
        id_token=token_a,
        id_tag="CARD-A",
        started_at=T0,
        meter_start_wh=1000,
    )
    meter_values_record(
        charge_point_ocpp_id=charge_point_a.ocpp_id,
        connector_id=1,
        transaction_id=session.pk,
        samples=samples_of(
            [
                {
                    "timestamp": (T0 + timedelta(minutes=m)).isoformat(),
                    "sampledValue": [
                        {"value": str(1000 + 120 * m), "unit": "Wh"},
                        {
                            "value": "7.2",
                            "unit": "kW",
                            "measurand": "Power.Active.Import",
                        },
                        {"value": str(40 + m), "unit": "Percent", "measurand": "SoC"},
                    ],
                }
                for m in range(1, 4)
            ],
            received_at=T0,
        ),
        received_at=T0 + timedelta(minutes=4),
    )
    OcppMessage.objects.create(
        charge_point=charge_point_a,
        ocpp_id=charge_point_a.ocpp_id,
        direction="in",
        message_type=2,
        unique_id="mv-1",
        action="MeterValues",
        payload={"connectorId": 1, "transactionId": session.pk, "meterValue": []},
        at=session.created_at + timedelta(seconds=1),
    )
    OcppMessage.objects.create(
        charge_point=charge_point_a,
        ocpp_id=charge_point_a.ocpp_id,
        direction="out",
        message_type=3,
        unique_id="mv-1",
        action="MeterValues",
        payload={},
        at=session.created_at + timedelta(seconds=2),
    )
    OcppMessage.objects.create(  # another transaction's frame is not shown
        charge_point=charge_point_a,
        ocpp_id=charge_point_a.ocpp_id,
        direction="in",
        message_type=2,
        unique_id="mv-2",
        action="MeterValues",
        payload={"connectorId": 1, "transactionId": session.pk + 1000},
        at=session.created_at + timedelta(seconds=3),
    )
    response = _login(client, finance).get(
        reverse("charging:session_detail", args=[session.pk])
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "0.36 kWh" in html  # 360 Wh delivered so far
    assert "7.20 kW" in html
    assert "43 %" in html
    # Station time (Europe/Berlin) with the zone's label.
    assert "2026-03-01 11:00:00 CET" in html
    chart = json.loads(
        html.split('id="session-chart-data" type="application/json">')[1].split(
            "</script>"
        )[0]
    )
    assert chart["energy_kwh"] == [0.12, 0.24, 0.36]
    assert chart["power_kw"] == [7.2, 7.2, 7.2]
    assert chart["labels"] == ["11:01:00", "11:02:00", "11:03:00"]
    assert [(f.unique_id, f.direction) for f in response.context["frames"]] == [
        ("mv-1", "in"),
        ("mv-1", "out"),
    ]
    assert response.context["meter_values"].paginator.count == 9
    assert MeterValue.objects.filter(session=session).count() == 9


# --- Unmatched stops -----------------------------------------------------------------


def test_operator_resolves_an_unmatched_stop_with_audit(client, operator, unmatched_a):
    _login(client, operator)
    url = reverse("charging:unmatched_stop_resolve", args=[unmatched_a.pk])
    response = client.post(url, {"note": "Matched to session 12 by hand"})
    assert response.status_code == 302
    unmatched_a.refresh_from_db()
    assert unmatched_a.resolved_by == operator
    assert unmatched_a.resolution_note == "Matched to session 12 by hand"
    assert AuditLog.objects.filter(action="unmatched_stop.resolve").count() == 1
    # Open list no longer shows it; the resolved one does.
    assert (
        list(client.get(reverse("charging:unmatched_stop_list")).context["page"]) == []
    )
    resolved = client.get(
        reverse("charging:unmatched_stop_list"), {"state": "resolved"}
    )
    assert list(resolved.context["page"]) == [unmatched_a]
    # Resolving again changes nothing.
    client.post(url, {"note": "again"})
    unmatched_a.refresh_from_db()
    assert unmatched_a.resolution_note == "Matched to session 12 by hand"
    assert AuditLog.objects.filter(action="unmatched_stop.resolve").count() == 1


def test_resolving_without_a_note_is_refused_naming_the_field(
    client, operator, unmatched_a
):
    response = _login(client, operator).post(
        reverse("charging:unmatched_stop_resolve", args=[unmatched_a.pk]), {"note": ""}
    )
    assert response.status_code == 400
    assert "note" in response.context["resolve_form"].errors
    unmatched_a.refresh_from_db()
    assert unmatched_a.resolved_at is None


# --- Display filters -------------------------------------------------------------------


def test_local_time_shows_station_time_with_zone_label():
    summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
    assert local_time(summer, "Europe/Berlin") == "2026-07-01 14:00:00 CEST"
    assert local_time(summer, "America/New_York") == "2026-07-01 08:00:00 EDT"
    assert local_time(summer, None) == "2026-07-01 12:00:00 UTC"
    assert local_time(None, "UTC") == "—"


def test_unit_filters():
    assert kwh(12345) == "12.35"
    assert kw(7200.0) == "7.20"
    assert duration(3900) == "1 h 05 min"
    assert duration(750) == "12 min 30 s"
    assert kwh(None) == kw(None) == duration(None) == "—"


def test_session_without_station_shows_utc(client, operator, charge_point_a):
    unassigned = ChargePointFactory(station=None, ocpp_id="NEW-CP")
    session = ChargingSession.objects.create(
        charge_point=unassigned,
        connector_number=1,
        id_tag="X",
        meter_start_wh=0,
        started_at=T0,
    )
    response = _login(client, operator).get(
        reverse("charging:session_detail", args=[session.pk])
    )
    assert response.status_code == 200
    assert "2026-03-01 10:00:00 UTC" in response.content.decode()
