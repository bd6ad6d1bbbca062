"""Security profiles 2 and 3 with real TLS: uvicorn terminating it (``serve --tls``)
and a TLS proxy passing the verified client certificate.

Certificates are made in the test with the product's CA; chargers are real
WebSocket clients over wss.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import websockets

from bench.distributed import nginx_config
from cms.management.commands.serve import server_command
from cms.pki import tls_server_files
from stations.models import (
    ChargePoint,
    ConnectionAttempt,
    ConnectionEvent,
    SecurityProfile,
)
from tests.factories import ChargePointFactory
from tests.live_server import (
    LiveServer,
    free_port,
    start_asgi_server,
    wait_until_answers,
)
from tests.ocpp.client import auth_header, boot, charger, raw_socket, wait_for
from tests.security.certs import charger_certificate, client_context

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def proxied_server(django_db_setup, ca_dir, tmp_path_factory):
    """A plain server behind a (simulated) TLS proxy on 127.0.0.1, which it trusts."""
    live = start_asgi_server(
        tmp_path_factory.mktemp("proxied"),
        name="proxied",
        command_for_port=lambda port: server_command("uvicorn", "127.0.0.1", port),
        OCPP_UNKNOWN_CHARGERS="reject",
        OCPP_CA_DIR=str(ca_dir),
    )
    yield live
    live.stop()


def connects_and_boots(server, ocpp_id: str, **kwargs) -> str:
    async def scenario() -> str:
        async with charger(server, ocpp_id, **kwargs) as client:
            return (await client.call(boot())).status

    return asyncio.run(scenario())


def handshake_status(server, ocpp_id: str, **kwargs) -> int:
    async def scenario() -> int:
        with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
            async with raw_socket(server, ocpp_id, **kwargs):
                pass
        return refused.value.response.status_code

    return asyncio.run(scenario())


def refusals(ocpp_id: str) -> list[str]:
    return list(
        ConnectionEvent.objects.filter(
            charge_point__ocpp_id=ocpp_id, kind=ConnectionEvent.Kind.REJECTED
        ).values_list("detail", flat=True)
    )


def attempt_recorded(ocpp_id: str, reason: str) -> bool:
    """The refusal is among operations' connection attempts (written in batches)."""
    return wait_for(
        ConnectionAttempt.objects.filter(ocpp_id=ocpp_id, reason=reason).exists,
        what=f"{ocpp_id}'s refusal recorded as {reason}",
    )


def never_connected(ocpp_id: str) -> bool:
    charge_point = ChargePoint.objects.get(ocpp_id=ocpp_id)
    return charge_point.last_boot_at is None and not (
        ConnectionEvent.objects.filter(
            charge_point=charge_point, kind=ConnectionEvent.Kind.CONNECTED
        ).exists()
    )


# --- profile 2: TLS + Basic auth ---------------------------------------------------


def test_profile_2_charger_connects_over_tls_with_its_password(tls_server):
    ChargePointFactory(ocpp_id="CP-TLS2", password="s3cret-pass-2", security_profile=2)

    status = connects_and_boots(tls_server, "CP-TLS2", password="s3cret-pass-2")

    assert status == "Accepted"
    assert ChargePoint.objects.get(ocpp_id="CP-TLS2").last_boot_at is not None


def test_profile_2_over_tls_still_refuses_a_wrong_password(tls_server):
    ChargePointFactory(
        ocpp_id="CP-TLS2-W", password="s3cret-pass-2", security_profile=2
    )

    status = handshake_status(
        tls_server, "CP-TLS2-W", headers=auth_header("CP-TLS2-W", "guess-what")
    )

    assert status == 401
    assert never_connected("CP-TLS2-W")


def test_profile_2_charger_without_tls_is_refused_as_a_downgrade(asgi_server):
    ChargePointFactory(
        ocpp_id="CP-DOWN-2", password="s3cret-pass-2", security_profile=2
    )

    status = handshake_status(
        asgi_server, "CP-DOWN-2", headers=auth_header("CP-DOWN-2", "s3cret-pass-2")
    )

    assert status == 403
    assert never_connected("CP-DOWN-2")
    assert any("downgrade" in detail for detail in refusals("CP-DOWN-2"))
    assert attempt_recorded("CP-DOWN-2", ConnectionAttempt.Reason.DOWNGRADE)


# --- profile 3: TLS + client certificate -------------------------------------------


def test_profile_3_charger_connects_with_its_own_certificate(
    tls_server, ca_dir, tmp_path
):
    ChargePointFactory(ocpp_id="CP-TLS3", security_profile=3)
    context = client_context(
        tls_server.tls_ca_file, charger_certificate(ca_dir, tmp_path, "CP-TLS3")
    )

    status = connects_and_boots(tls_server, "CP-TLS3", ssl_context=context)

    assert status == "Accepted"


def test_another_chargers_certificate_is_refused(tls_server, ca_dir, tmp_path):
    ChargePointFactory(ocpp_id="CP-TLS3-A", security_profile=3)
    ChargePointFactory(ocpp_id="CP-TLS3-B", security_profile=3)
    context = client_context(
        tls_server.tls_ca_file, charger_certificate(ca_dir, tmp_path, "CP-TLS3-B")
    )

    status = handshake_status(tls_server, "CP-TLS3-A", ssl_context=context)

    assert status == 403
    assert never_connected("CP-TLS3-A")
    assert any("issued to 'CP-TLS3-B'" in detail for detail in refusals("CP-TLS3-A"))
    assert attempt_recorded("CP-TLS3-A", ConnectionAttempt.Reason.CERTIFICATE)


def test_another_chargers_certificate_is_refused_for_a_profile_1_charger_too(
    tls_server, ca_dir, tmp_path
):
    ChargePointFactory(ocpp_id="CP-TLS1-A", password="s3cret-pass-1")
    context = client_context(
        tls_server.tls_ca_file, charger_certificate(ca_dir, tmp_path, "CP-TLS1-B")
    )
    status = handshake_status(
        tls_server,
        "CP-TLS1-A",
        ssl_context=context,
        headers=auth_header("CP-TLS1-A", "s3cret-pass-1"),
    )

    assert status == 403
    assert never_connected("CP-TLS1-A")


def test_expired_certificate_fails_the_tls_handshake(tls_server, ca_dir, tmp_path):
    """Expired: no answer at all; the same charger with a valid one is answered 101."""
    ChargePointFactory(ocpp_id="CP-TLS3-X", security_profile=3)
    expired = charger_certificate(
        ca_dir, tmp_path, "CP-TLS3-X", issued_days_ago=10, valid_days=5
    )
    context = client_context(tls_server.tls_ca_file, expired)

    answer = tls_answer(tls_server, "CP-TLS3-X", context)

    assert answer == b""
    assert never_connected("CP-TLS3-X")
    fresh = client_context(
        tls_server.tls_ca_file, charger_certificate(ca_dir, tmp_path, "CP-TLS3-X")
    )
    assert tls_answer(tls_server, "CP-TLS3-X", fresh).startswith(b"HTTP/1.1 101")


def test_certificate_of_a_foreign_ca_fails_the_tls_handshake(
    tls_server, tmp_path_factory, tmp_path
):
    ChargePointFactory(ocpp_id="CP-TLS3-F", security_profile=3)
    foreign = charger_certificate(
        tmp_path_factory.mktemp("foreign-ca"), tmp_path, "CP-TLS3-F"
    )
    context = client_context(tls_server.tls_ca_file, foreign)

    assert tls_answer(tls_server, "CP-TLS3-F", context) == b""

    assert never_connected("CP-TLS3-F")


def test_profile_3_charger_without_a_certificate_is_refused(tls_server):
    ChargePointFactory(
        ocpp_id="CP-TLS3-N", password="s3cret-pass-3", security_profile=3
    )
    status = handshake_status(
        tls_server, "CP-TLS3-N", headers=auth_header("CP-TLS3-N", "s3cret-pass-3")
    )

    assert status == 403
    assert any("client certificate" in detail for detail in refusals("CP-TLS3-N"))


def tls_answer(server, ocpp_id: str, context: ssl.SSLContext) -> bytes:
    """What a WebSocket handshake over this TLS context gets back (b"" = nothing).

    In TLS 1.3 the server checks the client certificate after the client's side
    of the handshake is done; asyncio's TLS server then drops the connection,
    so a refused certificate shows as a connection closed before any answer.
    """
    request = (
        f"GET /ocpp/{ocpp_id} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n"
    ).encode()
    with (
        socket.create_connection((server.host, server.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname=server.host) as tls,
    ):
        try:
            tls.sendall(request)
            return tls.recv(1024)
        except (ssl.SSLError, ConnectionError):
            return b""


# --- behind a TLS proxy -------------------------------------------------------------


def proxy_headers(cert_file: Path, verify: str = "SUCCESS") -> dict[str, str]:
    """What nginx passes: ssl_client_escaped_cert and ssl_client_verify."""
    return {
        "X-Forwarded-Proto": "https",
        "X-SSL-Client-Verify": verify,
        "X-SSL-Client-Cert": urllib.parse.quote(cert_file.read_text()),
    }


def test_certificate_passed_by_a_trusted_proxy_authenticates_profile_3(
    proxied_server, ca_dir, tmp_path
):
    ChargePointFactory(ocpp_id="CP-PX3", security_profile=3)
    cert, _key = charger_certificate(ca_dir, tmp_path, "CP-PX3")

    status = connects_and_boots(proxied_server, "CP-PX3", headers=proxy_headers(cert))

    assert status == "Accepted"


def test_proxy_passed_certificate_of_another_charger_is_refused(
    proxied_server, ca_dir, tmp_path
):
    ChargePointFactory(ocpp_id="CP-PX3-A", security_profile=3)
    cert, _key = charger_certificate(ca_dir, tmp_path, "CP-PX3-B")

    status = handshake_status(proxied_server, "CP-PX3-A", headers=proxy_headers(cert))

    assert status == 403
    assert never_connected("CP-PX3-A")


def test_proxy_verdict_other_than_success_is_refused(proxied_server, ca_dir, tmp_path):
    ChargePointFactory(ocpp_id="CP-PX3-V", security_profile=3)
    cert, _key = charger_certificate(ca_dir, tmp_path, "CP-PX3-V")

    status = handshake_status(
        proxied_server,
        "CP-PX3-V",
        headers=proxy_headers(cert, verify="FAILED:certificate has expired"),
    )

    assert status == 403
    assert any("certificate has expired" in d for d in refusals("CP-PX3-V"))


def test_certificate_headers_from_an_untrusted_address_are_ignored(
    settings, django_db_setup, ca_dir, tmp_path
):
    """The same headers, but 127.0.0.1 is not a trusted proxy: no TLS, a downgrade."""
    settings.OCPP_TLS_TRUSTED_PROXIES = ["192.0.2.10"]
    live = start_asgi_server(
        tmp_path,
        name="untrusting",
        command_for_port=lambda port: server_command("uvicorn", "127.0.0.1", port),
        OCPP_UNKNOWN_CHARGERS="reject",
        OCPP_CA_DIR=str(ca_dir),
    )
    try:
        ChargePointFactory(ocpp_id="CP-PX3-U", security_profile=3)
        cert, _key = charger_certificate(ca_dir, tmp_path, "CP-PX3-U")

        status = handshake_status(live, "CP-PX3-U", headers=proxy_headers(cert))
    finally:
        live.stop()

    assert status == 403
    assert any("downgrade" in d for d in refusals("CP-PX3-U"))
    assert never_connected("CP-PX3-U")


def test_security_profile_is_a_charge_point_setting():
    charge_point = ChargePointFactory(ocpp_id="CP-DEFAULT")

    assert charge_point.security_profile == SecurityProfile.BASIC


# --- nginx as the TLS proxy (the distributed layout's configuration) ---------------

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@pytest.fixture
def nginx_front(proxied_server, ca_dir, tmp_path):
    """nginx from bench/distributed.py in front of the proxied server: plain + TLS."""
    if not Path(NGINX).exists():
        pytest.skip("nginx is not installed")
    tls = tls_server_files(ca_dir, names=["127.0.0.1", "localhost"])
    plain_port, tls_port = free_port(), free_port()
    (tmp_path / "nginx").mkdir()
    conf = tmp_path / "nginx" / "nginx.conf"
    conf.write_text(
        nginx_config(
            run_dir=tmp_path / "nginx",
            asgi_ports=[proxied_server.port],
            port=plain_port,
            tls=tls,
            tls_port=tls_port,
        )
    )
    process = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", str(tmp_path / "nginx"), "-g", "daemon off;"],
        stderr=subprocess.PIPE,
    )
    plain = LiveServer("127.0.0.1", plain_port, process, tmp_path / "nginx.log")
    secure = LiveServer(
        "127.0.0.1", tls_port, process, tmp_path / "nginx.log", {}, tls.client_ca_file
    )
    try:
        wait_until_answers(f"{plain.http_url}/healthz", process, conf, timeout_s=15)
        yield plain, secure
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_nginx_terminates_tls_and_passes_the_verified_certificate(
    nginx_front, ca_dir, tmp_path
):
    _plain, secure = nginx_front
    ChargePointFactory(ocpp_id="CP-NGX3", security_profile=3)
    ChargePointFactory(ocpp_id="CP-NGX3-A", security_profile=3)
    own = charger_certificate(ca_dir, tmp_path, "CP-NGX3")
    ChargePointFactory(ocpp_id="CP-NGX2", password="s3cret-pass-2", security_profile=2)

    accepted = connects_and_boots(
        secure, "CP-NGX3", ssl_context=client_context(secure.tls_ca_file, own)
    )
    other = handshake_status(
        secure, "CP-NGX3-A", ssl_context=client_context(secure.tls_ca_file, own)
    )
    profile_2 = connects_and_boots(secure, "CP-NGX2", password="s3cret-pass-2")

    assert accepted == "Accepted"
    assert other == 403
    assert profile_2 == "Accepted"
    assert never_connected("CP-NGX3-A")


def test_nginx_plain_port_drops_forged_certificate_headers(
    nginx_front, ca_dir, tmp_path
):
    plain, _secure = nginx_front
    ChargePointFactory(ocpp_id="CP-NGX-FORGED", security_profile=3)
    cert, _key = charger_certificate(ca_dir, tmp_path, "CP-NGX-FORGED")

    status = handshake_status(plain, "CP-NGX-FORGED", headers=proxy_headers(cert))

    assert status == 403
    assert never_connected("CP-NGX-FORGED")
    assert any("downgrade" in d for d in refusals("CP-NGX-FORGED"))
