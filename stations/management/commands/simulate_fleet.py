"""Run a fleet of simulated OCPP 1.6J and 2.0.1 chargers against a central system.

    manage.py simulate_fleet --url ws://127.0.0.1:8000/ocpp/ --count 6 --demo --ocpp201 2

``--ocpp201 N`` makes the last N chargers OCPP 2.0.1 stations (subprotocol
``ocpp2.0.1``); the others speak OCPP 1.6J.

Runs until Ctrl-C (or ``--duration``), then ends running sessions, delivers
what it can and disconnects. It only ever connects to ``--url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from stations.simulator.charger import ChargerOptions
from stations.simulator.fleet import (
    DEMO_ID_TAGS,
    DEMO_PASSWORD,
    DEMO_PREFIX,
    Fleet,
    charger_ids,
    ocpp201_share,
)
from stations.simulator.hardware import ChargerSpec, spec_from_connectors


def _rate(value: str) -> float:
    rate = float(value)
    if rate < 0:
        raise ValueError(value)
    return rate


def _positive(value: str) -> float:
    number = float(value)
    if number <= 0:
        raise ValueError(value)
    return number


def specs_from_database(ocpp_ids: list[str]) -> dict[str, ChargerSpec]:
    """Hardware of chargers registered in the CMS database (connector types, kW)."""
    from stations.models import ChargePoint

    specs: dict[str, ChargerSpec] = {}
    charge_points = ChargePoint.objects.filter(ocpp_id__in=ocpp_ids).prefetch_related(
        "connectors"
    )
    for charge_point in charge_points:
        connectors = [
            (connector.connector_type, float(connector.max_power_kw))
            for connector in sorted(
                charge_point.connectors.all(), key=lambda c: c.connector_id
            )
        ]
        if connectors:
            specs[charge_point.ocpp_id] = spec_from_connectors(connectors)
    return specs


class Command(BaseCommand):
    help = (
        "Simulate OCPP 1.6J and 2.0.1 chargers that boot, charge cars, fault and "
        "reconnect."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--url",
            default="ws://127.0.0.1:8000/ocpp/",
            help="Central system OCPP endpoint; the charger id is appended.",
        )
        parser.add_argument("--count", type=int, default=1)
        parser.add_argument(
            "--ocpp201",
            type=int,
            default=0,
            help="How many of the chargers (the last ones) speak OCPP 2.0.1.",
        )
        parser.add_argument("--prefix", default=None, help="Id prefix (SIM-CP-).")
        parser.add_argument("--start", type=int, default=1, help="First number.")
        parser.add_argument(
            "--password", default=None, help="OCPP basic-auth password."
        )
        parser.add_argument(
            "--demo",
            action="store_true",
            help="DEMO-CP-01.., password demo-cp-password, tags DEMO-TAG-001..020, "
            "hardware from the database.",
        )
        parser.add_argument(
            "--id-tags",
            default=None,
            help="Comma-separated idTags drivers present (default SIM-TAG-001..010).",
        )
        parser.add_argument(
            "--duration", type=_positive, default=None, help="Stop after SECONDS."
        )
        parser.add_argument("--seed", type=int, default=None)
        parser.add_argument(
            "--ca-file",
            default="",
            help="wss:// URLs: PEM file of the CA the server certificate is "
            "checked against (default: the system's CAs).",
        )
        parser.add_argument(
            "--meter-interval",
            type=int,
            default=30,
            help="Initial MeterValueSampleInterval (s); the CMS may change it.",
        )
        parser.add_argument(
            "--fault-rate",
            type=_rate,
            default=0.05,
            help="Faults per charger per simulated hour.",
        )
        parser.add_argument(
            "--drop-rate",
            type=_rate,
            default=0.1,
            help="Connection drops per charger per simulated hour.",
        )
        parser.add_argument(
            "--speedup",
            type=_positive,
            default=1.0,
            help="Simulated seconds per real second (sessions, idle times, faults).",
        )
        parser.add_argument(
            "--mean-idle",
            type=float,
            default=20.0,
            help="Mean simulated minutes between sessions per connector; 0 = "
            "only remote starts.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["count"] < 1:
            raise CommandError("--count must be at least 1")
        if not 0 <= options["ocpp201"] <= options["count"]:
            raise CommandError("--ocpp201 must be between 0 and --count")
        if options["meter_interval"] < 0:
            raise CommandError("--meter-interval must be 0 or more")
        url: str = options["url"]
        if not url.startswith(("ws://", "wss://")):
            raise CommandError("--url must start with ws:// or wss://")
        is_demo = options["demo"]
        prefix = options["prefix"] or (DEMO_PREFIX if is_demo else "SIM-CP-")
        password = options["password"] or (DEMO_PASSWORD if is_demo else None)
        if options["id_tags"]:
            id_tags = tuple(
                t.strip() for t in options["id_tags"].split(",") if t.strip()
            )
        elif is_demo:
            id_tags = DEMO_ID_TAGS
        else:
            id_tags = tuple(f"SIM-TAG-{n:03d}" for n in range(1, 11))
        ids = charger_ids(prefix=prefix, start=options["start"], count=options["count"])
        specs: dict[str, ChargerSpec] = {}
        if is_demo:
            try:
                specs = specs_from_database(ids)
            except DatabaseError as error:
                self.stderr.write(f"demo hardware not read from the database: {error}")
        charger_options = ChargerOptions(
            url=url,
            password=password,
            id_tags=id_tags,
            speedup=options["speedup"],
            meter_interval_s=options["meter_interval"],
            fault_rate=options["fault_rate"],
            drop_rate=options["drop_rate"],
            mean_idle_s=options["mean_idle"] * 60,
            ca_file=options["ca_file"],
        )
        self._configure_logging(options["verbosity"])
        ocpp201_ids = ocpp201_share(ids, options["ocpp201"])
        fleet = Fleet.build(
            ids,
            charger_options,
            seed=options["seed"],
            specs=specs,
            ocpp201_ids=ocpp201_ids,
        )
        self.stdout.write(
            f"Simulating {len(ids)} chargers ({ids[0]}..{ids[-1]}, "
            f"{len(ocpp201_ids)} on OCPP 2.0.1) against {url}"
        )
        asyncio.run(self._run(fleet, options["duration"]))

    async def _run(self, fleet: Fleet, duration_s: float | None) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, stop.set)
        await fleet.run(stop=stop, duration_s=duration_s)

    def _configure_logging(self, verbosity: int) -> None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
        simulator = logging.getLogger("stations.simulator")
        simulator.handlers[:] = [handler]
        simulator.setLevel(logging.DEBUG if verbosity > 1 else logging.INFO)
        simulator.propagate = False
        # python-ocpp logs every frame at INFO; keep that for -v 3.
        logging.getLogger("ocpp").setLevel(
            logging.INFO if verbosity > 2 else logging.WARNING
        )
        logging.getLogger("websockets").setLevel(logging.WARNING)
