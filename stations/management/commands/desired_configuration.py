"""``manage.py desired_configuration``: declare, withdraw and inspect configuration.

Acts as ``--user`` with that user's role (``stations.configure_chargepoint``)
and networks, as the portal does.

    manage.py desired_configuration set HeartbeatInterval 300 --user ops \\
        --network "Demo Network" [--station ID | --tag NAME | --vendor V --model M]
    manage.py desired_configuration list --user ops
    manage.py desired_configuration drift --user ops [--state drift]
    manage.py desired_configuration remove 12 --user ops
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from accounts.models import User
from stations.fleet.configuration import (
    DesiredInputError,
    desired_declare,
    desired_remove,
)
from stations.fleet.selectors import (
    ScopeInputError,
    desired_get_for_user,
    desired_list_for_user,
    drift_list_for_user,
    scope_resolve_for_user,
)


class Command(BaseCommand):
    help = "Declare and inspect desired charger configuration (as --user)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("verb", choices=["set", "remove", "list", "drift"])
        parser.add_argument("args", nargs="*", help="set: KEY VALUE; remove: ID.")
        parser.add_argument("--user", required=True, help="Act as this username.")
        parser.add_argument("--network", help="Network name (set).")
        parser.add_argument("--station", type=int, help="Only this station (id).")
        parser.add_argument("--tag", default="")
        parser.add_argument("--vendor", default="")
        parser.add_argument("--model", default="")
        parser.add_argument("--state", default="", help="drift: only this state.")

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"user: no active user “{options['user']}”.")
        try:
            result = self._run(user, list(args), options)
        except (PermissionDenied, Http404) as error:
            raise CommandError(f"refused: {error}") from None
        except ScopeInputError as error:
            raise CommandError(f"{error.field}: {error}") from None
        except DesiredInputError as error:
            raise CommandError(f"{error.field}: {error}") from None
        self.stdout.write(json.dumps(result, indent=2, sort_keys=True, default=str))

    def _run(self, user: User, args: list[str], options: dict[str, Any]) -> Any:
        verb = options["verb"]
        if verb == "list":
            return [
                {
                    "id": d.pk,
                    "network": d.network.name,
                    "key": d.key,
                    "value": d.value,
                    "scope": d.scope_label,
                    "precedence": d.precedence,
                }
                for d in desired_list_for_user(user=user)
            ]
        if verb == "drift":
            drifts = drift_list_for_user(user=user).order_by(
                "charge_point__ocpp_id", "key"
            )
            if options["state"]:
                drifts = drifts.filter(state=options["state"])
            return [
                {
                    "charge_point": d.charge_point.ocpp_id,
                    "key": d.key,
                    "desired": d.desired_value,
                    "actual": d.actual_value,
                    "state": d.state,
                    "reverts": d.reverts,
                }
                for d in drifts[:1000]
            ]
        if verb == "remove":
            if len(args) != 1 or not args[0].isdigit():
                raise CommandError("remove: give the declaration's id.")
            desired = desired_get_for_user(user=user, pk=int(args[0]))
            desired_remove(desired=desired, actor=user)
            return {"removed": int(args[0])}
        if len(args) != 2:
            raise CommandError("set: give KEY VALUE.")
        desired_list_for_user(user=user)  # the role check first
        network, station, tag = scope_resolve_for_user(
            user=user,
            network=options["network"] or "",
            station=options["station"],
            tag=options["tag"],
        )
        desired = desired_declare(
            network=network,
            key=args[0],
            value=args[1],
            station=station,
            tag=tag,
            vendor=options["vendor"],
            model=options["model"],
            actor=user,
        )
        return {"id": desired.pk, "scope": desired.scope_label, "key": desired.key}
