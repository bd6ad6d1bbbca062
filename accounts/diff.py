"""Turn an audit entry's before/after snapshots into rows a person can read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DiffRow:
    field: str
    before: str
    after: str
    kind: str  # "added", "removed" or "changed"
    note: str = ""  # for lists: which items came and went


def _readable(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_readable(item) for item in value) if value else "(none)"
    if isinstance(value, dict):
        return "; ".join(f"{key}: {_readable(item)}" for key, item in value.items())
    if value == "":
        return "(empty)"
    return str(value)


def _list_note(old: Any, new: Any) -> str:
    if not (isinstance(old, list) and isinstance(new, list)):
        return ""
    gained = [_readable(item) for item in new if item not in old]
    lost = [_readable(item) for item in old if item not in new]
    parts = []
    if gained:
        parts.append("+ " + ", ".join(gained))
    if lost:
        parts.append("− " + ", ".join(lost))
    return "; ".join(parts)


def _label(field: str) -> str:
    return field.removesuffix("_id").replace("_", " ")


def audit_diff(
    before: dict[str, Any] | None, after: dict[str, Any] | None
) -> list[DiffRow]:
    """Rows for the fields that differ; a creation lists every field it set."""
    before_data = before if isinstance(before, dict) else {}
    after_data = after if isinstance(after, dict) else {}
    rows: list[DiffRow] = []
    for field in [*before_data, *(k for k in after_data if k not in before_data)]:
        in_before, in_after = field in before_data, field in after_data
        old, new = before_data.get(field), after_data.get(field)
        if in_before and in_after and old == new:
            continue
        if in_before and in_after:
            kind = "changed"
        elif in_after:
            kind = "added"
        else:
            kind = "removed"
        rows.append(
            DiffRow(
                field=_label(field),
                before=_readable(old) if in_before else "",
                after=_readable(new) if in_after else "",
                kind=kind,
                note=_list_note(old, new),
            )
        )
    return rows
