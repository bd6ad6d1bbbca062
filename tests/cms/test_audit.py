"""The dependency audit says what it checked: never "no known vulnerabilities"
about packages the vulnerability service could not be asked about."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.live_server import ROOT

AUDIT = ROOT / ".ci" / "audit.py"


def _pinned() -> list[tuple[str, str]]:
    pins = []
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins.append((name.strip(), version.strip()))
    return pins


def _audit(tmp_path: Path, report: dict[str, Any], *flags: str) -> tuple[int, str]:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(report))
    result = subprocess.run(
        [sys.executable, str(AUDIT), "--from-json", str(path), *flags],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return result.returncode, result.stdout + result.stderr


def test_an_unreachable_service_is_not_reported_as_clean(tmp_path: Path) -> None:
    # What pip-audit writes when PyPI's per-version JSON is out of reach.
    report = {
        "dependencies": [
            {
                "name": name.lower(),
                "skip_reason": "Dependency not found on PyPI and could not be "
                f"audited: {name.lower()} ({version})",
            }
            for name, version in _pinned()
        ],
        "fixes": [],
    }
    strict_code, strict_output = _audit(tmp_path, report)
    tolerant_code, tolerant_output = _audit(tmp_path, report, "--offline-ok")

    total = len(_pinned())
    assert strict_code == 2
    assert tolerant_code == 0
    for output in (strict_output, tolerant_output):
        assert f"0 of {total} pinned packages checked" in output
        assert f"{total} of {total} packages were NOT checked" in output
        assert "No known vulnerabilities" not in output
        assert "Clean" not in output


def test_every_package_checked_and_none_affected_is_clean(tmp_path: Path) -> None:
    report = {
        "dependencies": [
            {"name": name, "version": version, "vulns": []}
            for name, version in _pinned()
        ]
    }
    code, output = _audit(tmp_path, report)

    assert code == 0
    assert f"{len(_pinned())} of {len(_pinned())} pinned packages checked" in output
    assert "Clean" in output


def test_a_known_vulnerability_fails_in_every_mode(tmp_path: Path) -> None:
    pins = _pinned()
    vulnerable = {
        "id": "PYSEC-2099-1",
        "fix_versions": ["99.0"],
        "aliases": [],
        "description": "test",
    }
    report = {
        "dependencies": [
            {"name": name, "version": version, "vulns": [vulnerable] if i == 0 else []}
            for i, (name, version) in enumerate(pins)
        ]
    }
    for flags in ((), ("--offline-ok",)):
        code, output = _audit(tmp_path, report, *flags)
        assert code == 1
        assert (
            f"VULNERABLE {pins[0][0]} {pins[0][1]}: PYSEC-2099-1 (fixed in 99.0)"
            in output
        )


def test_packages_left_out_of_the_report_count_as_unchecked(tmp_path: Path) -> None:
    pins = _pinned()
    report = {
        "dependencies": [
            {"name": name, "version": version, "vulns": []}
            for name, version in pins[1:]
        ]
    }
    code, output = _audit(tmp_path, report)

    assert code == 2
    assert f"1 of {len(pins)} packages were NOT checked" in output
