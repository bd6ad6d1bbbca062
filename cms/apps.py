from django.apps import AppConfig


class CmsConfig(AppConfig):
    name = "cms"
    verbose_name = "Charging management system"

    def ready(self) -> None:
        from django.conf import settings

        from cms import checks  # noqa: F401  (registers the system checks)

        if getattr(settings, "CLEAR_CONTENT_TYPE_CACHE_PER_REQUEST", False):
            from django.contrib.contenttypes.models import ContentType
            from django.core.signals import request_started

            request_started.connect(
                lambda **_: ContentType.objects.clear_cache(), weak=False
            )
