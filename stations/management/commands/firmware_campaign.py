"""``manage.py firmware_campaign``: create, start, pause, resume, abort, show campaigns.

Acts as ``--user`` with that user's role and networks, exactly as the portal
would (``stations.manage_firmware``; support and finance are refused).

    manage.py firmware_campaign create --user ops --network "Demo Network" \\
        --location https://fw.example.com/sc-2.4.0.bin --firmware-version 2.4.0 \\
        --canary-percent 10 --batch-size 5 --pause-minutes 2
    manage.py firmware_campaign start 7 --user ops
    manage.py firmware_campaign show 7 --user ops
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import Http404

from accounts.models import User
from stations.fleet.models import FirmwareCampaign
from stations.fleet.selectors import (
    ScopeInputError,
    campaign_get_for_user,
    campaign_list_for_user,
    scope_resolve_for_user,
)
from stations.fleet.services import (
    CAMPAIGN_ACTIONS,
    CampaignInputError,
    TargetFilter,
    campaign_create,
    campaign_progress,
)


def _summary(campaign: FirmwareCampaign) -> dict[str, Any]:
    return {
        "id": campaign.pk,
        "name": campaign.name,
        "network": campaign.network.name,
        "version": campaign.version,
        "status": campaign.status,
        "current_batch": campaign.current_batch,
        "halt_reason": campaign.halt_reason,
        "progress": campaign_progress(campaign),
    }


class Command(BaseCommand):
    help = "Create and steer firmware campaigns (as --user, with their role and scope)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "verb",
            choices=["create", "start", "pause", "resume", "abort", "show", "list"],
        )
        parser.add_argument("campaign", nargs="?", type=int, help="Campaign id.")
        parser.add_argument("--user", required=True, help="Act as this username.")
        parser.add_argument("--network", help="Network name (create).")
        parser.add_argument("--name", default="")
        parser.add_argument("--location", help="Image URL (create).")
        parser.add_argument(
            "--firmware-version", dest="image_version", help="The new version."
        )
        parser.add_argument("--checksum", default="")
        parser.add_argument(
            "--signing-certificate",
            default="",
            help="PEM file of the certificate that signed the image (with --signature).",
        )
        parser.add_argument("--signature", default="", help="Base64 image signature.")
        parser.add_argument(
            "--rollback-location", default="", help="Rollback image URL."
        )
        parser.add_argument("--rollback-version", default="")
        parser.add_argument(
            "--rollback-on-failure",
            action="store_true",
            help="Send a failed charger the rollback image.",
        )
        parser.add_argument(
            "--rollback-on-halt",
            action="store_true",
            help="On a halt, send every updated or failed charger the rollback image.",
        )
        parser.add_argument("--station", type=int, help="Only this station (id).")
        parser.add_argument("--vendor", default="")
        parser.add_argument("--model", default="")
        parser.add_argument("--from-version", default="")
        parser.add_argument("--tag", default="", help="Only chargers with this tag.")
        parser.add_argument("--canary-percent", type=int, default=10)
        parser.add_argument("--batch-size", type=int, default=10)
        parser.add_argument("--pause-minutes", type=float, default=10)
        parser.add_argument(
            "--hours", default="", help="Allowed local hours, e.g. 22-6."
        )
        parser.add_argument(
            "--any-time", action="store_true", help="Also during sessions."
        )
        parser.add_argument("--max-attempts", type=int, default=2)
        parser.add_argument("--halt-percent", type=int, default=20)

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["user"], is_active=True).first()
        if user is None:
            raise CommandError(f"user: no active user “{options['user']}”.")
        try:
            result = self._run(user, options)
        except (PermissionDenied, Http404) as error:
            raise CommandError(f"refused: {error}") from None
        except ScopeInputError as error:
            raise CommandError(f"{error.field}: {error}") from None
        except CampaignInputError as error:
            raise CommandError(f"{error.field}: {error}") from None
        self.stdout.write(json.dumps(result, indent=2, sort_keys=True, default=str))

    def _run(self, user: User, options: dict[str, Any]) -> Any:
        verb = options["verb"]
        if verb == "list":
            return [_summary(c) for c in campaign_list_for_user(user=user)[:100]]
        if verb == "create":
            return _summary(self._create(user, options))
        if options["campaign"] is None:
            raise CommandError("campaign: give the campaign id.")
        campaign = campaign_get_for_user(user=user, pk=options["campaign"])
        if verb != "show":
            campaign = CAMPAIGN_ACTIONS[verb](campaign=campaign, actor=user)
        return _summary(campaign)

    def _create(self, user: User, options: dict[str, Any]) -> FirmwareCampaign:
        campaign_list_for_user(user=user)  # the role check first
        for name, flag in (
            ("network", "--network"),
            ("location", "--location"),
            ("image_version", "--firmware-version"),
        ):
            if not options[name]:
                raise CommandError(f"{flag} is required.")
        network, station, tag = scope_resolve_for_user(
            user=user,
            network=options["network"] or "",
            station=options["station"],
            tag=options["tag"],
        )
        hours: list[int | None] = [None, None]
        if options["hours"]:
            try:
                hours = [int(part) for part in options["hours"].split("-", 1)]
            except ValueError:
                raise CommandError(
                    "hours: give FROM-TO in local hours, e.g. 22-6."
                ) from None
            if len(hours) != 2:
                raise CommandError("hours: give FROM-TO in local hours, e.g. 22-6.")
        return campaign_create(
            network=network,
            name=options["name"],
            location=options["location"],
            version=options["image_version"],
            checksum=options["checksum"],
            signing_certificate=_read_text(options["signing_certificate"]),
            signature=options["signature"],
            rollback_location=options["rollback_location"],
            rollback_version=options["rollback_version"],
            rollback_on_failure=options["rollback_on_failure"],
            rollback_on_halt=options["rollback_on_halt"],
            target=TargetFilter(
                station=station,
                vendor=options["vendor"],
                model=options["model"],
                from_version=options["from_version"],
                tag=tag,
            ),
            created_by=user,
            canary_percent=options["canary_percent"],
            batch_size=options["batch_size"],
            pause_s=int(options["pause_minutes"] * 60),
            allowed_from_hour=hours[0],
            allowed_to_hour=hours[1],
            only_when_idle=not options["any_time"],
            max_attempts=options["max_attempts"],
            halt_failure_percent=options["halt_percent"],
        )


def _read_text(path: str) -> str:
    if not path:
        return ""
    try:
        with open(path, encoding="ascii") as pem:
            return pem.read()
    except (OSError, UnicodeDecodeError) as error:
        raise CommandError(f"signing-certificate: {error}") from None
