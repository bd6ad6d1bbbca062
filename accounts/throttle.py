"""Portal log-in throttling: per account and per source address, with lockout.

Failed log-ins are counted in the cache (Redis in the distributed layout, so
every process sees the same counts) over LOGIN_FAILURE_WINDOW_SECONDS. At
LOGIN_FAILURES_PER_USER failures for one username, or LOGIN_FAILURES_PER_ADDRESS
from one address, further log-ins there are refused for LOGIN_LOCKOUT_SECONDS
without the password being checked (guesses during a lockout tell nothing).
Each failure and each lockout is an audit-log row; ``manage.py login_unlock``
lifts a lockout before it ends. Wrong one-time codes (two-factor log-in, see
``accounts/twofactor.py``) count in a counter of their own per account, which the
right password does not reset, and lock the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext

from accounts.services import audit_record


def _key(kind: str, scope: str, value: str) -> str:
    digest = hashlib.sha256(value.encode()).hexdigest()[:32]
    return f"login:{kind}:{scope}:{digest}"


def client_address(request: HttpRequest | None) -> str:
    return str((request.META.get("REMOTE_ADDR") if request else "") or "")


@dataclass(frozen=True)
class Lockout:
    scope: str  # "account" or "address"
    seconds: int

    @property
    def message(self) -> str:
        minutes = max(1, round(self.seconds / 60))
        if self.scope == "account":
            text = gettext(
                "Too many failed log-ins for this account: log-in is locked for "
                "%(minutes)s minute(s). An administrator can unlock it sooner."
            )
        else:
            text = gettext(
                "Too many failed log-ins for your address: log-in is locked for "
                "%(minutes)s minute(s). An administrator can unlock it sooner."
            )
        return text % {"minutes": minutes}


def _scopes(username: str, address: str) -> list[tuple[str, str, int]]:
    scopes = [("account", username.strip().lower(), settings.LOGIN_FAILURES_PER_USER)]
    if address:
        scopes.append(("address", address, settings.LOGIN_FAILURES_PER_ADDRESS))
    return scopes


def login_lockout(*, username: str, address: str) -> Lockout | None:
    for scope, value, _limit in _scopes(username, address):
        if cache.get(_key("lock", scope, value)):
            return Lockout(scope, settings.LOGIN_LOCKOUT_SECONDS)
    return None


def login_failed(
    *, username: str, address: str, one_time_code: bool = False
) -> Lockout | None:
    """Count a failure (a password, or a one-time code); returns the lockout it starts."""
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    started: Lockout | None = None
    for scope, value, limit in _scopes(username, address):
        kind = "codefail" if one_time_code and scope == "account" else "fail"
        key = _key(kind, scope, value)
        cache.add(key, 0, timeout=window)
        try:
            failures = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
            failures = 1
        if failures >= limit and started is None:
            cache.set(
                _key("lock", scope, value), 1, timeout=settings.LOGIN_LOCKOUT_SECONDS
            )
            started = Lockout(scope, settings.LOGIN_LOCKOUT_SECONDS)
    audit_record(
        actor=None,
        action="login.locked" if started else "login.failed",
        detail=f"username {username[:150]!r}"
        + ("; wrong one-time code" if one_time_code else "")
        + (f"; {started.scope} locked for {started.seconds} s" if started else ""),
        ip_address=address or None,
    )
    return started


def login_succeeded(*, username: str, one_time_code: bool = False) -> None:
    kind = "codefail" if one_time_code else "fail"
    cache.delete(_key(kind, "account", username.strip().lower()))


def login_unlock(*, username: str = "", address: str = "") -> None:
    for scope, value in (("account", username.strip().lower()), ("address", address)):
        if value:
            cache.delete_many(
                [_key(kind, scope, value) for kind in ("lock", "fail", "codefail")]
            )
    audit_record(
        actor=None,
        action="login.unlocked",
        detail=f"username {username!r}, address {address!r}",
        ip_address=address or None,
    )


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's log-in form, refusing at once while a lockout holds."""

    lockout: Lockout | None = None

    def clean(self) -> dict[str, Any]:
        username = str(self.data.get("username") or "")
        address = client_address(self.request)
        self.lockout = login_lockout(username=username, address=address)
        if self.lockout is not None:
            raise ValidationError(self.lockout.message, code="locked")
        try:
            cleaned = super().clean()
        except ValidationError:
            self.lockout = login_failed(username=username, address=address)
            if self.lockout is not None:
                raise ValidationError(self.lockout.message, code="locked") from None
            raise
        login_succeeded(username=username)
        return cleaned


class ThrottledLoginView(LoginView):
    form_class = ThrottledAuthenticationForm

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        lockout = getattr(form, "lockout", None)
        if lockout is not None:
            response.status_code = 429
            response.headers["Retry-After"] = str(lockout.seconds)
        return response
