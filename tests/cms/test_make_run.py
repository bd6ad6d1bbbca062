"""`make run` smoke test: the same commands on a fresh var dir, then a real login."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

from tests.live_server import ROOT, free_port, wait_until_answers

DEMO_PASSWORD = "smoke-test-demo-pass-7"
# Variables of the test run that `make run` on a fresh machine would not have.
_TEST_ONLY_VARIABLES = {
    "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "SECRET_KEY",
    "CMS_LIVE_SERVER_DB", "CMS_TEST_CHANNEL_LAYER", "OCPP_UNKNOWN_CHARGERS",
    "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER", "EMBEDDED_SCHEDULER",
}  # fmt: skip


def _make_run_environment(var_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _TEST_ONLY_VARIABLES}
    env.update(
        DEBUG="true",
        DEMO_MODE="true",
        SIMULATE="0",
        PORT=str(port),
        CMS_VAR_DIR=str(var_dir),
        DEMO_PASSWORD=DEMO_PASSWORD,
        PYTHONUNBUFFERED="1",
    )
    return env


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C the whole process group (serve and its uvicorn child), then kill."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)


def test_make_run_serves_the_portal_and_the_demo_logins_work(tmp_path: Path) -> None:
    port = free_port()
    env = _make_run_environment(tmp_path / "var", port)
    manage = [sys.executable, "manage.py"]
    for step in (["migrate", "--noinput"], ["load_demo_data"]):
        subprocess.run(
            [*manage, *step], cwd=ROOT, env=env, check=True, timeout=180,
            capture_output=True,
        )  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [*manage, "serve", "--demo"], cwd=ROOT, env=env, stdout=log_file,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_answers(f"{base}/accounts/login/", process, log)
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with opener.open(f"{base}/accounts/login/", timeout=10) as response:
            form = response.read().decode()
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
        assert csrf is not None
        data = urllib.parse.urlencode(
            {
                "csrfmiddlewaretoken": csrf.group(1),
                "username": "ops",
                "password": DEMO_PASSWORD,
                "next": "/",
            }
        ).encode()
        with opener.open(f"{base}/accounts/login/", data=data, timeout=10) as response:
            overview = response.read().decode()
            final_url = response.url

        assert final_url == f"{base}/"
        assert 'data-testid="current-user">ops<' in overview
        assert "Demo Network" in overview
        assert "Northside Energy" not in overview  # ops is not granted it
        assert f"password {DEMO_PASSWORD}" in log.read_text()
    finally:
        _stop(process)
    assert process.returncode is not None
