"""camelCase <-> snake_case for OCPP payloads, with the ``ocpp`` package's rules, cached.

The package converts every key of every payload with two regular expressions
(``ocpp.charge_point.camel_to_snake_case``): a few percent of the gateway's
CPU at fleet rates for the same few hundred key names over and over. These
walk the payload the same way and convert each distinct key once (bounded
caches: keys come from chargers).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from ocpp.charge_point import camel_to_snake_case as _package_to_snake
from ocpp.charge_point import snake_to_camel_case as _package_to_camel


@lru_cache(maxsize=4096)
def _snake_key(key: str) -> str:
    return str(next(iter(_package_to_snake({key: None}))))


@lru_cache(maxsize=4096)
def _camel_key(key: str) -> str:
    return str(next(iter(_package_to_camel({key: None}))))


def camel_to_snake_case(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            _snake_key(key): camel_to_snake_case(value) for key, value in data.items()
        }
    if isinstance(data, list):
        return [camel_to_snake_case(value) for value in data]
    return data


def snake_to_camel_case(data: Any) -> Any:
    if isinstance(data, dict):
        return {
            _camel_key(key): snake_to_camel_case(value) for key, value in data.items()
        }
    if isinstance(data, list):
        return [snake_to_camel_case(value) for value in data]
    return data
