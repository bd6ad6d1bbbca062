"""Bulk import of id tokens from CSV, shared by the portal page and ``import_id_tokens``.

The first line names the columns (case and spaces do not matter):

==========================  ========  =============================================
column (aliases)            required  meaning
==========================  ========  =============================================
``token`` (id_tag)          yes       the idTag, up to 20 characters, case-insensitive
``status``                  no        Accepted (default), Blocked, Expired or Invalid
``expiry`` (expires_at)     no        ``YYYY-MM-DD`` (valid through that day, network
                                      time) or an ISO 8601 date-time; empty = never
``parent`` (parent_token)   no        the group token: in the same file or existing
``owner_email`` (owner)     no        email of an existing user who owns the token
``label``                   no        free text shown in the portal
``kind``                    no        rfid (default), app, fleet or group
``max_concurrent_sessions`` no        a number; empty = no limit
==========================  ========  =============================================

A token already known (same value, any case) is updated, never duplicated. A
column left out of the file leaves that field unchanged on existing tokens; an
empty cell sets the default. The whole file is checked first and nothing is
written when any line is wrong: every error names its line and column.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.functions import Upper

from accounts.models import User
from accounts.services import audit_record, model_snapshot
from cms.csvimport import CsvImportError, ImportLineError, csv_records
from sessions_app.models import IdToken, TokenStatus
from stations.models import Network

COLUMN_ALIASES = {
    "token": "token",
    "id_tag": "token",
    "idtag": "token",
    "id_token": "token",
    "status": "status",
    "expiry": "expiry",
    "expires_at": "expiry",
    "expiry_date": "expiry",
    "expires": "expiry",
    "parent": "parent",
    "parent_token": "parent",
    "parent_id_tag": "parent",
    "owner_email": "owner_email",
    "owner": "owner_email",
    "email": "owner_email",
    "label": "label",
    "kind": "kind",
    "max_concurrent_sessions": "max_concurrent_sessions",
    "max_sessions": "max_concurrent_sessions",
}
_TOKEN_MAX_LENGTH = 20
_LOOKUP_CHUNK = 500


class IdTokenImportError(CsvImportError):
    """The token file was rejected; ``errors`` lists every problem found."""


@dataclass
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    tokens: list[str] = field(default_factory=list)


@dataclass
class _Row:
    line: int
    token: str
    values: dict[str, Any]  # model field -> value, only for columns in the file
    parent_token: str | None = None  # None: no parent column; "" : clear


def _parse_expiry(text: str, tz: zoneinfo.ZoneInfo) -> datetime:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        pass
    else:  # valid through the whole day, in the network's time
        return datetime.combine(day + timedelta(days=1), time.min, tzinfo=tz)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)


def _choice(text: str, choices: Any) -> str | None:
    for value, label in choices:
        if text.lower() in (str(value).lower(), str(label).lower()):
            return str(value)
    return None


def _users_by_email(emails: set[str]) -> dict[str, list[Any]]:
    users: dict[str, list[Any]] = {}
    if not emails:
        return users
    user_model = get_user_model()
    wanted = sorted(emails)
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        chunk = wanted[start : start + _LOOKUP_CHUNK]
        for user in user_model.objects.annotate(email_upper=Upper("email")).filter(
            email_upper__in=chunk
        ):
            users.setdefault(user.email.upper(), []).append(user)
    return users


def _existing_tokens(tokens: set[str]) -> dict[str, IdToken]:
    found: dict[str, IdToken] = {}
    wanted = sorted(tokens)
    for start in range(0, len(wanted), _LOOKUP_CHUNK):
        chunk = wanted[start : start + _LOOKUP_CHUNK]
        for token in (
            IdToken.objects.annotate(token_upper=Upper("token"))
            .filter(token_upper__in=chunk)
            .select_related("parent")
        ):
            found[token.token.upper()] = token
    return found


def _parse_rows(
    text: str, tz: zoneinfo.ZoneInfo
) -> tuple[list[_Row], list[ImportLineError], dict[int, str]]:
    records, errors = csv_records(
        text, aliases=COLUMN_ALIASES, required="token", hint=_columns_hint()
    )
    if errors and not records:
        return [], errors, {}

    rows: list[_Row] = []
    emails: dict[int, str] = {}
    for line, record in records:
        row, row_errors = _parse_row(line, record, tz)
        errors.extend(row_errors)
        if row is not None:
            rows.append(row)
            if record.get("owner_email"):
                emails[line] = record["owner_email"]
    if not rows and not errors:
        errors.append(ImportLineError(2, "file", "The file holds no token lines."))
    return rows, errors, emails


def _parse_row(
    line: int, record: dict[str, str], tz: zoneinfo.ZoneInfo
) -> tuple[_Row | None, list[ImportLineError]]:
    errors: list[ImportLineError] = []
    token = record.get("token", "")
    if not token:
        errors.append(ImportLineError(line, "token", "A token is required."))
    elif len(token) > _TOKEN_MAX_LENGTH:
        errors.append(
            ImportLineError(line, "token", "At most 20 characters (OCPP idTag).")
        )
    elif any(not char.isprintable() or char.isspace() for char in token):
        errors.append(
            ImportLineError(
                line, "token", "Spaces and control characters are not allowed."
            )
        )
    values: dict[str, Any] = {}
    if "status" in record:
        status = (
            _choice(record["status"], TokenStatus.choices)
            if record["status"]
            else "Accepted"
        )
        if status is None:
            errors.append(
                ImportLineError(
                    line, "status", "Use Accepted, Blocked, Expired or Invalid."
                )
            )
        values["status"] = status
    if "expiry" in record:
        values["expires_at"] = None
        if record["expiry"]:
            try:
                values["expires_at"] = _parse_expiry(record["expiry"], tz)
            except ValueError:
                errors.append(
                    ImportLineError(
                        line, "expiry", "Use YYYY-MM-DD or an ISO 8601 date and time."
                    )
                )
    if "kind" in record:
        kind = (
            _choice(record["kind"], IdToken.Kind.choices) if record["kind"] else "rfid"
        )
        if kind is None:
            errors.append(
                ImportLineError(line, "kind", "Use rfid, app, fleet or group.")
            )
        values["kind"] = kind
    if "label" in record:
        if len(record["label"]) > 120:
            errors.append(ImportLineError(line, "label", "At most 120 characters."))
        values["label"] = record["label"]
    if "max_concurrent_sessions" in record:
        raw = record["max_concurrent_sessions"]
        values["max_concurrent_sessions"] = None
        if raw:
            if not raw.isdigit() or int(raw) > 32767:
                errors.append(
                    ImportLineError(
                        line,
                        "max_concurrent_sessions",
                        "Use a whole number from 0, or leave it empty.",
                    )
                )
            else:
                values["max_concurrent_sessions"] = int(raw)
    if "owner_email" in record:
        values["owner"] = None  # resolved after all lines are read
    row = _Row(
        line=line,
        token=token,
        values=values,
        parent_token=record.get("parent"),
    )
    return (None if errors else row), errors


def _columns_hint() -> str:
    return "Known columns: token, status, expiry, parent, owner_email, label, kind, max_concurrent_sessions."


def _network_tz(network: Network | None) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(network.time_zone if network is not None else "UTC")


def id_tokens_import(
    *, actor: User | None, csv_text: str, network: Network | None
) -> ImportSummary:
    """Create or update the tokens of a CSV file into ``network``; all lines or none.

    Raises IdTokenImportError listing every bad line.
    """
    rows, errors, emails = _parse_rows(csv_text, _network_tz(network))
    if errors:
        raise IdTokenImportError(errors)

    seen: dict[str, int] = {}
    for row in rows:
        key = row.token.upper()
        if key in seen:
            errors.append(
                ImportLineError(
                    row.line,
                    "token",
                    f"Duplicate of line {seen[key]} (tokens are case-insensitive).",
                )
            )
        seen.setdefault(key, row.line)
    parent_keys = {row.parent_token.upper() for row in rows if row.parent_token}
    existing = _existing_tokens(set(seen) | parent_keys)
    users = _users_by_email({email.upper() for email in emails.values()})
    in_file = {row.token.upper() for row in rows}

    for row in rows:
        current = existing.get(row.token.upper())
        if current is not None and current.network_id != (
            network.pk if network else None
        ):
            errors.append(
                ImportLineError(
                    row.line,
                    "token",
                    "This token exists in another network (or without one); import it there.",
                )
            )
        if row.line in emails:
            matches = users.get(emails[row.line].upper(), [])
            if len(matches) != 1:
                errors.append(
                    ImportLineError(
                        row.line,
                        "owner_email",
                        "No user has this email."
                        if not matches
                        else "Several users have this email.",
                    )
                )
            else:
                row.values["owner"] = matches[0]
        if row.parent_token:
            parent_key = row.parent_token.upper()
            parent = existing.get(parent_key)
            if parent_key == row.token.upper():
                errors.append(
                    ImportLineError(
                        row.line, "parent", "A token cannot be its own parent."
                    )
                )
            elif parent_key not in in_file and parent is None:
                errors.append(
                    ImportLineError(
                        row.line,
                        "parent",
                        f"No token {row.parent_token!r} in the file or the network.",
                    )
                )
            elif (
                parent_key not in in_file
                and parent is not None
                and parent.network_id
                not in (
                    None,
                    network.pk if network else None,
                )
            ):
                errors.append(
                    ImportLineError(
                        row.line,
                        "parent",
                        "The parent token belongs to another network.",
                    )
                )
    errors.extend(_parent_cycles(rows, existing))
    if errors:
        raise IdTokenImportError(sorted(errors, key=lambda error: error.line))
    return _write(actor=actor, network=network, rows=rows, existing=existing)


def _parent_cycles(
    rows: list[_Row], existing: dict[str, IdToken]
) -> list[ImportLineError]:
    """Report lines whose parent chain (after the import) comes back to them."""
    parent_of: dict[str, str | None] = {}
    for key, token in existing.items():
        parent_of[key] = token.parent.token.upper() if token.parent else None
    for row in rows:
        if row.parent_token is not None:
            parent_of[row.token.upper()] = row.parent_token.upper() or None
    errors = []
    for row in rows:
        start = row.token.upper()
        node, steps = parent_of.get(start), 0
        while node is not None and steps <= len(parent_of):
            if node == start:
                errors.append(
                    ImportLineError(
                        row.line,
                        "parent",
                        "These parents make a cycle of group tokens.",
                    )
                )
                break
            node, steps = parent_of.get(node), steps + 1
    return errors


def _differs(token: IdToken, name: str, value: Any) -> bool:
    if name == "owner":  # compare ids: no query for the current owner
        return token.owner_id != (value.pk if value is not None else None)
    return getattr(token, name) != value


@transaction.atomic
def _write(
    *,
    actor: User | None,
    network: Network | None,
    rows: list[_Row],
    existing: dict[str, IdToken],
) -> ImportSummary:
    summary = ImportSummary()
    saved: dict[str, IdToken] = {}
    befores: dict[str, dict[str, Any] | None] = {}
    # First every token, then the parents: a parent may come later in the file.
    for row in rows:
        key = row.token.upper()
        current = existing.get(key)
        if current is None:
            current = IdToken(token=row.token, network=network)
            befores[key] = None
        else:
            current = IdToken.objects.select_for_update().get(pk=current.pk)
            befores[key] = model_snapshot(current)
        if current.pk is None or any(
            _differs(current, name, value) for name, value in row.values.items()
        ):
            for name, value in row.values.items():
                setattr(current, name, value)
            current.save()
        saved[key] = current
    all_tokens = {**existing, **saved}
    for row in rows:
        if row.parent_token is None:
            continue
        token = saved[row.token.upper()]
        parent = all_tokens.get(row.parent_token.upper()) if row.parent_token else None
        if token.parent_id != (parent.pk if parent else None):
            token.parent = parent
            token.save(update_fields=["parent", "updated_at"])
    for row in rows:
        key = row.token.upper()
        token = saved[key]
        before = befores[key]
        after = model_snapshot(token, exclude=("updated_at", "created_at"))
        if before is not None:
            before.pop("updated_at", None)
            before.pop("created_at", None)
            if before == after:
                summary.unchanged += 1
                continue
            summary.updated += 1
        else:
            summary.created += 1
        summary.tokens.append(token.token)
        audit_record(
            actor=actor,
            action="id_token.import_update"
            if before is not None
            else "id_token.import_create",
            target=token,
            network=network,
            before=before,
            after=after,
            detail=f"CSV import line {row.line}",
        )
    return summary
