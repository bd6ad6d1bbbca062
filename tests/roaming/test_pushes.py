"""Pushes to the eMSP: EVSE status, the session while charging, the CDR after it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from ocpp.v16 import call

from accounts.models import AuditLog
from alerts.models import Alert
from billing import services as billing
from roaming.cpo.tokens import roaming_session_link
from roaming.models import PartnerToken, RoamingPush, RoamingSession
from roaming.publication import location_publication_set
from roaming.push import partner_health, partner_push_alerts, pushes_deliver
from roaming.tasks import roaming_retry_sweep_task
from sessions_app.models import ChargingSession, SessionStatus
from stations.models import Connector, StatusChange
from tests.factories import (
    ChargePointFactory,
    ChargingSessionFactory,
    ConnectorFactory,
    NetworkFactory,
    StationFactory,
)
from tests.ocpp.client import charger, wait_for
from tests.roaming.emsp import COUNTRY_CODE, PARTY_ID, EmspPlatform

pytestmark = pytest.mark.django_db(transaction=True)


def _push_token(emsp: EmspPlatform, uid: str) -> None:
    url = (
        f"{emsp.cpo_endpoints[('tokens', 'RECEIVER')]}/{COUNTRY_CODE}/{PARTY_ID}/{uid}"
    )
    assert emsp.call("PUT", url, body=emsp.token(uid), routing=True).status == 201


def _now() -> str:
    return datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_evse_status_and_session_are_pushed_only_for_what_partners_may_see(
    registered, asgi_server, network_a, station_a
):
    location_publication_set(network=network_a, is_published=True)
    published = ChargePointFactory(station=station_a, ocpp_id="PUSH-CP")
    ConnectorFactory(charge_point=published, connector_id=1)
    hidden_station = StationFactory(network=NetworkFactory(name="Private"))
    hidden = ChargePointFactory(station=hidden_station, ocpp_id="HIDDEN-CP")
    ConnectorFactory(charge_point=hidden, connector_id=1)
    _push_token(registered, "ROAMPUSH")

    async def status(ocpp_id: str, value: str, *, sweep: bool = False) -> None:
        async with charger(asgi_server, ocpp_id) as client:
            await client.call(
                call.StatusNotification(
                    connector_id=1, error_code="NoError", status=value, timestamp=_now()
                )
            )
            if sweep:  # while connected: an offline charger's EVSE is UNKNOWN
                await asyncio.to_thread(
                    wait_for,
                    lambda: (
                        Connector.objects.filter(
                            charge_point__ocpp_id__in=["PUSH-CP", "HIDDEN-CP"],
                            status="Charging",
                        ).count()
                        == 2
                    ),
                    timeout=20,
                )
                await asyncio.to_thread(roaming_retry_sweep_task)  # the periodic sweep

    async def session() -> int:
        async with charger(asgi_server, "PUSH-CP") as client:
            started = await client.call(
                call.StartTransaction(
                    connector_id=1, id_tag="ROAMPUSH", meter_start=0, timestamp=_now()
                )
            )
            await client.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=started.transaction_id,
                    meter_value=[
                        {
                            "timestamp": _now(),
                            "sampledValue": [{"value": "2500", "unit": "Wh"}],
                        }
                    ],
                )
            )
            return started.transaction_id

    asyncio.run(status("HIDDEN-CP", "Charging"))
    asyncio.run(status("PUSH-CP", "Charging", sweep=True))
    [patch] = registered.pushes("locations")
    assert patch.method == "PATCH"
    assert patch.path == f"/ocpi/emsp/2.2.1/locations/NL/CMS/{station_a.pk}/PUSH-CP-1"
    assert patch.body["status"] == "CHARGING"
    assert set(patch.body) == {"status", "last_updated"}
    assert patch.headers["ocpi-to-party-id"] == PARTY_ID
    # The hidden station's change came first; it never reached the partner.
    assert len(registered.pushes("locations")) == 1

    transaction_id = asyncio.run(session())
    wait_for(
        lambda: ChargingSession.objects.filter(
            pk=transaction_id, energy_wh=2500
        ).exists(),
        timeout=20,
    )
    roaming_retry_sweep_task()  # the periodic sweep: the session's changes
    roaming_retry_sweep_task()  # nothing changed since: no second PATCH
    pushes = registered.pushes("sessions")
    put = pushes[0]
    assert put.method == "PUT"
    assert put.path == f"/ocpi/emsp/2.2.1/sessions/NL/CMS/{transaction_id}"
    assert put.body["cdr_token"]["uid"] == "ROAMPUSH"
    assert put.body["status"] == "ACTIVE"
    assert put.body["location_id"] == str(station_a.pk)
    assert [p.method for p in pushes] == ["PUT", "PATCH"]
    assert pushes[1].body["kwh"] == 2.5
    assert "cdr_token" not in pushes[1].body


def _roaming_session(registered, network_a, station_a) -> ChargingSession:
    """A finished roaming session, priced by our billing into a CDR."""
    location_publication_set(network=network_a, is_published=True)
    _push_token(registered, "CDRCARD1")
    tariff = billing.tariff_create(
        actor=None,
        network=network_a,
        data={"name": "Roaming", "currency": "EUR", "vat_percent": Decimal("19")},
        elements=[{"energy_price_per_kwh": Decimal("0.40")}],
    )
    billing.tariff_assignment_add(actor=None, tariff=tariff)
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CDR-CP")
    connector = ConnectorFactory(charge_point=charge_point, connector_id=1)
    start = timezone.now() - timedelta(hours=3)
    session = ChargingSessionFactory(
        charge_point=charge_point,
        connector=connector,
        connector_number=1,
        id_token=None,
        id_tag="CDRCARD1",
        meter_start_wh=0,
        meter_stop_wh=10000,
        started_at=start,
        stopped_at=start + timedelta(hours=1),
        status=SessionStatus.COMPLETED,
        energy_wh=10000,
    )
    for status, at in (("Charging", start), ("Finishing", start + timedelta(hours=1)),
                       ("Available", start + timedelta(hours=1, minutes=5))):  # fmt: skip
        StatusChange.objects.create(
            connector=connector, status=status, at=at, received_at=at
        )
    from cms.events import SessionStarted

    roaming_session_link(
        SessionStarted(session_id=session.pk, charge_point_pk=charge_point.pk)
    )
    assert RoamingSession.objects.filter(session=session).exists()
    assert billing.session_rate(session_id=session.pk) is not None
    return session


def test_the_cdr_is_pushed_once_to_the_tokens_emsp_and_served_for_pull(
    registered, network_a, station_a
):
    session = _roaming_session(registered, network_a, station_a)

    roaming_retry_sweep_task()
    roaming_retry_sweep_task()  # a second sweep queues nothing new

    [cdr_push] = registered.pushes("cdrs")
    assert cdr_push.method == "POST"
    body = cdr_push.body
    assert body["session_id"] == str(session.pk)
    assert body["cdr_token"]["uid"] == "CDRCARD1"
    assert body["total_energy"] == 10.0
    assert body["total_cost"] == {"excl_vat": 4.0, "incl_vat": 4.76}
    assert body["currency"] == "EUR"
    assert body["cdr_location"]["country"] == "DEU"
    pulled, _pages = registered.get_all(registered.cpo_endpoints[("cdrs", "SENDER")])
    assert [cdr["id"] for cdr in pulled] == [body["id"]]
    sessions, _pages = registered.get_all(
        registered.cpo_endpoints[("sessions", "SENDER")]
    )
    assert [s["id"] for s in sessions] == [str(session.pk)]


def test_a_partner_never_pulls_another_partners_sessions_or_cdrs(
    registered, network_a, station_a
):
    _roaming_session(registered, network_a, station_a)
    partner = PartnerToken.objects.get().partner
    RoamingSession.objects.update(partner=partner)
    other_link = RoamingSession.objects.get()
    from roaming.models import Partner, PartnerStatus

    other = Partner.objects.create(
        name="Other", country_code="FR", party_id="OTH", status=PartnerStatus.REGISTERED
    )
    RoamingSession.objects.filter(pk=other_link.pk).update(partner=other)
    sessions, _ = registered.get_all(registered.cpo_endpoints[("sessions", "SENDER")])
    cdrs, _ = registered.get_all(registered.cpo_endpoints[("cdrs", "SENDER")])
    assert (sessions, cdrs) == ([], [])


def test_failing_pushes_are_retried_in_order_and_alerted_after_the_threshold(
    registered, network_a, station_a, settings
):
    _roaming_session(registered, network_a, station_a)
    registered.push_failures = 10
    roaming_retry_sweep_task()
    # The session's PUT and its CDR, each failed once.
    pending = RoamingPush.objects.get(object_key__startswith="cdr:")
    assert pending.attempts == 1
    health = partner_health(pending.partner)
    assert (health.queued, health.failing) == (2, 2)
    assert "500" in health.last_error
    assert pushes_deliver(now=timezone.now()) == 0  # back-off: not due yet

    settings.OCPI_PUSH_ALERT_MINUTES = 30
    later = timezone.now() + timedelta(minutes=31)
    assert partner_push_alerts(now=later) == 1
    alert = Alert.objects.get(rule="roaming_push_failing")
    assert "failing" in alert.title

    registered.push_failures = 0
    assert pushes_deliver(now=later) == 2
    health = partner_health(pending.partner)
    assert (health.queued, health.failing) == (0, 0)
    assert health.last_success_at is not None
    partner_push_alerts(now=later)
    alert.refresh_from_db()
    assert alert.resolved_at is not None
    assert len(registered.pushes("cdrs")) == 2  # the failed try and the good one
    assert (
        AuditLog.objects.filter(action="ocpi.out", detail__contains="/cdrs").count()
        == 2
    )
