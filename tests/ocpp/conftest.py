"""With Redis in the suite, this test process sends commands through Redis too.

``cms.settings_test`` gives the test process the in-memory layer; the live
servers use Redis when ``TEST_REDIS_URL`` is set, so ``command_send`` from a
test must use the same Redis layer to reach their consumers. Without Redis the
servers' consumers pick commands up from the database instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _shared_channel_layer(shared_channel_layer: None) -> None:
    """Every test here uses the servers' channel layer (tests/live_server.py)."""


@pytest.fixture(autouse=True)
def _gateway_settled(request) -> Iterator[None]:
    """After a live-server test, wait until the server has finished with its sockets.

    A consumer records the disconnect (its last write) after the client has
    gone; flushing the test database meanwhile would race with it (PostgreSQL
    reports a deadlock, SQLite waits on its lock).
    """
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        yield
        return
    request.getfixturevalue("transactional_db")
    yield
    from stations.models import ChargePoint

    deadline = time.monotonic() + 10
    while ChargePoint.objects.filter(is_connected=True).exists():
        if time.monotonic() > deadline:
            break
        time.sleep(0.05)


# TLS servers for the security-profile tests (one per module that asks).
from tests.security.servers import ca_dir, tls_server  # noqa: E402,F401
