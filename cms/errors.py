"""Errors any room raises for bad input; the API and forms turn them into a 4xx.

``InputError`` names the offending field, so the API's error body (``cms.api``)
can say which input was wrong without knowing the room that raised it.
"""

from __future__ import annotations


class InputError(ValueError):
    """Input the product cannot act on; ``field`` names the culprit ("" = the request)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field
