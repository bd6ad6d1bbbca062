"""The rating engine: a session timeline and a tariff snapshot -> a priced CDR.

Pure and deterministic: no database, no clock (the caller passes ``as_of``).

Model (OCPI 2.2.1 tariffs, plus idle grace and an idle-fee cap):

* Charging is complete at the earliest of: the stop, the start of the last
  SuspendedEV/Finishing run (a later Charging status resets it), or the start of
  the last run of power samples below the idle threshold that lasted at least the
  idle window. Idle (parking) lasts from completion until the connector reports
  Available, which may come after StopTransaction; while it has not, idle runs
  until ``as_of``. The first ``idle_grace_s`` seconds of idle are free.
* The billed window is split into periods at phase changes and at every local
  time-of-day, midnight, duration and energy threshold of the tariff's
  restrictions (station time zone, both sides of a DST fold). For each period and
  dimension the first element whose restrictions match and that has a component
  of that dimension prices it (OCPI rule). FLAT applies once, in the first period
  an element with a FLAT component matches.
* Energy at a period boundary is interpolated linearly between meter samples and
  rounded half-up to whole Wh, so the periods' energy adds up to the session's.

Rounding rule (the one rule): each line's volume is rounded up to its element's
step size; each line's amount is rounded half-up to the currency's minor unit;
adjustments (idle cap, minimum and maximum price) are computed on those rounded
amounts; tax is the rounded net sum times the rate, rounded half-up to the minor
unit; total = net + tax.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

SNAPSHOT_VERSION = 1

# ISO 4217 minor units that are not 2.
_MINOR_UNITS = {
    "BHD": 3, "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "IQD": 3, "ISK": 0, "JOD": 3,
    "JPY": 0, "KMF": 0, "KRW": 0, "KWD": 3, "LYD": 3, "OMR": 3, "PYG": 0, "RWF": 0,
    "TND": 3, "UGX": 0, "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}  # fmt: skip

CHARGING_STATUSES = frozenset({"Charging"})
COMPLETE_STATUSES = frozenset({"SuspendedEV", "Finishing"})
UNPLUGGED_STATUSES = frozenset({"Available"})
WEEKDAYS = (
    "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY",
)  # fmt: skip


class RatingError(ValueError):
    """The timeline or snapshot cannot be rated (e.g. an unknown snapshot version)."""


def minor_unit(currency: str) -> Decimal:
    return Decimal(1).scaleb(-_MINOR_UNITS.get(currency.upper(), 2))


def round_money(amount: Decimal, currency: str) -> Decimal:
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


# --- Inputs --------------------------------------------------------------------------


@dataclass(frozen=True)
class MeterSample:
    """A reading at ``at``: the energy register (Wh) and/or active power (W)."""

    at: datetime
    energy_wh: float | None = None
    power_w: float | None = None


@dataclass(frozen=True)
class StatusEvent:
    at: datetime
    status: str


@dataclass(frozen=True)
class SessionTimeline:
    started_at: datetime
    meter_start_wh: int
    as_of: datetime
    time_zone: str = "UTC"
    stopped_at: datetime | None = None
    meter_stop_wh: int | None = None
    samples: tuple[MeterSample, ...] = ()
    statuses: tuple[StatusEvent, ...] = ()


@dataclass(frozen=True)
class Restrictions:
    start_time: time | None = None
    end_time: time | None = None
    days_of_week: frozenset[str] = frozenset()
    start_date: date | None = None
    end_date: date | None = None
    min_kwh: Decimal | None = None
    max_kwh: Decimal | None = None
    min_duration_s: int | None = None
    max_duration_s: int | None = None
    min_power_kw: Decimal | None = None
    max_power_kw: Decimal | None = None


@dataclass(frozen=True)
class PriceComponent:
    """OCPI units: ENERGY per kWh (step Wh), TIME and PARKING_TIME per hour
    (step s), FLAT per session."""

    type: str
    price: Decimal
    step_size: int = 1


@dataclass(frozen=True)
class Element:
    components: tuple[PriceComponent, ...]
    restrictions: Restrictions = Restrictions()

    def component(self, kind: str) -> PriceComponent | None:
        return next((c for c in self.components if c.type == kind), None)


@dataclass(frozen=True)
class TariffSpec:
    currency: str
    elements: tuple[Element, ...]
    vat_percent: Decimal = Decimal("0")
    min_price: Decimal | None = None
    max_price: Decimal | None = None
    idle_grace_s: int = 0
    idle_fee_cap: Decimal | None = None
    idle_power_threshold_w: Decimal = Decimal("100")
    idle_power_window_s: int = 300
    name: str = ""

    @property
    def has_idle_fee(self) -> bool:
        return any(e.component("PARKING_TIME") for e in self.elements)


def _dec(value: Any) -> Decimal | None:
    return None if value is None or value == "" else Decimal(str(value))


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


def tariff_from_snapshot(data: Mapping[str, Any]) -> TariffSpec:
    """Parse a versioned tariff snapshot (see ``billing.services.tariff_snapshot``)."""
    if data.get("version") != SNAPSHOT_VERSION:
        raise RatingError(f"Unknown tariff snapshot version {data.get('version')!r}")
    elements = []
    for raw in data.get("elements", []):
        r = raw.get("restrictions") or {}
        restrictions = Restrictions(
            start_time=time.fromisoformat(r["start_time"]) if r.get("start_time") else None,
            end_time=time.fromisoformat(r["end_time"]) if r.get("end_time") else None,
            days_of_week=frozenset(r.get("day_of_week") or ()),
            start_date=date.fromisoformat(r["start_date"]) if r.get("start_date") else None,
            end_date=date.fromisoformat(r["end_date"]) if r.get("end_date") else None,
            min_kwh=_dec(r.get("min_kwh")),
            max_kwh=_dec(r.get("max_kwh")),
            min_duration_s=_int(r.get("min_duration")),
            max_duration_s=_int(r.get("max_duration")),
            min_power_kw=_dec(r.get("min_power")),
            max_power_kw=_dec(r.get("max_power")),
        )  # fmt: skip
        components = tuple(
            PriceComponent(
                type=c["type"],
                price=Decimal(str(c["price"])),
                step_size=max(1, int(c.get("step_size") or 1)),
            )
            for c in raw.get("price_components", [])
        )
        elements.append(Element(components=components, restrictions=restrictions))
    detection = data.get("idle_detection") or {}
    return TariffSpec(
        currency=data["currency"],
        elements=tuple(elements),
        vat_percent=Decimal(str(data.get("vat_percent") or "0")),
        min_price=_dec(data.get("min_price")),
        max_price=_dec(data.get("max_price")),
        idle_grace_s=int(data.get("idle_grace_s") or 0),
        idle_fee_cap=_dec(data.get("idle_fee_cap")),
        idle_power_threshold_w=Decimal(str(detection.get("power_threshold_w", "100"))),
        idle_power_window_s=int(detection.get("power_window_s", 300)),
        name=str(data.get("name", "")),
    )


# --- Outputs -------------------------------------------------------------------------

_PRICE_UNITS = {"energy": "/kWh", "time": "/h", "idle": "/min", "flat": ""}


@dataclass(frozen=True)
class LineItem:
    """One priced line. ``volume`` is in base units (Wh, s, or 1 session) before
    step rounding, ``billed_volume`` after; adjustments have no volume."""

    kind: str  # energy | time | idle | flat | idle_cap | min_price | max_price
    description: str
    amount: Decimal
    unit_price: Decimal = Decimal("0")
    volume: Decimal = Decimal("0")
    billed_volume: Decimal = Decimal("0")
    element: int | None = None

    @property
    def quantity_display(self) -> str:
        if self.kind == "energy":
            return f"{(self.billed_volume / 1000).quantize(Decimal('0.001'))} kWh"
        if self.kind == "time":
            return _duration_display(self.billed_volume)
        if self.kind == "idle":
            return _duration_display(self.billed_volume)
        if self.kind == "flat":
            return "1 session"
        return ""

    @property
    def display_price(self) -> Decimal:
        """The unit price per display unit (idle is priced per hour, shown per minute)."""
        return self.unit_price / 60 if self.kind == "idle" else self.unit_price

    @property
    def unit_price_display(self) -> str:
        if self.kind not in _PRICE_UNITS:
            return ""
        return f"{self.display_price.normalize():f}{_PRICE_UNITS[self.kind]}"

    def unit_price_text(self, currency: str) -> str:
        """``EUR 0.10/min``: the unit price with its currency, never fewer decimals
        than the currency's minor unit (a receipt must not say ``0.1/min``)."""
        if self.kind not in _PRICE_UNITS:
            return ""
        price = self.display_price.normalize()
        unit = minor_unit(currency)
        if int(price.as_tuple().exponent) > int(unit.as_tuple().exponent):
            price = price.quantize(unit)
        return f"{currency} {price:f}{_PRICE_UNITS[self.kind]}"

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "description": self.description,
            "element": self.element,
            "volume": str(self.volume),
            "billed_volume": str(self.billed_volume),
            "quantity": self.quantity_display,
            "unit_price": str(self.unit_price),
            "unit_price_display": self.unit_price_display,
            "amount": str(self.amount),
        }


def _duration_display(seconds: Decimal) -> str:
    total = int(seconds.to_integral_value(rounding=ROUND_CEILING))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d} h"


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    phase: str  # charging | grace | idle
    energy_wh: int


@dataclass(frozen=True)
class RatedSession:
    currency: str
    lines: tuple[LineItem, ...]
    net: Decimal
    vat_percent: Decimal
    tax: Decimal
    total: Decimal
    energy_wh: int
    started_at: datetime
    ended_at: datetime
    completed_at: datetime
    idle_ended_at: datetime | None
    charging_seconds: int
    idle_seconds: int
    billed_idle_seconds: int
    idle_fee: Decimal
    idle_fee_capped: bool
    periods: tuple[Period, ...] = field(default=())

    @property
    def is_idle_open(self) -> bool:
        return self.idle_ended_at is None


# --- The engine ----------------------------------------------------------------------


def _us(delta: timedelta) -> int:
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


def _seconds(delta: timedelta) -> Decimal:
    return Decimal(_us(delta)) / Decimal(1_000_000)


def _round_half_up(value: Fraction) -> int:
    return math.floor(value + Fraction(1, 2))


def _to_wh(value: float) -> int:
    return int(Decimal(repr(value)).to_integral_value(rounding=ROUND_HALF_UP))


class _EnergyCurve:
    """Cumulative session energy (Wh), piecewise linear through the samples."""

    def __init__(self, points: list[tuple[datetime, int]]) -> None:
        merged: dict[datetime, int] = {}
        for at, wh in sorted(points, key=lambda p: p[0]):
            merged[at] = max(merged.get(at, 0), wh)
        self.points: list[tuple[datetime, int]] = []
        running = 0
        for at, wh in sorted(merged.items()):
            # Registers never run backwards; a regression is a meter fault, not
            # negative energy.
            running = max(running, wh)
            self.points.append((at, running))

    @property
    def total_wh(self) -> int:
        return self.points[-1][1] if self.points else 0

    def at(self, moment: datetime) -> int:
        points = self.points
        if not points or moment < points[0][0]:
            return 0
        for (t0, e0), (t1, e1) in itertools.pairwise(points):
            if t0 <= moment <= t1:
                if moment == t1:
                    return e1
                fraction = Fraction(_us(moment - t0), _us(t1 - t0))
                return _round_half_up(e0 + (e1 - e0) * fraction)
        return points[-1][1]

    def time_of(self, wh: int) -> datetime | None:
        """First moment the cumulative energy reaches ``wh`` (rounded up to 1 µs)."""
        for (t0, e0), (t1, e1) in zip(self.points, self.points[1:], strict=False):
            if e0 < wh <= e1:
                offset = Fraction(wh - e0, e1 - e0) * _us(t1 - t0)
                return t0 + timedelta(microseconds=math.ceil(offset))
        return None


def _completion(timeline: SessionTimeline, spec: TariffSpec, end: datetime) -> datetime:
    candidates = [end]
    since: datetime | None = None
    for event in sorted(timeline.statuses, key=lambda e: e.at):
        if not timeline.started_at <= event.at <= end:
            continue
        if event.status in COMPLETE_STATUSES:
            since = since or event.at
        elif event.status in CHARGING_STATUSES:
            since = None
    if since is not None:
        candidates.append(since)
    power = _power_samples(timeline, end)
    threshold = float(spec.idle_power_threshold_w)
    low_since: datetime | None = None
    for at, watts in power:
        low_since = (low_since or at) if watts < threshold else None
    if low_since is not None and _seconds(end - low_since) >= spec.idle_power_window_s:
        candidates.append(low_since)
    return max(timeline.started_at, min(candidates))


def _power_samples(
    timeline: SessionTimeline, end: datetime
) -> list[tuple[datetime, float]]:
    in_window = sorted(
        (s for s in timeline.samples if timeline.started_at <= s.at <= end),
        key=lambda s: s.at,
    )
    explicit = [(s.at, s.power_w) for s in in_window if s.power_w is not None]
    if explicit:
        return explicit
    # Without power samples, derive it between reported register readings (never
    # from the start/stop values alone: an average over a whole session says
    # nothing about when charging stopped).
    registers = [(s.at, s.energy_wh) for s in in_window if s.energy_wh is not None]
    derived: list[tuple[datetime, float]] = []
    for (t0, e0), (t1, e1) in itertools.pairwise(registers):
        seconds = (t1 - t0).total_seconds()
        if seconds > 0:
            derived.append((t0, max(0.0, (e1 - e0) * 3600 / seconds)))
    return derived


def _idle_end(timeline: SessionTimeline, completed_at: datetime) -> datetime | None:
    for event in sorted(timeline.statuses, key=lambda e: e.at):
        if event.at >= completed_at and event.status in UNPLUGGED_STATUSES:
            return event.at
    return None


def _local_boundaries(
    spec: TariffSpec, start: datetime, end: datetime, zone: ZoneInfo
) -> set[datetime]:
    clock_times = {time(0, 0)}
    for element in spec.elements:
        for moment in (element.restrictions.start_time, element.restrictions.end_time):
            if moment is not None:
                clock_times.add(moment)
    boundaries: set[datetime] = set()
    day = start.astimezone(zone).date() - timedelta(days=1)
    last_day = end.astimezone(zone).date() + timedelta(days=1)
    while day <= last_day:
        for clock in clock_times:
            for fold in (0, 1):
                local = datetime.combine(day, clock, tzinfo=zone).replace(fold=fold)
                boundaries.add(local.astimezone(UTC))
        day += timedelta(days=1)
    return boundaries


def _in_time_window(r: Restrictions, clock: time) -> bool:
    """OCPI start_time inclusive, end_time exclusive; end before start wraps midnight."""
    if r.start_time is not None and r.end_time is not None:
        if r.start_time <= r.end_time:
            return r.start_time <= clock < r.end_time
        return clock >= r.start_time or clock < r.end_time
    if r.start_time is not None:
        return clock >= r.start_time
    if r.end_time is not None:
        return clock < r.end_time
    return True


def _matches(
    r: Restrictions,
    *,
    local: datetime,
    energy_wh: int,
    elapsed_s: Decimal,
    power_kw: Decimal,
) -> bool:
    if not _in_time_window(r, local.time().replace(tzinfo=None)):
        return False
    if r.days_of_week and WEEKDAYS[local.weekday()] not in r.days_of_week:
        return False
    if r.start_date is not None and local.date() < r.start_date:
        return False
    if r.end_date is not None and local.date() >= r.end_date:
        return False
    kwh = Decimal(energy_wh) / 1000
    if r.min_kwh is not None and kwh < r.min_kwh:
        return False
    if r.max_kwh is not None and kwh >= r.max_kwh:
        return False
    if r.min_duration_s is not None and elapsed_s < r.min_duration_s:
        return False
    if r.max_duration_s is not None and elapsed_s >= r.max_duration_s:
        return False
    if r.min_power_kw is not None and power_kw < r.min_power_kw:
        return False
    return not (r.max_power_kw is not None and power_kw >= r.max_power_kw)


def _ceil_to_step(volume: Decimal, step: int) -> Decimal:
    if volume <= 0:
        return Decimal(0)
    steps = (volume / step).to_integral_value(rounding=ROUND_CEILING)
    return steps * step


_DIMENSIONS = {"energy": "ENERGY", "time": "TIME", "idle": "PARKING_TIME"}
_LABELS = {"energy": "Energy", "time": "Charging time", "idle": "Idle fee"}


def rate_session(timeline: SessionTimeline, spec: TariffSpec) -> RatedSession:
    """Price a session (final once stopped and unplugged; an estimate before)."""
    zone = ZoneInfo(timeline.time_zone)
    start = timeline.started_at
    session_end = max(start, timeline.stopped_at or timeline.as_of)

    points = [(start, 0)]
    for sample in timeline.samples:
        if sample.energy_wh is not None and start <= sample.at <= session_end:
            points.append(
                (sample.at, max(0, _to_wh(sample.energy_wh) - timeline.meter_start_wh))
            )
    if timeline.stopped_at is not None and timeline.meter_stop_wh is not None:
        points.append(
            (session_end, max(0, timeline.meter_stop_wh - timeline.meter_start_wh))
        )
    curve = _EnergyCurve(points)

    completed_at = _completion(timeline, spec, session_end)
    idle_ended_at = _idle_end(timeline, completed_at)
    if timeline.stopped_at is None and idle_ended_at is None:
        window_end = max(session_end, completed_at)
    else:
        window_end = idle_ended_at or max(timeline.as_of, session_end)
    window_end = max(window_end, session_end)
    grace_end = min(completed_at + timedelta(seconds=spec.idle_grace_s), window_end)
    if completed_at >= window_end:
        grace_end = window_end

    cuts = {start, completed_at, grace_end, window_end, session_end}
    cuts |= _local_boundaries(spec, start, window_end, zone)
    for element in spec.elements:
        r = element.restrictions
        for limit_s in (r.min_duration_s, r.max_duration_s):
            if limit_s is not None:
                cuts.add(start + timedelta(seconds=limit_s))
        for kwh in (r.min_kwh, r.max_kwh):
            if kwh is not None:
                moment = curve.time_of(
                    int((kwh * 1000).to_integral_value(rounding=ROUND_CEILING))
                )
                if moment is not None:
                    cuts.add(moment)
    ordered = sorted(c for c in cuts if start <= c <= window_end)

    volumes: dict[tuple[str, int], Decimal] = {}
    order: list[tuple[str, int]] = []
    flat_element: int | None = None
    periods: list[Period] = []
    for begin, finish in itertools.pairwise(ordered):
        if finish <= begin:
            continue
        if begin < completed_at:
            phase = "charging"
        elif begin < grace_end:
            phase = "grace"
        else:
            phase = "idle"
        energy_begin = curve.at(begin)
        energy = curve.at(finish) - energy_begin
        seconds = _seconds(finish - begin)
        periods.append(Period(begin, finish, phase, energy))
        power_kw = Decimal(energy) * Decimal("3.6") / seconds
        context = {
            "local": begin.astimezone(zone),
            "energy_wh": energy_begin,
            "elapsed_s": _seconds(begin - start),
            "power_kw": power_kw,
        }
        wanted = {"energy": Decimal(energy)} if energy > 0 else {}
        if phase == "charging":
            wanted["time"] = seconds
        elif phase == "idle":
            wanted["idle"] = seconds
        for kind, volume in wanted.items():
            index = _first_match(spec, _DIMENSIONS[kind], context)
            if index is None:
                continue
            key = (kind, index)
            if key not in volumes:
                volumes[key] = Decimal(0)
                order.append(key)
            volumes[key] += volume
        if flat_element is None:
            flat_element = _first_match(spec, "FLAT", context)
    if flat_element is None and not periods:
        flat_element = _first_match(
            spec,
            "FLAT",
            {
                "local": start.astimezone(zone),
                "energy_wh": 0,
                "elapsed_s": Decimal(0),
                "power_kw": Decimal(0),
            },
        )

    currency = spec.currency
    lines: list[LineItem] = []
    if flat_element is not None:
        component = spec.elements[flat_element].component("FLAT")
        assert component is not None  # noqa: S101 - _first_match guarantees it
        lines.append(
            LineItem(
                kind="flat",
                description="Session fee",
                amount=round_money(component.price, currency),
                unit_price=component.price,
                volume=Decimal(1),
                billed_volume=Decimal(1),
                element=flat_element,
            )
        )
    for kind, index in order:
        component = spec.elements[index].component(_DIMENSIONS[kind])
        assert component is not None  # noqa: S101 - _first_match guarantees it
        volume = volumes[(kind, index)]
        billed = _ceil_to_step(volume, component.step_size)
        if kind == "energy":
            amount = billed / 1000 * component.price
        else:
            amount = billed * component.price / 3600
        lines.append(
            LineItem(
                kind=kind,
                description=_LABELS[kind] + _restriction_label(spec.elements[index]),
                amount=round_money(amount, currency),
                unit_price=component.price,
                volume=volume,
                billed_volume=billed,
                element=index,
            )
        )

    idle_fee = sum((li.amount for li in lines if li.kind == "idle"), Decimal(0))
    idle_fee_capped = False
    if spec.idle_fee_cap is not None:
        cap = round_money(spec.idle_fee_cap, currency)
        if idle_fee > cap:
            lines.append(
                LineItem(
                    kind="idle_cap", description="Idle fee cap", amount=cap - idle_fee
                )
            )
            idle_fee, idle_fee_capped = cap, True
    net = sum((li.amount for li in lines), Decimal(0))
    if spec.min_price is not None and net < round_money(spec.min_price, currency):
        adjustment = round_money(spec.min_price, currency) - net
        lines.append(
            LineItem(kind="min_price", description="Minimum price", amount=adjustment)
        )
        net += adjustment
    if spec.max_price is not None and net > round_money(spec.max_price, currency):
        adjustment = round_money(spec.max_price, currency) - net
        lines.append(
            LineItem(kind="max_price", description="Maximum price", amount=adjustment)
        )
        net += adjustment
    tax = round_money(net * spec.vat_percent / 100, currency)

    idle_seconds = (
        _seconds(window_end - completed_at) if window_end > completed_at else Decimal(0)
    )
    billed_idle = (
        _seconds(window_end - grace_end) if window_end > grace_end else Decimal(0)
    )
    return RatedSession(
        currency=currency,
        lines=tuple(lines),
        net=net,
        vat_percent=spec.vat_percent,
        tax=tax,
        total=net + tax,
        energy_wh=curve.at(window_end),
        started_at=start,
        ended_at=session_end,
        completed_at=completed_at,
        idle_ended_at=idle_ended_at,
        charging_seconds=int(_seconds(completed_at - start)),
        idle_seconds=int(idle_seconds),
        billed_idle_seconds=int(billed_idle),
        idle_fee=idle_fee,
        idle_fee_capped=idle_fee_capped,
        periods=tuple(periods),
    )


def _first_match(spec: TariffSpec, kind: str, context: dict[str, Any]) -> int | None:
    for index, element in enumerate(spec.elements):
        if element.component(kind) is not None and _matches(
            element.restrictions, **context
        ):
            return index
    return None


def _restriction_label(element: Element) -> str:
    r = element.restrictions
    parts: list[str] = []
    if r.start_time is not None or r.end_time is not None:
        begin = r.start_time.strftime("%H:%M") if r.start_time else "00:00"
        finish = r.end_time.strftime("%H:%M") if r.end_time else "24:00"
        parts.append(f"{begin}–{finish}")
    if r.days_of_week:
        parts.append(",".join(d[:3].title() for d in WEEKDAYS if d in r.days_of_week))
    if r.min_kwh is not None or r.max_kwh is not None:
        parts.append(f"{r.min_kwh or 0}–{r.max_kwh or '∞'} kWh")
    if r.min_power_kw is not None or r.max_power_kw is not None:
        parts.append(f"{r.min_power_kw or 0}–{r.max_power_kw or '∞'} kW")
    if r.min_duration_s is not None or r.max_duration_s is not None:
        parts.append(
            f"{(r.min_duration_s or 0) // 60}–"
            f"{(r.max_duration_s // 60) if r.max_duration_s else '∞'} min"
        )
    return f" ({'; '.join(parts)})" if parts else ""


def lines_from_json(items: Iterable[Mapping[str, Any]]) -> list[LineItem]:
    """Rebuild line items stored on a CDR (for receipts)."""
    return [
        LineItem(
            kind=item["kind"],
            description=item["description"],
            amount=Decimal(item["amount"]),
            unit_price=Decimal(item.get("unit_price") or "0"),
            volume=Decimal(item.get("volume") or "0"),
            billed_volume=Decimal(item.get("billed_volume") or "0"),
            element=item.get("element"),
        )
        for item in items
    ]


def lines_total(lines: Sequence[LineItem]) -> Decimal:
    return sum((li.amount for li in lines), Decimal(0))
