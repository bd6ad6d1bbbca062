from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from stations.simulator.charger import ChargerOptions, SimulatedCharger
from stations.simulator.hardware import ChargerSpec, spec_from_connectors

AC_22 = spec_from_connectors([("Type2", 22.0), ("Type2", 22.0)])
DC_50 = spec_from_connectors([("CCS2", 50.0)])


def fast_options(url: str, **overrides: Any) -> ChargerOptions:
    """Seconds-long scenarios: no random sessions, faults or drops unless asked."""
    options = ChargerOptions(
        url=url,
        id_tags=("TAG-1",),
        speedup=60.0,
        meter_interval_s=1,
        mean_idle_s=0,
        mean_stay_s=36_000.0,
        tick_s=0.05,
        reconnect_min_s=0.1,
        reconnect_max_s=0.5,
        response_timeout_s=5.0,
        reboot_s=6.0,
        shutdown_timeout_s=2.0,
    )
    return replace(options, **overrides)


@contextlib.asynccontextmanager
async def running(
    url: str,
    *,
    ocpp_id: str = "SIM-1",
    spec: ChargerSpec = AC_22,
    seed: int = 7,
    **overrides: Any,
) -> AsyncIterator[SimulatedCharger]:
    """A simulated charger running against ``url`` for the block, then stopped."""
    charger = SimulatedCharger(
        ocpp_id, spec, fast_options(url, **overrides), rng=random.Random(seed)
    )
    task = asyncio.ensure_future(charger.run())
    try:
        yield charger
    finally:
        await charger.stop()
        await asyncio.wait_for(task, 10)
