"""Desired-state configuration: declared keys per scope, drift per charger, converging.

Operations declare ``key=value`` for a network, narrowed to a station, a
vendor/model or a tag (``DesiredConfiguration``). For each charger the most
specific declaration of a key wins (``desired_for``). The actual values are the
ones the charger last reported (``stations.remote.ConfigurationKey``: read after
every boot by the remote-operations sweep and, for chargers with declared keys,
every ``DESIRED_CONFIGURATION_READ_SECONDS`` here). ``configuration_converge``
compares them and sends ChangeConfiguration (2.0.1: SetVariables) through the
remote-operations send path for a key that differs; its answer decides the
state (OCPP 1.6 §6.3 ConfigurationStatus): Accepted is in sync, RebootRequired
waits for the next boot's read, Rejected and NotSupported are refused and
alerted. A charger found off a value it had taken counts a revert; from
``DESIRED_CONFIGURATION_REVERT_ALERT`` reverts on, an alert is raised.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.http import AnyUser, recorded_actor
from accounts.services import audit_record
from cms.events import ConfigurationDriftChanged, emit
from stations.fleet.models import (
    ChargerTag,
    ConfigurationDrift,
    DesiredConfiguration,
    DriftState,
)
from stations.models import (
    ChargePoint,
    CommandStatus,
    Network,
    OcppProtocol,
    Station,
)
from stations.remote.dispatch import CommandPayloadError
from stations.remote.models import ConfigurationFetch, ConfigurationKey
from stations.remote.services import configuration_change, configuration_fetch
from stations.services import charge_point_groups

# ChangeConfiguration answers (OCPP 1.6 §7.9 ConfigurationStatus; 2.0.1
# SetVariableStatusEnumType adds UnknownComponent/UnknownVariable).
_REFUSED = frozenset(
    {"Rejected", "NotSupported", "UnknownComponent", "UnknownVariable"}
)


class DesiredInputError(ValueError):
    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


def desired_declare(
    *,
    network: Network,
    key: str,
    value: str,
    actor: AnyUser | None,
    station: Station | None = None,
    vendor: str = "",
    model: str = "",
    tag: ChargerTag | None = None,
) -> DesiredConfiguration:
    """Declare (or change) a key's value for one scope; audited."""
    key = key.strip()
    if not key or len(key) > 50:
        raise DesiredInputError("A key of 1 to 50 characters.", field="key")
    if sum((station is not None, tag is not None, bool(vendor or model))) > 1:
        raise DesiredInputError(
            "Narrow the scope by one of station, tag or vendor/model.", field="scope"
        )
    if station is not None and station.network_id != network.pk:
        raise DesiredInputError("The station is not in this network.", field="station")
    if tag is not None and tag.network_id != network.pk:
        raise DesiredInputError("The tag is not in this network.", field="tag")
    with transaction.atomic():
        existing = (
            DesiredConfiguration.objects.select_for_update()
            .filter(
                network=network,
                key=key,
                station=station,
                tag=tag,
                vendor=vendor,
                model=model,
            )
            .first()
        )
        before = {"value": existing.value} if existing else None
        desired = existing or DesiredConfiguration(
            network=network,
            key=key,
            station=station,
            tag=tag,
            vendor=vendor,
            model=model,
        )
        desired.value = value
        desired.created_by = recorded_actor(actor)
        desired.updated_at = timezone.now()
        desired.save()
        audit_record(
            actor=actor,
            action="desired_configuration.set",
            target=desired,
            network=network,
            before=before,
            after={"key": key, "value": value, "scope": desired.scope_label},
        )
    return desired


def desired_remove(*, desired: DesiredConfiguration, actor: AnyUser | None) -> None:
    """Withdraw a declaration; chargers keep the value they have."""
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="desired_configuration.remove",
            target=desired,
            network=desired.network,
            before={"key": desired.key, "value": desired.value},
        )
        desired.delete()


def is_device_model_key(key: str) -> bool:
    """``Component.Variable`` is a 2.0.1 device-model variable; 1.6 keys have no dot."""
    return "." in key


def _applies(
    rule: DesiredConfiguration, charge_point: ChargePoint, tag_ids: set[int]
) -> bool:
    # A 1.6 key means nothing to a 2.0.1 charger and the other way round.
    is_201 = charge_point.ocpp_protocol == OcppProtocol.OCPP201
    if is_device_model_key(rule.key) != is_201:
        return False
    if rule.station_id is not None and rule.station_id != charge_point.station_id:
        return False
    if rule.tag_id is not None and rule.tag_id not in tag_ids:
        return False
    if rule.vendor and rule.vendor.lower() != charge_point.vendor.lower():
        return False
    return not (rule.model and rule.model.lower() != charge_point.model.lower())


def desired_for(
    charge_point: ChargePoint,
) -> dict[str, tuple[DesiredConfiguration, list[DesiredConfiguration]]]:
    """Per key: the declaration that wins for this charger and the ones it overrides."""
    if charge_point.station is None:
        return {}
    tag_ids = set(
        ChargerTag.objects.filter(charge_points=charge_point).values_list(
            "pk", flat=True
        )
    )
    rules = [
        rule
        for rule in DesiredConfiguration.objects.filter(
            network_id=charge_point.station.network_id
        ).select_related("station", "tag", "network")
        if _applies(rule, charge_point, tag_ids)
    ]
    resolved: dict[str, tuple[DesiredConfiguration, list[DesiredConfiguration]]] = {}
    for key in sorted({rule.key for rule in rules}):
        candidates = sorted(
            (rule for rule in rules if rule.key == key),
            key=lambda rule: (rule.precedence, rule.updated_at),
            reverse=True,
        )
        resolved[key] = (candidates[0], candidates[1:])
    return resolved


def _emit(
    charge_point: ChargePoint, drift: ConfigurationDrift, *, failing: bool, detail: str
) -> None:
    station = charge_point.station
    emit(
        ConfigurationDriftChanged(
            charge_point_pk=charge_point.pk,
            ocpp_id=charge_point.ocpp_id,
            station_id=charge_point.station_id,
            network_id=station.network_id if station is not None else None,
            key=drift.key,
            desired_value=drift.desired_value,
            state=drift.state,
            reverts=drift.reverts,
            failing=failing,
            detail=detail[:255],
            at=timezone.now().isoformat(),
        ),
        live_groups=charge_point_groups(charge_point),
    )


def _is_failing(drift: ConfigurationDrift) -> bool:
    threshold = settings.DESIRED_CONFIGURATION_REVERT_ALERT
    # A reverting charger stays alerted once back in line: it will revert again.
    return drift.state == DriftState.REJECTED or drift.reverts >= threshold


@transaction.atomic
def configuration_converge(
    *, charge_point_id: int, now: datetime | None = None
) -> list[ConfigurationDrift]:
    """Compare declared and actual values of one charger; send the changes needed."""
    now = now or timezone.now()
    charge_point = (
        ChargePoint.objects.select_related("station").filter(pk=charge_point_id).first()
    )
    if charge_point is None:
        return []
    desired = desired_for(charge_point)
    ConfigurationDrift.objects.filter(charge_point=charge_point).exclude(
        key__in=list(desired)
    ).delete()
    actual = {
        row.key: row
        for row in ConfigurationKey.objects.filter(
            charge_point=charge_point, key__in=list(desired)
        )
    }
    booted = charge_point.last_boot_at
    # Unknown keys, and keys last read before the charger's boot (a 2.0.1
    # station's read after boot is a device-model report, not these keys).
    unread = [
        key
        for key in desired
        if key not in actual or (booted and actual[key].fetched_at < booted)
    ]
    fetch = _read_missing(charge_point, unread)
    # While a read is on its way its answer may undo what a change now sets:
    # act on what it reports, not before.
    reading = (
        fetch is not None
        and fetch.command is not None
        and fetch.command.status == CommandStatus.PENDING
    )
    drifts = []
    for key, (rule, _overridden) in desired.items():
        drift, _ = ConfigurationDrift.objects.select_for_update().get_or_create(
            charge_point=charge_point,
            key=key,
            defaults={"desired_value": rule.value, "checked_at": now},
        )
        was_failing = _is_failing(drift)
        if drift.desired_value != rule.value:  # a new declaration: start afresh
            drift.state, drift.reverts, drift.was_in_sync = DriftState.UNKNOWN, 0, False
            drift.change_command = None
        drift.desired, drift.desired_value = rule, rule.value
        if not reading:
            _converge_key(charge_point, drift, actual.get(key), fetch, now)
        drift.checked_at = now
        drift.save()
        is_failing = _is_failing(drift)
        if is_failing != was_failing:
            _emit(charge_point, drift, failing=is_failing, detail=_detail(drift))
        drifts.append(drift)
    return drifts


def _read_missing(
    charge_point: ChargePoint, missing: list[str]
) -> ConfigurationFetch | None:
    """The charger's last read; asks for declared keys not reported since its boot.

    A 1.6 charger's read after boot names every key; a 2.0.1 charger's is a
    device-model report (NotifyReport), so its declared variables are asked for
    by name (GetVariables).
    """
    fetch = (
        ConfigurationFetch.objects.filter(charge_point=charge_point)
        .select_related("command")
        .first()
    )
    if not missing or not charge_point.is_connected:
        return fetch
    command = fetch.command if fetch is not None else None
    if command is not None and command.status == CommandStatus.PENDING:
        return fetch  # a read is on its way
    booted = charge_point.last_boot_at
    read_since_boot = (
        fetch is not None
        and fetch.fetched_at is not None
        and (booted is None or fetch.fetched_at >= booted)
    )
    if read_since_boot:
        return fetch  # read, and the charger did not report them
    try:
        configuration_fetch(charge_point=charge_point, requested_by=None, keys=missing)
    except CommandPayloadError:
        return fetch
    return ConfigurationFetch.objects.filter(charge_point=charge_point).first()


def _detail(drift: ConfigurationDrift) -> str:
    if drift.state == DriftState.REJECTED:
        return f"The charger answered {drift.charger_answer or 'a refusal'}."
    return (
        f"Found at {drift.actual_value!r} instead of {drift.desired_value!r} "
        f"{drift.reverts} times after it was set."
    )


def _converge_key(
    charge_point: ChargePoint,
    drift: ConfigurationDrift,
    actual: ConfigurationKey | None,
    fetch: ConfigurationFetch | None,
    now: datetime,
) -> None:
    command = drift.change_command
    if command is not None and command.status == CommandStatus.PENDING:
        drift.state = DriftState.CHANGING
        return
    if command is not None and not drift.charger_answer:
        drift.charger_answer = (command.charger_status or command.status)[:40]
        if drift.charger_answer in _REFUSED:
            drift.state = DriftState.REJECTED
        elif drift.charger_answer == "RebootRequired":
            drift.state = DriftState.REBOOT_REQUIRED
    drift.actual_value = actual.value if actual is not None else None
    if drift.state == DriftState.REJECTED:
        return  # refused: not sent again until the declaration changes
    if drift.state == DriftState.REBOOT_REQUIRED:
        # §6.3: the value applies after a reboot; the read after that boot says.
        booted = charge_point.last_boot_at
        answered = command.finished_at if command is not None else None
        if not (booted and answered and fetch and fetch.fetched_at) or not (
            booted > answered and fetch.fetched_at > booted
        ):
            return
    if actual is not None and actual.value == drift.desired_value:
        if drift.state != DriftState.IN_SYNC:
            drift.state, drift.in_sync_at = DriftState.IN_SYNC, now
        drift.was_in_sync = True
        return
    if fetch is None or fetch.fetched_at is None:
        drift.state = DriftState.UNKNOWN  # the read after boot comes first
        return
    booted = charge_point.last_boot_at
    if (
        drift.state == DriftState.IN_SYNC
        and drift.was_in_sync
        and not (booted and drift.in_sync_at and booted > drift.in_sync_at)
    ):
        # Off the value without a reboot between: the charger reverted it. A
        # boot may reset keys on its own (1.6 §4.2: the BootNotification answer
        # sets the heartbeat interval), so that is converged, not counted.
        drift.reverts += 1
    if actual is not None and actual.is_readonly:
        drift.state, drift.charger_answer = DriftState.REJECTED, "read-only"
        return
    drift.state = DriftState.DRIFT
    if not charge_point.is_connected:
        return
    try:
        drift.change_command = configuration_change(
            charge_point=charge_point,
            key=drift.key,
            value=drift.desired_value,
            requested_by=None,
        )
    except CommandPayloadError as error:  # not expressible in its protocol
        drift.state, drift.charger_answer = DriftState.REJECTED, str(error)[:40]
        return
    drift.charger_answer = ""
    drift.changes_sent += 1
    if drift.change_command.status == CommandStatus.PENDING:
        drift.state = DriftState.CHANGING


def configuration_read_due(*, now: datetime, limit: int = 50) -> int:
    """Re-read the declared keys of connected chargers not read for a while."""
    networks = DesiredConfiguration.objects.values("network_id")
    due = now - timedelta(seconds=settings.DESIRED_CONFIGURATION_READ_SECONDS)
    chargers = (
        ChargePoint.objects.filter(
            is_connected=True,
            station__network_id__in=networks,
            configuration_fetch__isnull=False,
        )
        .filter(
            Q(configuration_fetch__requested_at__lt=due)
            & (
                Q(configuration_fetch__fetched_at__isnull=False)
                | Q(configuration_fetch__requested_at__lt=due - timedelta(minutes=5))
            )
        )
        .select_related("station")[:limit]
    )
    sent = 0
    for charge_point in chargers:
        keys = list(desired_for(charge_point))
        if keys:
            configuration_fetch(charge_point=charge_point, requested_by=None, keys=keys)
            sent += 1
    return sent


def chargers_with_declarations() -> QuerySet[ChargePoint]:
    networks = DesiredConfiguration.objects.values("network_id")
    return ChargePoint.objects.filter(station__network_id__in=networks)


def configuration_sweep(*, now: datetime | None = None, limit: int = 500) -> int:
    """Converge every charger of a network with declarations; re-read stale ones."""
    now = now or timezone.now()
    configuration_read_due(now=now)
    ids = list(chargers_with_declarations().values_list("pk", flat=True)[:limit])
    for charge_point_id in ids:
        configuration_converge(charge_point_id=charge_point_id, now=now)
    return len(ids)
