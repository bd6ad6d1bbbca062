"""Publish (or withdraw) a network's stations or one station to roaming partners."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from roaming.publication import location_publication_set
from stations.models import Network, Station


class Command(BaseCommand):
    help = (
        "Publish a network (--network NAME) or a station (--station ID) as OCPI "
        "Locations; --withdraw hides it. A station's choice overrides its network's."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--network")
        target.add_argument("--station", type=int)
        parser.add_argument("--withdraw", action="store_true")

    def handle(self, *args: Any, **options: Any) -> None:
        network = station = None
        if options["network"] is not None:
            network = Network.objects.filter(name=options["network"]).first()
            if network is None:
                raise CommandError(f"No network named {options['network']!r}.")
        else:
            station = Station.objects.filter(pk=options["station"]).first()
            if station is None:
                raise CommandError(f"No station with id {options['station']}.")
        publication = location_publication_set(
            network=network, station=station, is_published=not options["withdraw"]
        )
        self.stdout.write(str(publication))
