"""Real ASGI servers (uvicorn or daphne subprocesses) on the test database.

Tests that drive a real WebSocket client or a browser use ``asgi_server`` (one
server for the whole run) and ``@pytest.mark.django_db(transaction=True)`` so the
data they create is committed and visible to the server process. With Redis in
the suite (``make test``) servers use the Redis channel layer, and so does the
test process through the ``shared_channel_layer`` fixture (autouse in tests/ocpp,
tests/remote), so commands cross processes.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    # A server terminating TLS: the CA file its certificate is checked against.
    tls_ca_file: Path | None = None

    @property
    def http_url(self) -> str:
        scheme = "https" if self.tls_ca_file else "http"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        scheme = "wss" if self.tls_ca_file else "ws"
        return f"{scheme}://{self.host}:{self.port}"

    def client_ssl_context(self) -> ssl.SSLContext | None:
        if self.tls_ca_file is None:
            return None
        return ssl.create_default_context(cafile=str(self.tls_ca_file))

    def log(self) -> str:
        return (
            self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def wait_until_answers(
    url: str, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 60
) -> None:
    """Wait for ``url`` to answer 200 from a server ``process`` started by a test."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the server exited early:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(
        f"{url} did not answer 200 in {timeout_s} s:\n{log.read_text()}"
    )


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
    tmp_dir: Path,
    *,
    server: str = "uvicorn",
    name: str = "server",
    command_for_port: Any = None,
    tls_ca_file: Path | None = None,
    **env_extra: str,
) -> LiveServer:
    """Start an ASGI server subprocess and wait until /healthz answers.

    ``command_for_port(port)`` gives another command line (e.g. ``manage.py
    serve``'s, with TLS); ``tls_ca_file`` then says the server speaks TLS.
    """
    port = free_port()
    log_path = tmp_dir / f"{name}-{port}.log"
    if command_for_port is not None:
        command = list(command_for_port(port))
    elif server == "daphne":
        command = [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "cms.asgi:application",
        ]
    else:
        command = [
            sys.executable,
            "-m",
            "uvicorn",
            "cms.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--lifespan",
            "off",
            "--no-access-log",
        ]
    log_file = log_path.open("wb")
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        env=server_environment(**env_extra),
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    live = LiveServer("127.0.0.1", port, process, log_path, env_extra, tls_ca_file)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ASGI server exited early:\n{live.log()}")
        try:
            with urllib.request.urlopen(
                f"{live.http_url}/healthz",
                timeout=1,
                context=live.client_ssl_context(),
            ) as response:
                if response.status == 200:
                    return live
        except OSError:
            time.sleep(0.1)
    live.stop()
    raise RuntimeError(f"ASGI server did not answer within 30 s:\n{live.log()}")


@pytest.fixture(scope="session")
def asgi_server(
    django_db_setup: None,
    django_db_blocker: object,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    """One uvicorn server on the test database for the whole run."""
    live = start_asgi_server(
        tmp_path_factory.mktemp("asgi"), OCPP_UNKNOWN_CHARGERS="reject"
    )
    yield live
    live.stop()


@pytest.fixture
def server_factory(django_db_setup: None, tmp_path: Path) -> Iterator[object]:
    """Start extra servers (e.g. a second process, other settings) for one test."""
    started: list[LiveServer] = []

    def factory(**kwargs: str) -> LiveServer:
        live = start_asgi_server(tmp_path, name=f"server{len(started)}", **kwargs)
        started.append(live)
        return live

    yield factory
    for live in started:
        live.stop()


def _wait_for_other_transactions(deadline_s: float = 10.0) -> None:
    """Wait until no other connection to the test database is inside a transaction.

    Server subprocesses keep writing briefly after a test's last client is gone
    (disconnect records, the batched message log). Flushing the tables meanwhile
    makes PostgreSQL abort one side with a deadlock, so the flush waits for them.
    """
    if connection.vendor != "postgresql":
        return
    deadline = time.monotonic() + deadline_s
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND (state = 'active' OR state LIKE 'idle in transaction%%')"
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)


@pytest.fixture(autouse=True)
def _live_servers_settled(request: pytest.FixtureRequest) -> Iterator[None]:
    """Before a transactional test's flush, let server processes finish their writes."""
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        yield
        return
    request.getfixturevalue("transactional_db")
    yield
    _wait_for_other_transactions()


@pytest.fixture(scope="session", autouse=True)
def _flush_retries_deadlocks() -> Iterator[None]:
    """Retry the between-tests flush when PostgreSQL aborts it as a deadlock victim.

    TRUNCATE locks tables one by one; a server subprocess that is mid-transaction
    (a charger's last frame, a disconnect record) can hold one table and want
    another, and PostgreSQL then aborts one side. The flush is all-or-nothing, so
    running it again once the server's transaction has finished is safe.
    """
    from django.core.management.base import CommandError
    from django.core.management.commands import flush
    from django.db import OperationalError

    original = flush.Command.handle

    def handle(self: flush.Command, **options: object) -> object:
        for attempt in range(10):
            try:
                return original(self, **options)
            except CommandError as error:
                if not isinstance(error.__cause__, OperationalError) or attempt == 9:
                    raise
                _wait_for_other_transactions()
                time.sleep(0.2)
        return None

    flush.Command.handle = handle  # type: ignore[method-assign]
    yield
    flush.Command.handle = original  # type: ignore[method-assign]


@pytest.fixture
def shared_channel_layer(settings: Any) -> Iterator[None]:
    """Give this test process the servers' Redis channel layer (when there is one).

    Live servers use Redis when ``TEST_REDIS_URL`` is set (and then do not poll the
    database for commands), so commands sent from a test must go through the same
    layer to reach their consumers. Without Redis the servers poll the database.
    """
    from channels.layers import channel_layers

    if not settings.TEST_REDIS_URL:
        yield
        return
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": settings.TEST_REDIS_URL, "socket_timeout": 30}],
                "expiry": 30,
            },
        }
    }
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()
