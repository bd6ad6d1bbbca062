"""Id tokens and sessions in the portal search (registered from ``ready()``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import Q

from accounts.http import AnyUser
from sessions_app.models import ChargingSession, IdToken
from stations.search import SearchSection, search_section_register

MIN_TEXT_QUERY = 3  # shorter text would match half the drivers


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
    if len(query) >= MIN_TEXT_QUERY:
        # Support is called by a driver: by name, by the card's label, by e-mail.
        match |= Q(id_token__label__icontains=query) | Q(
            id_token__owner__email__icontains=query
        )
        for word in query.split():
            match |= Q(id_token__owner__first_name__iexact=word) | Q(
                id_token__owner__last_name__iexact=word
            )
        if " " in query.strip():
            first, _, last = query.strip().partition(" ")
            match |= Q(
                id_token__owner__first_name__iexact=first,
                id_token__owner__last_name__iexact=last.strip(),
            )
    return list(
        ChargingSession.objects.filter(
            charge_point__station__network_id__in=network_ids
        )
        .filter(match)
        .select_related(
            "charge_point", "charge_point__station", "id_token", "id_token__owner"
        )
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
