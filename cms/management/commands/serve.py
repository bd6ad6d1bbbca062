"""Serve portal, API, OCPP and live updates from one ASGI process.

``--server`` picks uvicorn (default: lower tail latency with many idle sockets,
see docs/benchmarks.md) or daphne. In demo mode the simulated fleet
(``SIMULATE`` chargers) is started next to the server once it answers.

SIGTERM (a process manager's stop, a rolling restart) and Ctrl-C stop the
server gracefully: it closes its sockets (chargers see 1012 "service restart"
and reconnect elsewhere), lets their handlers finish and cancels what still runs
after ``ASGI_SHUTDOWN_TIMEOUT_S``; this command waits for it a little longer and
kills it only if it is still there, so it never outlives the command.

``--tls`` (or ``TLS=1``) makes uvicorn terminate TLS itself for OCPP security
profiles 2 and 3: the server certificate is ``OCPP_TLS_CERT_FILE`` /
``OCPP_TLS_KEY_FILE`` or, when unset, one the CMS CA issues for
``OCPP_TLS_SERVER_NAMES``; client certificates are optional at the TLS layer
(profile-2 chargers have none), verified against the CMS CA, and reach the
gateway through the ASGI TLS extension (stations/ocpp/tls_server.py).
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from cms.env import env_bool
from cms.pki import TlsServerFiles, tls_server_files


def _wait_until_up(
    url: str, timeout_s: float, tls: TlsServerFiles | None = None
) -> bool:
    context = (
        ssl.create_default_context(cafile=str(tls.client_ca_file)) if tls else None
    )
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310  (loopback)
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def server_tls_files() -> TlsServerFiles:
    """The TLS files ``--tls`` serves with (made by the CMS CA when not configured)."""
    return tls_server_files(
        Path(settings.OCPP_CA_DIR),
        names=list(settings.OCPP_TLS_SERVER_NAMES),
        cert_file=settings.OCPP_TLS_CERT_FILE,
        key_file=settings.OCPP_TLS_KEY_FILE,
        extra_client_ca_file=settings.OCPP_TLS_EXTRA_CLIENT_CA_FILE,
    )


def server_command(
    server: str, host: str, port: int, *, tls: TlsServerFiles | None = None
) -> list[str]:
    """The ASGI server's command line, as this command and the tests start it."""
    if tls is not None and server != "uvicorn":
        raise ValueError("TLS termination is served by uvicorn")
    if server == "daphne":
        return [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            host,
            "-p",
            str(port),
            "--websocket_timeout",
            "-1",
            "--application-close-timeout",
            str(settings.ASGI_SHUTDOWN_TIMEOUT_S),
            "cms.asgi:application",
        ]
    return [
        sys.executable,
        "-m",
        "uvicorn",
        "cms.asgi:application",
        "--host",
        host,
        "--port",
        str(port),
        "--lifespan",
        "off",
        "--no-access-log",
        "--ws-max-size",
        str(settings.OCPP_TRANSPORT_MAX_FRAME_BYTES),
        "--ws-ping-interval",
        "60",
        "--ws-ping-timeout",
        "60",
        "--timeout-graceful-shutdown",
        str(settings.ASGI_SHUTDOWN_TIMEOUT_S),
        *_proxy_arguments(),
        *_tls_arguments(tls),
    ]


def _proxy_arguments() -> list[str]:
    # X-Forwarded-Proto (and so a TLS proxy's client certificate headers,
    # stations/ocpp/tls.py) is honoured from these addresses only.
    proxies = ",".join(settings.OCPP_TLS_TRUSTED_PROXIES)
    return ["--forwarded-allow-ips", proxies] if proxies else ["--no-proxy-headers"]


def _tls_arguments(tls: TlsServerFiles | None) -> list[str]:
    if tls is None:
        return []
    return [
        "--ssl-certfile",
        str(tls.cert_file),
        "--ssl-keyfile",
        str(tls.key_file),
        "--ssl-ca-certs",
        str(tls.client_ca_file),
        # Optional: profile-2 chargers present none; a presented one must verify.
        "--ssl-cert-reqs",
        str(int(ssl.CERT_OPTIONAL)),
        "--ws",
        "stations.ocpp.tls_server:TlsWebSocketProtocol",
    ]


class _Stop(Exception):
    """SIGTERM arrived: stop the server and the fleet, then exit."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop


class Command(BaseCommand):
    help = "Run the ASGI server (and, with --demo, the simulated charger fleet)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument(
            "--port", type=int, default=int(os.environ.get("PORT", "8000"))
        )
        parser.add_argument(
            "--server",
            choices=["uvicorn", "daphne"],
            default=os.environ.get("ASGI_SERVER", "uvicorn"),
        )
        parser.add_argument(
            "--demo",
            action="store_true",
            help="Print demo logins and start the simulated fleet.",
        )
        parser.add_argument(
            "--tls",
            action="store_true",
            default=env_bool("TLS", False),
            help="Terminate TLS (OCPP security profiles 2 and 3); also TLS=1.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        tls = server_tls_files() if options["tls"] else None
        command = server_command(options["server"], host, port, tls=tls)
        previous_handler = signal.signal(signal.SIGTERM, _raise_stop)
        # Children in their own process group: a terminal's Ctrl-C reaches this
        # command only, which then stops each child once (a second signal would
        # make uvicorn skip its graceful shutdown).
        server = subprocess.Popen(command, process_group=0)  # noqa: S603
        children = [server]
        scheme = "https" if tls else "http"
        ws_scheme = "wss" if tls else "ws"
        base_url = f"{scheme}://{host}:{port}"
        try:
            if not _wait_until_up(f"{base_url}/healthz", 60, tls):
                self.stderr.write("the server did not answer /healthz within 60 s")
                return
            self.stdout.write(self.style.SUCCESS(f"Portal:  {base_url}/"))
            self.stdout.write(
                f"OCPP:    {ws_scheme}://{host}:{port}/ocpp/<charge point id>  "
                "(subprotocol ocpp1.6 or ocpp2.0.1)"
            )
            if tls is not None:
                self.stdout.write(
                    f"TLS:     server certificate {tls.cert_file}, charger "
                    f"certificates verified against {tls.client_ca_file}"
                )
            if options["demo"]:
                self.stdout.write(
                    f"Logins:  admin / ops / support / finance, password {settings.DEMO_PASSWORD}"
                )
                count = int(os.environ.get("SIMULATE", "6"))
                ocpp201 = min(count, int(os.environ.get("SIMULATE_OCPP201", "2")))
                if count > 0:
                    simulator = subprocess.Popen(  # noqa: S603
                        [
                            sys.executable,
                            "manage.py",
                            "simulate_fleet",
                            "--url",
                            f"{ws_scheme}://{host}:{port}/ocpp/",
                            "--ca-file",
                            str(tls.client_ca_file) if tls else "",
                            "--count",
                            str(count),
                            "--demo",
                            # Busier than real life: a newcomer sees sessions at once.
                            "--mean-idle",
                            os.environ.get("SIMULATE_MEAN_IDLE", "3"),
                            "--ocpp201",
                            str(max(ocpp201, 0)),
                        ],
                        process_group=0,
                    )
                    children.append(simulator)
                    self.stdout.write(
                        f"Fleet:   {count} simulated chargers, {max(ocpp201, 0)} of "
                        "them on OCPP 2.0.1 (SIMULATE=0 turns it off, "
                        "SIMULATE_OCPP201 sets the 2.0.1 share)"
                    )
            self.stdout.write("Press Ctrl-C to stop.")
            server.wait()
        except (KeyboardInterrupt, _Stop):
            pass
        finally:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            for child in reversed(children):
                if child.poll() is None:
                    child.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + settings.ASGI_SHUTDOWN_TIMEOUT_S + 5
            for child in children:
                try:
                    child.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    self.stderr.write(
                        f"process {child.pid} still running after the shutdown "
                        "timeout: killed"
                    )
                    child.kill()
                    child.wait()
            signal.signal(signal.SIGTERM, previous_handler)
