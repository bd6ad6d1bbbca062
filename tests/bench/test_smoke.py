"""The benchmark's load generator, small, against a real uvicorn server (CI smoke run).

It fails on errors, dropped sockets or lost messages, never on timing: the
figures themselves live in docs/benchmarks.md (``python bench/run.py``).
"""

from __future__ import annotations

import time

import pytest

from bench.loadgen import LoadConfig, run_load
from sessions_app.models import ChargingSession, IdToken
from stations.models import ChargePoint, OcppMessage
from tests.factories import StationFactory

CHARGERS = 200


def _seed(prefix: str) -> None:
    station = StationFactory()
    ChargePoint.objects.bulk_create(
        ChargePoint(
            ocpp_id=f"{prefix}{index:05d}",
            station=station,
            registration_status="Accepted",
        )
        for index in range(1, CHARGERS + 1)
    )
    IdToken.objects.bulk_create(
        IdToken(token=f"ST{index:05d}", network=station.network)
        for index in range(1, CHARGERS + 1)
    )


def _logged_calls(prefix: str, expected: int, deadline_s: float = 15.0) -> int:
    """Poll until the batched message log holds ``expected`` CALLs (or time is up)."""
    deadline = time.monotonic() + deadline_s
    while True:
        logged = OcppMessage.objects.filter(
            ocpp_id__startswith=prefix,
            direction=OcppMessage.Direction.IN,
            message_type=2,
        ).count()
        if logged >= expected or time.monotonic() >= deadline:
            return logged
        time.sleep(0.2)


@pytest.mark.django_db(transaction=True)
def test_steady_load_is_fully_answered_and_logged(server_factory):
    """200 chargers with sessions for 20 s: every CALL answered, logged, no socket lost."""
    prefix = "SMOKE-"
    _seed(prefix)
    # Every generated charger connects from loopback, as in bench/run.py.
    server = server_factory(
        OCPP_UNKNOWN_CHARGERS="reject", OCPP_UNBOOTED_PER_ADDRESS="1000000"
    )
    config = LoadConfig(
        urls=(f"{server.ws_url}/ocpp/",),
        mode="steady",
        count=CHARGERS,
        processes=2,
        duration_s=20,
        rate=100.0,  # an interval of 2 s per charger: several sessions each
        connect_rate=200.0,
        prefix=prefix,
        id_tag_prefix="ST",
        call_timeout_s=30.0,
    )

    result = run_load(config)

    stats = result.stats
    assert stats.connected == CHARGERS, stats.error_samples
    assert stats.booted == CHARGERS, stats.error_samples
    assert (stats.refused, stats.dropped) == (0, 0), stats.error_samples
    assert (stats.call_errors, stats.lost) == (0, 0), stats.error_samples
    assert stats.answered == stats.sent
    assert stats.sent_by_action.get("MeterValues", 0) > 0
    assert _logged_calls(prefix, stats.sent) == stats.sent
    started = stats.sent_by_action.get("StartTransaction", 0)
    assert (
        ChargingSession.objects.filter(charge_point__ocpp_id__startswith=prefix).count()
        == started
    )
