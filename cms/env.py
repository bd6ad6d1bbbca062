"""Strict readers for settings taken from the environment.

Each helper raises ``ImproperlyConfigured`` naming the variable when the value
cannot be understood, so a typo in a deployment fails at start, not later.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from exc
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {number}")
    return number


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, not {value!r}") from exc


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = os.environ.get(name) or default
    if value not in choices:
        raise ImproperlyConfigured(
            f"{name} must be one of {', '.join(choices)}, not {value!r}"
        )
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


def env_secret(name: str, default: str | None = None) -> str | None:
    """Read NAME, or the contents of the file named by NAME_FILE."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            return Path(file_name).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(
                f"{name}_FILE={file_name!r} cannot be read: {exc}"
            ) from exc
    return env_str(name, default)


# The variables `make run` sets for the embedded product; a manage.py command run
# beside it with none of them set reads them from VAR_DIR/embedded.env.
EMBEDDED_ENV_VARIABLES = ("DEBUG", "DEMO_MODE", "SECRET_KEY", "DATABASE_URL")
# Also recorded, and applied only where the environment does not set them.
EMBEDDED_ENV_EXTRA = ("OCPI_BASE_URL",)
EMBEDDED_ENV_FILE_NAME = "embedded.env"


def embedded_env_apply(path: Path) -> bool:
    """Put the embedded run's variables from ``path`` into the environment.

    Only when the environment sets none of ``EMBEDDED_ENV_VARIABLES`` (nor
    ``SECRET_KEY_FILE``): any of them set means the caller configures the process
    itself, and nothing is mixed in. Returns whether the file was applied.
    """
    names = (*EMBEDDED_ENV_VARIABLES, "SECRET_KEY_FILE")
    if any(name in os.environ for name in names) or not path.is_file():
        return False
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, value = line.partition("=")
        known = (*EMBEDDED_ENV_VARIABLES, *EMBEDDED_ENV_EXTRA)
        if not sep or name.strip() not in known:
            raise ImproperlyConfigured(f"{path}:{number}: not NAME=value of {known}")
        values[name.strip()] = value.strip()
    for name in EMBEDDED_ENV_EXTRA:
        if name in os.environ:
            values.pop(name, None)
    os.environ.update(values)
    return True


def embedded_env_write(path: Path, values: dict[str, str]) -> None:
    """Write the embedded run's variables, readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Written by `manage.py embedded_env` (make run): the settings of the",
        "# embedded product, read by manage.py commands run without DEBUG, DEMO_MODE,",
        "# SECRET_KEY or DATABASE_URL in their environment.",
        *(f"{name}={values[name]}" for name in EMBEDDED_ENV_VARIABLES),
        *(f"{name}={values[name]}" for name in EMBEDDED_ENV_EXTRA if name in values),
    ]
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write("\n".join(lines) + "\n")
    temporary.replace(path)
