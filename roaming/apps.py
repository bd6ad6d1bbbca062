from django.apps import AppConfig


class RoamingConfig(AppConfig):
    name = "roaming"
    verbose_name = "Roaming (OCPI 2.2.1)"

    def ready(self) -> None:
        from cms.events import EventKind, subscribe
        from roaming.cpo.tokens import partner_token_authorize, roaming_session_link
        from sessions_app.services import external_authorizers_register

        # Partner tokens at our chargers (sessions_app asks about tags not ours).
        external_authorizers_register(partner_token_authorize)
        subscribe(EventKind.SESSION_STARTED, roaming_session_link)
