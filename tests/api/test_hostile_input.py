"""Hostile request bodies over real HTTP: a 4xx in the API's error shape, never a 500."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from rest_framework.authtoken.models import Token

from stations.models import Station

pytestmark = pytest.mark.django_db(transaction=True)


def _post(server, path: str, body: bytes, token: str) -> tuple[int, str, str]:
    request = urllib.request.Request(
        f"{server.http_url}{path}",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Token {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return (
                response.status,
                response.headers["Content-Type"],
                response.read().decode(),
            )
    except urllib.error.HTTPError as error:
        return error.code, error.headers["Content-Type"], error.read().decode()


@pytest.fixture
def operator_token(operator) -> str:
    return Token.objects.create(user=operator).key


def test_json_nested_ten_thousand_levels_is_a_400_naming_the_body(
    asgi_server, operator_token, network_a
):
    body = b'{"name": ' + b"[" * 10_000 + b"]" * 10_000 + b"}"

    status, content_type, text = _post(
        asgi_server, "/api/v1/stations/create/", body, operator_token
    )

    assert status == 400, text[:500]
    assert content_type.startswith("application/json")
    errors = json.loads(text)["errors"]
    assert "nested" in errors[0]["message"]
    assert not Station.objects.exists()


def test_oversized_json_is_a_413_in_the_api_error_shape(
    asgi_server, operator_token, network_a
):
    body = json.dumps({"network": network_a.pk, "name": "x" * 3_000_000}).encode()

    status, content_type, text = _post(
        asgi_server, "/api/v1/stations/create/", body, operator_token
    )

    assert status == 413, text[:500]
    assert content_type.startswith("application/json")
    assert "too large" in json.loads(text)["errors"][0]["message"]
    assert not Station.objects.exists()
