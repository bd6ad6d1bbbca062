from django.apps import AppConfig


class CmsConfig(AppConfig):
    name = "cms"
    verbose_name = "Charging management system"

    def ready(self) -> None:
        from cms import checks  # noqa: F401  (registers the system checks)
