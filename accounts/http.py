"""Request types for views that only signed-in accounts reach.

Django types ``request.user`` as ``User | AnonymousUser``; behind
``login_required`` (or DRF's ``IsAuthenticated`` and the ``ApiView`` permission
classes) it is always a ``User``. These classes say so to the type checker;
they are annotations only, never instantiated (the django-stubs recipe).
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest
from rest_framework.request import Request

from accounts.models import User

# Whoever a request carries before a login check: selectors and services that
# scope by role take either and answer an anonymous user with nothing.
AnyUser = User | AnonymousUser


class AuthenticatedHttpRequest(HttpRequest):
    user: User


class AuthenticatedRequest(Request):
    user: User


def recorded_actor(user: AnyUser | None) -> User | None:
    """The user an audit or history row names: ``None`` for the system (no user)
    and for an anonymous caller, who cannot be recorded."""
    return user if isinstance(user, User) else None
