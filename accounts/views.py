"""Portal screens for users, roles, network grants, API tokens and the audit log."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone, translation
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from accounts.diff import DiffRow, audit_diff
from accounts.forms import (
    AUDIT_STREAMS,
    AuditLogFilterForm,
    NetworkGrantForm,
    PasswordResetForm,
    PreferencesForm,
    UserCreateForm,
    UserEditForm,
    audit_stream,
)
from accounts.http import AuthenticatedHttpRequest
from accounts.models import AuditLog, User
from accounts.selectors import (
    api_token_for,
    audit_log_list_for_user,
    granted_networks_by_user,
    require_user_administration,
    user_get_for_user,
    user_list_for_user,
)
from accounts.services import (
    api_token_create,
    api_token_revoke,
    network_grant,
    network_revoke,
    user_create,
    user_set_password,
    user_update,
)
from accounts.timezones import user_time_zone_name
from accounts.twofactor import two_factor_enabled
from cms.forms import TIME_ZONES
from stations.models import Network
from stations.selectors import network_list_for_user

USERS_PER_PAGE = 50
AUDIT_ENTRIES_PER_PAGE = 50


def _ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


def _add_errors(form: Any, error: ValidationError) -> None:
    """Attach a service's ValidationError to the form field it names (if shown)."""
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error)


@login_required
def user_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    users = user_list_for_user(user=request.user).select_related("auth_token")
    query = request.GET.get("q", "").strip()
    if query:
        users = users.filter(Q(username__icontains=query) | Q(email__icontains=query))
    page = Paginator(users, USERS_PER_PAGE).get_page(request.GET.get("page"))
    grants = granted_networks_by_user(users=page.object_list)
    rows = [
        {
            "user": user,
            "roles": sorted(group.name for group in user.groups.all()),
            "networks": grants.get(user.pk, []),
            "has_token": hasattr(user, "auth_token"),
        }
        for user in page.object_list
    ]
    return render(
        request,
        "accounts/user_list.html",
        {"page": page, "rows": rows, "query": query},
    )


@login_required
def user_create_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_user_administration(user=request.user, perm="accounts.add_user")
    networks = Network.objects.order_by("name")
    form = UserCreateForm(request.POST or None, networks=networks)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                user = user_create(
                    actor=request.user,
                    username=data["username"],
                    password=data["password1"],
                    email=data["email"],
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    roles=data["roles"],
                    networks=data["networks"],
                    is_driver=data["is_driver"],
                    ip_address=_ip(request),
                )
            except ValidationError as error:
                _add_errors(form, error)
            else:
                messages.success(request, f"User {user.username} created.")
                return redirect("accounts:user_detail", pk=user.pk)
        status = 400
    return render(request, "accounts/user_form.html", {"form": form}, status=status)


def _render_detail(
    request: HttpRequest,
    target: User,
    *,
    grant_form: NetworkGrantForm | None = None,
    status: int = 200,
) -> HttpResponse:
    granted = granted_networks_by_user(users=[target]).get(target.pk, [])
    grantable = Network.objects.exclude(pk__in=[n.pk for n in granted]).order_by("name")
    history = AuditLog.objects.filter(
        object_type=User._meta.label, object_id=str(target.pk)
    ).select_related("network")[:20]
    return render(
        request,
        "accounts/user_detail.html",
        {
            "target": target,
            "roles": sorted(group.name for group in target.groups.all()),
            "granted": granted,
            "grant_form": grant_form or NetworkGrantForm(networks=grantable),
            "token": api_token_for(user=target),
            "history": [_audit_row(entry, _reader_zone()) for entry in history],
            "is_self": target.pk == request.user.pk,
            "two_factor_enabled": two_factor_enabled(target),
        },
        status=status,
    )


@login_required
def user_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    target = user_get_for_user(user=request.user, pk=pk)
    return _render_detail(request, target)


@login_required
def user_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    target = user_get_for_user(user=request.user, pk=pk, perm="accounts.change_user")
    form = UserEditForm(request.POST or None, initial=UserEditForm.initial_for(target))
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                user_update(
                    actor=request.user,
                    user=target,
                    email=data["email"],
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                    is_active=data["is_active"],
                    roles=data["roles"],
                    ip_address=_ip(request),
                )
            except ValidationError as error:
                _add_errors(form, error)
            else:
                messages.success(request, f"User {target.username} saved.")
                return redirect("accounts:user_detail", pk=target.pk)
        status = 400
    return render(
        request,
        "accounts/user_edit.html",
        {"form": form, "target": target},
        status=status,
    )


@login_required
@require_POST
def user_network_grant(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    target = user_get_for_user(user=request.user, pk=pk, perm="accounts.change_user")
    form = NetworkGrantForm(
        request.POST, networks=network_list_for_user(user=request.user)
    )
    if form.is_valid():
        network = form.cleaned_data["network"]
        try:
            granted = network_grant(
                actor=request.user,
                user=target,
                network=network,
                ip_address=_ip(request),
            )
        except ValidationError as error:
            _add_errors(form, error)
        else:
            if granted:
                messages.success(
                    request, f"{target.username} now has access to {network.name}."
                )
            else:
                messages.info(
                    request, f"{target.username} already had access to {network.name}."
                )
            return redirect("accounts:user_detail", pk=target.pk)
    return _render_detail(request, target, grant_form=form, status=400)


@login_required
@require_POST
def user_network_revoke(
    request: AuthenticatedHttpRequest, pk: int, network_pk: int
) -> HttpResponse:
    target = user_get_for_user(user=request.user, pk=pk, perm="accounts.change_user")
    network = get_object_or_404(network_list_for_user(user=request.user), pk=network_pk)
    if network_revoke(
        actor=request.user,
        user=target,
        network=network,
        ip_address=_ip(request),
    ):
        messages.success(
            request, f"Access of {target.username} to {network.name} revoked."
        )
    else:
        messages.info(request, f"{target.username} had no access to {network.name}.")
    return redirect("accounts:user_detail", pk=target.pk)


@login_required
def user_password_reset(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    target = user_get_for_user(user=request.user, pk=pk, perm="accounts.change_user")
    form = PasswordResetForm(request.POST or None, user=target)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            user = user_set_password(
                actor=request.user,
                user=target,
                password=form.cleaned_data["password1"],
                ip_address=_ip(request),
            )
            if user.pk == request.user.pk:
                update_session_auth_hash(request, user)  # stay logged in
            messages.success(request, f"Password of {target.username} set.")
            return redirect("accounts:user_detail", pk=target.pk)
        status = 400
    return render(
        request,
        "accounts/user_password.html",
        {"form": form, "target": target},
        status=status,
    )


@login_required
@require_POST
def user_token_create(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    target = user_get_for_user(user=request.user, pk=pk, perm="accounts.change_user")
    try:
        token = api_token_create(
            actor=request.user,
            user=target,
            ip_address=_ip(request),
        )
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect("accounts:user_detail", pk=target.pk)
    # The key is shown in this response only; it must not linger in a cache.
    response = render(
        request, "accounts/token_created.html", {"target": target, "token": token}
    )
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def user_token_revoke(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    target = user_get_for_user(user=request.user, pk=pk, perm="accounts.change_user")
    revoked = api_token_revoke(
        actor=request.user,
        user=target,
        ip_address=_ip(request),
    )
    if revoked:
        messages.success(request, f"API token of {target.username} revoked.")
    else:
        messages.info(request, f"{target.username} had no API token.")
    return redirect("accounts:user_detail", pk=target.pk)


@dataclass(frozen=True)
class AuditRow:
    entry: AuditLog
    local_at: datetime
    zone: str
    diff: list[DiffRow]

    @property
    def local_text(self) -> str:
        # Formatted here: the template ``date`` filter would convert back to UTC.
        return f"{self.local_at:%Y-%m-%d %H:%M:%S} {self.local_at.tzname()}"


def _reader_zone() -> ZoneInfo:
    """The reader's zone, activated by ``UserTimeZoneMiddleware``."""
    return ZoneInfo(timezone.get_current_timezone_name())


def _audit_row(entry: AuditLog, zone: ZoneInfo) -> AuditRow:
    # A network-wide list: every entry in the reader's zone, named beside it.
    return AuditRow(
        entry=entry,
        local_at=entry.at.astimezone(zone),
        zone=zone.key,
        diff=audit_diff(entry.before, entry.after),
    )


@login_required
def audit_log(request: AuthenticatedHttpRequest) -> HttpResponse:
    entries = audit_log_list_for_user(user=request.user)
    bare = entries.order_by()
    zone = _reader_zone()
    form = AuditLogFilterForm(
        request.GET or None,
        networks=network_list_for_user(user=request.user),
        actions=sorted(set(bare.values_list("action", flat=True).distinct())),
        object_types=sorted(
            set(bare.values_list("object_type", flat=True).distinct()) - {""}
        ),
        zone=zone,
    )
    status = 200
    stream = "people"
    if form.is_bound:
        if form.is_valid():
            stream = form.cleaned_data.get("stream") or "people"
            entries = form.filter(entries)
        else:
            entries = entries.none()
            status = 400
    else:
        entries = audit_stream(entries, stream)
    page = Paginator(entries, AUDIT_ENTRIES_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "accounts/audit_log.html",
        {
            "form": form,
            "page": page,
            "rows": [_audit_row(entry, zone) for entry in page.object_list],
            "query": query.urlencode(),
            "stream": stream,
            "streams": [
                {
                    "key": key,
                    "label": label,
                    "count": audit_stream(bare, key).count(),
                    "url": f"?stream={key}",
                }
                for key, label in AUDIT_STREAMS
            ],
        },
        status=status,
    )


@login_required
def preferences(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The signed-in user's own settings (any role, no extra permission)."""
    effective_zone = user_time_zone_name(request.user)
    form = PreferencesForm(request.POST or None, instance=request.user)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            form.save()
            # The page that confirms it is already in the chosen language.
            if request.user.language:
                translation.activate(request.user.language)
            messages.success(request, gettext("Preferences saved."))
            return redirect("accounts:preferences")
        status = 400
    return render(
        request,
        "accounts/preferences.html",
        {"form": form, "time_zones": TIME_ZONES, "effective_zone": effective_zone},
        status=status,
    )
