"""The raw history behind the reports, loaded for many connectors at once.

``ConnectorsHistory(connectors, start, end)`` reads, in a fixed number of
queries whatever the number of connectors, everything that decides the
effective state of those connectors over ``[start, end)`` (their applied
status notifications, their chargers' connector-0 statuses, connection events
and the statuses heard after a silent spell) and the sessions that overlap the
range with their energy register readings. ``buckets()`` then splits one
connector's time into UTC-aligned buckets (hours for the roll-ups, 5 minutes for
the SLA windows) in whole microseconds, so the roll-ups and the raw path add up
to exactly the same seconds. The model is described in ``stations.reports.tallies``.
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import (
    BigIntegerField,
    CharField,
    DateTimeField,
    Func,
    OuterRef,
    Q,
    Subquery,
)

from sessions_app.models import ChargingSession, MeterValue, SessionStatus
from stations.models import (
    ChargePoint,
    ConnectionEvent,
    Connector,
    ConnectorStatus,
    StatusChange,
)

OFFLINE = "Offline"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)
HOUR_US = 3600 * 1_000_000

STATUS_FIELDS: dict[str, str] = {
    ConnectorStatus.AVAILABLE: "available_s",
    ConnectorStatus.PREPARING: "preparing_s",
    ConnectorStatus.CHARGING: "charging_s",
    ConnectorStatus.SUSPENDED_EV: "suspended_ev_s",
    ConnectorStatus.SUSPENDED_EVSE: "suspended_evse_s",
    ConnectorStatus.FINISHING: "finishing_s",
    ConnectorStatus.RESERVED: "reserved_s",
    ConnectorStatus.UNAVAILABLE: "unavailable_s",
    ConnectorStatus.FAULTED: "faulted_s",
    OFFLINE: "offline_s",
    ConnectorStatus.UNKNOWN: "unknown_s",
}
SECONDS_FIELDS = tuple(dict.fromkeys(STATUS_FIELDS.values()))
# Index of each state in a bucket's value list; then sessions started, energy (Wh).
STATE_INDEX = {
    state: SECONDS_FIELDS.index(name) for state, name in STATUS_FIELDS.items()
}
UNKNOWN_INDEX = SECONDS_FIELDS.index("unknown_s")
SESSIONS_INDEX = len(SECONDS_FIELDS)
ENERGY_INDEX = SESSIONS_INDEX + 1
VALUES_LEN = ENERGY_INDEX + 1

_CHARGER_WIDE = {ConnectorStatus.FAULTED, ConnectorStatus.UNAVAILABLE}
_ENERGY_REGISTER = "Energy.Active.Import.Register"
_ONLINE_KINDS = [
    ConnectionEvent.Kind.CONNECTED,
    ConnectionEvent.Kind.BACK_ONLINE,
    ConnectionEvent.Kind.DISCONNECTED,
    ConnectionEvent.Kind.WENT_SILENT,
]


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch (exact integer arithmetic)."""
    return (moment - EPOCH) // US


def from_us(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


class EpochMicros(Func):
    """A timestamp column as whole microseconds since the epoch, computed in SQL.

    Exactly ``to_us`` of the value, without building a ``datetime`` per row in
    Python (parsing millions of them was most of a year-long report's time).
    """

    output_field = BigIntegerField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # EXTRACT returns numeric (exact) since PostgreSQL 14.
        return self.as_sql(
            compiler,
            connection,
            template="(EXTRACT(EPOCH FROM %(expressions)s) * 1000000)::bigint",
            **extra,
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Django stores "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC; whole seconds from
        # unixepoch() of the text without its fraction (SQLite's own date
        # arithmetic keeps milliseconds and would round .999999 up), the six
        # fraction digits (none when zero) from the text.
        return self.as_sql(
            compiler,
            connection,
            template=(
                "(unixepoch(substr(%(expressions)s, 1, 19)) * 1000000"
                " + CAST(substr(%(expressions)s || '.000000', 21, 6) AS INTEGER))"
            ),
            **extra,
        )


class Step:
    """A step function of time (µs): ``initial`` before the first change."""

    def __init__(self, initial: Any, changes: list[tuple[int, Any]]) -> None:
        self.initial = initial
        self.times = [at for at, _ in changes]
        self.values = [value for _, value in changes]

    def at(self, moment: int) -> Any:
        index = bisect.bisect_right(self.times, moment) - 1
        return self.initial if index < 0 else self.values[index]


class Curve:
    """Cumulative energy (Wh) of a session over time (µs), linear between readings."""

    def __init__(self, points: list[tuple[int, float]]) -> None:
        self.times = [at for at, _ in points]
        self.values = [value for _, value in points]

    def at(self, moment: int) -> int:
        index = bisect.bisect_right(self.times, moment) - 1
        if index < 0:
            return 0
        if index + 1 >= len(self.times):
            return round(self.values[-1])
        t0, t1 = self.times[index], self.times[index + 1]
        v0, v1 = self.values[index], self.values[index + 1]
        return round(v0 + (v1 - v0) * ((moment - t0) / (t1 - t0)))


def _last_status(
    model: Any, key: str, ids: list[int], start: datetime, **extra: Any
) -> dict[int, str | None]:
    """The last applied status before ``start`` per connector/charger (one query)."""
    before = StatusChange.objects.filter(
        is_applied=True, at__lt=start, **{key: OuterRef("pk")}, **extra
    ).order_by("-at", "-id")
    return dict(
        model.objects.filter(pk__in=ids)
        .annotate(last=Subquery(before.values("status")[:1], output_field=CharField()))
        .values_list("pk", "last")
    )


class ConnectorsHistory:
    """Everything deciding the states and energy of ``connectors`` over ``[start, end)``."""

    def __init__(
        self,
        connectors: list[Connector],
        start: datetime,
        end: datetime,
        *,
        with_sessions: bool = True,
    ) -> None:
        self.start, self.end = start, end
        self.start_us, self.end_us = to_us(start), to_us(end)
        self.connectors = {c.pk: c for c in connectors}
        ids = list(self.connectors)
        cp_ids = sorted({c.charge_point_id for c in connectors})
        self._own: dict[int, Step] = {}
        self._charger: dict[int, Step] = {}
        self._online: dict[int, Step] = {}
        self._offline_kind: dict[int, Step] = {}
        self._sessions: dict[int, list[tuple[int, Curve]]] = defaultdict(list)
        if not ids or end <= start:
            return
        self._load_statuses(ids, cp_ids)
        self._load_online(cp_ids)
        if with_sessions:  # the outage records need states only
            self._load_sessions(ids, cp_ids)

    # -- loading --------------------------------------------------------------

    def _load_statuses(self, ids: list[int], cp_ids: list[int]) -> None:
        own_before = _last_status(Connector, "connector_id", ids, self.start)
        own: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for connector_id, at, value in (
            StatusChange.objects.filter(
                connector_id__in=ids,
                is_applied=True,
                at__gte=self.start,
                at__lt=self.end,
            )
            .order_by("connector_id", "at", "id")
            .values_list("connector_id", EpochMicros("at"), "status")
        ):
            own[connector_id].append((at, value))
        for pk in ids:
            self._own[pk] = Step(own_before.get(pk), own[pk])
        cp_before = _last_status(
            ChargePoint, "charge_point_id", cp_ids, self.start, connector__isnull=True
        )
        whole: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for cp_id, at, value in (
            StatusChange.objects.filter(
                charge_point_id__in=cp_ids,
                connector__isnull=True,
                is_applied=True,
                at__gte=self.start,
                at__lt=self.end,
            )
            .order_by("charge_point_id", "at", "id")
            .values_list("charge_point_id", EpochMicros("at"), "status")
        ):
            whole[cp_id].append((at, value))
        for cp_id in cp_ids:
            self._charger[cp_id] = Step(cp_before.get(cp_id), whole[cp_id])

    def _heard(self, cp_ids: list[int], since: datetime) -> dict[int, list[int]]:
        """Receive times (µs) of statuses from these chargers after ``since``."""
        heard: dict[int, list[int]] = defaultdict(list)
        if not cp_ids:
            return heard
        rows = StatusChange.objects.filter(
            Q(charge_point_id__in=cp_ids) | Q(connector__charge_point_id__in=cp_ids),
            received_at__gte=since,
            received_at__lt=self.end,
        ).values_list(
            "charge_point_id", "connector__charge_point_id", EpochMicros("received_at")
        )
        for own_cp, connector_cp, received_us in rows:
            heard[own_cp or connector_cp].append(received_us)
        return heard

    def _load_online(self, cp_ids: list[int]) -> None:
        """True while the charger is connected (see ``stations.reports.tallies``)."""
        previous = ConnectionEvent.objects.filter(
            charge_point_id=OuterRef("pk"), kind__in=_ONLINE_KINDS, at__lt=self.start
        ).order_by("-at", "-id")
        last = {
            pk: (at, kind)
            for pk, at, kind in ChargePoint.objects.filter(pk__in=cp_ids)
            .annotate(
                last_at=Subquery(
                    previous.values("at")[:1], output_field=DateTimeField()
                ),
                last_kind=Subquery(
                    previous.values("kind")[:1], output_field=CharField()
                ),
            )
            .values_list("pk", "last_at", "last_kind")
            if at is not None
        }
        events: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for cp_id, at, kind in (
            ConnectionEvent.objects.filter(
                charge_point_id__in=cp_ids,
                kind__in=_ONLINE_KINDS,
                at__gte=self.start,
                at__lt=self.end,
            )
            .order_by("charge_point_id", "at", "id")
            .values_list("charge_point_id", EpochMicros("at"), "kind")
        ):
            events[cp_id].append((at, kind))
        silent = ConnectionEvent.Kind.WENT_SILENT
        # Statuses heard only matter after a silent spell began.
        needs_heard = {cp for cp, (_, kind) in last.items() if kind == silent}
        needs_heard |= {
            cp for cp, rows in events.items() if any(k == silent for _, k in rows)
        }
        heard_since: dict[int, list[int]] = {}
        if needs_heard:
            since = min(
                (last[cp][0] for cp in needs_heard if cp in last), default=self.start
            )
            heard_since = self._heard(sorted(needs_heard), since)
        for cp_id in cp_ids:
            state = ConnectionEvent.Kind.CONNECTED
            since_us = self.start_us
            if cp_id in last:
                state = last[cp_id][1]
                since_us = to_us(last[cp_id][0])
            heard = [
                at
                for at in heard_since.get(cp_id, [])
                # A status received exactly at ``start`` with no earlier event
                # counted as "after since" nowhere; keep that edge unchanged.
                if at > since_us
            ]
            if state == silent and any(at < self.start_us for at in heard):
                state = ConnectionEvent.Kind.CONNECTED
            initial = state in (
                ConnectionEvent.Kind.CONNECTED,
                ConnectionEvent.Kind.BACK_ONLINE,
            )
            # (time, order, kind): a status heard at the same instant comes after.
            marks: list[tuple[int, int, str]] = [
                (at_us, 0, event) for at_us, event in events[cp_id]
            ]
            marks += [(at_us, 1, "heard") for at_us in heard if at_us >= self.start_us]
            marks.sort(key=lambda mark: (mark[0], mark[1]))
            changes: list[tuple[int, bool]] = []
            kinds: list[tuple[int, str]] = []
            initial_kind = str(state)
            for mark_us, _, mark in marks:
                if mark == "heard":
                    if state != silent:
                        continue
                    mark = ConnectionEvent.Kind.CONNECTED  # a silent charger spoke
                if mark == ConnectionEvent.Kind.BACK_ONLINE:
                    mark = ConnectionEvent.Kind.CONNECTED
                state = ConnectionEvent.Kind(mark)
                changes.append((mark_us, mark == ConnectionEvent.Kind.CONNECTED))
                kinds.append((mark_us, str(mark)))
            self._online[cp_id] = Step(initial, changes)
            self._offline_kind[cp_id] = Step(initial_kind, kinds)

    def _load_sessions(self, ids: list[int], cp_ids: list[int]) -> None:
        by_number = {
            (c.charge_point_id, c.connector_id): c.pk for c in self.connectors.values()
        }
        sessions = (
            ChargingSession.objects.filter(
                Q(connector_id__in=ids)
                | Q(connector__isnull=True, charge_point_id__in=cp_ids),
                started_at__lt=self.end,
            )
            .filter(Q(stopped_at__isnull=True) | Q(stopped_at__gt=self.start))
            .exclude(status=SessionStatus.REJECTED)
            .order_by("started_at", "id")
            .values_list(
                "id",
                "connector_id",
                "charge_point_id",
                "connector_number",
                "started_at",
                "stopped_at",
                "last_meter_at",
                "meter_start_wh",
                "energy_wh",
            )
        )
        found = []
        for row in sessions:
            pk = row[1] if row[1] is not None else by_number.get((row[2], row[3]))
            if pk in self.connectors:
                found.append((pk, row))
        readings: dict[int, list[tuple[int, float]]] = defaultdict(list)
        session_ids = [row[0] for _, row in found]
        for chunk in range(0, len(session_ids), 5000):
            for session_id, timestamp, value in (
                MeterValue.objects.filter(
                    session_id__in=session_ids[chunk : chunk + 5000],
                    measurand=_ENERGY_REGISTER,
                    phase="",
                    location__in=["", "Outlet"],
                    value__isnull=False,
                )
                .order_by("session_id", "timestamp")
                .values_list("session_id", EpochMicros("timestamp"), "value")
            ):
                if value is not None:  # excluded by the query; narrows the type
                    readings[session_id].append((timestamp, value))
        for pk, row in found:
            session_id, _, _, _, started_at, stopped_at, last_meter_at = row[:7]
            meter_start_wh, energy_wh = row[7], row[8]
            start_us = to_us(started_at)
            end_at = stopped_at or last_meter_at or started_at
            end_us = to_us(end_at)
            points: list[tuple[int, float]] = [(start_us, 0.0)]
            for at, value in readings.get(session_id, []):
                if start_us < at < end_us:
                    delivered = min(max(value - meter_start_wh, 0.0), energy_wh)
                    points.append((at, max(delivered, points[-1][1])))
            if end_us > start_us:
                points.append((end_us, float(max(energy_wh, points[-1][1]))))
            self._sessions[pk].append((start_us, Curve(points)))

    # -- computing ----------------------------------------------------------------

    def segments_us(self, connector_pk: int) -> list[tuple[int, int, str]]:
        """Effective states of one connector as ``(from, to, state)`` in µs."""
        connector = self.connectors[connector_pk]
        own = self._own[connector_pk]
        charger = self._charger[connector.charge_point_id]
        online = self._online[connector.charge_point_id]
        start, end = self.start_us, self.end_us
        points = sorted({start, *own.times, *charger.times, *online.times})
        points = [p for p in points if start <= p < end]
        segments = []
        for index, begin in enumerate(points):
            finish = points[index + 1] if index + 1 < len(points) else end
            if not online.at(begin):
                state = OFFLINE
            elif charger.at(begin) in _CHARGER_WIDE:
                state = charger.at(begin)
            else:
                state = own.at(begin) or ConnectorStatus.UNKNOWN
            segments.append((begin, finish, state))
        return segments

    def offline_kind(self, charge_point_id: int, at_us: int) -> str:
        """The connection event that made the charger offline at ``at_us``.

        ``went_silent`` (connected but unanswered past its heartbeat) or
        ``disconnected``; meaningful only inside an Offline segment.
        """
        step = self._offline_kind.get(charge_point_id)
        return "" if step is None else str(step.at(at_us))

    def buckets(
        self,
        connector_pk: int,
        *,
        bucket_us: int = HOUR_US,
        start_us: int | None = None,
    ) -> dict[int, list[int]]:
        """Per bucket start (µs): µs per state, sessions started, energy (Wh).

        ``start_us`` (default: the loaded start) limits the tally to a later start.
        """
        begin_us = self.start_us if start_us is None else max(start_us, self.start_us)
        end_us = self.end_us
        values: dict[int, list[int]] = {}
        if end_us <= begin_us:
            return values
        for seg_start, seg_end, state in self.segments_us(connector_pk):
            if seg_end <= begin_us:
                continue
            index = STATE_INDEX.get(state, UNKNOWN_INDEX)
            moment = max(seg_start, begin_us)
            while moment < seg_end:
                bucket = moment - moment % bucket_us
                stop = min(seg_end, bucket + bucket_us)
                row = values.get(bucket)
                if row is None:
                    row = values[bucket] = [0] * VALUES_LEN
                row[index] += stop - moment
                moment = stop
        for started_us, curve in self._sessions.get(connector_pk, []):
            if begin_us <= started_us < end_us:
                bucket = started_us - started_us % bucket_us
                row = values.get(bucket) or values.setdefault(bucket, [0] * VALUES_LEN)
                row[SESSIONS_INDEX] += 1
            moment = max(begin_us, started_us)
            stop_at = min(end_us, curve.times[-1])
            while moment < stop_at:
                bucket = moment - moment % bucket_us
                stop = min(stop_at, bucket + bucket_us)
                row = values.get(bucket) or values.setdefault(bucket, [0] * VALUES_LEN)
                row[ENERGY_INDEX] += curve.at(stop) - curve.at(moment)
                moment = stop
        return values
