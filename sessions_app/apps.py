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
        # The OCPP gateway reaches the session services through its port.
        from sessions_app import services
        from stations.session_port import session_services_register

        session_services_register(services)
        from sessions_app.streams import session_streams_register

        session_streams_register()
        from cms.demo import demo_loader_register
        from sessions_app.demo import sessions_demo_load

        demo_loader_register("sessions", sessions_demo_load)
        from sessions_app.selectors import (
            charger_transaction_name,
            session_of_charger_transaction,
        )
        from stations.ocpp.v201.commands import transaction_names_register

        transaction_names_register(
            charger_transaction_name, session_of_charger_transaction
        )
