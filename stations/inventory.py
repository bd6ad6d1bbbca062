"""Writes behind the portal's network, station, charger and connector screens.

Every write validates the model (so a caller other than a form cannot store what a
form would refuse), runs in its own transaction and appends an audit entry with
the state before and after. Unique constraints are the final word: a duplicate
that slips past validation in a race comes back as a ``ValidationError`` on the
field, never as an ``IntegrityError`` the user would see as a 500.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from accounts.http import AnyUser
from accounts.services import audit_record, model_snapshot
from stations.models import (
    ChargePoint,
    Connector,
    Network,
    OcppProtocol,
    RegistrationStatus,
    Station,
)

NETWORK_FIELDS = (
    "name",
    "currency",
    "time_zone",
    "legal_name",
    "legal_address",
    "vat_id",
    "max_concurrent_sessions_per_token",
)
STATION_FIELDS = (
    "network",
    "name",
    "address",
    "city",
    "postal_code",
    "country",
    "region",
    "latitude",
    "longitude",
    "time_zone",
    "power_limit_kw",
)
CHARGE_POINT_FIELDS = (
    "station",
    "display_name",
    "heartbeat_interval_s",
    "max_frame_bytes",
    "strict_payloads",
    "ocpp_protocol_max",
    "security_profile",
)
CONNECTOR_FIELDS = ("connector_id", "connector_type", "max_power_kw")

# Which field a violated unique constraint belongs to, for the error message.
_CONSTRAINT_FIELDS = {
    "station_unique_name_per_network": (
        "name",
        "A station with this name already exists in this network.",
    ),
    "connector_unique_number_per_charge_point": (
        "connector_id",
        "This charge point already has a connector with this number.",
    ),
}


def _apply(
    instance: models.Model, fields: Mapping[str, Any], allowed: tuple[str, ...]
) -> None:
    unknown = set(fields) - set(allowed)
    if unknown:
        raise ValueError(f"Not editable here: {', '.join(sorted(unknown))}")
    for name, value in fields.items():
        setattr(instance, name, value)


def _save_validated(instance: models.Model) -> None:
    """Validate and save; turn a unique-constraint race into a field error."""
    instance.full_clean()
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as error:
        message = str(error)
        for constraint, (field, text) in _CONSTRAINT_FIELDS.items():
            if constraint in message:
                raise ValidationError({field: text}) from error
        if isinstance(instance, ChargePoint) and "ocpp_id" in message:
            raise ValidationError(
                {"ocpp_id": "A charge point with this OCPP identity already exists."}
            ) from error
        if isinstance(instance, Network) and "name" in message:
            raise ValidationError(
                {"name": "A network with this name already exists."}
            ) from error
        raise


def _stored_snapshot(instance: models.Model) -> dict[str, Any]:
    """The row as stored, locked: a bound form may already have changed ``instance``."""
    stored = type(instance)._default_manager.select_for_update().get(pk=instance.pk)
    return model_snapshot(stored)


def _network_of(instance: models.Model) -> Network | None:
    if isinstance(instance, Network):
        return instance
    if isinstance(instance, Station):
        return instance.network
    if isinstance(instance, ChargePoint):
        return instance.station.network if instance.station_id else None  # type: ignore[union-attr]
    if isinstance(instance, Connector):
        return _network_of(instance.charge_point)
    return None


def _audit(
    *,
    actor: AnyUser | None,
    action: str,
    instance: models.Model,
    before: dict[str, Any] | None,
    detail: str = "",
) -> None:
    audit_record(
        actor=actor,
        action=action,
        target=instance,
        network=_network_of(instance),
        before=before,
        after=model_snapshot(instance),
        detail=detail,
    )


@transaction.atomic
def network_create(*, actor: AnyUser | None, fields: Mapping[str, Any]) -> Network:
    """Create a network (tenant) from ``name``, ``currency`` and ``time_zone``."""
    network = Network()
    _apply(network, fields, NETWORK_FIELDS)
    _save_validated(network)
    _audit(actor=actor, action="network.create", instance=network, before=None)
    return network


@transaction.atomic
def network_update(
    *, actor: AnyUser | None, network: Network, fields: Mapping[str, Any]
) -> Network:
    before = _stored_snapshot(network)
    _apply(network, fields, NETWORK_FIELDS)
    _save_validated(network)
    _audit(actor=actor, action="network.update", instance=network, before=before)
    return network


@transaction.atomic
def station_create(*, actor: AnyUser | None, fields: Mapping[str, Any]) -> Station:
    station = Station()
    _apply(station, fields, STATION_FIELDS)
    _save_validated(station)
    _audit(actor=actor, action="station.create", instance=station, before=None)
    return station


@transaction.atomic
def station_update(
    *, actor: AnyUser | None, station: Station, fields: Mapping[str, Any]
) -> Station:
    before = _stored_snapshot(station)
    _apply(station, fields, STATION_FIELDS)
    _save_validated(station)
    _audit(actor=actor, action="station.update", instance=station, before=before)
    return station


@transaction.atomic
def charge_point_register(
    *,
    actor: AnyUser | None,
    ocpp_id: str,
    station: Station | None,
    display_name: str = "",
    password: str | None = None,
    heartbeat_interval_s: int = 300,
    ocpp_protocol_max: str = OcppProtocol.OCPP201,
) -> ChargePoint:
    """Register a charger by its OCPP identity; the password is stored hashed only."""
    charge_point = ChargePoint(
        ocpp_id=ocpp_id,
        station=station,
        display_name=display_name,
        heartbeat_interval_s=heartbeat_interval_s,
        ocpp_protocol_max=ocpp_protocol_max,
        registration_status=RegistrationStatus.ACCEPTED,
    )
    charge_point.set_password(password)
    _save_validated(charge_point)
    _audit(
        actor=actor,
        action="charge_point.register",
        instance=charge_point,
        before=None,
        detail="password set" if password else "",
    )
    return charge_point


@transaction.atomic
def charge_point_update(
    *,
    actor: AnyUser | None,
    charge_point: ChargePoint,
    fields: Mapping[str, Any],
    password: str | None = None,
    clear_password: bool = False,
) -> ChargePoint:
    """Edit a charger; ``password`` replaces the stored one, ``clear_password`` removes it."""
    before = _stored_snapshot(charge_point)
    _apply(charge_point, fields, CHARGE_POINT_FIELDS)
    detail = ""
    if password:
        charge_point.set_password(password)
        detail = "password changed"
    elif clear_password:
        charge_point.set_password(None)
        detail = "password removed"
    _save_validated(charge_point)
    _audit(
        actor=actor,
        action="charge_point.update",
        instance=charge_point,
        before=before,
        detail=detail,
    )
    return charge_point


@transaction.atomic
def charge_point_assign(
    *, actor: AnyUser | None, charge_point: ChargePoint, station: Station
) -> ChargePoint:
    """Place a charger at a station; assigning it to the same station again is a no-op."""
    locked = ChargePoint.objects.select_for_update().get(pk=charge_point.pk)
    if locked.station_id == station.pk:
        return locked
    before = model_snapshot(locked)
    locked.station = station
    locked.save(update_fields=["station"])
    _audit(actor=actor, action="charge_point.assign", instance=locked, before=before)
    charge_point.station = station
    return locked


def _set_registration(
    *, actor: AnyUser | None, charge_point: ChargePoint, status: str, action: str
) -> ChargePoint:
    locked = ChargePoint.objects.select_for_update().get(pk=charge_point.pk)
    if locked.registration_status == status:  # a double click changes nothing
        return locked
    before = model_snapshot(locked)
    locked.registration_status = status
    locked.save(update_fields=["registration_status"])
    _audit(actor=actor, action=action, instance=locked, before=before)
    charge_point.registration_status = status
    return locked


@transaction.atomic
def charge_point_approve(
    *, actor: AnyUser | None, charge_point: ChargePoint
) -> ChargePoint:
    """Accept a Pending (or Rejected) charger: its next BootNotification is Accepted."""
    return _set_registration(
        actor=actor,
        charge_point=charge_point,
        status=RegistrationStatus.ACCEPTED,
        action="charge_point.approve",
    )


@transaction.atomic
def charge_point_reject(
    *, actor: AnyUser | None, charge_point: ChargePoint
) -> ChargePoint:
    """Reject a charger: its BootNotifications are answered Rejected."""
    return _set_registration(
        actor=actor,
        charge_point=charge_point,
        status=RegistrationStatus.REJECTED,
        action="charge_point.reject",
    )


@transaction.atomic
def connector_create(
    *, actor: AnyUser | None, charge_point: ChargePoint, fields: Mapping[str, Any]
) -> Connector:
    connector = Connector(charge_point=charge_point)
    _apply(connector, fields, CONNECTOR_FIELDS)
    _save_validated(connector)
    _audit(actor=actor, action="connector.create", instance=connector, before=None)
    return connector


@transaction.atomic
def connector_update(
    *, actor: AnyUser | None, connector: Connector, fields: Mapping[str, Any]
) -> Connector:
    before = _stored_snapshot(connector)
    _apply(connector, fields, CONNECTOR_FIELDS)
    _save_validated(connector)
    _audit(actor=actor, action="connector.update", instance=connector, before=before)
    return connector


@transaction.atomic
def connector_delete(*, actor: AnyUser | None, connector: Connector) -> None:
    """Delete a connector; its sessions keep their connector number."""
    before = model_snapshot(connector)
    audit_record(
        actor=actor,
        action="connector.delete",
        target=connector,
        network=_network_of(connector),
        before=before,
        after=None,
    )
    connector.delete()


@transaction.atomic
def charge_points_onboard(
    *,
    actor: AnyUser | None,
    charge_points: Iterable[ChargePoint],
    station: Station,
    accept: bool,
) -> int:
    """Place chargers at ``station`` (and accept their registration); all or none.

    Each charger is audited as if done on its own page. Returns how many."""
    count = 0
    for charge_point in charge_points:
        charge_point_assign(actor=actor, charge_point=charge_point, station=station)
        if accept:
            charge_point_approve(actor=actor, charge_point=charge_point)
        count += 1
    return count
