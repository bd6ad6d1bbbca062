"""What the CSV imports share (id tokens, chargers): the header, the lines, and
errors that name their line and column. An import checks the whole file first
and writes nothing when any line is wrong."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django import forms

MAX_IMPORT_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class ImportLineError:
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"line {self.line}, {self.column}: {self.message}"


class CsvImportError(Exception):
    """The file was rejected; ``errors`` lists every problem found."""

    def __init__(self, errors: list[ImportLineError]) -> None:
        super().__init__("; ".join(str(error) for error in errors[:5]))
        self.errors = errors


def normalize_header(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def csv_records(
    text: str, *, aliases: Mapping[str, str], required: str, hint: str
) -> tuple[list[tuple[int, dict[str, str]]], list[ImportLineError]]:
    """The file's lines as ``(line number, {column: stripped cell})``, blank lines
    skipped; header problems (unknown or repeated column, the ``required`` one
    missing) and lines with more cells than columns as errors."""
    errors: list[ImportLineError] = []
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return [], [ImportLineError(1, "file", "The file is empty.")]
    mapped: list[str | None] = []
    for raw in header:
        name = normalize_header(raw)
        canonical = aliases.get(name)
        if canonical is None and name:
            errors.append(ImportLineError(1, raw.strip(), "Unknown column. " + hint))
        if canonical is not None and canonical in mapped:
            errors.append(ImportLineError(1, raw.strip(), "This column appears twice."))
        mapped.append(canonical)
    if required not in mapped:
        errors.append(
            ImportLineError(1, required, f"The header has no {required} column.")
        )
    if errors:
        return [], errors
    records: list[tuple[int, dict[str, str]]] = []
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) > len(mapped):
            errors.append(
                ImportLineError(
                    line,
                    "file",
                    f"{len(cells)} cells but the header has {len(mapped)} columns.",
                )
            )
            continue
        records.append(
            (
                line,
                {
                    name: cell.strip()
                    for name, cell in zip(mapped, cells, strict=False)
                    if name is not None
                },
            )
        )
    return records, errors


def uploaded_text(upload: Any) -> str:
    """An uploaded CSV file as text (UTF-8, with or without BOM), or a form error."""
    if upload.size > MAX_IMPORT_BYTES:
        raise forms.ValidationError("The file is larger than 5 MB; split it.")
    try:
        return str(upload.read().decode("utf-8-sig"))
    except UnicodeDecodeError as error:
        raise forms.ValidationError("The file is not UTF-8 text.") from error
