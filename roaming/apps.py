from __future__ import annotations

from typing import TYPE_CHECKING

from django.apps import AppConfig

if TYPE_CHECKING:
    from cms.events import CommandFinished, TaskCalls


def command_result_on_finish(event: CommandFinished) -> TaskCalls:
    """A partner's command answered by the charger: send its CommandResult."""
    from roaming.models import RoamingCommand
    from roaming.tasks import command_result_deliver_task

    ids = RoamingCommand.objects.filter(command_id=event.command_id).values_list(
        "pk", flat=True
    )
    return [command_result_deliver_task.si(roaming_command_id=pk) for pk in ids]


class RoamingConfig(AppConfig):
    name = "roaming"
    verbose_name = "Roaming (OCPI 2.2.1)"

    def ready(self) -> None:
        from billing.driver_stations import partner_station_finders_register
        from billing.services import session_tariff_resolvers_register
        from cms.demo import demo_loader_register
        from cms.events import EventKind, subscribe
        from roaming.cpo.chargingprofiles import (
            partner_session_caps,
            profile_results_on_answer,
        )
        from roaming.cpo.tokens import partner_token_authorize, roaming_session_link
        from roaming.demo import roaming_demo_load
        from roaming.emsp.finder import partner_stations_find
        from roaming.publication import partner_tariff_for_session
        from roaming.selectors import partner_origin_choices, partner_origin_condition
        from sessions_app.origins import session_origins_register
        from sessions_app.services import external_authorizers_register
        from stations.smart.services import session_caps_register

        demo_loader_register("roaming", roaming_demo_load)
        # Partner tokens at our chargers (sessions_app asks about tags not ours).
        external_authorizers_register(partner_token_authorize)
        # Partners' drivers pay the tariff published to their eMSP.
        session_tariff_resolvers_register(partner_tariff_for_session)
        # Session, CDR and revenue lists filter by own drivers, roaming, a partner.
        session_origins_register(
            choices=partner_origin_choices, condition=partner_origin_condition
        )
        subscribe(EventKind.SESSION_STARTED, roaming_session_link)
        subscribe(EventKind.COMMAND_FINISHED, command_result_on_finish)
        # Partner CPOs' locations in the driver's "stations near me".
        partner_station_finders_register(partner_stations_find)
        # Partners' charging profiles cap their sessions in the load manager.
        session_caps_register(partner_session_caps)
        subscribe(EventKind.SMART_PROFILE_ANSWERED, profile_results_on_answer)
