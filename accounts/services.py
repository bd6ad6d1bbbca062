"""Writes for users, roles, scope grants, API tokens and the audit log.

Every change to a user is audited with the state before and after (roles,
granted networks, active flag). An administrator cannot lock themselves out:
removing one's own Administrator role or deactivating oneself is refused.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import AnonymousUser, Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from guardian.shortcuts import assign_perm, remove_perm
from rest_framework.authtoken.models import Token

from accounts.models import AuditLog, Role, User


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
    # A lazy request user passes isinstance only when signed in.
    user = actor if isinstance(actor, User) else None
    entry = AuditLog(
        actor=user,
        actor_label=user.get_username() if user is not None else "system",
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


ACCESS_NETWORK = "stations.access_network"


def _network_model() -> Any:
    # stations imports accounts (scope helpers); resolving the model lazily keeps
    # the import graph one-directional at module load.
    from stations.models import Network

    return Network


def granted_networks(*, user: User) -> list[Any]:
    """Return the networks granted to ``user`` directly (guardian user grants)."""
    return list(
        _network_model()
        .objects.filter(
            networkuserobjectpermission__user=user,
            networkuserobjectpermission__permission__codename="access_network",
        )
        .distinct()
        .order_by("name")
    )


def user_state(*, user: User) -> dict[str, Any]:
    """The audited view of a user: identity, roles, granted networks, flags."""
    return {
        "username": user.username,
        "email": user.email,
        "name": user.get_full_name(),
        "roles": sorted(user.groups.values_list("name", flat=True)),
        "networks": [network.name for network in granted_networks(user=user)],
        "is_active": user.is_active,
        "is_driver": user.is_driver,
    }


_DRIVER_HAS_NO_ROLES = (
    "A driver account uses the app only and cannot hold portal roles."
)


def _role_groups(roles: Iterable[str]) -> list[Group]:
    names = sorted({str(role) for role in roles})
    unknown = set(names) - {str(role) for role in Role}
    if unknown:
        raise ValidationError({"roles": f"Unknown role: {', '.join(sorted(unknown))}."})
    groups = list(Group.objects.filter(name__in=names))
    if len(groups) != len(names):
        # The groups are created by migrate (accounts.roles.sync_roles).
        raise ValidationError({"roles": "Role groups are missing; run migrate."})
    return groups


def _is_actor(actor: User | None, user: User) -> bool:
    return actor is not None and actor.pk == user.pk


def _check_roles_allowed(*, actor: User | None, user: User, roles: set[str]) -> None:
    if (
        _is_actor(actor, user)
        and not user.is_superuser
        and user.groups.filter(name=Role.ADMINISTRATOR).exists()
        and str(Role.ADMINISTRATOR) not in roles
    ):
        raise ValidationError(
            {
                "roles": "You cannot remove your own Administrator role; "
                "ask another administrator."
            }
        )
    if user.is_driver and roles:
        raise ValidationError({"roles": _DRIVER_HAS_NO_ROLES})


def _lock(user: User) -> User:
    # Serializes concurrent edits of one user so before/after are consistent.
    return User.objects.select_for_update().get(pk=user.pk)


@transaction.atomic
def user_create(
    *,
    actor: User | None,
    username: str,
    password: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    roles: Iterable[str] = (),
    networks: Iterable[Any] = (),
    is_driver: bool = False,
    ip_address: str | None = None,
) -> User:
    """Create a portal (or driver) user with roles and network grants."""
    role_names = {str(role) for role in roles}
    groups = _role_groups(role_names)
    if is_driver and role_names:
        raise ValidationError({"roles": _DRIVER_HAS_NO_ROLES})
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError({"username": "A user with that username already exists."})
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        is_driver=is_driver,
    )
    user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError as error:  # a concurrent create won the unique username
        raise ValidationError(
            {"username": "A user with that username already exists."}
        ) from error
    user.groups.set(groups)
    for network in networks:
        assign_perm(ACCESS_NETWORK, user, network)
    audit_record(
        actor=actor,
        action="user.create",
        target=user,
        after=user_state(user=user),
        ip_address=ip_address,
    )
    return user


@transaction.atomic
def user_update(
    *,
    actor: User | None,
    user: User,
    email: str,
    first_name: str,
    last_name: str,
    is_active: bool,
    roles: Iterable[str] | None = None,
    ip_address: str | None = None,
) -> User:
    """Change profile fields, the active flag and (optionally) the roles."""
    user = _lock(user)
    if _is_actor(actor, user) and not is_active:
        raise ValidationError({"is_active": "You cannot deactivate your own account."})
    groups: list[Group] | None = None
    if roles is not None:
        role_names = {str(role) for role in roles}
        groups = _role_groups(role_names)
        _check_roles_allowed(actor=actor, user=user, roles=role_names)
    before = user_state(user=user)
    user.email = email
    user.first_name = first_name
    user.last_name = last_name
    user.is_active = is_active
    user.save(update_fields=["email", "first_name", "last_name", "is_active"])
    if groups is not None:
        user.groups.set(groups)
    after = user_state(user=user)
    if after != before:
        audit_record(
            actor=actor,
            action="user.update",
            target=user,
            before=before,
            after=after,
            ip_address=ip_address,
        )
    return user


@transaction.atomic
def user_set_roles(
    *,
    actor: User | None,
    user: User,
    roles: Iterable[str],
    ip_address: str | None = None,
) -> User:
    """Set exactly these roles; a repeat with the same roles changes nothing."""
    user = _lock(user)
    role_names = {str(role) for role in roles}
    groups = _role_groups(role_names)
    _check_roles_allowed(actor=actor, user=user, roles=role_names)
    before = user_state(user=user)
    if set(before["roles"]) == role_names:
        return user
    user.groups.set(groups)
    audit_record(
        actor=actor,
        action="user.set_roles",
        target=user,
        before=before,
        after=user_state(user=user),
        ip_address=ip_address,
    )
    return user


@transaction.atomic
def user_set_password(
    *,
    actor: User | None,
    user: User,
    password: str,
    ip_address: str | None = None,
) -> User:
    """Set a new password (validated by the caller's form); sessions of the user end."""
    user = _lock(user)
    user.set_password(password)
    user.save(update_fields=["password"])
    audit_record(
        actor=actor,
        action="user.password_reset",
        target=user,
        detail="Password set by an administrator.",
        ip_address=ip_address,
    )
    return user


@transaction.atomic
def network_grant(
    *,
    actor: User | None,
    user: User,
    network: Any,
    ip_address: str | None = None,
) -> bool:
    """Grant ``user`` the scope of ``network``; False when it was already granted."""
    user = _lock(user)
    before = user_state(user=user)
    if network.name in before["networks"]:
        return False
    if user.is_driver:
        raise ValidationError(
            {"network": "A driver account uses the app only and has no network scope."}
        )
    assign_perm(ACCESS_NETWORK, user, network)
    audit_record(
        actor=actor,
        action="user.network_grant",
        target=user,
        network=network,
        before=before,
        after=user_state(user=user),
        detail=f"Granted access to {network.name}.",
        ip_address=ip_address,
    )
    return True


@transaction.atomic
def network_revoke(
    *,
    actor: User | None,
    user: User,
    network: Any,
    ip_address: str | None = None,
) -> bool:
    """Revoke the scope of ``network``; False when it was not granted."""
    user = _lock(user)
    before = user_state(user=user)
    if network.name not in before["networks"]:
        return False
    remove_perm(ACCESS_NETWORK, user, network)
    audit_record(
        actor=actor,
        action="user.network_revoke",
        target=user,
        network=network,
        before=before,
        after=user_state(user=user),
        detail=f"Revoked access to {network.name}.",
        ip_address=ip_address,
    )
    return True


def _token_state(token: Token | None) -> dict[str, Any]:
    # Never the key itself: the audit log is readable by more people than the owner.
    if token is None:
        return {"api_token": None}
    return {"api_token": f"created {token.created:%Y-%m-%d %H:%M:%S} UTC"}


@transaction.atomic
def api_token_create(
    *,
    actor: User | None,
    user: User,
    ip_address: str | None = None,
    detail: str = "",
) -> Token:
    """Issue a new API token for ``user``, revoking the previous one."""
    user = _lock(user)
    if not user.is_active:
        raise ValidationError(
            {"user": "The account is inactive; activate it before issuing a token."}
        )
    old = Token.objects.filter(user=user).first()
    before = _token_state(old)
    if old is not None:
        old.delete()
    token = Token.objects.create(user=user)
    audit_record(
        actor=actor,
        action="user.api_token_create",
        target=user,
        before=before,
        after=_token_state(token),
        detail=detail or "API token issued; any previous token was revoked.",
        ip_address=ip_address,
    )
    return token


@transaction.atomic
def api_token_revoke(
    *,
    actor: User | None,
    user: User,
    ip_address: str | None = None,
) -> bool:
    """Revoke the user's API token; False when there was none."""
    user = _lock(user)
    token = Token.objects.filter(user=user).first()
    if token is None:
        return False
    before = _token_state(token)
    token.delete()
    audit_record(
        actor=actor,
        action="user.api_token_revoke",
        target=user,
        before=before,
        after=_token_state(None),
        ip_address=ip_address,
    )
    return True
