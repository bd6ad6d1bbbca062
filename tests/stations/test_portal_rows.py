"""The connector row as the board, station pages and live socket render it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse, set_script_prefix

from stations.live.rows import connector_row_html
from stations.live.selectors import connector_rows, with_effective_status
from stations.models import ChargePoint, Connector
from tests.factories import (
    ChargePointFactory,
    ChargingSessionFactory,
    ConnectorFactory,
)

pytestmark = pytest.mark.django_db

STARTED = dt.datetime(2026, 7, 1, 12, 30, 5, tzinfo=dt.UTC)


def _row(connector: Connector) -> str:
    [row] = connector_rows(
        with_effective_status(
            Connector.objects.select_related("charge_point__station")
        ).filter(pk=connector.pk)
    )
    return str(connector_row_html(row, board_columns=True))


def test_board_row_shows_charger_station_session_and_figures(
    charge_point_a: ChargePoint,
) -> None:
    charge_point_a.is_online = True
    charge_point_a.display_name = "Bay 3"
    charge_point_a.save()
    connector = ConnectorFactory(
        charge_point=charge_point_a,
        connector_id=2,
        status="Charging",
        error_code="NoError",
        max_power_kw=Decimal("22.5"),
        status_at=STARTED,
    )
    session = ChargingSessionFactory(
        charge_point=charge_point_a,
        connector_number=2,
        id_tag="TAG-77",
        started_at=STARTED,
        energy_wh=12345,
        power_w=11000,
    )

    html = _row(connector)

    assert html.startswith(f'<tr id="connector-{connector.pk}" data-status="Charging">')
    detail = reverse("stations:charge_point_detail", args=[charge_point_a.pk])
    assert f'<a href="{detail}" class="mono">CP-A-01</a>' in html
    assert '<span class="muted">Bay 3</span>' in html
    station = reverse("stations:station_detail", args=[charge_point_a.station_id])
    assert f'<a href="{station}">City Mall</a>' in html
    assert '<td class="num">2</td><td>Type 2</td><td class="num">22.50 kW</td>' in html
    assert f'<a href="{reverse("charging:session_detail", args=[session.pk])}">' in html
    # Times in the station's zone (Europe/Berlin, summer time).
    assert "since 2026-07-01 14:30:05 CEST" in html
    assert '<td class="num">11.00 kW</td><td class="num">12.35 kWh</td>' in html
    assert "NoError" not in html


def test_row_escapes_charger_fields_and_shows_faults(station_a: object) -> None:
    charge_point = ChargePointFactory(
        station=station_a,
        ocpp_id="CP-<X>",
        display_name='<script>alert("x")</script>',
        is_online=True,
    )
    connector = ConnectorFactory(
        charge_point=charge_point, status="Faulted", error_code="GroundFailure"
    )

    html = _row(connector)

    assert "<script>" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert "CP-&lt;X&gt;" in html
    assert '<span class="muted">GroundFailure</span>' in html
    assert '<span class="muted">—</span>' in html  # no session


def test_row_of_an_unassigned_offline_charger(db: None) -> None:
    charge_point = ChargePointFactory(station=None, is_online=False)
    connector = ConnectorFactory(charge_point=charge_point, status="Available")

    html = _row(connector)

    assert 'data-status="Offline"' in html
    assert '<td><span class="muted">Unassigned</span></td>' in html
    assert "<td>—</td>" in html  # no status time reported yet


def test_row_links_honour_the_script_prefix(connector_a: Connector) -> None:
    plain = reverse("stations:charge_point_detail", args=[connector_a.charge_point_id])
    set_script_prefix("/cms/")
    try:
        html = _row(connector_a)
    finally:
        set_script_prefix("/")
    assert f'href="/cms{plain}"' in html
    assert f'href="{plain}"' not in html
