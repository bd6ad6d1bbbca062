"""The Connection attempts page: refused handshakes in the viewer's scope,
unknown ids for those who may register chargers, counts per window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from stations.models import ConnectionAttempt
from stations.services import (
    RefusedAttempts,
    connection_attempts_purge,
    connection_attempts_record,
)
from stations.tasks import connection_attempts_purge_task
from tests.factories import ChargePointFactory

pytestmark = pytest.mark.django_db

Reason = ConnectionAttempt.Reason
WINDOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


def _refused(
    ocpp_id: str,
    reason: str = Reason.UNKNOWN_ID,
    *,
    count: int = 1,
    at: datetime = WINDOW,
    window: datetime = WINDOW,
    address: str = "198.51.100.7",
) -> None:
    connection_attempts_record(
        attempts=[
            RefusedAttempts(
                ocpp_id=ocpp_id,
                remote_address=address,
                reason=reason,
                window_start=window,
                count=count,
                first_seen_at=at,
                last_seen_at=at,
                detail=f"refused {ocpp_id}",
                subprotocols="ocpp2.0.1, ocpp1.6",
            )
        ]
    )


def test_refusals_of_one_id_address_and_reason_add_up_in_their_window():
    _refused("CP-STORMY", count=40, at=WINDOW + timedelta(minutes=1))
    _refused("CP-STORMY", count=2, at=WINDOW + timedelta(minutes=30))
    _refused("CP-STORMY", count=1, at=WINDOW + timedelta(minutes=5))
    _refused("CP-STORMY", reason=Reason.SUBPROTOCOL)
    _refused("CP-STORMY", window=WINDOW + timedelta(hours=1))

    rows = ConnectionAttempt.objects.filter(
        ocpp_id="CP-STORMY", reason=Reason.UNKNOWN_ID, window_start=WINDOW
    )
    assert rows.count() == 1
    row = rows.get()
    assert row.count == 43
    assert row.first_seen_at == WINDOW + timedelta(minutes=1)
    assert row.last_seen_at == WINDOW + timedelta(minutes=30)
    assert ConnectionAttempt.objects.filter(ocpp_id="CP-STORMY").count() == 3


def test_old_attempts_are_forgotten_after_their_retention(settings):
    settings.OCPP_CONNECTION_ATTEMPT_RETENTION_DAYS = 30
    now = timezone.now()
    _refused("CP-OLD", at=now - timedelta(days=31), window=now - timedelta(days=31))
    _refused("CP-RECENT", at=now - timedelta(days=1), window=now - timedelta(days=1))

    connection_attempts_purge_task.apply()

    assert list(ConnectionAttempt.objects.values_list("ocpp_id", flat=True)) == [
        "CP-RECENT"
    ]
    assert connection_attempts_purge(before=now) == 1


def _listed(client, user, query: str = "") -> list[str]:
    client.force_login(user)
    response = client.get(reverse("stations:connection_attempts") + query)
    assert response.status_code == 200
    return [
        row.split('"', 1)[0]
        for row in response.content.decode().split('data-ocpp-id="')[1:]
    ]


def test_operations_see_their_networks_chargers_and_unknown_ids(
    client, operator, outsider, station_a, station_b
):
    ChargePointFactory(station=station_a, ocpp_id="CP-OURS")
    ChargePointFactory(station=station_b, ocpp_id="CP-THEIRS")
    _refused("CP-OURS", Reason.WRONG_PASSWORD)
    _refused("CP-THEIRS", Reason.WRONG_PASSWORD)
    _refused("CP-STRANGER")

    assert sorted(_listed(client, operator)) == ["CP-OURS", "CP-STRANGER"]
    assert sorted(_listed(client, outsider)) == ["CP-STRANGER", "CP-THEIRS"]


def test_an_unknown_id_offers_registration_prefilled(client, operator, station_a):
    _refused("CP-NEW-ONE")
    client.force_login(operator)

    page = client.get(reverse("stations:connection_attempts")).content.decode()
    register = reverse("stations:charge_point_create") + "?ocpp_id=CP-NEW-ONE"
    assert register in page
    assert "198.51.100.7" in page
    assert "ocpp2.0.1, ocpp1.6" in page
    form = client.get(register).content.decode()
    assert 'value="CP-NEW-ONE"' in form


def test_a_registered_charger_links_to_its_page_not_to_registration(
    client, operator, station_a
):
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-KNOWN-NOW")
    _refused("CP-KNOWN-NOW", Reason.DOWNGRADE)
    client.force_login(operator)

    page = client.get(reverse("stations:connection_attempts")).content.decode()

    assert reverse("stations:charge_point_detail", args=[charge_point.pk]) in page
    assert "?ocpp_id=CP-KNOWN-NOW" not in page


def test_filters_by_reason_id_and_address(client, operator):
    _refused("CP-F-1", Reason.UNKNOWN_ID, address="203.0.113.1")
    _refused("CP-F-2", Reason.SUBPROTOCOL, address="203.0.113.2")
    _refused("CP-G-3", Reason.SUBPROTOCOL, address="192.0.2.9")

    assert _listed(client, operator, "?reason=subprotocol&ocpp_id=cp-f") == ["CP-F-2"]
    assert _listed(client, operator, "?address=192.0.2.") == ["CP-G-3"]
    assert sorted(_listed(client, operator, "?reason=nonsense")) == [
        "CP-F-1",
        "CP-F-2",
        "CP-G-3",
    ]


@pytest.mark.parametrize("role", ["support", "finance"])
def test_support_and_finance_may_not_see_connection_attempts(client, role, request):
    _refused("CP-HIDDEN")
    client.force_login(request.getfixturevalue(role))

    response = client.get(reverse("stations:connection_attempts"))

    assert response.status_code == 403
    assert "CP-HIDDEN" not in response.content.decode()
    nav = client.get(reverse("stations:overview")).content.decode()
    assert reverse("stations:connection_attempts") not in nav


def test_operations_find_the_page_in_the_navigation(client, operator):
    client.force_login(operator)

    nav = client.get(reverse("stations:overview")).content.decode()

    assert reverse("stations:connection_attempts") in nav
