"""Request types for views that only signed-in accounts reach.

Django types ``request.user`` as ``User | AnonymousUser``; behind
``login_required`` (or DRF's ``IsAuthenticated`` and the ``ApiView`` permission
classes) it is always a ``User``. These classes say so to the type checker;
they are annotations only, never instantiated (the django-stubs recipe).
"""

from __future__ import annotations

from django.http import HttpRequest
from rest_framework.request import Request

from accounts.models import User


class AuthenticatedHttpRequest(HttpRequest):
    user: User


class AuthenticatedRequest(Request):
    user: User
