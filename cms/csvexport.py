"""What the CSV exports share: formula-safe text cells and a streamed response."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any

from django.http import StreamingHttpResponse


def csv_safe_text(value: str) -> str:
    """Spreadsheets run cells starting with these as formulas (CSV injection)."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_streaming_response(
    rows: Iterable[list[Any]], *, filename: str
) -> StreamingHttpResponse:
    """Rows written one at a time into the response (never all in memory)."""
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response
