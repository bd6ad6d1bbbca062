"""The API's JSON parser: bounded in size and in nesting, answered in the API's shape.

DRF's parser hands the whole body to ``json.load``: JSON nested 10,000 levels
deep raises RecursionError (a 500), and a body read as a stream skips Django's
``DATA_UPLOAD_MAX_MEMORY_SIZE``. Here the body is read up to that limit (one
byte more tells it is over: 413), parsed, and refused (400) when nested deeper
than ``API_JSON_MAX_DEPTH``; no input of the API needs more than a few levels.
"""

from __future__ import annotations

import codecs
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework import exceptions, parsers, status
from rest_framework.utils import json


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "Request body too large."
    default_code = "payload_too_large"


def payload_too_large(limit: int | None) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"Request body too large: the limit is {limit} bytes."
        if limit
        else "Request body too large."
    )


def json_depth(value: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        stack.extend((child, depth) for child in children)
    return deepest


class JSONParser(parsers.JSONParser):
    def parse(
        self,
        stream: Any,
        media_type: str | None = None,
        parser_context: Mapping[str, Any] | None = None,
    ) -> Any:
        if stream is None:
            return None
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise payload_too_large(limit)
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        maximum = settings.API_JSON_MAX_DEPTH
        too_deep = exceptions.ParseError(
            f"JSON nested too deeply: at most {maximum} levels are accepted."
        )
        try:
            text = codecs.decode(raw, encoding)
            parse_constant = json.strict_constant if self.strict else None
            data = json.loads(text, parse_constant=parse_constant)
        except RecursionError as exc:
            raise too_deep from exc
        except ValueError as exc:
            raise exceptions.ParseError(f"JSON parse error - {exc}") from exc
        if json_depth(data) > maximum:
            raise too_deep
        return data
