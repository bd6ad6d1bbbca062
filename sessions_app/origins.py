"""Where a session's driver comes from: our own tokens, or a roaming partner's.

Roaming (a higher app) registers what it knows in its ``AppConfig.ready()``:
the choices a list may filter by and the condition each one stands for.
Without it every session is our own and no origin filter is offered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Q

# Filter choices beyond "own" and "roaming", e.g. one per partner.
OriginChoices = Callable[[], list[tuple[str, str]]]
# (choice, field prefix to the session, e.g. "session__") -> the condition, or
# None for a choice this provider does not know.
OriginCondition = Callable[[str, str], Q | None]

OWN = "own"
ROAMING = "roaming"


@dataclass(frozen=True)
class _Provider:
    choices: OriginChoices
    condition: OriginCondition


_providers: list[_Provider] = []


def session_origins_register(
    *, choices: OriginChoices, condition: OriginCondition
) -> None:
    """Offer the origin filter: ``condition(choice, prefix)`` selects the sessions."""
    provider = _Provider(choices=choices, condition=condition)
    if provider not in _providers:
        _providers.append(provider)


def session_origin_choices() -> list[tuple[str, str]]:
    """The filter's choices ("" first); empty when no origin is known but ours."""
    if not _providers:
        return []
    extra = [choice for provider in _providers for choice in provider.choices()]
    return [
        ("", "Own and roaming"),
        (OWN, "Own drivers only"),
        (ROAMING, "Roaming (any partner)"),
        *extra,
    ]


def session_origin_q(choice: str, *, prefix: str = "") -> Q:
    """The condition of ``choice`` on sessions reached through ``prefix``.

    Raises ``ValueError`` for a choice no provider knows.
    """
    for provider in _providers:
        condition = provider.condition(choice, prefix)
        if condition is not None:
            return condition
    raise ValueError(f"Unknown session origin {choice!r}")
