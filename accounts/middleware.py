"""Activate the signed-in user's zone for the portal's pages."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from accounts.timezones import user_time_zone_name

TIME_ZONE_META = "cms.user_time_zone"
# The API answers in UTC whoever asks (ISO 8601 with offset); only pages follow
# the user's zone.
_UTC_PREFIXES = ("/api/",)


class UserTimeZoneMiddleware:
    """Network-wide lists render in the user's zone; station pages override it
    with the station's zone (``timezone.override`` or their own formatting)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not request.path.startswith(_UTC_PREFIXES)
        ):
            name = user_time_zone_name(user)
            timezone.activate(ZoneInfo(name))
            # Named in the page header even where a station page overrides the zone.
            request.META[TIME_ZONE_META] = name
        else:
            timezone.deactivate()
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
