"""Demo data, loaded in parts: each app registers the part of the demo it owns.

``manage.py load_demo_data`` (``make run`` runs it on every start) calls every
registered loader in one transaction, in the order the apps' ``ready()`` ran
(``INSTALLED_APPS`` order, which is the layer order: accounts' users before
stations' fleet before sessions' id tokens before billing's tariffs). A loader
looks up what a lower app's loader made by its natural key, so no app imports
one above it.

Loaders are idempotent: every object is looked up by its natural key and made
only when missing, so a second run changes nothing and objects an operator edited
in the portal keep their edits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.contrib.auth.hashers import check_password, make_password
from django.db import transaction


class DemoDataError(Exception):
    """The demo cannot be loaded (a precondition is missing); nothing is written."""


class SharedPassword:
    """One hash of a public demo password, shared by every object that uses it.

    Hashing is deliberately slow (PBKDF2), and ``make run`` loads the demo data on
    every start: hashing once and checking each distinct stored hash once keeps
    a rerun fast. A shared salt costs nothing for a password that is printed.
    """

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self._encoded: str | None = None
        self._matches: dict[str, bool] = {}

    @property
    def encoded(self) -> str:
        if self._encoded is None:
            self._encoded = make_password(self.raw)
            self._matches[self._encoded] = True
        return self._encoded

    def matches(self, encoded: str) -> bool:
        if not encoded:
            return False
        if encoded not in self._matches:
            self._matches[encoded] = check_password(self.raw, encoded)
        return self._matches[encoded]


class DemoTally:
    """What a load created and updated, for the one-line summary and the audit row."""

    def __init__(self) -> None:
        self.created: dict[str, int] = {}
        self.updated: list[str] = []

    def add(self, kind: str, created: bool) -> None:
        if created:
            self.created[kind] = self.created.get(kind, 0) + 1

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def summary(self) -> str:
        parts = [f"{count} {kind}" for kind, count in self.created.items()]
        sentences = ["created " + ", ".join(parts)] if parts else []
        if self.updated:
            sentences.append("updated " + ", ".join(self.updated))
        return "; ".join(sentences) or "nothing changed"


@dataclass
class DemoLoad:
    """One run of the loaders: the tally they share, the password hashes they
    reuse, and what runs once every loader is done (e.g. the audit row)."""

    tally: DemoTally = field(default_factory=DemoTally)
    _passwords: dict[str, SharedPassword] = field(default_factory=dict)
    _finishers: list[Callable[[DemoTally], None]] = field(default_factory=list)

    def password(self, raw: str) -> SharedPassword:
        if raw not in self._passwords:
            self._passwords[raw] = SharedPassword(raw)
        return self._passwords[raw]

    def on_finish(self, finisher: Callable[[DemoTally], None]) -> None:
        self._finishers.append(finisher)


DemoLoader = Callable[[DemoLoad], None]
_LOADERS: dict[str, DemoLoader] = {}


def demo_loader_register(name: str, loader: DemoLoader) -> None:
    """Add (or, under the same name, replace) a part of the demo; call it from
    ``AppConfig.ready()``."""
    _LOADERS[name] = loader


def demo_loaders() -> list[str]:
    return list(_LOADERS)


@transaction.atomic
def demo_data_load() -> DemoTally:
    """Run every registered loader, then the finishers; all or nothing."""
    load = DemoLoad()
    for loader in _LOADERS.values():
        loader(load)
    for finisher in load._finishers:
        finisher(load.tally)
    return load.tally
