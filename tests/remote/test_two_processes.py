"""A command posted to one server process reaches a charger connected to another."""

from __future__ import annotations

import http.cookiejar
import json
import time
import urllib.parse
import urllib.request

import pytest
from django.test import Client
from websockets.sync.client import connect

from stations.models import ChargePoint, ChargePointCommand, CommandStatus
from tests.factories import ChargePointFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _portal_opener(server, user) -> tuple[urllib.request.OpenerDirector, str]:
    """An HTTP client logged in as ``user`` on ``server``, and its CSRF token."""
    client = Client()
    client.force_login(user)
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    session = client.cookies["sessionid"].value
    opener.addheaders = [("Cookie", f"sessionid={session}")]
    opener.open(f"{server.http_url}/accounts/login/").read()
    csrf = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    opener.addheaders = [("Cookie", f"sessionid={session}; csrftoken={csrf}")]
    return opener, csrf


def test_reset_posted_to_process_b_reaches_the_charger_on_process_a(
    server_factory, operator, station_a, settings
):
    if not settings.TEST_REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL): two processes share only the Redis layer")
    process_a, process_b = server_factory(), server_factory()
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-TWO-PROC")

    with connect(
        f"{process_a.ws_url}/ocpp/{charge_point.ocpp_id}", subprotocols=["ocpp1.6"]
    ) as socket:
        deadline = time.monotonic() + 10
        while not ChargePoint.objects.get(pk=charge_point.pk).is_connected:
            assert time.monotonic() < deadline, "charger never connected"
            time.sleep(0.05)
        opener, csrf = _portal_opener(process_b, operator)
        request = urllib.request.Request(
            f"{process_b.http_url}/commands/cp/{charge_point.pk}/send/Reset/",
            data=urllib.parse.urlencode({"Reset-type": "Hard"}).encode(),
            headers={"X-CSRFToken": csrf, "Referer": process_b.http_url + "/"},
        )
        assert opener.open(request).status == 200

        frame = json.loads(socket.recv(timeout=10))
        while frame[0] != 2 or frame[2] != "Reset":  # answer nothing else
            frame = json.loads(socket.recv(timeout=10))
        socket.send(json.dumps([3, frame[1], {"status": "Accepted"}]))

        deadline = time.monotonic() + 10
        command = ChargePointCommand.objects.get(
            charge_point=charge_point, action="Reset"
        )
        while command.status == CommandStatus.PENDING and time.monotonic() < deadline:
            time.sleep(0.05)
            command.refresh_from_db()

    assert frame[3] == {"type": "Hard"}
    assert command.status == CommandStatus.ACCEPTED
    assert command.requested_by == operator
