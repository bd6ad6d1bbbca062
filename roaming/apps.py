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
        from cms.events import EventKind, subscribe
        from roaming.cpo.tokens import partner_token_authorize, roaming_session_link
        from sessions_app.services import external_authorizers_register

        # Partner tokens at our chargers (sessions_app asks about tags not ours).
        external_authorizers_register(partner_token_authorize)
        subscribe(EventKind.SESSION_STARTED, roaming_session_link)
        subscribe(EventKind.COMMAND_FINISHED, command_result_on_finish)
