"""OCPP 1.6 payload parts read into neutral facts and neutral values written back.

A ``meterValue`` list holds entries ``{"timestamp", "sampledValue": [...]}``; each
sampledValue has ``value`` plus optional ``context``, ``format``, ``measurand``,
``phase``, ``location`` and ``unit`` (OCPP 1.6 §7.45 SampledValue). Keys are
accepted in camelCase (the wire format) and snake_case (python-ocpp's).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from stations.facts import (
    DEFAULT_MEASURAND,
    Authorization,
    Sample,
    VendorQuirks,
    energy_labelled_wh,
    normalized_value,
    notes_joined,
)
from stations.ocpp.protocol import ocpp_datetime_has_zone, parse_ocpp_datetime
from stations.ocpp.v16.validation import sampled_value_oddity


def _field(data: Mapping[str, Any], camel: str, snake: str) -> Any:
    return data[camel] if camel in data else data.get(snake)


def parse_timestamp(
    value: Any, *, default: datetime, naive_zone: tzinfo | None = None
) -> datetime:
    """Return an aware UTC datetime from an OCPP dateTime, or ``default``."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            return default
    else:
        return default
    if parsed.tzinfo is None:
        # OCPP requires UTC; a charger omitting the zone means UTC (unless its
        # vendor profile names the zone it means).
        parsed = parsed.replace(tzinfo=naive_zone or UTC)
    return parsed.astimezone(UTC)


def _naive_zone(quirks: VendorQuirks | None) -> ZoneInfo | None:
    if quirks is None or not quirks.naive_time_zone:
        return None
    return ZoneInfo(quirks.naive_time_zone)


def _zone_note(quirks: VendorQuirks) -> str:
    return quirks.note(f"time without zone read in {quirks.naive_time_zone}")


def charger_time(value: str, quirks: VendorQuirks | None) -> tuple[datetime, str]:
    """A 1.6 dateTime (§7 dateTime: UTC) and the profile note when its zone was
    missing and the charger's vendor profile names the zone it means."""
    zone = _naive_zone(quirks)
    if zone is None or quirks is None or ocpp_datetime_has_zone(value):
        return parse_ocpp_datetime(value), ""
    return parse_ocpp_datetime(value, naive_zone=zone), _zone_note(quirks)


def text(value: Any, max_length: int) -> str:
    return "" if value is None else str(value)[:max_length]


def samples_of(
    meter_value: Iterable[Mapping[str, Any]] | None,
    *,
    received_at: datetime,
    quirks: VendorQuirks | None = None,
) -> list[Sample]:
    """Flatten a 1.6 ``meterValue`` list into normalized samples, in message order.

    With the charger's vendor profile: an energy reading labelled Wh (the
    default unit, §7.45 SampledValue) from a model that sends kWh is read as
    kWh, a timestamp without zone in the profile's zone; each such sample
    carries the profile's note.
    """
    samples: list[Sample] = []
    zone = _naive_zone(quirks)
    scale_kwh = quirks is not None and quirks.energy_kwh_labelled_wh
    for entry in meter_value or ():
        raw_time = entry.get("timestamp")
        timestamp = parse_timestamp(raw_time, default=received_at, naive_zone=zone)
        time_note = (
            _zone_note(quirks)
            if quirks is not None
            and zone is not None
            and isinstance(raw_time, str)
            and not ocpp_datetime_has_zone(raw_time.strip())
            else ""
        )
        sampled_values = _field(entry, "sampledValue", "sampled_value") or ()
        for sampled in sampled_values:
            raw_value = "" if sampled.get("value") is None else str(sampled["value"])
            unit = text(sampled.get("unit"), 12)
            value_format = text(sampled.get("format"), 12)
            measurand = text(sampled.get("measurand"), 60) or DEFAULT_MEASURAND
            flag = sampled_value_oddity(sampled)
            value = (
                None
                if flag
                else normalized_value(raw_value, unit=unit, value_format=value_format)
            )
            scale_note = ""
            if scale_kwh and value is not None and energy_labelled_wh(measurand, unit):
                value *= 1000.0
                scale_note = quirks.note("kWh labelled Wh, read as kWh")  # type: ignore[union-attr]  # scale_kwh implies quirks
            samples.append(
                Sample(
                    timestamp=timestamp,
                    measurand=measurand,
                    phase=text(sampled.get("phase"), 8),
                    location=text(sampled.get("location"), 8),
                    unit=unit,
                    context=text(sampled.get("context"), 30),
                    value_format=value_format,
                    raw_value=raw_value,
                    value=value,
                    flag=flag,
                    quirk=notes_joined(scale_note, time_note),
                )
            )
    return samples


# OCPP 1.6 §7.2 AuthorizationStatus has five values; 2.0.1's further ones
# (NoCredit, NotAllowedTypeEVSE, NotAtThisLocation, NotAtThisTime, Unknown)
# all mean "not accepted here" to a 1.6 charger.
_V16_STATUSES = frozenset({"Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"})


def id_tag_info(auth: Authorization) -> dict[str, Any]:
    """The IdTagInfo (OCPP 1.6 §7.30) of an authorization, snake_case as python-ocpp takes it."""
    status = auth.status if auth.status in _V16_STATUSES else "Invalid"
    info: dict[str, Any] = {"status": status}
    if auth.expires_at is not None:
        info["expiry_date"] = auth.expires_at.isoformat()
    if auth.group_token is not None:
        info["parent_id_tag"] = auth.group_token
    return info
