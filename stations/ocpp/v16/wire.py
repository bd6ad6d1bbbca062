"""OCPP 1.6 payload parts read into neutral facts and neutral values written back.

A ``meterValue`` list holds entries ``{"timestamp", "sampledValue": [...]}``; each
sampledValue has ``value`` plus optional ``context``, ``format``, ``measurand``,
``phase``, ``location`` and ``unit`` (OCPP 1.6 §7.45 SampledValue). Keys are
accepted in camelCase (the wire format) and snake_case (python-ocpp's).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from stations.facts import DEFAULT_MEASURAND, Authorization, Sample, normalized_value
from stations.ocpp.v16.validation import sampled_value_oddity


def _field(data: Mapping[str, Any], camel: str, snake: str) -> Any:
    return data[camel] if camel in data else data.get(snake)


def parse_timestamp(value: Any, *, default: datetime) -> datetime:
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
        # OCPP requires UTC; a charger omitting the zone means UTC.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def text(value: Any, max_length: int) -> str:
    return "" if value is None else str(value)[:max_length]


def samples_of(
    meter_value: Iterable[Mapping[str, Any]] | None, *, received_at: datetime
) -> list[Sample]:
    """Flatten a 1.6 ``meterValue`` list into normalized samples, in message order."""
    samples: list[Sample] = []
    for entry in meter_value or ():
        timestamp = parse_timestamp(entry.get("timestamp"), default=received_at)
        sampled_values = _field(entry, "sampledValue", "sampled_value") or ()
        for sampled in sampled_values:
            raw_value = "" if sampled.get("value") is None else str(sampled["value"])
            unit = text(sampled.get("unit"), 12)
            value_format = text(sampled.get("format"), 12)
            flag = sampled_value_oddity(sampled)
            samples.append(
                Sample(
                    timestamp=timestamp,
                    measurand=text(sampled.get("measurand"), 60) or DEFAULT_MEASURAND,
                    phase=text(sampled.get("phase"), 8),
                    location=text(sampled.get("location"), 8),
                    unit=unit,
                    context=text(sampled.get("context"), 30),
                    value_format=value_format,
                    raw_value=raw_value,
                    value=None
                    if flag
                    else normalized_value(
                        raw_value, unit=unit, value_format=value_format
                    ),
                    flag=flag,
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
