"""Vendor profiles: resolved per charger, cached, edited by administrators.

The gateway asks ``charger_vendor_quirks`` once per connection and
``vendor_quirks`` at each BootNotification (a new firmware may bring another
profile); the answer is kept on the connection, so a frame pays an attribute
lookup. Resolutions are cached per process by (vendor, model, firmware) for
``VENDOR_PROFILE_CACHE_SECONDS``; an edit clears this process's cache at
once, other processes' within that time, and a connected charger takes the
edit at its next boot or reconnect.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from accounts.http import AnyUser
from accounts.scope import is_administrator
from accounts.services import audit_record, model_snapshot
from stations.facts import VendorQuirks
from stations.fleet.models import VENDOR_PROFILE_FIELDS, VendorProfile
from stations.models import ChargePoint, ConnectorStatus

_Key = tuple[str, str, str]
_cache: dict[_Key, tuple[float, VendorQuirks | None]] = {}


def _specificity(profile: VendorProfile) -> tuple[int, int, Any, int]:
    return (
        2 * bool(profile.model) + bool(profile.firmware_pattern),
        len(profile.firmware_pattern),
        profile.updated_at,
        profile.pk,
    )


def _matches(profile: VendorProfile, model: str, firmware: str) -> bool:
    if profile.model and profile.model.casefold() != model.casefold():
        return False
    return not profile.firmware_pattern or fnmatchcase(
        firmware, profile.firmware_pattern
    )


def vendor_profile_resolve(
    profiles: Iterable[VendorProfile], *, model: str, firmware: str
) -> VendorProfile | None:
    """The most specific of one vendor's ``profiles`` matching model and firmware."""
    matching = [p for p in profiles if _matches(p, model, firmware)]
    return max(matching, key=_specificity) if matching else None


def quirks_of(profile: VendorProfile) -> VendorQuirks:
    return VendorQuirks(
        profile_id=profile.pk,
        label=profile.label,
        energy_kwh_labelled_wh=profile.energy_kwh_labelled_wh,
        naive_time_zone=profile.naive_time_zone,
        connector_zero_ignored=profile.connector_zero_ignored_set,
        close_sessions_at_boot=profile.close_sessions_at_boot,
    )


def vendor_quirks(*, vendor: str, model: str, firmware: str) -> VendorQuirks | None:
    """The quirks of the profile a charger reporting these gets (None: none)."""
    if not vendor:
        return None
    key = (vendor.casefold(), model.casefold(), firmware)
    now = time.monotonic()
    cached = _cache.get(key)
    if cached is not None and now - cached[0] < settings.VENDOR_PROFILE_CACHE_SECONDS:
        return cached[1]
    profile = vendor_profile_resolve(
        VendorProfile.objects.filter(vendor__iexact=vendor),
        model=model,
        firmware=firmware,
    )
    quirks = quirks_of(profile) if profile is not None else None
    _cache[key] = (now, quirks)
    return quirks


def charger_vendor_quirks(*, charge_point_id: int) -> VendorQuirks | None:
    """``vendor_quirks`` for what the charger reported at its last boot."""
    row = (
        ChargePoint.objects.filter(pk=charge_point_id)
        .values_list("vendor", "model", "firmware_version")
        .first()
    )
    if row is None:
        return None
    vendor, model, firmware = row
    return vendor_quirks(vendor=vendor, model=model, firmware=firmware)


def vendor_profiles_cache_clear() -> None:
    _cache.clear()


# --- administration ----------------------------------------------------------


class VendorProfileInputError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def vendor_profiles_require_admin(user: AnyUser) -> None:
    """Only administrators read and edit vendor profiles (they apply everywhere)."""
    if not is_administrator(user):
        raise PermissionDenied("Only administrators manage vendor profiles.")


def _check(values: dict[str, Any], *, pk: int | None) -> None:
    if not str(values.get("vendor", "")).strip():
        raise VendorProfileInputError("vendor", "Name the vendor.")
    statuses = [
        part.strip()
        for part in str(values.get("connector_zero_ignored", "")).split(",")
        if part.strip()
    ]
    unknown = [s for s in statuses if s not in ConnectorStatus.values]
    if unknown:
        raise VendorProfileInputError(
            "connector_zero_ignored",
            f"Not a connector status: {', '.join(unknown)}.",
        )
    values["connector_zero_ignored"] = ",".join(statuses)
    clash = VendorProfile.objects.filter(
        vendor__iexact=values["vendor"],
        model__iexact=values.get("model", ""),
        firmware_pattern=values.get("firmware_pattern", ""),
    )
    if pk is not None:
        clash = clash.exclude(pk=pk)
    if clash.exists():
        raise VendorProfileInputError(
            "firmware_pattern",
            "A profile for this vendor, model and firmware pattern already exists.",
        )


@transaction.atomic
def vendor_profile_save(
    *, actor: AnyUser, values: dict[str, Any], profile: VendorProfile | None = None
) -> VendorProfile:
    """Create or change a vendor profile; audited (before and after)."""
    vendor_profiles_require_admin(actor)
    values = {name: values[name] for name in VENDOR_PROFILE_FIELDS if name in values}
    _check(values, pk=profile.pk if profile is not None else None)
    # As stored (a bound form may have changed the instance in memory already).
    stored = (
        VendorProfile.objects.select_for_update().get(pk=profile.pk)
        if profile is not None
        else None
    )
    before = model_snapshot(stored) if stored is not None else None
    target = stored or VendorProfile()
    for name, value in values.items():
        setattr(target, name, value.strip() if isinstance(value, str) else value)
    target.updated_at = timezone.now()
    target.updated_by = actor if actor.is_authenticated else None
    try:
        target.full_clean(exclude=["updated_by"])
    except ValidationError as error:
        field, messages = next(iter(error.message_dict.items()))
        raise VendorProfileInputError(field, " ".join(messages)) from error
    target.save()
    audit_record(
        actor=actor,
        action="vendor_profile.update" if before else "vendor_profile.create",
        target=target,
        before=before,
        after=model_snapshot(target),
    )
    transaction.on_commit(vendor_profiles_cache_clear)
    return target


@transaction.atomic
def vendor_profile_delete(*, actor: AnyUser, profile: VendorProfile) -> None:
    vendor_profiles_require_admin(actor)
    audit_record(
        actor=actor,
        action="vendor_profile.delete",
        target=profile,
        before=model_snapshot(profile),
    )
    profile.delete()
    transaction.on_commit(vendor_profiles_cache_clear)
