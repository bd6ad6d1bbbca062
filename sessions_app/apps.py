from django.apps import AppConfig


class ChargingConfig(AppConfig):
    name = "sessions_app"
    # A label of its own keeps clear of django.contrib.sessions ("sessions").
    label = "charging"
    verbose_name = "Id tokens, sessions and meter values"

    def ready(self) -> None:
        from sessions_app import reports  # noqa: F401  (registers the sessions report)
        from sessions_app.search import search_sections_register

        search_sections_register()
        from cms.demo import demo_loader_register
        from sessions_app.demo import sessions_demo_load

        demo_loader_register("sessions", sessions_demo_load)
