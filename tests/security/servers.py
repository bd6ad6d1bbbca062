"""A TLS-terminating server (``manage.py serve --tls``'s command line) and its CA."""

from __future__ import annotations

from pathlib import Path

import pytest

from cms.management.commands.serve import server_command
from cms.pki import tls_server_files
from tests.live_server import start_asgi_server


@pytest.fixture(scope="module")
def ca_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("ca")


@pytest.fixture(scope="module")
def tls_server(django_db_setup, ca_dir, tmp_path_factory):
    files = tls_server_files(ca_dir, names=["127.0.0.1", "localhost"])
    live = start_asgi_server(
        tmp_path_factory.mktemp("tls"),
        name="tls",
        command_for_port=lambda port: server_command(
            "uvicorn", "127.0.0.1", port, tls=files
        ),
        tls_ca_file=files.client_ca_file,
        OCPP_UNKNOWN_CHARGERS="reject",
        OCPP_CA_DIR=str(ca_dir),
    )
    yield live
    live.stop()
