"""The canonical event stream on real Redis, fed by real OCPP 1.6 and 2.0.1 chargers."""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from ocpp.v16 import call

from cms.models import OutboxEvent
from cms.outbox import outbox_relay
from cms.stream_consumer import StatusViewConsumer
from cms.streams import stream_subscribe, stream_unsubscribe
from tests.factories import ChargePointFactory, IdTokenFactory
from tests.ocpp.client import boot, charger
from tests.v201.station import boot_payload, energy, station, transaction_event

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not settings.TEST_REDIS_URL, reason="needs REDIS_URL"),
]
KINDS = ("status", "meter_values", "transactions")


def _iso(at) -> str:
    return at.isoformat().replace("+00:00", "Z")


@pytest.fixture
def stream(settings):
    prefix = f"test.{uuid.uuid4().hex[:8]}."
    settings.EVENT_STREAM_PREFIX = prefix
    settings.EVENT_STREAM_REDIS_URL = settings.TEST_REDIS_URL
    client = redis.Redis.from_url(settings.TEST_REDIS_URL, decode_responses=True)
    for kind in KINDS:
        stream_subscribe(kind)
    yield prefix, client
    for kind in KINDS:
        stream_unsubscribe(kind)
    for key in client.keys(f"{prefix}*"):
        client.delete(key)


def _relayed(client, prefix: str, *, until: int, deadline_s: float = 15.0) -> None:
    """Relay the outbox until the status stream holds ``until`` entries."""
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        outbox_relay()
        if client.xlen(f"{prefix}status") >= until:
            return
        time.sleep(0.2)
    raise AssertionError(f"status stream has {client.xlen(f'{prefix}status')} entries")


def _drive_chargers(server, started) -> None:
    async def ocpp16() -> None:
        async with charger(server, "CP-ST-16") as client:
            await client.call(boot())
            await client.call(
                call.StatusNotification(
                    connector_id=1,
                    error_code="NoError",
                    status="Charging",
                    timestamp=_iso(started),
                    info="cable locked",
                    vendor_error_code="V-0",
                )
            )
            answer = await client.call(
                call.StartTransaction(
                    connector_id=1,
                    id_tag="DRIVER-16",
                    meter_start=1000,
                    timestamp=_iso(started),
                )
            )
            sampled = _iso(started + timedelta(minutes=5))
            await client.call(
                call.MeterValues(
                    connector_id=1,
                    transaction_id=answer.transaction_id,
                    meter_value=[
                        {
                            "timestamp": sampled,
                            "sampledValue": [
                                {
                                    "value": "1400",
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "Wh",
                                },
                                {
                                    "value": "500",
                                    "measurand": "Power.Active.Import",
                                    "unit": "W",
                                },
                                {"value": "229.5", "measurand": "Voltage", "unit": "V"},
                                {
                                    "value": "2.2",
                                    "measurand": "Current.Import",
                                    "unit": "A",
                                },
                            ],
                        }
                    ],
                )
            )

    async def ocpp201() -> None:
        async with station(server, "CP-ST-201") as client:
            await client.call("BootNotification", boot_payload())
            await client.call(
                "StatusNotification",
                {
                    "timestamp": _iso(started),
                    "connectorStatus": "Occupied",
                    "evseId": 1,
                    "connectorId": 1,
                },
            )
            await client.call(
                "TransactionEvent",
                transaction_event(
                    "Started",
                    0,
                    transaction_id="TX-ST",
                    at=_iso(started),
                    trigger="Authorized",
                    idToken={"idToken": "DRIVER-201", "type": "ISO14443"},
                    chargingState="Charging",
                    meterValue=[energy(0, _iso(started), "Transaction.Begin")],
                ),
            )
            await client.call(
                "TransactionEvent",
                transaction_event(
                    "Updated",
                    1,
                    transaction_id="TX-ST",
                    at=_iso(started + timedelta(minutes=5)),
                    chargingState="Charging",
                    meterValue=[energy(4000, _iso(started + timedelta(minutes=5)))],
                ),
            )

    asyncio.run(ocpp16())
    asyncio.run(ocpp201())


@pytest.fixture
def streamed(stream, server_factory, station_a):
    prefix, client = stream
    station_a.region = "North"
    station_a.save(update_fields=["region"])
    ChargePointFactory(station=station_a, ocpp_id="CP-ST-16")
    ChargePointFactory(station=station_a, ocpp_id="CP-ST-201")
    IdTokenFactory(token="DRIVER-16", network=station_a.network)
    IdTokenFactory(token="DRIVER-201", network=station_a.network)
    server = server_factory(
        EVENT_STREAM_KINDS=",".join(KINDS),
        EVENT_STREAM_PREFIX=prefix,
        OCPP_UNKNOWN_CHARGERS="reject",
    )
    started = timezone.now() - timedelta(minutes=30)
    _drive_chargers(server, started)
    _relayed(client, prefix, until=3)
    return prefix, client


def _documents(client, key: str) -> list[dict]:
    return [json.loads(fields["data"]) for _, fields in client.xrange(key)]


def test_consumer_rebuilds_connector_status_and_finds_low_power_charging(streamed):
    prefix, client = streamed
    consumer = StatusViewConsumer(client, prefix=prefix)
    consumer.ensure_groups()

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(consumer.connectors) < 2:
        consumer.poll(block_ms=200)

    assert consumer.connector_status() == {
        ("CP-ST-16", 1): "Charging",
        ("CP-ST-201", 1): "Charging",
    }
    [fault] = consumer.low_power_charging()
    assert (fault.charge_point_id, fault.connector_id, fault.power_kw) == (
        "CP-ST-16",
        1,
        0.5,
    )
    assert client.xpending(f"{prefix}status", consumer.group)["pending"] == 0


def test_documents_have_one_shape_for_both_versions(streamed):
    prefix, client = streamed

    statuses = _documents(client, f"{prefix}status")
    meters = _documents(client, f"{prefix}meter_values")

    by_charger = {d["charge_point_id"]: d for d in statuses}
    assert set(by_charger) == {"CP-ST-16", "CP-ST-201"}
    assert {frozenset(d) for d in statuses} == {frozenset(statuses[0])}
    assert by_charger["CP-ST-16"]["network_region"] == "North"
    assert (
        by_charger["CP-ST-16"]["info"],
        by_charger["CP-ST-16"]["vendor_error_code"],
    ) == (
        "cable locked",
        "V-0",
    )
    assert all(d["schema_version"] == 1 and len(d["event_id"]) == 32 for d in statuses)
    meter = {d["charge_point_id"]: d for d in meters}
    assert {frozenset(d) for d in meters} == {frozenset(meters[0])}
    assert (meter["CP-ST-16"]["energy_kwh"], meter["CP-ST-16"]["voltage_v"]) == (
        0.4,
        229.5,
    )
    assert meter["CP-ST-16"]["current_a"] == 2.2
    assert meter["CP-ST-201"]["transaction_id"] == "TX-ST"
    assert meter["CP-ST-201"]["power_kw"] == 50.0


def test_id_tags_are_pseudonymised(streamed):
    prefix, client = streamed

    starts = {
        d["charge_point_id"]: d for d in _documents(client, f"{prefix}transactions")
    }

    tag = starts["CP-ST-16"]["id_tag"]
    assert starts["CP-ST-16"]["event"] == "start"
    assert tag not in {"", "DRIVER-16"}
    assert len(tag) == 20
    assert starts["CP-ST-201"]["id_tag"] not in {tag, "DRIVER-201"}
    assert starts["CP-ST-16"]["start_kwh"] == 1.0


def _read_to_the_end(consumer: StatusViewConsumer, client: Any) -> None:
    """Poll until the consumer group has been handed every entry of its streams."""
    deadline = time.monotonic() + 10
    while True:
        consumer.poll(block_ms=200)
        at_end = [
            next(
                group["last-delivered-id"]
                for group in client.xinfo_groups(stream)
                if group["name"] == consumer.group
            )
            == client.xinfo_stream(stream)["last-generated-id"]
            for stream in consumer.streams
        ]
        if all(at_end):
            return
        assert time.monotonic() < deadline, "the group never reached the stream ends"


def test_a_redelivered_event_keeps_its_id_and_is_applied_once(streamed):
    prefix, client = streamed
    consumer = StatusViewConsumer(client, prefix=prefix)
    consumer.ensure_groups()
    before = client.xlen(f"{prefix}status")

    OutboxEvent.objects.filter(kind="connector.status").update(state="pending")
    outbox_relay()  # at least once: the same events again
    _read_to_the_end(consumer, client)

    ids = [d["event_id"] for d in _documents(client, f"{prefix}status")]
    assert len(ids) == 2 * before
    assert len(set(ids)) == before
    assert consumer.connector_status()[("CP-ST-16", 1)] == "Charging"
    meter_ids = {d["event_id"] for d in _documents(client, f"{prefix}meter_values")}
    assert consumer.seen == set(ids) | meter_ids  # each applied once


def test_stream_tail_prints_the_retained_entries(streamed):
    out = io.StringIO()

    call_command(
        "stream_tail",
        "status",
        "--from-start",
        "--idle-exit",
        "--block-ms",
        "200",
        stdout=out,
    )

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {line["charge_point_id"] for line in lines} == {"CP-ST-16", "CP-ST-201"}
    assert all("stream_id" in line and "event_id" in line for line in lines)
