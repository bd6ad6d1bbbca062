#!/usr/bin/env python3
"""Audit the pinned dependencies (requirements.lock) for known vulnerabilities.

    python .ci/audit.py                 # strict: fails unless every package was checked
    python .ci/audit.py --offline-ok    # make test / CI: an unreachable vulnerability
                                        # service is reported loudly, not fatal
    python .ci/audit.py --from-json F   # read a pip-audit JSON report instead of running it

pip-audit asks PyPI's JSON API about each pinned version. Where that service is
out of reach (a mirror without per-version JSON, no network), pip-audit marks
every package "could not be audited" and still prints "No known vulnerabilities
found". This wrapper counts what was really checked and says so:

- a known vulnerability fails in every mode (exit 1);
- packages that could not be checked fail the strict mode (exit 2) and, with
  ``--offline-ok``, print a banner naming how many were not checked (exit 0);
- only when every package was checked and none is affected does it say "clean".

pip-audit runs from its own virtualenv (var/audit-venv): it is a tool of the
pipeline, not a dependency of the product, and must not change the product's
pinned packages.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LOCK = ROOT / "requirements.lock"
VENV = ROOT / "var" / "audit-venv"
PIP_AUDIT = "pip-audit==2.10.1"
TIMEOUT_S = 900


def _banner(lines: list[str]) -> str:
    width = max(len(line) for line in lines) + 4
    rule = "!" * width
    return "\n".join([rule, *(f"! {line.ljust(width - 4)} !" for line in lines), rule])


def _pip_audit() -> Path:
    """The pip-audit executable, installed into its own virtualenv once."""
    executable = VENV / "bin" / "pip-audit"
    if not executable.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
        subprocess.run(  # noqa: S603
            [
                str(VENV / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                PIP_AUDIT,
            ],
            check=True,
            timeout=TIMEOUT_S,
        )
    return executable


def _run_pip_audit() -> dict[str, Any]:
    result = subprocess.run(  # noqa: S603
        [
            str(_pip_audit()), "--requirement", str(LOCK), "--no-deps",
            "--disable-pip", "--format", "json", "--progress-spinner", "off",
        ],
        capture_output=True, text=True, timeout=TIMEOUT_S, check=False,
    )  # fmt: skip
    # Exit 1 means "vulnerabilities found"; anything else without JSON is a failure.
    try:
        return dict(json.loads(result.stdout))
    except ValueError as error:
        raise RuntimeError(
            f"pip-audit gave no report (exit {result.returncode}): "
            f"{result.stderr.strip()[-500:]}"
        ) from error


def canonical(name: str) -> str:
    """A package name as PyPI normalises it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def pinned_packages() -> list[str]:
    names = []
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and "==" in line and not line.startswith("-"):
            names.append(canonical(line.split("==", 1)[0]))
    return names


def verdict(report: dict[str, Any], *, offline_ok: bool) -> tuple[int, str]:
    """The exit code and what to print for a pip-audit JSON report."""
    dependencies = report.get("dependencies", [])
    checked = [dep for dep in dependencies if "skip_reason" not in dep]
    skipped = [dep for dep in dependencies if "skip_reason" in dep]
    pinned = pinned_packages()
    reported = {canonical(str(dep.get("name", ""))) for dep in dependencies}
    missing = [name for name in pinned if name not in reported]
    vulnerable = [
        (dep["name"], dep.get("version", "?"), vuln)
        for dep in checked
        for vuln in dep.get("vulns", [])
    ]
    total = len(pinned)
    lines = [f"Dependency audit: {len(checked)} of {total} pinned packages checked."]
    for name, version, vuln in vulnerable:
        fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed version yet"
        lines.append(
            f"VULNERABLE {name} {version}: {vuln.get('id')} (fixed in {fixes})"
        )
    if vulnerable:
        lines.append(f"{len(vulnerable)} known vulnerabilities: upgrade the lock.")
        return 1, "\n".join(lines)
    unchecked = len(skipped) + len(missing)
    if unchecked:
        reasons = sorted({str(dep["skip_reason"]).split(":")[0] for dep in skipped})
        banner = _banner(
            [
                f"DEPENDENCY AUDIT INCOMPLETE: {unchecked} of {total} packages were NOT checked.",
                *(f"reason: {reason}" for reason in reasons),
                *(["not in the report: " + ", ".join(missing[:10])] if missing else []),
                "No claim is made about their vulnerabilities.",
                "Run `make audit` where the vulnerability service is reachable.",
            ]
        )
        return (0 if offline_ok else 2), "\n".join([*lines, banner])
    lines.append("Clean: no known vulnerabilities in any pinned package.")
    return 0, "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--offline-ok", action="store_true")
    parser.add_argument("--from-json", type=Path)
    args = parser.parse_args()
    try:
        report = (
            json.loads(args.from_json.read_text())
            if args.from_json
            else _run_pip_audit()
        )
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        message = _banner(
            [
                "DEPENDENCY AUDIT NOT PERFORMED: pip-audit could not run.",
                str(error)[:200],
            ]
        )
        sys.stderr.write(message + "\n")
        return 0 if args.offline_ok else 2
    code, message = verdict(report, offline_ok=args.offline_ok)
    stream = sys.stderr if code or "INCOMPLETE" in message else sys.stdout
    stream.write(message + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
