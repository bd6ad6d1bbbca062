"""Imports between apps run one way: cms <- accounts <- stations <- sessions_app
<- billing <- alerts (roaming on top). A lower app never imports a higher one;
where a lower room must cause work in a higher one it emits an event the higher
one subscribes to, or the higher one registers into a registry of the lower one
(the report registry, the overview's open-alert counter).

Every module's imports are read with ``ast`` (also the ones inside functions,
``importlib.import_module("...")`` and ``apps.get_model("label", ...)`` with a
literal name). An upward import fails unless ``ALLOWED`` names it with the
reason it remains; an entry whose import is gone fails too, so the list only
shrinks.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("cms", "accounts", "stations", "sessions_app", "billing", "alerts", "roaming")
RANK = {app: index for index, app in enumerate(LAYERS)}
# ``apps.get_model`` takes app labels; sessions_app's label is "charging".
LABELS = {"charging": "sessions_app", **{app: app for app in LAYERS}}

# The project's wiring: URL roots and the ASGI router put every app together.
COMPOSITION_ROOTS = {
    "cms.urls": "the portal's URL root includes every app's URLs",
    "cms.api_urls": "the API's URL root routes to every app's API views",
    "cms.routing": "the ASGI router mounts every app's sockets",
}

_SCOPE = (
    "accounts grants networks (object scope) and shows them on user pages; "
    "Network lives in stations. Fix: the network grants move to stations "
    "(or accounts keeps only users, roles and audit)"
)
_SESSIONS_READ = (
    "reads charging sessions (sessions_app is above stations); fix: a selector "
    "sessions_app registers, or the page moves up"
)
_REPORT_HISTORY = (
    "the connector roll-ups read sessions and meter values (sessions started "
    "and energy per hour, late session data, the meter-value purge); fix: "
    "sessions_app registers these readers into the report room"
)

# (importing module, imported app): why the upward import remains.
ALLOWED: dict[tuple[str, str], str] = {
    ("accounts.api", "stations"): _SCOPE,
    ("accounts.forms", "stations"): _SCOPE,
    ("accounts.selectors", "stations"): _SCOPE,
    ("accounts.services", "stations"): _SCOPE,
    ("accounts.views", "stations"): _SCOPE,
    ("stations.live.selectors", "sessions_app"): (
        "overview figures and board rows show active sessions, power and energy "
        "today; " + _SESSIONS_READ
    ),
    ("stations.remote.services", "sessions_app"): (
        "remote start/stop name an id token and a session; fix: the session side "
        "of a remote start subscribes to the command's outcome"
    ),
    ("stations.remote.views", "sessions_app"): "the remote-start form lists id "
    "tokens; " + _SESSIONS_READ,
    ("stations.reports.history", "sessions_app"): _REPORT_HISTORY,
    ("stations.reports.tasks", "sessions_app"): _REPORT_HISTORY,
    ("stations.smart.services", "sessions_app"): (
        "the allocator's demands are the active sessions; " + _SESSIONS_READ
    ),
}


@dataclass(frozen=True)
class Upward:
    module: str
    app: str
    where: str
    target: str


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _targets(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, dotted module or app label) of every import-like reference."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Call) and node.args:
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            first = node.args[0]
            if not isinstance(first, ast.Constant) or not isinstance(first.value, str):
                continue
            if name == "import_module":
                found.append((node.lineno, first.value))
            elif name == "get_model":
                label = first.value.split(".")[0]
                found.append((node.lineno, LABELS.get(label, label)))
    return found


def upward_imports() -> list[Upward]:
    """Every import of a higher app from a lower one, in the application code."""
    result = []
    for app in LAYERS:
        for path in sorted((ROOT / app).rglob("*.py")) if (ROOT / app).exists() else []:
            if "migrations" in path.parts:
                continue
            module = _module_name(path)
            if module in COMPOSITION_ROOTS:
                continue
            tree = ast.parse(path.read_text(), filename=str(path))
            for line, target in _targets(tree):
                top = target.split(".")[0]
                if top in RANK and RANK[top] > RANK[app]:
                    where = f"{path.relative_to(ROOT)}:{line}"
                    result.append(Upward(module, top, where, target))
    return result


def test_no_app_imports_a_higher_app_outside_the_allowed_list():
    found = [
        f"{item.where} imports {item.target}"
        for item in upward_imports()
        if (item.module, item.app) not in ALLOWED
    ]

    assert found == [], (
        "An app imports a higher one (" + " <- ".join(LAYERS) + "). Emit an event "
        "the higher app subscribes to, or let it register into a registry here:\n"
        + "\n".join(found)
    )


def test_every_allowed_exception_still_exists():
    present = {(item.module, item.app) for item in upward_imports()}

    stale = sorted(set(ALLOWED) - present)

    assert stale == [], f"Fixed: remove these from ALLOWED: {stale}"


def test_the_checker_sees_lazy_imports_and_lookups_by_name():
    tree = ast.parse(
        "def f():\n"
        "    from billing.models import Cdr\n"
        "    import_module('alerts.tasks')\n"
        "    apps.get_model('charging', 'ChargingSession')\n"
    )

    assert [target for _, target in _targets(tree)] == [
        "billing.models",
        "alerts.tasks",
        "sessions_app",
    ]
