import urllib.request

import pytest

from tests.live_server import LiveServer

pytestmark = pytest.mark.django_db(transaction=True)


def test_server_answers_health_and_serves_the_login_page(asgi_server: LiveServer):
    with urllib.request.urlopen(f"{asgi_server.http_url}/healthz") as response:
        assert response.status == 200
    with urllib.request.urlopen(f"{asgi_server.http_url}/accounts/login/") as response:
        body = response.read().decode()
    assert response.status == 200
    assert 'name="username"' in body


def test_portal_pages_redirect_anonymous_visitors_to_login(asgi_server: LiveServer):
    with urllib.request.urlopen(f"{asgi_server.http_url}/") as response:
        assert response.url.endswith("/accounts/login/?next=/")
