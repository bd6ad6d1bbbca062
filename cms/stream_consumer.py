"""An example consumer of the event stream: the live connector status from the stream alone.

It reads the ``status`` and ``meter_values`` streams in a consumer group (so
several copies share the work and a restart resumes where it left off), keeps
``connector_status`` (the newest status per charger and connector, ordered by
the charger's ``event_ts``, as the CMS itself orders them), the newest meter
sample per connector, and reports the *soft fault* of the reference article:
a connector in ``Charging`` whose newest sample delivers less than 1 kW.
Entries are de-duplicated by ``event_id`` (the relay delivers at least once)
and acknowledged (``XACK``) once applied. docs/event-stream.md shows it at work::

    consumer = StatusViewConsumer(redis.Redis.from_url(url, decode_responses=True))
    consumer.ensure_groups()
    while True:
        consumer.poll(block_ms=5000)
        for fault in consumer.low_power_charging():
            print(fault)

Only the canonical documents are read here: no database, no CMS code but the
stream's key names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

LOW_POWER_KW = 1.0


@dataclass
class ConnectorView:
    status: str = ""
    error_code: str = ""
    event_ts: str = ""
    power_kw: float | None = None
    energy_kwh: float | None = None
    transaction_id: str = ""
    sampled_ts: str = ""


@dataclass(frozen=True)
class LowPower:
    charge_point_id: str
    connector_id: int
    transaction_id: str
    power_kw: float
    sampled_ts: str


@dataclass
class StatusViewConsumer:
    client: Any
    prefix: str = "cms.events."
    group: str = "status-view"
    consumer: str = "consumer-1"
    connectors: dict[tuple[str, int], ConnectorView] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    @property
    def streams(self) -> list[str]:
        return [f"{self.prefix}status", f"{self.prefix}meter_values"]

    def ensure_groups(self, *, from_start: bool = True) -> None:
        """Create the consumer group on both streams (idempotent)."""
        for stream in self.streams:
            try:
                self.client.xgroup_create(
                    stream, self.group, id="0" if from_start else "$", mkstream=True
                )
            except Exception as error:  # BUSYGROUP: it exists already
                if "BUSYGROUP" not in str(error):
                    raise

    def poll(self, *, block_ms: int = 1000, count: int = 500) -> int:
        """Read and apply what the group has not seen yet; return entries applied."""
        answer = self.client.xreadgroup(
            self.group,
            self.consumer,
            dict.fromkeys(self.streams, ">"),
            count=count,
            block=block_ms,
        )
        applied = 0
        for stream, entries in answer or []:
            for entry_id, fields in entries:
                document = json.loads(fields["data"])
                if document["event_id"] not in self.seen:
                    self.seen.add(document["event_id"])
                    self.apply(fields["kind"], document)
                    applied += 1
                self.client.xack(stream, self.group, entry_id)
        return applied

    def apply(self, kind: str, document: dict[str, Any]) -> None:
        key = (document["charge_point_id"], int(document["connector_id"]))
        view = self.connectors.setdefault(key, ConnectorView())
        if kind == "status":
            # The charger's clock orders its states: an older one changes nothing.
            if view.event_ts and (document["event_ts"] or "") < view.event_ts:
                return
            view.status = document["status"]
            view.error_code = document["error_code"]
            view.event_ts = document["event_ts"] or ""
        elif kind == "meter_values":
            if view.sampled_ts and document["sampled_ts"] < view.sampled_ts:
                return
            view.power_kw = document["power_kw"]
            view.energy_kwh = document["energy_kwh"]
            view.transaction_id = document["transaction_id"]
            view.sampled_ts = document["sampled_ts"]

    def connector_status(self) -> dict[tuple[str, int], str]:
        return {key: view.status for key, view in self.connectors.items()}

    def low_power_charging(self) -> list[LowPower]:
        """Connectors Charging whose newest sample is below 1 kW."""
        return [
            LowPower(
                key[0], key[1], view.transaction_id, view.power_kw, view.sampled_ts
            )
            for key, view in sorted(self.connectors.items())
            if view.status == "Charging"
            and view.power_kw is not None
            and view.power_kw < LOW_POWER_KW
        ]
