"""Many simulated chargers in one asyncio loop, OCPP 1.6J and 2.0.1 side by side."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from stations.simulator.charger import ChargerOptions, SimulatedCharger
from stations.simulator.hardware import ChargerSpec, spec_for_index
from stations.simulator.v201 import SimulatedStation201

log = logging.getLogger("stations.simulator")

DEMO_PREFIX = "DEMO-CP-"
DEMO_PASSWORD = "demo-cp-password"  # noqa: S105  (the demo data's charger password)
# The cards of the demo roaming partner's drivers (roaming/demo.py).
DEMO_PARTNER_TAGS = ("DMO-ROAM-001", "DMO-ROAM-002")
DEMO_ID_TAGS = (
    *(f"DEMO-TAG-{number:03d}" for number in range(1, 21)),
    *DEMO_PARTNER_TAGS,
)


def ocpp201_share(ocpp_ids: Sequence[str], count: int) -> frozenset[str]:
    """The last ``count`` ids of a fleet, the ones that speak OCPP 2.0.1."""
    if count <= 0:
        return frozenset()
    return frozenset(ocpp_ids[-count:])


def charger_ids(*, prefix: str, start: int, count: int, width: int = 2) -> list[str]:
    """Charge point ids ``prefix`` + zero-padded number, e.g. DEMO-CP-01."""
    return [f"{prefix}{number:0{width}d}" for number in range(start, start + count)]


@dataclass
class Fleet:
    chargers: list[SimulatedCharger]

    @classmethod
    def build(
        cls,
        ocpp_ids: Sequence[str],
        options: ChargerOptions,
        *,
        seed: int | None = None,
        specs: Mapping[str, ChargerSpec] | None = None,
        ocpp201_ids: frozenset[str] = frozenset(),
    ) -> Fleet:
        """Create the chargers; ``specs`` overrides the default hardware per id.

        The ids in ``ocpp201_ids`` are OCPP 2.0.1 stations, the others 1.6J.
        """
        seeder = random.Random(seed)  # noqa: S311  (simulation, not crypto)
        chargers = [
            (SimulatedStation201 if ocpp_id in ocpp201_ids else SimulatedCharger)(
                ocpp_id,
                (specs or {}).get(ocpp_id) or spec_for_index(index),
                _drivers_of(options, index, len(ocpp_ids)),
                rng=random.Random(seeder.getrandbits(64)),  # noqa: S311
            )
            for index, ocpp_id in enumerate(ocpp_ids)
        ]
        return cls(chargers=chargers)

    async def run(
        self, *, stop: asyncio.Event, duration_s: float | None = None
    ) -> None:
        """Run every charger until ``stop`` is set or ``duration_s`` has passed."""
        tasks = []
        for index, charger in enumerate(self.chargers):
            tasks.append(asyncio.ensure_future(self._start(charger, index)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), duration_s)
        log.info("stopping %d simulated chargers", len(self.chargers))
        await asyncio.gather(*(charger.stop() for charger in self.chargers))
        timeout = max(c.options.shutdown_timeout_s for c in self.chargers) + 5
        _, pending = await asyncio.wait(tasks, timeout=timeout) if tasks else ((), ())
        for task in pending:
            task.cancel()

    async def _start(self, charger: SimulatedCharger, index: int) -> None:
        # Spread the first connections so a large fleet does not arrive at once.
        await asyncio.sleep(min(index * 0.05, 10.0))
        await charger.run()


def _drivers_of(options: ChargerOptions, index: int, fleet_size: int) -> ChargerOptions:
    """The cards that turn up at charger ``index``: with two or more per charger the
    fleet's cards are dealt out so no card is at two chargers at once (the CMS
    answers ConcurrentTx to a card's second open session); fewer are shared."""
    tags = options.id_tags
    if fleet_size < 2 or len(tags) < 2 * fleet_size:
        return options
    return replace(options, id_tags=tags[index::fleet_size])
