"""Id tokens and sessions in the portal search (registered from ``ready()``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Q

from accounts.http import AnyUser
from sessions_app.models import ChargingSession, IdToken
from stations.search import SearchSection, search_section_register


def _tokens(
    *, user: AnyUser, query: str, network_ids: Sequence[int], limit: int
) -> list[Any]:
    return list(
        IdToken.objects.filter(network_id__in=network_ids)
        .filter(Q(token__icontains=query) | Q(label__icontains=query))
        .select_related("network")
        .order_by("token")[:limit]
    )


def _sessions(
    *, user: AnyUser, query: str, network_ids: Sequence[int], limit: int
) -> list[Any]:
    match = Q(id_tag__iexact=query)
    if query.isdigit():
        match |= Q(pk=int(query))
    return list(
        ChargingSession.objects.filter(
            charge_point__station__network_id__in=network_ids
        )
        .filter(match)
        .select_related("charge_point", "charge_point__station")
        .order_by("-started_at")[:limit]
    )


def search_sections_register() -> None:
    search_section_register(
        SearchSection(
            key="tokens",
            permission="charging.view_idtoken",
            find=_tokens,
            template="charging/search/tokens.html",
        )
    )
    search_section_register(
        SearchSection(
            key="sessions",
            permission="charging.view_chargingsession",
            find=_sessions,
            template="charging/search/sessions.html",
        )
    )
