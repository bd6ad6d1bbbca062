"""Real ASGI servers (uvicorn or daphne subprocesses) on the test database.

Tests that drive a real WebSocket client or a browser use ``asgi_server`` (one
server for the whole run) and ``@pytest.mark.django_db(transaction=True)`` so the
data they create is committed and visible to the server process. With Redis in
the suite (``make test``) servers use the Redis channel layer, and so does the
test process through ``redis_channel_layer``, so commands cross processes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    host: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def server_environment(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "cms.settings_test",
            "CMS_LIVE_SERVER_DB": str(connection.settings_dict["NAME"]),
            "CMS_TEST_CHANNEL_LAYER": "redis" if settings.TEST_REDIS_URL else "memory",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def start_asgi_server(
    tmp_dir: Path, *, server: str = "uvicorn", name: str = "server", **env_extra: str
) -> LiveServer:
    """Start an ASGI server subprocess and wait until /healthz answers."""
    port = free_port()
    log_path = tmp_dir / f"{name}-{port}.log"
    if server == "daphne":
        command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
                   "cms.asgi:application"]
    else:
        command = [sys.executable, "-m", "uvicorn", "cms.asgi:application", "--host", "127.0.0.1",
                   "--port", str(port), "--lifespan", "off", "--no-access-log"]
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        command, cwd=ROOT, env=server_environment(**env_extra), stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    live = LiveServer("127.0.0.1", port, process, log_path, env_extra)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ASGI server exited early:\n{live.log()}")
        try:
            with urllib.request.urlopen(f"{live.http_url}/healthz", timeout=1) as response:
                if response.status == 200:
                    return live
        except OSError:
            time.sleep(0.1)
    live.stop()
    raise RuntimeError(f"ASGI server did not answer within 30 s:\n{live.log()}")


@pytest.fixture(scope="session")
def asgi_server(
    django_db_setup: None, django_db_blocker: object, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    """One uvicorn server on the test database for the whole run."""
    live = start_asgi_server(tmp_path_factory.mktemp("asgi"), OCPP_UNKNOWN_CHARGERS="reject")
    yield live
    live.stop()


@pytest.fixture
def server_factory(
    django_db_setup: None, tmp_path: Path
) -> Iterator[object]:
    """Start extra servers (e.g. a second process, other settings) for one test."""
    started: list[LiveServer] = []

    def factory(**kwargs: str) -> LiveServer:
        live = start_asgi_server(tmp_path, name=f"server{len(started)}", **kwargs)
        started.append(live)
        return live

    yield factory
    for live in started:
        live.stop()
