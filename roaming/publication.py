"""The operator's choice of what roaming partners see: per network or per station."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import User
from accounts.services import audit_record, model_snapshot
from cms.errors import InputError
from roaming.models import LocationPublication
from stations.models import Network, Station


@transaction.atomic
def location_publication_set(
    *,
    network: Network | None = None,
    station: Station | None = None,
    is_published: bool,
    opening_times: dict[str, Any] | None = None,
    actor: User | None = None,
) -> LocationPublication:
    """Publish (or withdraw) a network's stations or one station to partners."""
    if (network is None) == (station is None):
        raise InputError("Name a network or a station.", field="network")
    if opening_times is not None and not (
        opening_times.get("twentyfourseven") is True
        or isinstance(opening_times.get("regular_hours"), list)
    ):
        # mod_locations "Hours class": twentyfourseven, or regular hours.
        raise InputError(
            "twentyfourseven or regular_hours is required", field="opening_times"
        )
    publication, _created = (
        LocationPublication.objects.select_for_update().get_or_create(
            network=network, station=station
        )
    )
    before = model_snapshot(publication)
    publication.is_published = is_published
    publication.opening_times = opening_times
    publication.save()
    target = station if station is not None else network
    audit_record(
        actor=actor,
        action="ocpi.location.published" if is_published else "ocpi.location.withdrawn",
        target=target,
        network=network
        if network is not None
        else station.network
        if station
        else None,
        before=before,
        after=model_snapshot(publication),
    )
    return publication
