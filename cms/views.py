from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.views import defaults

from cms.api import error_body


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and database readiness for load balancers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


# A client may try again after this many seconds when the database was away.
RETRY_AFTER_DATABASE_S = 5

_UNAVAILABLE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>{message}</p></body></html>
"""


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500``: a database that is away (a restart, a failover) is a 503.

    The request failed because PostgreSQL could not be reached, not because of
    a fault of the product: the client is told to try again (``Retry-After``),
    the API with its error body. Anything else is Django's 500 page.
    """
    error = sys.exc_info()[1]
    if not isinstance(error, OperationalError | InterfaceError):
        return defaults.server_error(request)
    headers = {"Retry-After": str(RETRY_AFTER_DATABASE_S)}
    message = _("The database is unavailable for a moment; try again shortly.")
    if request.path.startswith("/api/"):
        return JsonResponse(error_body(str(message)), status=503, headers=headers)
    page = _UNAVAILABLE_PAGE.format(
        title=escape(_("Temporarily unavailable")), message=escape(message)
    )
    return HttpResponse(page, status=503, headers=headers)
