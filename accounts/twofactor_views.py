"""Two-factor screens: the log-in's code step, the user's own settings, the
administrator's reset, and the middleware that enforces it per role."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from accounts.http import AuthenticatedHttpRequest
from accounts.models import User
from accounts.selectors import user_get_for_user
from accounts.throttle import (
    ThrottledLoginView,
    client_address,
    login_failed,
    login_lockout,
    login_succeeded,
)
from accounts.twofactor import (
    recovery_codes_left,
    two_factor_disable,
    two_factor_enabled,
    two_factor_enrollment_confirm,
    two_factor_enrollment_pending,
    two_factor_enrollment_start,
    two_factor_recovery_codes_renew,
    two_factor_required,
    two_factor_verify,
)

# The password step's result, kept in the session until the code step.
PENDING_SESSION_KEY = "two_factor_pending"
PENDING_MAX_AGE_S = 300


class PortalLoginView(ThrottledLoginView):
    """Password first; a user with two-factor log-in then gives a code."""

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        user = form.get_user()
        if not two_factor_enabled(user):
            return super().form_valid(form)
        self.request.session.cycle_key()
        self.request.session[PENDING_SESSION_KEY] = {
            "user_id": user.pk,
            "backend": getattr(user, "backend", settings.AUTHENTICATION_BACKENDS[0]),
            "at": time.time(),
            "next": self.get_success_url(),
        }
        return redirect("accounts:login_code")


def _pending_user(request: HttpRequest) -> tuple[User, dict[str, object]] | None:
    pending = request.session.get(PENDING_SESSION_KEY)
    if not isinstance(pending, dict):
        return None
    if time.time() - float(pending.get("at") or 0) > PENDING_MAX_AGE_S:
        request.session.pop(PENDING_SESSION_KEY, None)
        return None
    user_id = pending.get("user_id")
    if not isinstance(user_id, int):
        return None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    return (user, pending) if user is not None else None


def login_code(request: HttpRequest) -> HttpResponse:
    """The log-in's second step: a TOTP or a recovery code."""
    found = _pending_user(request)
    if found is None:
        messages.info(request, gettext("Log in with your password first."))
        return redirect("accounts:login")
    user, pending = found
    address = client_address(request)
    error = ""
    status = 200
    if request.method == "POST":
        lockout = login_lockout(username=user.username, address=address)
        if lockout is None:
            how = two_factor_verify(
                user=user,
                code=str(request.POST.get("code") or ""),
                ip_address=address or None,
            )
            if how:
                login_succeeded(username=user.username, one_time_code=True)
                del request.session[PENDING_SESSION_KEY]
                login(request, user, backend=str(pending["backend"]))
                if how == "recovery":
                    messages.warning(
                        request,
                        gettext("You logged in with a recovery code; %(left)s left.")
                        % {"left": recovery_codes_left(user=user)},
                    )
                target = str(pending.get("next") or "")
                if not url_has_allowed_host_and_scheme(
                    target, allowed_hosts={request.get_host()}
                ):
                    target = resolve_url(settings.LOGIN_REDIRECT_URL)
                return redirect(target)
            lockout = login_failed(
                username=user.username, address=address, one_time_code=True
            )
            error = gettext(
                "That code is not valid. Enter the current code from your app."
            )
            status = 400
        if lockout is not None:
            error = lockout.message
            status = 429
    response = render(
        request, "accounts/login_code.html", {"error": error}, status=status
    )
    if status == 429:
        response.headers["Retry-After"] = str(settings.LOGIN_LOCKOUT_SECONDS)
    return response


def _show_codes(request: HttpRequest, codes: list[str]) -> HttpResponse:
    return render(request, "accounts/recovery_codes.html", {"codes": codes})


@login_required
def two_factor_settings(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Enable (scan, then confirm with a code), renew recovery codes, or disable."""
    user = request.user
    address = client_address(request) or None
    error = ""
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        code = str(request.POST.get("code") or "")
        if action == "start" and not two_factor_enabled(user):
            two_factor_enrollment_start(user=user)
            return redirect("accounts:two_factor")
        if action == "confirm":
            codes = two_factor_enrollment_confirm(
                user=user, code=code, ip_address=address
            )
            if codes is not None:
                messages.success(request, gettext("Two-factor log-in is on."))
                return _show_codes(request, codes)
            error = gettext(
                "That code does not match. Check the app's clock and try again."
            )
        elif action in {"disable", "renew"} and two_factor_enabled(user):
            if action == "disable" and two_factor_required(user):
                error = gettext(
                    "Your role requires two-factor log-in; it cannot be turned off."
                )
            elif not two_factor_verify(user=user, code=code, ip_address=address):
                error = gettext(
                    "Enter a current code from your app (or a recovery code)."
                )
            elif action == "renew":
                return _show_codes(
                    request,
                    two_factor_recovery_codes_renew(user=user, ip_address=address),
                )
            else:
                two_factor_disable(user=user, actor=user, ip_address=address)
                messages.success(request, gettext("Two-factor log-in is off."))
                return redirect("accounts:two_factor")
        else:
            error = gettext("Nothing to do.")
        status = 400
    enabled = two_factor_enabled(user)
    return render(
        request,
        "accounts/two_factor.html",
        {
            "enabled": enabled,
            "required": two_factor_required(user),
            "enrollment": None if enabled else two_factor_enrollment_pending(user=user),
            "codes_left": recovery_codes_left(user=user) if enabled else 0,
            "error": error,
        },
        status=status,
    )


@login_required
@require_POST
def user_two_factor_reset(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """An administrator removes a user's authenticator (a lost phone)."""
    target = user_get_for_user(user=request.user, pk=pk, perm="accounts.change_user")
    if two_factor_disable(
        user=target,
        actor=request.user,
        ip_address=client_address(request) or None,
        detail="reset by an administrator",
    ):
        messages.success(
            request,
            gettext("Two-factor log-in of %(user)s removed.")
            % {"user": target.username},
        )
    return redirect("accounts:user_detail", pk=target.pk)


_ENROLLMENT_OPEN = ("/accounts/two-factor/", "/accounts/logout/", "/static/")


class TwoFactorRequiredMiddleware:
    """Users whose role requires two-factor log-in enroll before anything else."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            isinstance(user, User)
            and not request.path.startswith(_ENROLLMENT_OPEN)
            and two_factor_required(user)
            and not two_factor_enabled(user)
        ):
            if request.path.startswith("/api/"):
                message = gettext(
                    "Your role requires two-factor log-in: enable it in the portal."
                )
                return JsonResponse(
                    {"errors": [{"field": None, "message": message}]}, status=403
                )
            messages.info(
                request, gettext("Your role requires two-factor log-in: set it up now.")
            )
            return redirect(reverse("accounts:two_factor"))
        return self.get_response(request)
