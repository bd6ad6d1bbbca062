"""Portal pages of the charging network: permissions, forms, figures and queries."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog
from sessions_app.models import ChargingSession
from stations.live.selectors import network_overview, station_utilization_today
from stations.models import (
    ChargePoint,
    Connector,
    Network,
    OcppMessage,
    RegistrationStatus,
    Station,
    StatusChange,
)
from tests.factories import (
    ChargePointFactory,
    ChargingSessionFactory,
    ConnectorFactory,
    IdTokenFactory,
    StationFactory,
)

pytestmark = pytest.mark.django_db

ROLES = ["anonymous", "operator", "support", "finance", "administrator", "outsider"]


@pytest.fixture
def unassigned_charger(db: None) -> ChargePoint:
    return ChargePointFactory(
        ocpp_id="NEW-CP-9", station=None, registration_status=RegistrationStatus.PENDING
    )


@pytest.fixture
def pending_charger(station_a: Station) -> ChargePoint:
    return ChargePointFactory(
        ocpp_id="CP-A-PENDING",
        station=station_a,
        registration_status=RegistrationStatus.PENDING,
    )


@pytest.fixture
def world(
    network_a: Network,
    network_b: Network,
    station_a: Station,
    station_b: Station,
    charge_point_a: ChargePoint,
    charge_point_b: ChargePoint,
    connector_a: Connector,
    unassigned_charger: ChargePoint,
    pending_charger: ChargePoint,
) -> dict[str, Any]:
    return {
        "network_a": network_a,
        "network_b": network_b,
        "station_a": station_a,
        "station_b": station_b,
        "cp_a": charge_point_a,
        "cp_b": charge_point_b,
        "connector_a": connector_a,
        "unassigned": unassigned_charger,
        "pending": pending_charger,
    }


def client_for(role: str, request: pytest.FixtureRequest) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(request.getfixturevalue(role))
    return client


def state() -> tuple[Any, ...]:
    """Everything a portal write could change."""
    return (
        list(
            Network.objects.order_by("pk").values_list(
                "pk", "name", "currency", "time_zone"
            )
        ),
        list(
            Station.objects.order_by("pk").values_list(
                "pk", "name", "network_id", "time_zone", "latitude"
            )
        ),
        list(
            ChargePoint.objects.order_by("pk").values_list(
                "pk",
                "ocpp_id",
                "station_id",
                "display_name",
                "registration_status",
                "password_hash",
                "heartbeat_interval_s",
            )
        ),
        list(
            Connector.objects.order_by("pk").values_list(
                "pk", "connector_id", "connector_type", "max_power_kw"
            )
        ),
        AuditLog.objects.count(),
    )


# --- pages (GET) ------------------------------------------------------------------

OK, FORBIDDEN, MISSING = 200, 403, 404
ALL_OK = dict.fromkeys(ROLES[1:], OK)
STAFF_ONLY = {  # operations and administrators (change permissions); outsider in scope
    "operator": OK,
    "support": FORBIDDEN,
    "finance": FORBIDDEN,
    "administrator": OK,
    "outsider": OK,
}
A_OBJECT_VIEW = {**ALL_OK, "outsider": MISSING}
A_OBJECT_CHANGE = {**STAFF_ONLY, "outsider": MISSING}
ADMIN_ONLY = {
    "operator": FORBIDDEN,
    "support": FORBIDDEN,
    "finance": FORBIDDEN,
    "administrator": OK,
    "outsider": FORBIDDEN,
}

PAGES: list[tuple[str, Callable[[dict[str, Any]], str], dict[str, int]]] = [
    ("overview", lambda w: reverse("stations:overview"), ALL_OK),
    ("live board", lambda w: reverse("stations:live_board"), ALL_OK),
    ("search", lambda w: reverse("stations:search") + "?q=CP", ALL_OK),
    ("network list", lambda w: reverse("stations:network_list"), ALL_OK),
    (
        "network detail",
        lambda w: reverse("stations:network_detail", args=[w["network_a"].pk]),
        A_OBJECT_VIEW,
    ),
    ("network create", lambda w: reverse("stations:network_create"), ADMIN_ONLY),
    (
        "network edit",
        lambda w: reverse("stations:network_edit", args=[w["network_a"].pk]),
        {**ADMIN_ONLY, "outsider": MISSING},
    ),
    ("station list", lambda w: reverse("stations:station_list"), ALL_OK),
    (
        "station detail",
        lambda w: reverse("stations:station_detail", args=[w["station_a"].pk]),
        A_OBJECT_VIEW,
    ),
    ("station create", lambda w: reverse("stations:station_create"), STAFF_ONLY),
    (
        "station edit",
        lambda w: reverse("stations:station_edit", args=[w["station_a"].pk]),
        A_OBJECT_CHANGE,
    ),
    ("charge point list", lambda w: reverse("stations:charge_point_list"), ALL_OK),
    (
        "charge point detail",
        lambda w: reverse("stations:charge_point_detail", args=[w["cp_a"].pk]),
        A_OBJECT_VIEW,
    ),
    (
        "charge point register",
        lambda w: reverse("stations:charge_point_create"),
        STAFF_ONLY,
    ),
    (
        "charge point edit",
        lambda w: reverse("stations:charge_point_edit", args=[w["cp_a"].pk]),
        A_OBJECT_CHANGE,
    ),
    (
        # Unassigned chargers are visible only with manage_unassigned: 404 otherwise.
        "charge point assign",
        lambda w: reverse("stations:charge_point_assign", args=[w["unassigned"].pk]),
        {**STAFF_ONLY, "support": MISSING, "finance": MISSING},
    ),
    ("unassigned list", lambda w: reverse("stations:unassigned_list"), STAFF_ONLY),
    (
        "connector create",
        lambda w: reverse("stations:connector_create", args=[w["cp_a"].pk]),
        A_OBJECT_CHANGE,
    ),
    (
        "connector edit",
        lambda w: reverse("stations:connector_edit", args=[w["connector_a"].pk]),
        A_OBJECT_CHANGE,
    ),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("page", "url", "expected"), PAGES, ids=[page[0] for page in PAGES]
)
def test_page_access_follows_role_and_scope(
    request: pytest.FixtureRequest,
    world: dict[str, Any],
    role: str,
    page: str,
    url: Callable[[dict[str, Any]], str],
    expected: dict[str, int],
) -> None:
    response = client_for(role, request).get(url(world))
    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))
    else:
        assert response.status_code == expected[role], page


# --- actions (POST) -----------------------------------------------------------------

POSTED, BAD_FORM = 302, 400

ACTIONS: list[
    tuple[
        str,
        Callable[[dict[str, Any]], str],
        Callable[[dict[str, Any]], dict[str, Any]],
        dict[str, int],
    ]
] = [
    (
        "network create",
        lambda w: reverse("stations:network_create"),
        lambda w: {"name": "Network C", "currency": "EUR", "time_zone": "UTC"},
        {**ADMIN_ONLY, "administrator": POSTED},
    ),
    (
        "network edit",
        lambda w: reverse("stations:network_edit", args=[w["network_a"].pk]),
        lambda w: {"name": "Renamed", "currency": "CHF", "time_zone": "Europe/Zurich"},
        {**ADMIN_ONLY, "administrator": POSTED, "outsider": MISSING},
    ),
    (
        # The outsider may create stations, but not in network A: a form error.
        "station create",
        lambda w: reverse("stations:station_create"),
        lambda w: {
            "network": w["network_a"].pk,
            "name": "Harbour",
            "country": "DE",
            "time_zone": "Europe/Berlin",
        },
        {
            **STAFF_ONLY,
            "operator": POSTED,
            "administrator": POSTED,
            "outsider": BAD_FORM,
        },
    ),
    (
        "station edit",
        lambda w: reverse("stations:station_edit", args=[w["station_a"].pk]),
        lambda w: {
            "network": w["network_a"].pk,
            "name": "City Mall North",
            "country": "DE",
            "time_zone": "Europe/Berlin",
        },
        {**A_OBJECT_CHANGE, "operator": POSTED, "administrator": POSTED},
    ),
    (
        "charge point register",
        lambda w: reverse("stations:charge_point_create"),
        lambda w: {
            "ocpp_id": "CP-A-NEW",
            "station": w["station_a"].pk,
            "display_name": "Bay 7",
            "password": "secret-pass-123",
            "heartbeat_interval_s": 120,
        },
        {
            **STAFF_ONLY,
            "operator": POSTED,
            "administrator": POSTED,
            "outsider": BAD_FORM,
        },
    ),
    (
        "charge point edit",
        lambda w: reverse("stations:charge_point_edit", args=[w["cp_a"].pk]),
        lambda w: {
            "station": w["station_a"].pk,
            "display_name": "Renamed",
            "heartbeat_interval_s": 60,
        },
        {**A_OBJECT_CHANGE, "operator": POSTED, "administrator": POSTED},
    ),
    (
        "charge point approve",
        lambda w: reverse("stations:charge_point_approve", args=[w["pending"].pk]),
        lambda w: {},
        {**A_OBJECT_CHANGE, "operator": POSTED, "administrator": POSTED},
    ),
    (
        "charge point reject",
        lambda w: reverse("stations:charge_point_reject", args=[w["pending"].pk]),
        lambda w: {},
        {**A_OBJECT_CHANGE, "operator": POSTED, "administrator": POSTED},
    ),
    (
        "charge point assign",
        lambda w: reverse("stations:charge_point_assign", args=[w["unassigned"].pk]),
        lambda w: {"station": w["station_a"].pk},
        {
            **STAFF_ONLY,
            "operator": POSTED,
            "administrator": POSTED,
            "support": MISSING,
            "finance": MISSING,
            "outsider": BAD_FORM,
        },
    ),
    (
        "connector create",
        lambda w: reverse("stations:connector_create", args=[w["cp_a"].pk]),
        lambda w: {"connector_id": 2, "connector_type": "CCS2", "max_power_kw": "150"},
        {**A_OBJECT_CHANGE, "operator": POSTED, "administrator": POSTED},
    ),
    (
        "connector edit",
        lambda w: reverse("stations:connector_edit", args=[w["connector_a"].pk]),
        lambda w: {"connector_id": 1, "connector_type": "CCS2", "max_power_kw": "50"},
        {**A_OBJECT_CHANGE, "operator": POSTED, "administrator": POSTED},
    ),
    (
        "connector delete",
        lambda w: reverse("stations:connector_delete", args=[w["connector_a"].pk]),
        lambda w: {},
        {**A_OBJECT_CHANGE, "operator": POSTED, "administrator": POSTED},
    ),
]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    ("action", "url", "data", "expected"), ACTIONS, ids=[a[0] for a in ACTIONS]
)
def test_action_is_refused_without_role_or_scope_and_changes_nothing(
    request: pytest.FixtureRequest,
    world: dict[str, Any],
    role: str,
    action: str,
    url: Callable[[dict[str, Any]], str],
    data: Callable[[dict[str, Any]], dict[str, Any]],
    expected: dict[str, int],
) -> None:
    client = client_for(role, request)
    before = state()
    response = client.post(url(world), data(world))
    if role == "anonymous":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("accounts:login"))
        assert state() == before
        return
    assert response.status_code == expected[role], action
    if expected[role] == POSTED:
        after = state()
        assert after != before
        assert after[-1] == before[-1] + 1  # one audit entry per write
    else:
        assert state() == before


def test_user_without_a_role_is_refused_the_overview(no_role_user) -> None:
    client = Client()
    client.force_login(no_role_user)
    assert client.get(reverse("stations:overview")).status_code == 403


# --- forms --------------------------------------------------------------------------


def _login(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("latitude", "91", "less than or equal to 90"),
        ("longitude", "-181", "greater than or equal to -180"),
        ("time_zone", "Mars/Olympus", "not a known IANA time zone"),
        ("power_limit_kw", "-5", "greater than or equal to 0.01"),
        ("country", "de", "two-letter"),
    ],
)
def test_station_form_names_the_bad_field(
    client, operator, network_a, field, value, message
) -> None:
    data = {
        "network": network_a.pk,
        "name": "Depot",
        "country": "DE",
        "time_zone": "Europe/Berlin",
        field: value,
    }
    response = _login(client, operator).post(reverse("stations:station_create"), data)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert f'id="id_{field}_errors"' in response.content.decode()
    assert not Station.objects.filter(name="Depot").exists()


def test_station_with_a_duplicate_name_in_its_network_is_a_form_error(
    client, operator, station_a
) -> None:
    data = {
        "network": station_a.network_id,
        "name": station_a.name,
        "country": "DE",
        "time_zone": "Europe/Berlin",
    }
    response = _login(client, operator).post(reverse("stations:station_create"), data)
    assert response.status_code == 400
    assert Station.objects.filter(name=station_a.name).count() == 1


def test_network_form_rejects_unknown_time_zone_and_currency(
    client, administrator
) -> None:
    response = _login(client, administrator).post(
        reverse("stations:network_create"),
        {"name": "Network Z", "currency": "euro", "time_zone": "Nowhere/City"},
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert "time_zone" in errors
    assert "currency" in errors
    assert not Network.objects.filter(name="Network Z").exists()


def test_negative_connector_power_is_a_form_error(
    client, operator, charge_point_a
) -> None:
    response = _login(client, operator).post(
        reverse("stations:connector_create", args=[charge_point_a.pk]),
        {"connector_id": 1, "connector_type": "CCS2", "max_power_kw": "-22"},
    )
    assert response.status_code == 400
    assert "max_power_kw" in response.context["form"].errors
    assert not charge_point_a.connectors.exists()


def test_duplicate_connector_number_is_a_form_error_not_a_500(
    client, operator, connector_a
) -> None:
    response = _login(client, operator).post(
        reverse("stations:connector_create", args=[connector_a.charge_point_id]),
        {"connector_id": 1, "connector_type": "CCS2", "max_power_kw": "50"},
    )
    assert response.status_code == 400
    assert "already has a connector with this number" in " ".join(
        response.context["form"].errors["connector_id"]
    )
    assert Connector.objects.filter(charge_point=connector_a.charge_point).count() == 1


def test_duplicate_ocpp_identity_is_a_form_error(
    client, operator, station_a, charge_point_b
) -> None:
    response = _login(client, operator).post(
        reverse("stations:charge_point_create"),
        {
            "ocpp_id": charge_point_b.ocpp_id,  # exists in another network
            "station": station_a.pk,
            "heartbeat_interval_s": 300,
        },
    )
    assert response.status_code == 400
    assert "ocpp_id" in response.context["form"].errors
    assert ChargePoint.objects.filter(ocpp_id=charge_point_b.ocpp_id).count() == 1


def test_registered_charger_password_is_stored_hashed_and_never_shown(
    client, operator, station_a
) -> None:
    _login(client, operator).post(
        reverse("stations:charge_point_create"),
        {
            "ocpp_id": "CP-SECRET",
            "station": station_a.pk,
            "password": "very-secret-42",
            "heartbeat_interval_s": 300,
        },
    )
    charge_point = ChargePoint.objects.get(ocpp_id="CP-SECRET")
    assert charge_point.check_password("very-secret-42")
    assert "very-secret-42" not in charge_point.password_hash
    edit_page = client.get(
        reverse("stations:charge_point_edit", args=[charge_point.pk])
    )
    detail_page = client.get(
        reverse("stations:charge_point_detail", args=[charge_point.pk])
    )
    for page in (edit_page, detail_page):
        assert "very-secret-42" not in page.content.decode()
        assert charge_point.password_hash not in page.content.decode()
    entry = AuditLog.objects.get(action="charge_point.register")
    assert "password_hash" not in entry.after


def test_editing_a_charger_keeps_its_password_unless_a_new_one_is_given(
    client, operator, station_a
) -> None:
    charge_point = ChargePointFactory(station=station_a, password="first-pass-1")
    url = reverse("stations:charge_point_edit", args=[charge_point.pk])
    _login(client, operator).post(
        url, {"station": station_a.pk, "display_name": "X", "heartbeat_interval_s": 300}
    )
    charge_point.refresh_from_db()
    assert charge_point.check_password("first-pass-1")
    client.post(
        url,
        {
            "station": station_a.pk,
            "heartbeat_interval_s": 300,
            "password": "second-pass-2",
        },
    )
    charge_point.refresh_from_db()
    assert charge_point.check_password("second-pass-2")
    client.post(
        url,
        {"station": station_a.pk, "heartbeat_interval_s": 300, "clear_password": "on"},
    )
    charge_point.refresh_from_db()
    assert charge_point.password_hash == ""


def test_audit_entry_records_before_and_after(client, operator, station_a) -> None:
    _login(client, operator).post(
        reverse("stations:station_edit", args=[station_a.pk]),
        {
            "network": station_a.network_id,
            "name": "City Mall East",
            "country": "DE",
            "time_zone": "Europe/Berlin",
        },
    )
    entry = AuditLog.objects.get(action="station.update")
    assert entry.actor == operator
    assert entry.before["name"] == "City Mall"
    assert entry.after["name"] == "City Mall East"
    assert entry.network_id == station_a.network_id


# --- unassigned chargers --------------------------------------------------------------


def test_unassigned_charger_is_assigned_then_accepted(
    client, operator, station_a, unassigned_charger
) -> None:
    _login(client, operator)
    listing = client.get(reverse("stations:unassigned_list"))
    assert unassigned_charger.ocpp_id in listing.content.decode()
    client.post(
        reverse("stations:charge_point_assign", args=[unassigned_charger.pk]),
        {"station": station_a.pk},
    )
    client.post(reverse("stations:charge_point_approve", args=[unassigned_charger.pk]))
    unassigned_charger.refresh_from_db()
    assert unassigned_charger.station == station_a
    assert unassigned_charger.registration_status == RegistrationStatus.ACCEPTED
    listing = client.get(reverse("stations:unassigned_list"))
    assert f'id="unassigned-{unassigned_charger.pk}"' not in listing.content.decode()


def test_approving_twice_records_one_audit_entry(
    client, operator, unassigned_charger
) -> None:
    _login(client, operator)
    url = reverse("stations:charge_point_approve", args=[unassigned_charger.pk])
    client.post(url)
    client.post(url)
    assert AuditLog.objects.filter(action="charge_point.approve").count() == 1


def test_approve_needs_post(client, operator, pending_charger) -> None:
    response = _login(client, operator).get(
        reverse("stations:charge_point_approve", args=[pending_charger.pk])
    )
    assert response.status_code == 405
    pending_charger.refresh_from_db()
    assert pending_charger.registration_status == RegistrationStatus.PENDING


# --- figures ---------------------------------------------------------------------------


def test_overview_counts_connectors_of_offline_chargers_as_offline(
    network_a, station_a
) -> None:
    online = ChargePointFactory(station=station_a, is_online=True)
    offline = ChargePointFactory(station=station_a, is_online=False)
    ConnectorFactory(charge_point=online, connector_id=1, status="Available")
    ConnectorFactory(charge_point=online, connector_id=2, status="Charging")
    ConnectorFactory(charge_point=online, connector_id=3, status="Faulted")
    ConnectorFactory(charge_point=offline, connector_id=1, status="Available")
    ChargingSessionFactory(charge_point=online, connector_number=2, power_w=11000.0)

    figures = network_overview(networks=[network_a])

    counts = {item.status: item.count for item in figures.status_counts}
    assert counts["Available"] == 1
    assert counts["Charging"] == 1
    assert counts["Faulted"] == 1
    assert counts["Offline"] == 1
    assert figures.availability_percent == Decimal("50.0")
    assert figures.active_sessions == 1
    assert figures.power_now_kw == Decimal("11.00")
    assert figures.charge_points_offline == 1


def test_overview_counts_unresolved_alerts_of_the_users_networks(
    client, operator, network_a, network_b
) -> None:
    alert_model = pytest.importorskip("alerts.models").Alert

    def alert(network: Network, status: str) -> None:
        alert_model.objects.create(
            rule="connector_faulted",
            subject_key=f"test:{network.pk}:{status}",
            network=network,
            severity="major",
            status=status,
            title="Connector faulted",
            opened_at=timezone.now(),
        )

    alert(network_a, "open")
    alert(network_a, "acknowledged")
    alert(network_a, "resolved")
    alert(network_b, "open")
    response = _login(client, operator).get(reverse("stations:overview"))
    assert response.context["figures"].open_alerts == 2
    assert 'data-testid="open-alerts"' in response.content.decode()


def test_energy_today_uses_the_network_calendar_day(network_a, station_a) -> None:
    # 2026-03-02 00:30 in Berlin is 2026-03-01 23:30 UTC.
    now = dt.datetime(2026, 3, 2, 0, 30, tzinfo=dt.UTC)
    charge_point = ChargePointFactory(station=station_a)
    ChargingSessionFactory(
        charge_point=charge_point,
        started_at=dt.datetime(2026, 3, 1, 23, 15, tzinfo=dt.UTC),  # today in Berlin
        energy_wh=7500,
        status="completed",
    )
    ChargingSessionFactory(
        charge_point=charge_point,
        id_tag="OTHER",
        started_at=dt.datetime(2026, 3, 1, 22, 50, tzinfo=dt.UTC),  # yesterday there
        energy_wh=9999,
        status="completed",
    )
    figures = network_overview(networks=[network_a], now=now)
    assert figures.energy_today_kwh == Decimal("7.50")


def test_overview_shows_only_the_users_networks(
    client, outsider, station_a, station_b
) -> None:
    ConnectorFactory(
        charge_point=ChargePointFactory(station=station_a), status="Faulted"
    )
    response = _login(client, outsider).get(reverse("stations:overview"))
    assert response.context["figures"].connectors_total == 0
    assert "Network A" not in response.content.decode()


def test_station_utilization_counts_occupied_connector_time_since_midnight(
    station_a,
) -> None:
    tz = dt.timezone(dt.timedelta(hours=1))  # Berlin in winter
    now = dt.datetime(2026, 1, 10, 12, 0, tzinfo=tz)
    midnight = dt.datetime(2026, 1, 10, 0, 0, tzinfo=tz)
    charge_point = ChargePointFactory(station=station_a)
    busy = ConnectorFactory(charge_point=charge_point, connector_id=1)
    ConnectorFactory(charge_point=charge_point, connector_id=2)  # idle all day

    def change(status: str, at: dt.datetime) -> None:
        StatusChange.objects.create(
            connector=busy, status=status, at=at, received_at=at
        )

    change("Charging", midnight - dt.timedelta(hours=2))  # charging since yesterday
    change("Available", midnight + dt.timedelta(hours=3))
    change("Preparing", midnight + dt.timedelta(hours=6))
    change("Charging", midnight + dt.timedelta(hours=7))
    change("Finishing", midnight + dt.timedelta(hours=9))

    utilization = station_utilization_today(station=station_a, now=now)

    # Occupied 3 h + 6 h of 24 connector-hours; charging 3 h + 2 h.
    assert utilization.occupied_percent == Decimal("37.5")
    assert utilization.charging_percent == Decimal("20.8")


def test_utilization_counts_a_status_without_history_from_its_timestamp(
    station_a,
) -> None:
    tz = dt.timezone(dt.timedelta(hours=1))
    now = dt.datetime(2026, 1, 10, 12, 0, tzinfo=tz)
    charge_point = ChargePointFactory(station=station_a)
    ConnectorFactory(
        charge_point=charge_point,
        status="Charging",
        status_at=dt.datetime(2026, 1, 10, 9, 0, tzinfo=tz),
    )

    utilization = station_utilization_today(station=station_a, now=now)

    assert utilization.charging_percent == Decimal("25.0")  # 3 h of 12 h


def test_station_page_shows_times_in_the_station_zone_with_units(
    client, operator, station_a
) -> None:
    charge_point = ChargePointFactory(station=station_a, is_online=True)
    ConnectorFactory(
        charge_point=charge_point,
        status="Charging",
        status_at=dt.datetime(2026, 7, 1, 10, 0, tzinfo=dt.UTC),
        max_power_kw=Decimal("150"),
    )
    ChargingSessionFactory(charge_point=charge_point, power_w=48250.0, energy_wh=12345)
    html = (
        _login(client, operator)
        .get(reverse("stations:station_detail", args=[station_a.pk]))
        .content.decode()
    )
    assert "2026-07-01 12:00:00 CEST" in html
    assert "48.25 kW" in html
    assert "12.35 kWh" in html
    assert "150.00 kW" in html


# --- live board, timeline, search -----------------------------------------------------


def test_live_board_filters_by_status_including_offline(
    client, operator, station_a
) -> None:
    online = ChargePointFactory(station=station_a, ocpp_id="ON-1", is_online=True)
    offline = ChargePointFactory(station=station_a, ocpp_id="OFF-1", is_online=False)
    faulted = ConnectorFactory(charge_point=online, status="Faulted")
    dark = ConnectorFactory(charge_point=offline, status="Available")
    _login(client, operator)
    html = client.get(
        reverse("stations:live_board") + "?status=Offline"
    ).content.decode()
    assert f'id="connector-{dark.pk}"' in html
    assert f'id="connector-{faulted.pk}"' not in html
    html = client.get(
        reverse("stations:live_board") + "?status=Faulted"
    ).content.decode()
    assert f'id="connector-{faulted.pk}"' in html


def test_live_board_socket_names_only_the_rows_of_its_page(
    client, operator, station_a
) -> None:
    charge_point = ChargePointFactory(station=station_a, ocpp_id="PAGED-1")
    connectors = [
        ConnectorFactory(charge_point=charge_point, connector_id=number)
        for number in range(1, 56)
    ]
    _login(client, operator)
    first = client.get(reverse("stations:live_board")).context["live_path"]
    second = client.get(reverse("stations:live_board") + "?page=2").context["live_path"]
    first_rows = {int(pk) for pk in first.split("rows=")[1].split(",")}
    second_rows = {int(pk) for pk in second.split("rows=")[1].split(",")}
    assert len(first_rows) == 50
    assert len(second_rows) == 5
    assert first_rows | second_rows == {connector.pk for connector in connectors}


def test_live_board_of_another_network_is_not_found(
    client, operator, network_b
) -> None:
    response = _login(client, operator).get(
        reverse("stations:live_board") + f"?network={network_b.pk}"
    )
    assert response.status_code == 404


def test_message_timeline_is_searchable_paged_and_pretty(
    client, operator, charge_point_a
) -> None:
    now = timezone.now()
    OcppMessage.objects.bulk_create(
        [
            OcppMessage(
                charge_point=charge_point_a,
                ocpp_id=charge_point_a.ocpp_id,
                direction="in",
                message_type=2,
                unique_id=f"hb-{i}",
                action="Heartbeat",
                payload={},
                at=now - dt.timedelta(seconds=i),
            )
            for i in range(60)
        ]
        + [
            OcppMessage(
                charge_point=charge_point_a,
                ocpp_id=charge_point_a.ocpp_id,
                direction="in",
                message_type=2,
                unique_id="boot-1",
                action="BootNotification",
                payload={"chargePointVendor": "ACME", "chargePointModel": "X"},
                at=now - dt.timedelta(hours=1),
            )
        ]
    )
    url = reverse("stations:charge_point_detail", args=[charge_point_a.pk])
    _login(client, operator)
    first = client.get(url)
    assert (
        len(first.context["message_page"].object_list) == 25
    )  # the timeline is paged by 25
    assert first.context["message_page"].paginator.count == 61
    found = client.get(url + "?q=boot")
    assert [m.unique_id for m in found.context["message_page"]] == ["boot-1"]
    assert "&quot;chargePointVendor&quot;: &quot;ACME&quot;" in found.content.decode()
    by_id = client.get(url + "?q=hb-7")
    assert [m.unique_id for m in by_id.context["message_page"]] == ["hb-7"]


def test_charge_point_page_includes_the_command_console(
    client, operator, charge_point_a
) -> None:
    response = _login(client, operator).get(
        reverse("stations:charge_point_detail", args=[charge_point_a.pk])
    )
    assert response.status_code == 200
    assert response.context["command_console_template"] == (
        "stations/commands/console.html"
    )
    assert 'id="command-console"' in response.content.decode()


def test_search_finds_chargers_stations_tokens_and_sessions_in_scope(
    client, operator, network_a, station_a, charge_point_a, charge_point_b
) -> None:
    IdTokenFactory(token="RFID-A-77", network=network_a)
    IdTokenFactory(token="RFID-B-77", network=charge_point_b.station.network)
    session = ChargingSessionFactory(charge_point=charge_point_a)
    _login(client, operator)

    results = client.get(reverse("stations:search") + "?q=CP-").context["results"]
    assert [cp.ocpp_id for cp in results["charge_points"]] == ["CP-A-01"]
    results = client.get(reverse("stations:search") + "?q=mall").context["results"]
    assert results["stations"] == [station_a]
    results = client.get(reverse("stations:search") + "?q=RFID").context["results"]
    assert [t.token for t in results["tokens"]] == ["RFID-A-77"]
    results = client.get(reverse("stations:search") + f"?q={session.pk}").context[
        "results"
    ]
    assert results["sessions"] == [session]


def test_search_does_not_reveal_other_networks(
    client, outsider, charge_point_a
) -> None:
    session = ChargingSessionFactory(charge_point=charge_point_a)
    _login(client, outsider)
    for query in ("CP-A-01", "City Mall", str(session.pk)):
        response = client.get(reverse("stations:search"), {"q": query})
        assert response.context["total"] == 0


# --- queries do not grow with rows --------------------------------------------------


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    "url_name",
    [
        "stations:live_board",
        "stations:station_list",
        "stations:charge_point_list",
        "stations:network_list",
        "stations:overview",
        "stations:unassigned_list",
    ],
)
def test_list_pages_use_a_fixed_number_of_queries(
    client, operator, network_a, url_name, django_assert_num_queries
) -> None:
    def grow(n: int) -> None:
        for _ in range(n):
            station = StationFactory(network=network_a)
            charge_point = ChargePointFactory(station=station, is_online=True)
            ConnectorFactory(charge_point=charge_point, connector_id=1)
            ConnectorFactory(
                charge_point=charge_point, connector_id=2, status="Charging"
            )
            ChargingSessionFactory(charge_point=charge_point, connector_number=2)
            ChargePointFactory(station=None)

    _login(client, operator)
    url = reverse(url_name)
    grow(2)
    small = _queries(client, url)
    grow(6)
    with django_assert_num_queries(small):
        client.get(url)


def test_station_and_charge_point_pages_use_a_fixed_number_of_queries(
    client, operator, station_a, django_assert_num_queries
) -> None:
    charge_point = ChargePointFactory(station=station_a, is_online=True)
    _login(client, operator)

    def add_connectors(first: int, count: int) -> None:
        for number in range(first, first + count):
            ConnectorFactory(charge_point=charge_point, connector_id=number)
            ChargingSessionFactory(charge_point=charge_point, connector_number=number)

    add_connectors(1, 2)
    station_url = reverse("stations:station_detail", args=[station_a.pk])
    cp_url = reverse("stations:charge_point_detail", args=[charge_point.pk])
    station_queries = _queries(client, station_url)
    cp_queries = _queries(client, cp_url)
    add_connectors(3, 5)
    with django_assert_num_queries(station_queries):
        client.get(station_url)
    with django_assert_num_queries(cp_queries):
        client.get(cp_url)


def test_active_sessions_show_on_the_board(client, operator, station_a) -> None:
    charge_point = ChargePointFactory(station=station_a, is_online=True)
    connector = ConnectorFactory(charge_point=charge_point, status="Charging")
    session = ChargingSessionFactory(
        charge_point=charge_point, id_tag="TAG-LIVE", power_w=7200.0, energy_wh=3300
    )
    html = _login(client, operator).get(reverse("stations:live_board")).content.decode()
    row = html.split(f'id="connector-{connector.pk}"')[1].split("</tr>")[0]
    assert f"#{session.pk}" in row
    assert "TAG-LIVE" in row
    assert "7.20 kW" in row
    assert "3.30 kWh" in row
    assert ChargingSession.objects.count() == 1
