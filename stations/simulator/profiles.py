"""OCPP 1.6 smart charging arithmetic on the charger side (spec §3.13, §7.9).

Pure functions: parse a ``csChargingProfiles`` object, find the limit in force
at a moment, and build the composite schedule a charger reports for
GetCompositeSchedule. Limits come back in W; amps convert with
``phases × voltage`` (230 V line-to-neutral for AC).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

CHARGE_POINT_MAX = "ChargePointMaxProfile"
TX_DEFAULT = "TxDefaultProfile"
TX_PROFILE = "TxProfile"
PURPOSES = (CHARGE_POINT_MAX, TX_DEFAULT, TX_PROFILE)

ABSOLUTE = "Absolute"
RECURRING = "Recurring"
RELATIVE = "Relative"
_RECURRENCE_S = {"Daily": 86_400, "Weekly": 7 * 86_400}


class ProfileError(ValueError):
    """A charging profile this charger cannot accept (the reason is the message)."""


@dataclass(frozen=True)
class SchedulePeriod:
    start_period_s: int
    limit: float
    number_phases: int | None = None


@dataclass(frozen=True)
class ChargingProfile:
    """An installed profile; ``connector_id`` is where it was set (0 = charger)."""

    id: int
    connector_id: int
    stack_level: int
    purpose: str
    kind: str
    unit: str
    periods: tuple[SchedulePeriod, ...]
    received_at: datetime
    recurrency: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: int | str | None = None
    duration_s: int | None = None
    start_schedule: datetime | None = None
    min_charging_rate: float | None = None


def parse_ocpp_datetime(value: str) -> datetime:
    """Parse an OCPP dateTime; a value without offset is taken as UTC."""
    parsed = datetime.fromisoformat(value.strip().replace("z", "Z"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _get(data: Mapping[str, Any], snake: str, camel: str) -> Any:
    return data.get(snake, data.get(camel))


def _optional_datetime(value: Any) -> datetime | None:
    return parse_ocpp_datetime(value) if value else None


def parse_profile(
    data: Mapping[str, Any], *, connector_id: int, received_at: datetime
) -> ChargingProfile:
    """Build a profile from an OCPP ``chargingProfile`` (snake_case or camelCase)."""
    schedule = _get(data, "charging_schedule", "chargingSchedule") or {}
    raw_periods = (
        _get(schedule, "charging_schedule_period", "chargingSchedulePeriod") or []
    )
    periods = tuple(
        sorted(
            (
                SchedulePeriod(
                    start_period_s=int(_get(period, "start_period", "startPeriod")),
                    limit=float(period["limit"]),
                    number_phases=_get(period, "number_phases", "numberPhases"),
                )
                for period in raw_periods
            ),
            key=lambda period: period.start_period_s,
        )
    )
    if not periods:
        raise ProfileError("the charging schedule has no periods")
    if periods[0].start_period_s != 0:
        raise ProfileError("the first schedule period must start at 0")
    kind = _get(data, "charging_profile_kind", "chargingProfileKind")
    recurrency = _get(data, "recurrency_kind", "recurrencyKind")
    start_schedule = _optional_datetime(
        _get(schedule, "start_schedule", "startSchedule")
    )
    if kind == RECURRING and (recurrency not in _RECURRENCE_S or not start_schedule):
        raise ProfileError("a recurring profile needs recurrencyKind and startSchedule")
    unit = _get(schedule, "charging_rate_unit", "chargingRateUnit")
    if unit not in ("A", "W"):
        raise ProfileError(f"unknown charging rate unit {unit!r}")
    if any(period.limit < 0 for period in periods):
        raise ProfileError("a schedule limit is negative")
    duration = schedule.get("duration")
    min_rate = _get(schedule, "min_charging_rate", "minChargingRate")
    return ChargingProfile(
        id=int(_get(data, "charging_profile_id", "chargingProfileId")),
        connector_id=connector_id,
        stack_level=int(_get(data, "stack_level", "stackLevel")),
        purpose=str(_get(data, "charging_profile_purpose", "chargingProfilePurpose")),
        kind=str(kind),
        unit=unit,
        periods=periods,
        received_at=received_at,
        recurrency=recurrency,
        valid_from=_optional_datetime(_get(data, "valid_from", "validFrom")),
        valid_to=_optional_datetime(_get(data, "valid_to", "validTo")),
        transaction_id=_get(data, "transaction_id", "transactionId"),
        duration_s=int(duration) if duration is not None else None,
        start_schedule=start_schedule,
        min_charging_rate=float(min_rate) if min_rate is not None else None,
    )


def schedule_start(
    profile: ChargingProfile, at: datetime, *, transaction_started_at: datetime | None
) -> datetime | None:
    """Return when the profile's schedule (its current cycle) started, if it has."""
    if profile.kind == RELATIVE:
        return transaction_started_at
    if profile.kind == RECURRING:
        # parse_profile guarantees startSchedule for recurring profiles.
        anchor = profile.start_schedule or profile.received_at
        cycle_s = _RECURRENCE_S[profile.recurrency or "Daily"]
        cycles = math.floor((at - anchor).total_seconds() / cycle_s)
        return anchor + timedelta(seconds=cycles * cycle_s)
    # Absolute without startSchedule: the spec leaves it open; chargers commonly
    # start it when the profile arrives.
    return profile.start_schedule or profile.received_at


def period_at(
    profile: ChargingProfile, at: datetime, *, transaction_started_at: datetime | None
) -> SchedulePeriod | None:
    """Return the schedule period in force at ``at``, or None if none is."""
    if profile.valid_from and at < profile.valid_from:
        return None
    if profile.valid_to and at >= profile.valid_to:
        return None
    start = schedule_start(profile, at, transaction_started_at=transaction_started_at)
    if start is None or at < start:
        return None
    offset_s = (at - start).total_seconds()
    if profile.duration_s is not None and offset_s >= profile.duration_s:
        return None
    current = None
    for period in profile.periods:
        if period.start_period_s <= offset_s:
            current = period
        else:
            break
    return current


def to_watts(
    limit: float,
    unit: str,
    *,
    phases: int,
    voltage_v: float,
    number_phases: int | None = None,
) -> float:
    """Convert a schedule limit to W (amps per phase × phases × voltage)."""
    if unit == "W":
        return float(limit)
    used_phases = min(number_phases or phases, phases)
    return float(limit) * used_phases * voltage_v


def _profile_watts_at(
    profile: ChargingProfile,
    at: datetime,
    *,
    transaction_started_at: datetime | None,
    phases: int,
    voltage_v: float,
) -> float | None:
    period = period_at(profile, at, transaction_started_at=transaction_started_at)
    if period is None:
        return None
    return to_watts(
        period.limit,
        profile.unit,
        phases=phases,
        voltage_v=voltage_v,
        number_phases=period.number_phases,
    )


def _highest_stack_watts(
    candidates: Iterable[ChargingProfile],
    at: datetime,
    *,
    transaction_started_at: datetime | None,
    phases: int,
    voltage_v: float,
) -> float | None:
    # §3.13.2: within one purpose the highest stackLevel in force wins; a higher
    # profile outside its validity or duration lets the next one through.
    for profile in sorted(candidates, key=lambda p: p.stack_level, reverse=True):
        watts = _profile_watts_at(
            profile,
            at,
            transaction_started_at=transaction_started_at,
            phases=phases,
            voltage_v=voltage_v,
        )
        if watts is not None:
            return watts
    return None


def limit_at(
    profiles: Iterable[ChargingProfile],
    at: datetime,
    *,
    connector_id: int = 1,
    transaction_id: int | str | None = None,
    transaction_started_at: datetime | None = None,
    phases: int = 3,
    voltage_v: float = 230.0,
) -> float | None:
    """Return the power limit (W) the profiles put on a connector at ``at``.

    The limit is min(ChargePointMaxProfile, TxProfile or else TxDefaultProfile);
    None means no profile limits the connector now.
    """
    installed = list(profiles)

    def highest(candidates: Iterable[ChargingProfile]) -> float | None:
        return _highest_stack_watts(
            candidates,
            at,
            transaction_started_at=transaction_started_at,
            phases=phases,
            voltage_v=voltage_v,
        )

    charger_max = highest(p for p in installed if p.purpose == CHARGE_POINT_MAX)
    session_limit = None
    if transaction_started_at is not None:
        session_limit = highest(
            p
            for p in installed
            if p.purpose == TX_PROFILE
            and p.connector_id == connector_id
            and (p.transaction_id is None or p.transaction_id == transaction_id)
        )
    if session_limit is None:
        # A TxDefaultProfile on the connector overrides one set on connector 0.
        for scope in (connector_id, 0):
            session_limit = highest(
                p
                for p in installed
                if p.purpose == TX_DEFAULT and p.connector_id == scope
            )
            if session_limit is not None:
                break
    limits = [limit for limit in (charger_max, session_limit) if limit is not None]
    return min(limits) if limits else None


def _boundaries(
    profile: ChargingProfile,
    start: datetime,
    end: datetime,
    *,
    transaction_started_at: datetime | None,
) -> set[datetime]:
    """Moments in [start, end) at which this profile's limit may change."""
    moments = {m for m in (profile.valid_from, profile.valid_to) if m is not None}
    cycle_starts: list[datetime] = []
    first = schedule_start(
        profile, start, transaction_started_at=transaction_started_at
    )
    if first is not None:
        cycle_starts.append(first)
        if profile.kind == RECURRING:
            cycle = timedelta(seconds=_RECURRENCE_S[profile.recurrency or "Daily"])
            following = first + cycle
            while following < end:
                cycle_starts.append(following)
                following += cycle
    for cycle_start in cycle_starts:
        moments.update(
            cycle_start + timedelta(seconds=period.start_period_s)
            for period in profile.periods
        )
        if profile.duration_s is not None:
            moments.add(cycle_start + timedelta(seconds=profile.duration_s))
    return {moment for moment in moments if start <= moment < end}


def composite_schedule(
    profiles: Iterable[ChargingProfile],
    *,
    start: datetime,
    duration_s: int,
    connector_id: int,
    unit: str,
    hardware_limit_w: float,
    transaction_id: int | str | None = None,
    transaction_started_at: datetime | None = None,
    phases: int = 3,
    voltage_v: float = 230.0,
) -> dict[str, Any]:
    """Return the OCPP ``chargingSchedule`` the connector will follow (§5.7).

    Combines the profiles with the hardware limit; a Relative profile without a
    running transaction is planned as if the transaction started at ``start``.
    """
    installed = list(profiles)
    end = start + timedelta(seconds=duration_s)
    tx_start = transaction_started_at or start
    moments = {start}
    for profile in installed:
        moments |= _boundaries(profile, start, end, transaction_started_at=tx_start)
    periods: list[dict[str, Any]] = []
    for moment in sorted(moments):
        watts = limit_at(
            installed,
            moment,
            connector_id=connector_id,
            transaction_id=transaction_id,
            transaction_started_at=tx_start,
            phases=phases,
            voltage_v=voltage_v,
        )
        watts = hardware_limit_w if watts is None else min(watts, hardware_limit_w)
        limit = watts if unit == "W" else watts / (phases * voltage_v)
        limit = round(limit, 1)
        if periods and periods[-1]["limit"] == limit:
            continue
        period: dict[str, Any] = {
            "startPeriod": int((moment - start).total_seconds()),
            "limit": limit,
        }
        if unit == "A":
            period["numberPhases"] = phases
        periods.append(period)
    return {
        "duration": duration_s,
        "startSchedule": format_ocpp_datetime(start),
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": periods,
    }


def format_ocpp_datetime(moment: datetime) -> str:
    """UTC ISO-8601 with milliseconds and a Z, as chargers send it."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
