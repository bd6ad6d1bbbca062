"""Reads of tokens, sessions and meter values, always filtered by the user's scope.

Same contract as ``stations.selectors``: ``*_list_for_user`` filters by the
networks granted to the user; ``*_get_for_user`` raises ``Http404`` outside that
scope and ``PermissionDenied`` when the role lacks ``perm``.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404

from accounts.models import User
from accounts.scope import is_administrator
from sessions_app import metering
from sessions_app.models import ChargingSession, IdToken, MeterValue, UnmatchedStop
from stations.models import OcppMessage
from stations.ocpp.versions import transaction_frames
from stations.selectors import can_see_unassigned, network_ids_for_user


def _require(user: User | AnonymousUser, perm: str | None) -> None:
    if perm is not None and not user.has_perm(perm):
        raise PermissionDenied(f"Your role does not allow this ({perm}).")


def id_token_list_for_user(*, user: User | AnonymousUser) -> QuerySet[IdToken]:
    """Tokens of the user's networks; tokens of no network only for administrators."""
    scope = Q(network_id__in=network_ids_for_user(user=user))
    if is_administrator(user):
        scope |= Q(network__isnull=True)
    return IdToken.objects.filter(scope).select_related("network", "parent", "owner")


def id_token_get_for_user(
    *, user: User | AnonymousUser, pk: int, perm: str | None = None
) -> IdToken:
    id_token = id_token_list_for_user(user=user).filter(pk=pk).first()
    if id_token is None:
        raise Http404("No such id token.")
    _require(user, perm)
    return id_token


def _charge_point_scope(user: User | AnonymousUser, prefix: str) -> Q:
    scope = Q(**{f"{prefix}station__network_id__in": network_ids_for_user(user=user)})
    if can_see_unassigned(user):
        scope |= Q(**{f"{prefix}station__isnull": True})
    return scope


def session_list_for_user(*, user: User | AnonymousUser) -> QuerySet[ChargingSession]:
    return ChargingSession.objects.filter(
        _charge_point_scope(user, "charge_point__")
    ).select_related(
        "charge_point", "charge_point__station", "charge_point__station__network"
    )


def session_get_for_user(
    *, user: User | AnonymousUser, pk: int, perm: str | None = None
) -> ChargingSession:
    session = (
        session_list_for_user(user=user)
        .select_related("id_token", "connector")
        .filter(pk=pk)
        .first()
    )
    if session is None:
        raise Http404("No such session.")
    _require(user, perm)
    return session


def unmatched_stop_list_for_user(
    *, user: User | AnonymousUser
) -> QuerySet[UnmatchedStop]:
    return UnmatchedStop.objects.filter(
        _charge_point_scope(user, "charge_point__")
    ).select_related(
        "charge_point",
        "charge_point__station",
        "charge_point__station__network",
        "resolved_by",
    )


def unmatched_stop_get_for_user(
    *, user: User | AnonymousUser, pk: int, perm: str | None = None
) -> UnmatchedStop:
    unmatched = unmatched_stop_list_for_user(user=user).filter(pk=pk).first()
    if unmatched is None:
        raise Http404("No such unmatched stop.")
    _require(user, perm)
    return unmatched


def session_meter_values(*, session: ChargingSession) -> QuerySet[MeterValue]:
    return MeterValue.objects.filter(session=session).order_by("timestamp", "id")


CHART_MAX_POINTS = 2000


def session_chart_series(*, session: ChargingSession) -> dict[str, list[Any]]:
    """Energy (kWh since start), power (kW) and SoC (%) per instant, for the chart.

    Uses the same rules as the live state (total register, else sum of phases;
    interval energy accumulated when no register), thinned to CHART_MAX_POINTS.
    """
    rows = (
        MeterValue.objects.filter(
            session=session,
            measurand__in=[
                metering.ENERGY_REGISTER,
                metering.ENERGY_INTERVAL,
                metering.POWER_ACTIVE_IMPORT,
                metering.STATE_OF_CHARGE,
            ],
            value__isnull=False,
        )
        .order_by("timestamp", "id")
        .values_list("timestamp", "measurand", "phase", "location", "value")
    )
    samples = [
        metering.Sample(
            timestamp=timestamp,
            measurand=measurand,
            phase=phase,
            location=location,
            unit="",
            context="",
            value_format="",
            raw_value="",
            value=value,
        )
        for timestamp, measurand, phase, location, value in rows.iterator(
            chunk_size=2000
        )
    ]
    series: dict[str, list[Any]] = {
        "t": [],
        "energy_kwh": [],
        "power_kw": [],
        "soc": [],
    }
    interval_total_wh = 0.0
    for instant, group in metering.samples_by_instant(samples):
        register = metering.pick_quantity(group, metering.ENERGY_REGISTER)
        interval = metering.pick_quantity(group, metering.ENERGY_INTERVAL)
        if interval is not None and interval > 0:
            interval_total_wh += interval
        energy = (
            (register - session.meter_start_wh) / 1000
            if register is not None
            else (interval_total_wh / 1000 if interval is not None else None)
        )
        power = metering.pick_quantity(group, metering.POWER_ACTIVE_IMPORT)
        soc = metering.pick_quantity(group, metering.STATE_OF_CHARGE)
        series["t"].append(instant.isoformat())
        series["energy_kwh"].append(round(energy, 3) if energy is not None else None)
        series["power_kw"].append(round(power / 1000, 3) if power is not None else None)
        series["soc"].append(soc)
    count = len(series["t"])
    if count > CHART_MAX_POINTS:
        step = -(-count // CHART_MAX_POINTS)
        keep = [*range(0, count, step)]
        if keep[-1] != count - 1:
            keep.append(count - 1)
        series = {name: [values[i] for i in keep] for name, values in series.items()}
    return series


def charger_transaction_name(session_id: int) -> str | None:
    """The charger's own id of a session's transaction (OCPP 2.0.1), if it named one."""
    return (
        ChargingSession.objects.filter(pk=session_id)
        .values_list("charger_transaction_id", flat=True)
        .first()
    ) or None


def session_of_charger_transaction(charger_transaction_id: str) -> int | None:
    """The latest session a charger named so (OCPP 2.0.1 transaction ids)."""
    return (
        ChargingSession.objects.filter(charger_transaction_id=charger_transaction_id)
        .order_by("-pk")
        .values_list("pk", flat=True)
        .first()
    )


OCPP_FRAMES_LIMIT = 500
PARTNER_WINDOW = timedelta(minutes=5)


def session_ocpp_frames(*, session: ChargingSession) -> list[OcppMessage]:
    """The charger's frames about this transaction, oldest first.

    Frames naming the transaction (each version adapter says which:
    ``stations.ocpp.versions.transaction_frames``), plus the CALL/CALLRESULT
    partners of those (same unique id): two indexed queries on the charger's log.
    """
    window_start: datetime = session.created_at
    base = OcppMessage.objects.filter(
        charge_point_id=session.charge_point_id, at__gte=window_start
    )
    # The started/stopped times are the charger's clock; offline-queued frames
    # arrive later, so the window opens when the CMS recorded the start.
    tagged = list(
        base.filter(
            transaction_frames(
                transaction_id=session.pk, charger_key=session.charger_transaction_id
            )
        ).order_by("at", "id")[:OCPP_FRAMES_LIMIT]
    )
    unique_ids = {frame.unique_id for frame in tagged if frame.unique_id}
    known = {frame.pk for frame in tagged}
    partners = []
    if unique_ids:
        partners = [
            frame
            # Chargers reuse unique ids (counters restart on reboot): only
            # partners close in time to the tagged frames belong to them.
            for frame in OcppMessage.objects.filter(
                charge_point_id=session.charge_point_id,
                unique_id__in=unique_ids,
                at__gte=window_start - PARTNER_WINDOW,
                at__lte=tagged[-1].at + PARTNER_WINDOW,
            ).order_by("at", "id")[: OCPP_FRAMES_LIMIT * 2]
            if frame.pk not in known
        ]
    frames = sorted([*tagged, *partners], key=lambda frame: (frame.at, frame.pk))
    return frames[:OCPP_FRAMES_LIMIT]
