"""Activate the signed-in user's zone and language for the portal's pages."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation
from django.utils.translation.trans_real import parse_accept_lang_header

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


def user_language(user: object, accept_language: str = "") -> str:
    """The language of a user's pages: their own choice, else the browser's
    (an ``Accept-Language`` header), else the default."""
    language = getattr(user, "language", "")
    if language and language in dict(settings.LANGUAGES):
        return str(language)
    for code, _quality in parse_accept_lang_header(accept_language):
        if code == "*":
            break
        try:
            return translation.get_supported_language_variant(code)
        except LookupError:
            continue
    return str(settings.LANGUAGE_CODE)


class UserLanguageMiddleware:
    """The user's chosen language wins over the browser's (after LocaleMiddleware,
    which still answers Content-Language with what is active at the end)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        language = getattr(user, "language", "") if user is not None else ""
        if language and language in dict(settings.LANGUAGES):
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)
