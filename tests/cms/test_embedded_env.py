"""manage.py commands beside a running `make run` work as the README writes them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.live_server import ROOT

# What a shell beside `make run` has: none of the product's variables.
_NOT_IN_A_FRESH_SHELL = {
    "DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG",
    "DEMO_MODE", "SECRET_KEY_FILE", "CMS_LIVE_SERVER_DB", "CMS_TEST_CHANNEL_LAYER",
    "OCPP_UNKNOWN_CHARGERS", "CELERY_BROKER_URL", "CELERY_TASK_ALWAYS_EAGER",
    "EMBEDDED_SCHEDULER",
}  # fmt: skip


def _manage(
    var_dir: Path, *args: str, **extra: str
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in _NOT_IN_A_FRESH_SHELL}
    env.update(CMS_VAR_DIR=str(var_dir), **extra)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_readme_commands_work_beside_make_run_as_written(tmp_path: Path) -> None:
    var_dir = tmp_path / "var"
    tokens = tmp_path / "tokens.csv"
    tokens.write_text("token,status\nREADME-TOKEN-1,Accepted\n")

    before = _manage(var_dir, "import_id_tokens", str(tokens))
    assert before.returncode != 0
    assert "SECRET_KEY" in before.stderr

    # What `make run` runs before serving (Makefile, target run).
    for step in (("migrate", "--noinput"), ("embedded_env",)):
        done = _manage(var_dir, *step, DEBUG="true", DEMO_MODE="true")
        assert done.returncode == 0, done.stderr
    env_file = var_dir / "embedded.env"
    assert env_file.stat().st_mode & 0o077 == 0  # the secret key: owner only

    first = _manage(var_dir, "import_id_tokens", str(tokens))
    assert first.returncode == 0, first.stderr
    assert "1 created" in first.stdout
    again = _manage(var_dir, "import_id_tokens", str(tokens))
    assert "1 unchanged" in again.stdout  # the same (embedded SQLite) database

    unknown = _manage(
        var_dir, "send_command", "CP-NOT-THERE", "Reset", '{"type": "Soft"}'
    )
    assert "SECRET_KEY" not in unknown.stderr
    assert "CP-NOT-THERE" in unknown.stderr


def test_a_process_that_sets_any_variable_itself_ignores_the_embedded_file(
    tmp_path: Path,
) -> None:
    var_dir = tmp_path / "var"
    done = _manage(var_dir, "embedded_env", DEBUG="true", DEMO_MODE="true")
    assert done.returncode == 0, done.stderr

    production_like = _manage(var_dir, "check", DEBUG="false")
    assert production_like.returncode != 0
    assert "SECRET_KEY" in production_like.stderr


def test_partners_are_told_the_port_make_run_serves_on(tmp_path: Path) -> None:
    """`PORT=9123 make run`: `ocpi_token_a` typed beside it prints port 9123."""
    var_dir = tmp_path / "var"
    for step in (("migrate", "--noinput"), ("embedded_env",)):
        done = _manage(var_dir, *step, DEBUG="true", DEMO_MODE="true", PORT="9123")
        assert done.returncode == 0, done.stderr
    beside = _manage(
        var_dir, "ocpi_token_a", "--country-code", "NL", "--party-id", "ABC"
    )
    assert beside.returncode == 0, beside.stderr
    assert "versions_url=http://127.0.0.1:9123/ocpi/versions" in beside.stdout
