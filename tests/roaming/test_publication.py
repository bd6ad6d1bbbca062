"""The publication page: what partners see (locations, EVSEs) and pay (tariffs)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLog
from billing import services as billing
from billing.models import Cdr
from roaming.models import EvsePublication, LocationPublication, TariffPublication
from roaming.publication import location_publication_set
from roaming.tasks import roaming_retry_sweep_task
from sessions_app.models import ChargingSession
from tests.factories import (
    ChargePointFactory,
    ChargingSessionFactory,
    ConnectorFactory,
    StationFactory,
)
from tests.roaming.emsp import COUNTRY_CODE, PARTY_ID, EmspPlatform
from tests.roaming.sessions import finished_session

pytestmark = pytest.mark.django_db(transaction=True)

HTMX = {"HTTP_HX_REQUEST": "true"}


def _state() -> tuple:
    return (
        list(LocationPublication.objects.values_list("pk", "is_published")),
        list(EvsePublication.objects.values_list("pk", "is_published")),
        list(TariffPublication.objects.values_list("pk", "tariff_id")),
        AuditLog.objects.filter(action__startswith="ocpi.").count(),
    )


def _tariff(network, name: str, price: str):
    return billing.tariff_create(
        actor=None,
        network=network,
        data={"name": name, "currency": "EUR", "vat_percent": Decimal("19")},
        elements=[{"energy_price_per_kwh": Decimal(price)}],
    )


@pytest.mark.parametrize("role", ["support", "finance", "outsider"])
def test_publication_is_refused_to_roles_and_networks_outside_the_users(
    client, request, role, network_a, station_a, connector_a
):
    """Support and finance may not publish; another network's operator sees none of it."""
    from roaming.credentials import partner_invite

    partner = partner_invite(country_code="DE", party_id="EMS", name="eMSP")[0]
    tariff = _tariff(network_a, "Roaming", "0.50")
    client.force_login(request.getfixturevalue(role))
    before = _state()
    page = client.get(reverse("roaming:publication"))
    posts = [
        client.post(
            reverse("roaming:publication_network", args=[network_a.pk]),
            {"is_published": "true"},
        ),
        client.post(
            reverse("roaming:publication_station", args=[station_a.pk]),
            {"choice": "publish"},
        ),
        client.post(
            reverse("roaming:publication_evse", args=[connector_a.pk]),
            {"is_published": "false"},
        ),
        client.post(
            reverse("roaming:publication_tariff", args=[network_a.pk]),
            {"partner": partner.pk, "tariff": tariff.pk},
        ),
    ]
    expected = 404 if role == "outsider" else 403
    if role == "outsider":  # an operator: the page, with only network B on it
        assert page.status_code == 200
        assert "Network A" not in page.content.decode()
        assert "City Mall" not in page.content.decode()
    else:
        assert page.status_code == 403
    assert [post.status_code for post in posts] == [expected] * 4
    assert _state() == before


def test_anonymous_visitors_are_sent_to_login(client):
    response = client.get(reverse("roaming:publication"))
    assert response.status_code == 302
    assert "/accounts/login" in response["Location"]


def test_an_operator_publishes_a_network_withdraws_a_station_and_an_evse(
    client, operator, registered: EmspPlatform, network_a, station_a
):
    """The eMSP's pull follows each toggle; each is audited with its operator."""
    charge_point = ChargePointFactory(station=station_a, ocpp_id="PUB-CP")
    first = ConnectorFactory(charge_point=charge_point, connector_id=1)
    ConnectorFactory(charge_point=charge_point, connector_id=2)
    other = StationFactory(network=network_a, name="Depot")
    ConnectorFactory(
        charge_point=ChargePointFactory(station=other, ocpp_id="DEPOT-CP"),
        connector_id=1,
    )
    url = registered.cpo_endpoints[("locations", "SENDER")]
    client.force_login(operator)

    def pulled() -> dict[str, list[str]]:
        items, _pages = registered.get_all(url)
        return {item["name"]: [e["uid"] for e in item["evses"]] for item in items}

    assert pulled() == {}
    card = client.post(
        reverse("roaming:publication_network", args=[network_a.pk]),
        {"is_published": "true"},
        **HTMX,
    )
    assert card.status_code == 200
    html = card.content.decode()
    assert 'id="network-' in html
    assert "<html" not in html
    assert "published" in html
    assert pulled() == {"City Mall": ["PUB-CP-1", "PUB-CP-2"], "Depot": ["DEPOT-CP-1"]}

    client.post(
        reverse("roaming:publication_station", args=[other.pk]),
        {"choice": "withdraw"},
        **HTMX,
    )
    client.post(
        reverse("roaming:publication_evse", args=[first.pk]),
        {"is_published": "false"},
        **HTMX,
    )
    assert pulled() == {"City Mall": ["PUB-CP-2"]}

    page = client.get(reverse("roaming:publication"))
    assert "PUB-CP-1: withdrawn" in page.content.decode()
    assert "Roaming publication" in [i["label"] for i in page.context["nav_items"]]
    actions = list(
        AuditLog.objects.filter(actor=operator, action__startswith="ocpi.")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == [
        "ocpi.location.published",
        "ocpi.location.withdrawn",
        "ocpi.evse.withdrawn",
    ]

    # Back to the network's choice: the station appears again.
    client.post(
        reverse("roaming:publication_station", args=[other.pk]), {"choice": "inherit"}
    )
    assert set(pulled()) == {"City Mall", "Depot"}


def test_a_withdrawn_evse_is_pushed_as_removed_and_a_bad_toggle_changes_nothing(
    client, operator, registered: EmspPlatform, network_a, station_a
):
    location_publication_set(network=network_a, is_published=True)
    charge_point = ChargePointFactory(station=station_a, ocpp_id="RM-CP")
    connector = ConnectorFactory(charge_point=charge_point, connector_id=1)
    client.force_login(operator)
    before = _state()
    bad = client.post(
        reverse("roaming:publication_evse", args=[connector.pk]),
        {"is_published": "maybe"},
    )
    assert bad.status_code == 400
    assert "is_published" in bad.content.decode()
    assert _state() == before

    client.post(
        reverse("roaming:publication_evse", args=[connector.pk]),
        {"is_published": "false"},
    )
    roaming_retry_sweep_task()
    [removed] = registered.pushes("locations")
    assert removed.method == "PATCH"
    assert removed.path.endswith(f"/NL/CMS/{station_a.pk}/RM-CP-1")
    assert removed.body["status"] == "REMOVED"

    client.post(
        reverse("roaming:publication_evse", args=[connector.pk]),
        {"is_published": "true"},
    )
    roaming_retry_sweep_task()
    back = registered.pushes("locations")[-1]
    assert back.method == "PUT"
    assert back.body["uid"] == "RM-CP-1"
    assert back.body["status"] in {"AVAILABLE", "UNKNOWN"}


def _push_token(emsp: EmspPlatform, uid: str) -> None:
    url = (
        f"{emsp.cpo_endpoints[('tokens', 'RECEIVER')]}/{COUNTRY_CODE}/{PARTY_ID}/{uid}"
    )
    assert emsp.call("PUT", url, body=emsp.token(uid), routing=True).status == 201


def test_a_partners_drivers_pay_the_tariff_published_to_that_partner(
    client, administrator, registered: EmspPlatform, network_a, station_a
):
    """Pulled tariff, connector tariff_ids, live session cost and CDR agree."""
    location_publication_set(network=network_a, is_published=True)
    own = _tariff(network_a, "Walk-in", "0.30")
    billing.tariff_assignment_add(actor=None, tariff=own)
    roaming = _tariff(network_a, "Roaming DE", "0.55")
    charge_point = ChargePointFactory(station=station_a, ocpp_id="TP-CP")
    connector = ConnectorFactory(charge_point=charge_point, connector_id=1)
    partner = registered_partner()
    client.force_login(administrator)

    # Before the choice the partner sees the network's own tariffs.
    tariffs, _ = registered.get_all(registered.cpo_endpoints[("tariffs", "SENDER")])
    assert {t["id"] for t in tariffs} == {str(own.pk), str(roaming.pk)}
    response = client.post(
        reverse("roaming:publication_tariff", args=[network_a.pk]),
        {"partner": partner.pk, "tariff": roaming.pk},
        **HTMX,
    )
    assert response.status_code == 200
    assert AuditLog.objects.filter(
        action="ocpi.tariff.published", actor=administrator
    ).exists()

    tariffs, _ = registered.get_all(registered.cpo_endpoints[("tariffs", "SENDER")])
    assert [t["id"] for t in tariffs] == [str(roaming.pk)]
    price = tariffs[0]["elements"][0]["price_components"][0]
    assert (price["type"], price["price"]) == ("ENERGY", 0.55)
    [location], _ = registered.get_all(
        registered.cpo_endpoints[("locations", "SENDER")]
    )
    assert location["evses"][0]["connectors"][0]["tariff_ids"] == [str(roaming.pk)]

    _push_token(registered, "TARIFF01")
    session = finished_session(
        connector,
        "TARIFF01",
        start=timezone.now() - timedelta(hours=2),
        charging=timedelta(hours=1),
        idle=timedelta(minutes=2),
        energy_wh=12345,
    )
    cdr = billing.session_rate(session_id=session.pk)
    assert cdr is not None
    # 12.345 kWh at 0.55 (the partner's tariff, not the walk-in 0.30).
    assert cdr.net_amount == Decimal("6.79")
    roaming_retry_sweep_task()
    [pushed] = registered.pushes("cdrs")
    assert pushed.body["total_cost"] == {
        "excl_vat": float(cdr.net_amount),
        "incl_vat": float(cdr.total_amount),
    }
    assert Decimal(str(pushed.body["total_cost"]["incl_vat"])) == Decimal("8.08")

    # A walk-in driver at the same connector still pays the network's tariff.
    walk_in = ChargingSessionFactory(
        charge_point=charge_point,
        connector=connector,
        connector_number=1,
        started_at=timezone.now() - timedelta(minutes=30),
    )
    assert billing.tariff_for_session(ChargingSession.objects.get(pk=walk_in.pk)) == (
        own
    )
    assert Cdr.objects.filter(session=session).count() == 1


def test_a_tariff_of_another_network_cannot_be_published(
    client, administrator, network_a, network_b
):
    from roaming.credentials import partner_invite

    partner = partner_invite(country_code="DE", party_id="EMS", name="eMSP")[0]
    foreign = _tariff(network_b, "Other network", "0.10")
    client.force_login(administrator)
    before = _state()
    response = client.post(
        reverse("roaming:publication_tariff", args=[network_a.pk]),
        {"partner": partner.pk, "tariff": foreign.pk},
    )
    assert response.status_code == 400
    assert "tariff" in response.content.decode()
    assert _state() == before


def registered_partner():
    from roaming.models import Partner

    return Partner.objects.get(country_code=COUNTRY_CODE, party_id=PARTY_ID)
