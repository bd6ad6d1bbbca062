"""The external limit signal API: who may send it, what it stores, what it refuses."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import AuditLog
from stations.smart.models import AllocationPlan, SiteLimitSignal


def _url(station) -> str:
    return f"/api/v1/smart-charging/stations/{station.pk}/signals/"


def _client(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        token = Token.objects.create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def _body(**changes):
    return {
        "limit_kw": "11",
        "valid_until": (timezone.now() + timedelta(hours=1)).isoformat(),
        **changes,
    }


@pytest.mark.parametrize(
    ("user_fixture", "status"),
    [
        (None, 401),
        ("no_role_user", 404),
        ("outsider", 404),
        ("support", 403),
        ("finance", 403),
    ],
)
def test_signal_is_refused_without_role_or_scope(
    request, station_a, user_fixture, status
):
    user = request.getfixturevalue(user_fixture) if user_fixture else None

    response = _client(user).post(_url(station_a), _body(), format="json")

    assert response.status_code == status
    assert not SiteLimitSignal.objects.exists()
    assert not AuditLog.objects.filter(action__startswith="smart.").exists()


@pytest.mark.parametrize("user_fixture", ["operator", "administrator"])
def test_operations_and_administrators_send_a_signal(request, station_a, user_fixture):
    station_a.power_limit_kw = Decimal("22")
    station_a.save()
    user = request.getfixturevalue(user_fixture)

    response = _client(user).post(
        _url(station_a), _body(reference="grid-7"), format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["effective"]["limit_kw"] == "11.00"
    assert response.json()["effective"]["source"] == "signal"
    signal = SiteLimitSignal.objects.get()
    assert signal.limit_kw == Decimal("11")
    assert signal.source == "api"
    assert signal.created_by == user
    assert AuditLog.objects.filter(action="smart.signal_received").count() == 1


def test_a_resent_signal_answers_200_and_stores_nothing_new(station_a, operator):
    client = _client(operator)
    first = client.post(_url(station_a), _body(reference="r1"), format="json")
    again = client.post(_url(station_a), _body(reference="r1"), format="json")

    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["id"] == first.json()["id"]
    assert SiteLimitSignal.objects.count() == 1


def test_duration_instead_of_an_end_time(station_a, operator):
    response = _client(operator).post(
        _url(station_a), {"limit_kw": "5", "duration_s": 900}, format="json"
    )

    assert response.status_code == 201
    signal = SiteLimitSignal.objects.get()
    assert (
        timedelta(seconds=890)
        < signal.valid_until - signal.valid_from
        <= (timedelta(seconds=900))
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"limit_kw": "-2", "duration_s": 60}, "limit_kw"),
        ({"limit_kw": "x", "duration_s": 60}, "limit_kw"),
        ({"duration_s": 60}, "limit_kw"),
        ({"limit_kw": "5"}, "valid_until"),
        ({"limit_kw": "5", "valid_until": "2000-01-01T00:00:00Z"}, "valid_until"),
        ({"limit_kw": "5", "valid_until": "tomorrow"}, "valid_until"),
    ],
)
def test_bad_input_answers_400_naming_the_field(station_a, operator, body, field):
    response = _client(operator).post(_url(station_a), body, format="json")

    assert response.status_code == 400
    assert field in {error["field"] for error in response.json()["errors"]}
    assert not SiteLimitSignal.objects.exists()
    assert not AllocationPlan.objects.exists()


def test_limit_state_is_readable_within_scope(station_a, support, outsider):
    station_a.power_limit_kw = Decimal("40")
    station_a.save()
    url = f"/api/v1/smart-charging/stations/{station_a.pk}/"

    assert _client(support).get(url).json()["limit_kw"] == "40.00"
    assert _client(outsider).get(url).status_code == 404
