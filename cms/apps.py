import functools

from django.apps import AppConfig


class CmsConfig(AppConfig):
    name = "cms"
    verbose_name = "Charging management system"

    def ready(self) -> None:
        from django.conf import settings

        from cms import checks  # noqa: F401  (registers the system checks)

        _cache_redis_version_lookup()

        if getattr(settings, "CLEAR_CONTENT_TYPE_CACHE_PER_REQUEST", False):
            from django.contrib.contenttypes.models import ContentType
            from django.core.signals import request_started

            request_started.connect(
                lambda **_: ContentType.objects.clear_cache(), weak=False
            )


def _cache_redis_version_lookup() -> None:
    """Look redis-py's own version up once per process, not once per connection.

    redis-py 6+ reads its version from the installed package metadata (a scan
    of site-packages, ~4 ms of CPU) every time it opens a connection; a
    reconnect storm grows the channel layer's pool by hundreds at once, and a
    py-spy profile of one showed ~9 % of the gateway's CPU there. The version
    cannot change while the process runs.
    """
    try:
        from redis import utils
    except ImportError:  # Redis is optional in the embedded mode
        return
    lookup = getattr(utils, "get_lib_version", None)
    if lookup is not None and not hasattr(lookup, "cache_info"):
        utils.get_lib_version = functools.cache(lookup)
