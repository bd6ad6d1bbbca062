import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from cms.env import env_bool, env_choice, env_int, env_secret

ROOT = Path(__file__).resolve().parents[2]


def test_env_bool_refuses_anything_but_true_or_false(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG"):
        env_bool("FLAG", False)
    monkeypatch.setenv("FLAG", "True")
    assert env_bool("FLAG", False) is True


def test_env_int_names_the_variable(monkeypatch):
    monkeypatch.setenv("WORKERS", "two")
    with pytest.raises(ImproperlyConfigured, match="WORKERS"):
        env_int("WORKERS", 1)


def test_env_choice_lists_the_allowed_values(monkeypatch):
    monkeypatch.setenv("OCPP_UNKNOWN_CHARGERS", "maybe")
    with pytest.raises(ImproperlyConfigured, match="reject, pending, accept"):
        env_choice("OCPP_UNKNOWN_CHARGERS", "reject", ("reject", "pending", "accept"))


def test_env_secret_reads_the_file_variant(monkeypatch, tmp_path):
    secret = tmp_path / "key"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("API_KEY_FILE", str(secret))
    assert env_secret("API_KEY") == "from-a-file"


def _check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    clean.update({"CMS_VAR_DIR": str(ROOT / "var" / "check"), **env})
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_embedded_backends_with_debug_off_warn_that_they_are_single_process():
    result = _check({"DEBUG": "false", "SECRET_KEY": "x" * 60})
    assert "cms.W001" in result.stderr + result.stdout
    assert "cms.W002" in result.stderr + result.stdout


def test_missing_secret_key_with_debug_off_refuses_to_start():
    result = _check({"DEBUG": "false", "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
