"""Serve portal, API, OCPP and live updates from one ASGI process.

``--server`` picks uvicorn (default: lower tail latency with many idle sockets,
see docs/benchmarks.md) or daphne. In demo mode the simulated fleet
(``SIMULATE`` chargers) is started next to the server once it answers.

SIGTERM (a process manager's stop, a rolling restart) and Ctrl-C stop the
server gracefully: it closes its sockets (chargers see 1012 "service restart"
and reconnect elsewhere), lets their handlers finish and cancels what still runs
after ``ASGI_SHUTDOWN_TIMEOUT_S``; this command waits for it a little longer and
kills it only if it is still there, so it never outlives the command.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser


def _wait_until_up(url: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  (loopback)
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def server_command(server: str, host: str, port: int) -> list[str]:
    """The ASGI server's command line, as this command and the tests start it."""
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

    def handle(self, *args: Any, **options: Any) -> None:
        host, port = options["host"], options["port"]
        command = server_command(options["server"], host, port)
        previous_handler = signal.signal(signal.SIGTERM, _raise_stop)
        # Children in their own process group: a terminal's Ctrl-C reaches this
        # command only, which then stops each child once (a second signal would
        # make uvicorn skip its graceful shutdown).
        server = subprocess.Popen(command, process_group=0)  # noqa: S603
        children = [server]
        base_url = f"http://{host}:{port}"
        try:
            if not _wait_until_up(f"{base_url}/healthz", 60):
                self.stderr.write("the server did not answer /healthz within 60 s")
                return
            self.stdout.write(self.style.SUCCESS(f"Portal:  {base_url}/"))
            self.stdout.write(
                f"OCPP:    ws://{host}:{port}/ocpp/<charge point id>  "
                "(subprotocol ocpp1.6 or ocpp2.0.1)"
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
                            f"ws://{host}:{port}/ocpp/",
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
