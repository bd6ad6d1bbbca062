"""A database that is away (a restart, a failover) answers 503, never 500.

A real server whose database cannot be reached: the API answers 503 with its
error body, the portal a short page, both with ``Retry-After``, so pollers and
browsers try again instead of reporting a server fault.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path

from django.db import connection

from cms.management.commands.serve import server_command
from tests.live_server import ROOT, free_port, server_environment


def _get(url: str, headers: dict[str, str]) -> tuple[int, Message, bytes]:
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def test_requests_while_the_database_is_away_are_told_to_retry(tmp_path: Path) -> None:
    gone = (
        str(tmp_path / "gone" / "cms.sqlite3")
        if connection.vendor == "sqlite"
        else "cms_database_that_is_gone"
    )
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            server_command("uvicorn", "127.0.0.1", port),
            cwd=ROOT,
            env=server_environment(CMS_LIVE_SERVER_DB=gone),
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, headers, body = _get(
                    f"{base}/api/v1/charge-points/",
                    {
                        "Authorization": "Token 0123456789abcdef",
                        "Accept": "application/json",
                    },
                )
                break
            except OSError:
                assert server.poll() is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, log.read_text(errors="replace")
                time.sleep(0.2)
        assert status == 503, body[:500]
        assert headers.get("Retry-After") == "5", (headers.items(), body[:300])
        assert json.loads(body) == {
            "errors": [
                {
                    "field": None,
                    "message": "The database is unavailable for a moment; "
                    "try again shortly.",
                }
            ]
        }

        status, headers, body = _get(
            f"{base}/", {"Cookie": "sessionid=" + "k" * 32, "Accept": "text/html"}
        )
        assert status == 503, body[:500]
        assert headers.get("Retry-After") == "5", (headers.items(), body[:300])
        assert b"Temporarily unavailable" in body

        status, _, _ = _get(f"{base}/healthz", {})
        assert status == 503  # the balancer's check fails, as it should
    finally:
        server.terminate()
        server.wait(timeout=30)
