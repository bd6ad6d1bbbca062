"""Firmware campaigns: create, start, pause, resume, abort and advance a rollout.

A campaign's targets are split into batches when it is created: the canary
batch (``canary_percent`` of the chargers, at least one when the share is not
zero) is number 0, then batches of ``batch_size``. ``campaign_advance`` (run by
the periodic fleet sweep, safe to run twice) works on the current batch only:

- it follows each charger's update through the firmware states the charger
  reports (``stations.remote.FirmwareUpdate``, kept from the message log) and
  confirms the new version from the charger's next BootNotification;
- it sends the update (``stations.remote.services.firmware_update_request``,
  the one send path, audited per command) to chargers that are connected,
  inside the allowed hours of their station's zone and, with
  ``only_when_idle``, have no connector in a transaction;
- a failed attempt is sent again up to ``max_attempts``;
- when every charger of the batch is final, a failure share above
  ``halt_failure_percent`` halts the campaign; otherwise the next batch starts
  after ``pause_s``.

A campaign that is not running sends nothing. Every state change of the
campaign itself is in the audit log.
"""

from __future__ import annotations

import base64
import binascii
import math
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.http import AnyUser, recorded_actor
from accounts.services import audit_record
from stations.fleet.models import (
    CampaignStatus,
    CampaignTarget,
    ChargerTag,
    FirmwareCampaign,
    RollbackState,
    TargetState,
)
from stations.models import (
    ChargePoint,
    CommandStatus,
    Connector,
    ConnectorStatus,
    Network,
    Station,
)
from stations.remote.models import ConfigurationKey, FirmwareUpdate
from stations.remote.services import (
    command_result_apply,
    firmware_progress_sync,
    firmware_update_request,
)

# Connector states of a running transaction (OCPP 1.6 §4.9 ChargePointStatus);
# a charger with one of them is not idle.
BUSY_STATUSES = frozenset(
    {
        ConnectorStatus.PREPARING,
        ConnectorStatus.CHARGING,
        ConnectorStatus.SUSPENDED_EV,
        ConnectorStatus.SUSPENDED_EVSE,
        ConnectorStatus.FINISHING,
    }
)

# FirmwareStatusNotification statuses (OCPP 1.6 §7.25; 2.0.1 FirmwareStatusEnumType,
# which adds the signature and scheduling states) -> a target's state.
_PROGRESS: dict[str, TargetState] = {
    "Requested": TargetState.SENT,
    "Accepted": TargetState.SENT,
    "DownloadScheduled": TargetState.SENT,
    "DownloadPaused": TargetState.DOWNLOADING,
    "Downloading": TargetState.DOWNLOADING,
    "Downloaded": TargetState.DOWNLOADED,
    "SignatureVerified": TargetState.VERIFYING,
    "InstallScheduled": TargetState.DOWNLOADED,
    "Installing": TargetState.INSTALLING,
    "InstallRebooting": TargetState.INSTALLING,
    "Installed": TargetState.INSTALLED,
}
_FAILURES = frozenset(
    {
        "DownloadFailed",
        "InstallationFailed",
        "InvalidSignature",
        "InstallVerificationFailed",
        "Superseded",
    }
)
_IN_FLIGHT = (
    TargetState.SENT,
    TargetState.DOWNLOADING,
    TargetState.DOWNLOADED,
    TargetState.VERIFYING,
    TargetState.INSTALLING,
    TargetState.INSTALLED,
)


class CampaignInputError(ValueError):
    """A campaign request that cannot be carried out; ``field`` names the input."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class TargetFilter:
    """Which chargers of a network a campaign goes to (empty parts match all)."""

    station: Station | None = None
    vendor: str = ""
    model: str = ""
    from_version: str = ""
    tag: ChargerTag | None = None


def campaign_candidates(
    *, network: Network, target: TargetFilter
) -> QuerySet[ChargePoint]:
    """The chargers of ``network`` the filter selects, by OCPP id."""
    chargers = ChargePoint.objects.filter(station__network=network)
    if target.station is not None:
        chargers = chargers.filter(station=target.station)
    if target.vendor:
        chargers = chargers.filter(vendor__iexact=target.vendor)
    if target.model:
        chargers = chargers.filter(model__iexact=target.model)
    if target.from_version:
        chargers = chargers.filter(firmware_version=target.from_version)
    if target.tag is not None:
        chargers = chargers.filter(fleet_tags=target.tag)
    return chargers.order_by("ocpp_id")


def batch_numbers(*, count: int, canary_percent: int, batch_size: int) -> list[int]:
    """The batch of each of ``count`` targets: canary (0) first, then batches of size.

    The canary batch holds ``canary_percent`` of the targets rounded up (none
    for 0 %); without a canary the first batch is number 1 all the same.
    """
    canary = min(count, math.ceil(count * canary_percent / 100))
    numbers = [0] * canary
    numbers += [1 + index // batch_size for index in range(count - canary)]
    return numbers


def _audit(
    campaign: FirmwareCampaign, actor: AnyUser | None, action: str, **after: Any
) -> None:
    audit_record(
        actor=actor,
        action=f"firmware_campaign.{action}",
        target=campaign,
        network=campaign.network,
        after={"status": campaign.status, **after},
    )


@transaction.atomic
def campaign_create(
    *,
    network: Network,
    name: str,
    location: str,
    version: str,
    created_by: AnyUser | None,
    target: TargetFilter | None = None,
    checksum: str = "",
    signing_certificate: str = "",
    signature: str = "",
    rollback_location: str = "",
    rollback_version: str = "",
    rollback_on_failure: bool = False,
    rollback_on_halt: bool = False,
    canary_percent: int = 10,
    batch_size: int = 10,
    pause_s: int = 600,
    allowed_from_hour: int | None = None,
    allowed_to_hour: int | None = None,
    only_when_idle: bool = True,
    max_attempts: int = 2,
    halt_failure_percent: int = 20,
    target_timeout_s: int = 3600,
) -> FirmwareCampaign:
    """Store a campaign (not started) with its targets split into batches."""
    target = target or TargetFilter()
    if target.station is not None and target.station.network_id != network.pk:
        raise CampaignInputError("The station is not in this network.", field="station")
    if target.tag is not None and target.tag.network_id != network.pk:
        raise CampaignInputError("The tag is not in this network.", field="tag")
    if (allowed_from_hour is None) != (allowed_to_hour is None):
        raise CampaignInputError(
            "Give both ends of the allowed hours, or neither.", field="allowed_to_hour"
        )
    if batch_size < 1:
        raise CampaignInputError("At least one charger per batch.", field="batch_size")
    if not version.strip():
        raise CampaignInputError("The version chargers must report.", field="version")
    signing_certificate, signature = _image_signature(signing_certificate, signature)
    if (rollback_on_failure or rollback_on_halt) and not rollback_location.strip():
        raise CampaignInputError(
            "Name the image to roll back to.", field="rollback_location"
        )
    chargers = list(campaign_candidates(network=network, target=target))
    if not chargers:
        raise CampaignInputError(
            "No charger of this network matches the targets.", field="targets"
        )
    now = timezone.now()
    campaign = FirmwareCampaign(
        network=network,
        name=name.strip()[:120] or f"Firmware {version}",
        location=location,
        version=version.strip(),
        checksum=checksum.strip(),
        signing_certificate=signing_certificate,
        signature=signature,
        rollback_location=rollback_location.strip(),
        rollback_version=rollback_version.strip(),
        rollback_on_failure=rollback_on_failure,
        rollback_on_halt=rollback_on_halt,
        station=target.station,
        vendor=target.vendor,
        model=target.model,
        from_version=target.from_version,
        tag=target.tag,
        canary_percent=canary_percent,
        batch_size=batch_size,
        pause_s=pause_s,
        allowed_from_hour=allowed_from_hour,
        allowed_to_hour=allowed_to_hour,
        only_when_idle=only_when_idle,
        max_attempts=max_attempts,
        halt_failure_percent=halt_failure_percent,
        target_timeout_s=target_timeout_s,
        created_by=recorded_actor(created_by),
        created_at=now,
    )
    campaign.full_clean()
    campaign.save()
    numbers = batch_numbers(
        count=len(chargers), canary_percent=canary_percent, batch_size=batch_size
    )
    CampaignTarget.objects.bulk_create(
        CampaignTarget(
            campaign=campaign,
            charge_point=charger,
            batch_number=number,
            version_before=charger.firmware_version,
            updated_at=now,
        )
        for charger, number in zip(chargers, numbers, strict=True)
    )
    campaign.current_batch = numbers[0]
    campaign.save(update_fields=["current_batch"])
    _audit(
        campaign,
        created_by,
        "create",
        location=location,
        version=campaign.version,
        signed=bool(campaign.signature),
        targets=len(chargers),
        batches=len(set(numbers)),
    )
    return campaign


def _image_signature(certificate: str, signature: str) -> tuple[str, str]:
    """The image's signing certificate (PEM) and Base64 signature, both or neither."""
    certificate, signature = certificate.strip(), "".join(signature.split())
    if bool(certificate) != bool(signature):
        field = "signature" if certificate else "signing_certificate"
        raise CampaignInputError(
            "A signed image needs both the signing certificate and the signature.",
            field=field,
        )
    if certificate and "-----BEGIN CERTIFICATE-----" not in certificate:
        raise CampaignInputError(
            "The signing certificate must be PEM (-----BEGIN CERTIFICATE-----).",
            field="signing_certificate",
        )
    if signature:
        try:
            base64.b64decode(signature, validate=True)
        except (binascii.Error, ValueError):
            raise CampaignInputError(
                "The signature must be Base64.", field="signature"
            ) from None
    return certificate, signature


# The 1.6 security whitepaper makes SecurityProfile a required configuration
# key; a 1.6 charger that reported it speaks the whitepaper's messages.
SECURITY_EXTENSION_KEY = "SecurityProfile"


def signed_update_supported(charge_point: ChargePoint) -> bool:
    """Whether the charger takes a signed update (2.0.1, or 1.6 with the extension)."""
    if charge_point.ocpp_protocol != "ocpp1.6":
        return True
    return ConfigurationKey.objects.filter(
        charge_point=charge_point, key=SECURITY_EXTENSION_KEY
    ).exists()


def _transition(
    campaign: FirmwareCampaign,
    *,
    actor: AnyUser | None,
    allowed_from: tuple[str, ...],
    to: str,
    verb: str,
    **changes: Any,
) -> FirmwareCampaign:
    """Move the campaign from one of ``allowed_from`` to ``to`` (conditional update)."""
    with transaction.atomic():
        updated = FirmwareCampaign.objects.filter(
            pk=campaign.pk, status__in=allowed_from
        ).update(status=to, **changes)
        campaign.refresh_from_db()
        if not updated:
            raise CampaignInputError(
                f"A campaign that is {campaign.get_status_display().lower()} "
                f"cannot be {verb}.",
                field="status",
            )
        _audit(campaign, actor, verb)
    return campaign


def campaign_start(
    *, campaign: FirmwareCampaign, actor: AnyUser | None
) -> FirmwareCampaign:
    """Start a draft campaign; its updates are sent in ``actor``'s name."""
    campaign = _transition(
        campaign,
        actor=actor,
        allowed_from=(CampaignStatus.DRAFT,),
        to=CampaignStatus.RUNNING,
        verb="started",
        started_at=timezone.now(),
        started_by=recorded_actor(actor),
    )
    campaign_advance_on_commit(campaign_id=campaign.pk)
    return campaign


def campaign_pause(
    *, campaign: FirmwareCampaign, actor: AnyUser | None
) -> FirmwareCampaign:
    """Pause: nothing more is sent; updates already on their way are still followed."""
    return _transition(
        campaign,
        actor=actor,
        allowed_from=(CampaignStatus.RUNNING,),
        to=CampaignStatus.PAUSED,
        verb="paused",
    )


def campaign_resume(
    *, campaign: FirmwareCampaign, actor: AnyUser | None
) -> FirmwareCampaign:
    """Resume a paused or halted campaign from its current batch."""
    campaign = _transition(
        campaign,
        actor=actor,
        allowed_from=(CampaignStatus.PAUSED, CampaignStatus.HALTED),
        to=CampaignStatus.RUNNING,
        verb="resumed",
        halt_reason="",
    )
    campaign_advance_on_commit(campaign_id=campaign.pk)
    return campaign


def campaign_abort(
    *, campaign: FirmwareCampaign, actor: AnyUser | None
) -> FirmwareCampaign:
    """Abort: chargers not sent yet are skipped; the campaign is over."""
    with transaction.atomic():
        campaign = _transition(
            campaign,
            actor=actor,
            allowed_from=(
                CampaignStatus.DRAFT,
                CampaignStatus.RUNNING,
                CampaignStatus.PAUSED,
                CampaignStatus.HALTED,
            ),
            to=CampaignStatus.ABORTED,
            verb="aborted",
            finished_at=timezone.now(),
        )
        campaign.targets.filter(
            state__in=[TargetState.PENDING, TargetState.WAITING]
        ).update(
            state=TargetState.SKIPPED,
            detail="Campaign aborted.",
            updated_at=timezone.now(),
        )
    return campaign


# The operator's verbs on a campaign (portal, API, manage.py).
CAMPAIGN_ACTIONS = {
    "start": campaign_start,
    "pause": campaign_pause,
    "resume": campaign_resume,
    "abort": campaign_abort,
}


def campaign_advance_on_commit(*, campaign_id: int) -> None:
    """Advance the campaign after the current transaction commits."""
    from cms.tasks import enqueue_on_commit
    from stations.fleet.tasks import campaign_advance_task

    enqueue_on_commit(campaign_advance_task, campaign_id=campaign_id)


# --- the engine ---------------------------------------------------------------


def campaign_progress(campaign: FirmwareCampaign) -> dict[str, int]:
    """Targets per state (every state named), with ``total`` and ``done``."""
    counts = dict(
        campaign.targets.values_list("state")
        .annotate(n=Count("id"))
        .values_list("state", "n")
    )
    progress = {state.value: counts.get(state.value, 0) for state in TargetState}
    progress["total"] = sum(counts.values())
    progress["done"] = sum(counts.get(state, 0) for state in CampaignTarget.FINAL)
    return progress


def in_allowed_hours(
    campaign: FirmwareCampaign, station: Station, now: datetime
) -> bool:
    """Is ``now`` inside the campaign's hours in the station's own zone?"""
    start, end = campaign.allowed_from_hour, campaign.allowed_to_hour
    if start is None or end is None or start == end % 24:
        return True
    hour = now.astimezone(zoneinfo.ZoneInfo(station.time_zone)).hour
    if start < end:
        return start <= hour < end
    return hour >= start or hour < end  # a window past midnight, e.g. 22-6


def charger_is_idle(charge_point_id: int) -> bool:
    """No connector of the charger is in a transaction state."""
    return not Connector.objects.filter(
        charge_point_id=charge_point_id, status__in=BUSY_STATUSES
    ).exists()


def _waiting_reason(
    campaign: FirmwareCampaign, charge_point: ChargePoint, now: datetime
) -> str:
    """Why the update cannot go to this charger now ("" = it can)."""
    if not charge_point.is_connected:
        return "Waiting: the charger is offline."
    station = charge_point.station
    if station is not None and not in_allowed_hours(campaign, station, now):
        return (
            f"Waiting: outside {campaign.allowed_from_hour:02d}:00–"
            f"{campaign.allowed_to_hour:02d}:00 ({station.time_zone})."
        )
    if campaign.only_when_idle and not charger_is_idle(charge_point.pk):
        return "Waiting: a session is running."
    return ""


def _save(target: CampaignTarget, now: datetime, **changes: Any) -> None:
    for name, value in changes.items():
        setattr(target, name, value)
    target.updated_at = now
    target.save(update_fields=[*changes, "updated_at"])


def _attempt_failed(
    campaign: FirmwareCampaign, target: CampaignTarget, now: datetime, reason: str
) -> None:
    if target.attempts < campaign.max_attempts:
        _save(
            target,
            now,
            state=TargetState.WAITING,
            detail=f"Attempt {target.attempts} failed ({reason}); trying again.",
        )
    elif campaign.rollback_on_failure and not target.rollback_state:
        _save(
            target,
            now,
            state=TargetState.FAILED,
            detail=reason[:255],
            rollback_state=RollbackState.DUE,
        )
    else:
        _save(target, now, state=TargetState.FAILED, detail=reason[:255])


def _update_progress(
    update: FirmwareUpdate, sent_at: datetime | None
) -> tuple[ChargePoint, bool]:
    """Bring a sent update up to the charger's answer and notifications; the
    charger, and whether it booted since ``sent_at``."""
    if update.command_id is not None:
        command_status = (
            update.command.status if update.command is not None else CommandStatus.ERROR
        )
        if command_status != CommandStatus.PENDING:
            command_result_apply(command_id=update.command_id)
    firmware_progress_sync(charge_point_id=update.charge_point_id)
    update.refresh_from_db()
    charge_point = ChargePoint.objects.get(pk=update.charge_point_id)
    booted_since = (
        charge_point.last_boot_at is not None
        and sent_at is not None
        and charge_point.last_boot_at > sent_at
    )
    return charge_point, booted_since


def _target_follow(
    campaign: FirmwareCampaign, target: CampaignTarget, now: datetime
) -> None:
    """Bring an in-flight target up to what its charger reported."""
    update = target.firmware_update
    if update is None:
        _attempt_failed(campaign, target, now, "the update request is gone")
        return
    charge_point, booted_since = _update_progress(update, target.sent_at)
    # OCPP 1.6 §6.23: Installed comes after the reboot; the version the charger
    # runs is only known from its BootNotification (§4.2 firmwareVersion).
    if booted_since and charge_point.firmware_version == campaign.version:
        _save(
            target,
            now,
            state=TargetState.CONFIRMED,
            version_after=charge_point.firmware_version,
            detail=f"Booted with {charge_point.firmware_version}.",
        )
        return
    status = update.status
    if status in _FAILURES or status.startswith("Not delivered"):
        _attempt_failed(campaign, target, now, status)
        return
    if status == "Installed" and booted_since:
        _attempt_failed(
            campaign,
            target,
            now,
            f"booted with {charge_point.firmware_version or 'no version'}, "
            f"not {campaign.version}",
        )
        return
    if target.sent_at and now - target.sent_at > timedelta(
        seconds=campaign.target_timeout_s
    ):
        _attempt_failed(
            campaign,
            target,
            now,
            f"no final state within {campaign.target_timeout_s} s (last {status})",
        )
        return
    state = _PROGRESS.get(status, TargetState(target.state))
    if state != target.state:
        _save(target, now, state=state, detail=status)


def _target_send(
    campaign: FirmwareCampaign, target: CampaignTarget, now: datetime
) -> None:
    charge_point = ChargePoint.objects.select_related("station").get(
        pk=target.charge_point_id
    )
    if charge_point.firmware_version == campaign.version and target.attempts == 0:
        # Already there (updated by hand meanwhile): nothing to send.
        _save(
            target,
            now,
            state=TargetState.CONFIRMED,
            version_after=charge_point.firmware_version,
            detail="Already on this version.",
        )
        return
    reason = _waiting_reason(campaign, charge_point, now)
    if reason:
        if target.state != TargetState.WAITING or target.detail != reason:
            _save(target, now, state=TargetState.WAITING, detail=reason)
        return
    signed = bool(campaign.signature) and signed_update_supported(charge_point)
    update = firmware_update_request(
        charge_point=charge_point,
        location=campaign.location,
        retrieve_at=now,
        requested_by=campaign.started_by,
        signing_certificate=campaign.signing_certificate if signed else "",
        signature=campaign.signature if signed else "",
    )
    unsigned_note = (
        " (sent unsigned: the charger does not support signed updates)"
        if campaign.signature and not signed
        else ""
    )
    _save(
        target,
        now,
        state=TargetState.SENT,
        attempts=target.attempts + 1,
        firmware_update=update,
        sent_at=now,
        detail=f"{update.status}{unsigned_note}",
    )
    if update.is_finished:  # not delivered (offline since, gateway down)
        _attempt_failed(campaign, target, now, update.status)


_ROLLBACK_OPEN = (RollbackState.DUE, RollbackState.SENT)


def _rollbacks_advance(campaign: FirmwareCampaign, now: datetime) -> None:
    """Send the rollback image to targets due one and follow those sent.

    A rollback goes out like an update (connected, allowed hours, idle when
    the plan says so; audited) whatever the campaign's status, once, and is
    confirmed by the charger's next BootNotification (with the plan's
    rollback version when it names one).
    """
    for target in campaign.targets.filter(
        rollback_state__in=_ROLLBACK_OPEN
    ).select_related("rollback_update", "rollback_update__command"):
        if target.rollback_state == RollbackState.DUE:
            _rollback_send(campaign, target, now)
        else:
            _rollback_follow(campaign, target, now)


def _rollback_send(
    campaign: FirmwareCampaign, target: CampaignTarget, now: datetime
) -> None:
    charge_point = ChargePoint.objects.select_related("station").get(
        pk=target.charge_point_id
    )
    reason = _waiting_reason(campaign, charge_point, now)
    if reason:
        if target.rollback_detail != reason:
            _save(target, now, rollback_detail=reason)
        return
    update = firmware_update_request(
        charge_point=charge_point,
        location=campaign.rollback_location,
        retrieve_at=now,
        requested_by=campaign.started_by,
    )
    _save(
        target,
        now,
        rollback_state=RollbackState.SENT,
        rollback_update=update,
        rollback_sent_at=now,
        rollback_detail=update.status,
    )
    _audit(
        campaign,
        None,
        "rollback_sent",
        charge_point=charge_point.ocpp_id,
        location=campaign.rollback_location,
        after_state=target.state,
    )
    if update.is_finished:
        _rollback_failed(campaign, target, now, update.status)


def _rollback_failed(
    campaign: FirmwareCampaign, target: CampaignTarget, now: datetime, reason: str
) -> None:
    _save(
        target, now, rollback_state=RollbackState.FAILED, rollback_detail=reason[:255]
    )
    _audit(
        campaign,
        None,
        "rollback_failed",
        charge_point=target.charge_point.ocpp_id,
        reason=reason[:255],
    )


def _rollback_follow(
    campaign: FirmwareCampaign, target: CampaignTarget, now: datetime
) -> None:
    update = target.rollback_update
    if update is None:
        _rollback_failed(campaign, target, now, "the rollback request is gone")
        return
    charge_point, booted_since = _update_progress(update, target.rollback_sent_at)
    version_ok = (
        not campaign.rollback_version
        or charge_point.firmware_version == campaign.rollback_version
    )
    if booted_since and version_ok and update.status not in _FAILURES:
        _save(
            target,
            now,
            rollback_state=RollbackState.CONFIRMED,
            version_after=charge_point.firmware_version,
            rollback_detail=f"Booted with {charge_point.firmware_version}.",
        )
        _audit(
            campaign,
            None,
            "rolled_back",
            charge_point=charge_point.ocpp_id,
            version=charge_point.firmware_version,
        )
        return
    status = update.status
    if status in _FAILURES or status.startswith("Not delivered"):
        _rollback_failed(campaign, target, now, status)
    elif target.rollback_sent_at and now - target.rollback_sent_at > timedelta(
        seconds=campaign.target_timeout_s
    ):
        _rollback_failed(
            campaign,
            target,
            now,
            f"no final state within {campaign.target_timeout_s} s",
        )
    elif status != target.rollback_detail:
        _save(target, now, rollback_detail=status)


def _batch_finished(campaign: FirmwareCampaign, now: datetime) -> None:
    """The current batch is final: halt, pause before the next, or complete."""
    batch = campaign.targets.filter(batch_number=campaign.current_batch)
    total = batch.count()
    failed = batch.filter(state=TargetState.FAILED).count()
    if total and failed * 100 > campaign.halt_failure_percent * total:
        campaign.status = CampaignStatus.HALTED
        label = "canary batch" if campaign.current_batch == 0 else "batch"
        campaign.halt_reason = (
            f"{failed} of {total} chargers failed in {label} "
            f"{campaign.current_batch} (limit {campaign.halt_failure_percent} %)."
        )
        campaign.save(update_fields=["status", "halt_reason"])
        rollbacks = 0
        if campaign.rollback_on_halt:
            # The plan rolls the whole campaign back: every charger it updated
            # or left failed goes back to the rollback image.
            rollbacks = campaign.targets.filter(
                state__in=[TargetState.CONFIRMED, TargetState.FAILED],
                rollback_state=RollbackState.NONE,
            ).update(rollback_state=RollbackState.DUE, updated_at=now)
        _audit(
            campaign, None, "halted", reason=campaign.halt_reason, rollbacks=rollbacks
        )
        return
    if campaign.batch_finished_at is None:
        campaign.batch_finished_at = now
        campaign.save(update_fields=["batch_finished_at"])
    following = (
        campaign.targets.filter(batch_number__gt=campaign.current_batch)
        .order_by("batch_number")
        .values_list("batch_number", flat=True)
        .first()
    )
    if following is None:
        campaign.status = CampaignStatus.COMPLETED
        campaign.finished_at = now
        campaign.save(update_fields=["status", "finished_at"])
        _audit(campaign, None, "completed", **campaign_progress(campaign))
        return
    if now >= campaign.batch_finished_at + timedelta(seconds=campaign.pause_s):
        campaign.current_batch = following
        campaign.batch_finished_at = None
        campaign.save(update_fields=["current_batch", "batch_finished_at"])


def campaign_advance(*, campaign_id: int, now: datetime | None = None) -> str:
    """One step of a campaign; returns its status. Safe to run concurrently."""
    now = now or timezone.now()
    with transaction.atomic():
        campaign = (
            FirmwareCampaign.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(pk=campaign_id)
            .select_related("network", "started_by")
            .first()
        )
        if campaign is None:
            return ""
        # Updates already sent are followed whatever the campaign's status.
        for target in campaign.targets.filter(state__in=_IN_FLIGHT).select_related(
            "firmware_update", "firmware_update__command"
        ):
            _target_follow(campaign, target, now)
        _rollbacks_advance(campaign, now)
        if campaign.status != CampaignStatus.RUNNING:
            return str(campaign.status)
        current = campaign.targets.filter(batch_number=campaign.current_batch)
        if not current.exclude(state__in=CampaignTarget.FINAL).exists():
            _batch_finished(campaign, now)
            if campaign.status != CampaignStatus.RUNNING:
                return str(campaign.status)
            current = campaign.targets.filter(batch_number=campaign.current_batch)
        for target in current.filter(
            state__in=[TargetState.PENDING, TargetState.WAITING]
        ):
            _target_send(campaign, target, now)
        # A failure of this sweep's sends may be rolled back at once.
        _rollbacks_advance(campaign, now)
        return str(campaign.status)


def campaigns_sweep(*, now: datetime | None = None) -> int:
    """Advance every campaign with work left (running, or updates in flight)."""
    ids = list(
        FirmwareCampaign.objects.filter(
            Q(status=CampaignStatus.RUNNING)
            | Q(targets__rollback_state__in=_ROLLBACK_OPEN)
            | Q(
                targets__state__in=_IN_FLIGHT,
                status__in=[
                    CampaignStatus.PAUSED,
                    CampaignStatus.HALTED,
                    CampaignStatus.ABORTED,
                ],
            )
        )
        .values_list("pk", flat=True)
        .distinct()[:100]
    )
    for campaign_id in ids:
        campaign_advance(campaign_id=campaign_id, now=now)
    return len(ids)
