"""The operator's choice of what roaming partners see and pay.

Locations per network or per station, EVSEs one by one, and per partner and
network the tariff its drivers are rated with.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from accounts.models import User
from accounts.services import audit_record, model_snapshot
from billing.models import Tariff
from cms.errors import InputError
from roaming.models import (
    EvsePublication,
    LocationPublication,
    Partner,
    RoamingSession,
    TariffPublication,
)
from sessions_app.models import ChargingSession
from stations.models import Connector, Network, Station


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


@transaction.atomic
def station_publication_inherit(*, station: Station, actor: User | None = None) -> None:
    """Drop a station's own choice: it follows its network's again."""
    publication = (
        LocationPublication.objects.select_for_update().filter(station=station).first()
    )
    if publication is None:
        return
    before = model_snapshot(publication)
    publication.delete()
    audit_record(
        actor=actor,
        action="ocpi.location.inherits",
        target=station,
        network=station.network,
        before=before,
    )


@transaction.atomic
def evse_publication_set(
    *, connector: Connector, is_published: bool, actor: User | None = None
) -> EvsePublication:
    """Withdraw one EVSE (one of our connectors) from its Location, or bring it back."""
    publication, _created = EvsePublication.objects.select_for_update().get_or_create(
        connector=connector
    )
    before = model_snapshot(publication)
    changed = publication.is_published != is_published
    publication.is_published = is_published
    publication.save()
    if changed:
        from roaming.cpo.pushes import evse_publication_pushes_enqueue

        evse_publication_pushes_enqueue(connector=connector, is_published=is_published)
    station = connector.charge_point.station
    audit_record(
        actor=actor,
        action="ocpi.evse.published" if is_published else "ocpi.evse.withdrawn",
        target=connector,
        network=station.network if station is not None else None,
        before=before,
        after=model_snapshot(publication),
    )
    return publication


@transaction.atomic
def tariff_publication_set(
    *,
    partner: Partner,
    network: Network,
    tariff: Tariff | None,
    actor: User | None = None,
) -> TariffPublication | None:
    """Publish ``tariff`` to ``partner`` for ``network`` (None: the network's own).

    The partner's drivers are then rated with this tariff at the network's
    stations (``partner_tariff_for_session``), so the price the eMSP pulled is
    the price in the CDR.
    """
    if tariff is not None:
        if tariff.network_id != network.pk:
            raise InputError("The tariff belongs to another network.", field="tariff")
        if not tariff.is_active:
            raise InputError("The tariff is not active.", field="tariff")
    current = (
        TariffPublication.objects.select_for_update()
        .filter(partner=partner, network=network)
        .first()
    )
    before = model_snapshot(current) if current is not None else None
    if tariff is None:
        if current is not None:
            current.delete()
        publication = None
    elif current is None:
        publication = TariffPublication.objects.create(
            partner=partner, network=network, tariff=tariff
        )
    else:
        current.tariff = tariff
        current.save()
        publication = current
    audit_record(
        actor=actor,
        action="ocpi.tariff.published",
        target=partner,
        network=network,
        before=before,
        after=model_snapshot(publication) if publication is not None else None,
        detail=f"{network}: {tariff if tariff is not None else 'the network tariffs'}",
    )
    return publication


def partner_tariff_for_session(session: ChargingSession) -> Tariff | None:
    """The tariff published to the partner whose driver charges in ``session``.

    Registered with billing's tariff resolution, so a roaming session is rated
    (live estimate and CDR alike) with what the eMSP pulled from us.
    """
    station = session.charge_point.station if session.charge_point_id else None
    if station is None or session.id_token_id is not None or not session.id_tag:
        return None
    partner_id = (
        RoamingSession.objects.filter(session_id=session.pk)
        .values_list("partner_id", flat=True)
        .first()
        if session.pk
        else None
    )
    if partner_id is None:
        # Not linked yet (the session.started subscriber may run later).
        from roaming.cpo.tokens import partner_token_for

        token = partner_token_for(session.id_tag)
        partner_id = token.partner_id if token is not None else None
    if partner_id is None:
        return None
    publication = (
        TariffPublication.objects.select_related("tariff")
        .filter(
            partner_id=partner_id,
            network_id=station.network_id,
            tariff__is_active=True,
        )
        .first()
    )
    return publication.tariff if publication is not None else None
