from __future__ import annotations

from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.diff import audit_diff
from accounts.models import AuditLog, User
from accounts.services import audit_record
from stations.models import Network, Station


@pytest.fixture
def entries(
    administrator: User, operator: User, outsider: User, network_a: Network,
    network_b: Network, station_a: Station, station_b: Station,
) -> dict[str, AuditLog]:  # fmt: skip
    return {
        "a": audit_record(
            actor=operator,
            action="station.update",
            target=station_a,
            network=network_a,
            before={"name": "Mall", "power_limit_kw": "100.00"},
            after={"name": "City Mall", "power_limit_kw": "100.00"},
        ),
        "b": audit_record(
            actor=outsider,
            action="station.update",
            target=station_b,
            network=network_b,
            before={"name": "Airprt"},
            after={"name": "Airport"},
        ),
        "global": audit_record(
            actor=administrator, action="network.create", after={"name": "X"}
        ),
    }


@pytest.mark.parametrize("role", ["support", "finance", "no_role_user"])
def test_audit_log_is_refused_without_the_permission(
    client: Client, request: pytest.FixtureRequest, role: str, entries: Any
) -> None:
    client.force_login(request.getfixturevalue(role))
    response = client.get(reverse("accounts:audit_log"))
    assert response.status_code == 403
    assert "City Mall" not in response.content.decode()


def test_audit_log_sends_anonymous_visitors_to_login(client: Client) -> None:
    response = client.get(reverse("accounts:audit_log"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_operations_of_network_a_see_only_entries_of_network_a(
    client: Client, operator: User, entries: Any
) -> None:
    client.force_login(operator)
    response = client.get(reverse("accounts:audit_log"))
    body = response.content.decode()
    assert response.status_code == 200
    assert [row.entry for row in response.context["rows"]] == [entries["a"]]
    assert "Airport" not in body
    assert "network.create" not in body


def test_outsider_sees_only_network_b(
    client: Client, outsider: User, entries: Any
) -> None:
    client.force_login(outsider)
    response = client.get(reverse("accounts:audit_log"))
    assert [row.entry for row in response.context["rows"]] == [entries["b"]]


def test_filtering_by_another_networks_id_is_refused(
    client: Client, operator: User, network_b: Network, entries: Any
) -> None:
    client.force_login(operator)
    response = client.get(reverse("accounts:audit_log"), {"network": network_b.pk})
    assert response.status_code == 400
    assert response.context["form"].errors["network"]
    assert response.context["rows"] == []


def test_administrators_see_every_entry(
    client: Client, administrator: User, entries: Any
) -> None:
    client.force_login(administrator)
    response = client.get(reverse("accounts:audit_log"))
    assert {row.entry for row in response.context["rows"]} == set(entries.values())


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"actor": "OUTSIDER"}, ["b"]),
        ({"action": "network.create"}, ["global"]),
        ({"object_type": "stations.Station"}, ["a", "b"]),
        ({"network": "A"}, ["a"]),
    ],
)
def test_audit_log_filters(
    client: Client,
    administrator: User,
    network_a: Network,
    entries: dict[str, AuditLog],
    params: dict[str, str],
    expected: list[str],
) -> None:
    if params.get("network") == "A":
        params = {"network": str(network_a.pk)}
    client.force_login(administrator)
    response = client.get(reverse("accounts:audit_log"), params)
    assert response.status_code == 200
    assert {row.entry for row in response.context["rows"]} == {
        entries[key] for key in expected
    }


def test_audit_log_date_range_filter(
    client: Client, administrator: User, entries: dict[str, AuditLog]
) -> None:
    AuditLog.objects.filter(pk=entries["b"].pk).update(
        at=timezone.now() - timedelta(days=10)
    )
    today = timezone.now().date()
    client.force_login(administrator)

    recent = client.get(reverse("accounts:audit_log"), {"date_from": today.isoformat()})
    old = client.get(
        reverse("accounts:audit_log"),
        {"date_to": (today - timedelta(days=5)).isoformat()},
    )

    assert entries["b"] not in {row.entry for row in recent.context["rows"]}
    assert {row.entry for row in old.context["rows"]} == {entries["b"]}


def test_audit_log_rejects_a_reversed_date_range_naming_the_field(
    client: Client, administrator: User, entries: Any
) -> None:
    client.force_login(administrator)
    response = client.get(
        reverse("accounts:audit_log"),
        {"date_from": "2026-05-02", "date_to": "2026-05-01"},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["date_to"]


def test_audit_log_rejects_an_unknown_action(
    client: Client, administrator: User, entries: Any
) -> None:
    client.force_login(administrator)
    response = client.get(reverse("accounts:audit_log"), {"action": "nope"})
    assert response.status_code == 400
    assert response.context["form"].errors["action"]


def test_audit_log_shows_a_readable_diff_in_the_network_time_zone(
    client: Client, operator: User, entries: dict[str, AuditLog]
) -> None:
    client.force_login(operator)
    body = client.get(reverse("accounts:audit_log")).content.decode()
    assert "Mall" in body
    assert "City Mall" in body
    assert "power limit kw" not in body  # unchanged fields are left out
    assert "Europe/Berlin" in body
    berlin = entries["a"].at.astimezone(ZoneInfo("Europe/Berlin"))
    assert f"{berlin:%Y-%m-%d %H:%M:%S} {berlin.tzname()}" in body
    row = client.get(reverse("accounts:audit_log")).context["rows"][0]
    assert (
        row.local_at.utcoffset()
        == entries["a"].at.astimezone(row.local_at.tzinfo).utcoffset()
    )
    assert str(row.local_at.tzinfo) == "Europe/Berlin"


def _queries(client: Client, url: str, params: dict[str, Any]) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params).status_code == 200
    return len(captured)


def test_audit_log_is_paginated_with_filters_kept(
    client: Client, administrator: User, network_a: Network
) -> None:
    def add_entries(count: int) -> None:
        AuditLog.objects.bulk_create(
            AuditLog(
                actor=administrator,
                actor_label="administrator",
                action="x.ping",
                network=network_a,
                before={"n": 1},
                after={"n": 2},
            )
            for _ in range(count)
        )

    url = reverse("accounts:audit_log")
    client.force_login(administrator)
    add_entries(3)
    few = _queries(client, url, {"action": "x.ping"})
    add_entries(117)

    many = _queries(client, url, {"action": "x.ping"})
    first = client.get(url, {"action": "x.ping"})
    third = client.get(url, {"action": "x.ping", "page": 3})

    assert many == few  # no query per row
    assert len(first.context["rows"]) == 50
    assert len(third.context["rows"]) == 20
    assert "action=x.ping&amp;page=2" in first.content.decode()


def test_audit_diff_lists_changed_added_and_removed_fields() -> None:
    rows = audit_diff(
        {"roles": ["Support"], "is_active": True, "email": "a@x"},
        {"roles": ["Finance", "Support"], "is_active": True, "name": "Ann"},
    )
    by_field = {row.field: row for row in rows}
    assert set(by_field) == {"roles", "email", "name"}
    assert by_field["roles"].kind == "changed"
    assert by_field["roles"].after == "Finance, Support"
    assert by_field["roles"].note == "+ Finance"
    assert by_field["email"].kind == "removed"
    assert by_field["name"].kind == "added"
    assert audit_diff(None, {"ok": False})[0].after == "no"


# --- Streams: people and the system -------------------------------------------------


def _streams_fixture(operator, network_a) -> None:
    AuditLog.objects.create(
        action="station.update",
        network=network_a,
        actor=operator,
        actor_label=operator.username,
        object_repr="City Mall renamed",
    )
    for index in range(30):  # load management writes profiles all day
        AuditLog.objects.create(
            action="smart.profile", network=network_a, object_repr=f"profile {index}"
        )


def test_people_are_shown_first_and_the_system_has_its_own_stream(
    client: Client, operator, network_a
) -> None:
    _streams_fixture(operator, network_a)
    client.force_login(operator)

    people = client.get(reverse("accounts:audit_log")).content.decode()
    system = client.get(reverse("accounts:audit_log"), {"stream": "system"})
    everything = client.get(reverse("accounts:audit_log"), {"stream": "all"})

    assert "City Mall renamed" in people
    assert "profile 3" not in people
    assert 'data-testid="stream-system"' in people
    assert 'data-testid="stream-people">People <span class="badge">1</span>' in people
    assert 'data-testid="stream-system">System <span class="badge">30</span>' in people
    assert "City Mall renamed" not in system.content.decode()
    assert "profile 3" in system.content.decode()
    assert len(everything.context["rows"]) == 31


def test_streams_stay_in_the_users_networks(
    client: Client, operator, network_a, network_b
) -> None:
    AuditLog.objects.create(
        action="smart.profile", network=network_b, object_repr="theirs"
    )
    client.force_login(operator)

    response = client.get(reverse("accounts:audit_log"), {"stream": "system"})

    assert "theirs" not in response.content.decode()


def test_an_unknown_stream_names_the_field(client: Client, operator) -> None:
    client.force_login(operator)

    response = client.get(reverse("accounts:audit_log"), {"stream": "gossip"})

    assert response.status_code == 400
    assert "stream" in response.context["form"].errors
