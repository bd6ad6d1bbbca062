"""Writes for users, roles, scope grants and the audit log."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.db import models

from accounts.models import AuditLog, User


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def model_snapshot(
    instance: models.Model, *, exclude: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Return the concrete field values of ``instance`` as JSON-safe data for the audit log."""
    data: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if field.name in exclude or field.name in {"password", "password_hash"}:
            continue
        data[field.attname] = _jsonable(getattr(instance, field.attname))
    return data


def audit_record(
    *,
    actor: User | AnonymousUser | None,
    action: str,
    target: models.Model | None = None,
    network: Any = None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: str = "",
    ip_address: str | None = None,
) -> AuditLog:
    """Append one entry to the audit log; callers run it inside their own transaction."""
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    entry = AuditLog(
        actor=actor if is_user else None,  # type: ignore[misc]
        actor_label=actor.get_username() if is_user else "system",  # type: ignore[union-attr]
        action=action,
        before=_jsonable(before) if before is not None else None,
        after=_jsonable(after) if after is not None else None,
        detail=detail,
        ip_address=ip_address,
        network=network,
    )
    if target is not None:
        entry.object_type = target._meta.label
        entry.object_id = str(target.pk)
        entry.object_repr = str(target)[:255]
    entry.save()
    return entry
