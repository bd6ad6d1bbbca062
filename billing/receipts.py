"""Receipts of issued CDRs: HTML (portal and email), plain text, and PDF.

One builder (``receipt_build``) turns a CDR into the receipt's words and numbers;
the three formats only lay them out, so they cannot disagree. Times are the
station's local time with the zone named.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.template.loader import render_to_string
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from billing.models import Cdr
from billing.rating import LineItem, lines_from_json, minor_unit
from billing.templatetags.billing_tags import duration, kwh, money

TIME_FORMAT = "%Y-%m-%d %H:%M"


@dataclass(frozen=True)
class ReceiptRow:
    description: str
    quantity: str
    unit_price: str
    amount: str


@dataclass(frozen=True)
class ReceiptTotal:
    label: str
    amount: str
    is_total: bool = False


@dataclass(frozen=True)
class Receipt:
    """What every format of a receipt says, already worded."""

    number: str
    seller: tuple[str, ...]  # legal name, address lines, VAT id
    site: str
    facts: tuple[str, ...]  # issued, session, charging window, energy and idle, tariff
    rows: tuple[ReceiptRow, ...]
    totals: tuple[ReceiptTotal, ...]
    rounding_rule: str
    total: str
    zone_name: str


def cdr_zone(cdr: Cdr) -> ZoneInfo:
    """The zone a CDR's times are shown in: its station's."""
    return ZoneInfo(cdr.station.time_zone if cdr.station else "UTC")


def _local(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):{TIME_FORMAT}}"


def _seller(cdr: Cdr) -> tuple[str, ...]:
    network = cdr.network
    lines = [network.legal_name or network.name]
    lines += [
        line.strip() for line in network.legal_address.splitlines() if line.strip()
    ]
    if network.vat_id:
        lines.append(f"VAT id {network.vat_id}")
    return tuple(lines)


def _site(cdr: Cdr) -> str:
    station = cdr.station
    if station is None:
        return cdr.network.name
    parts = [station.name, station.address, station.city]
    return ", ".join(part for part in parts if part)


def _step_sizes(cdr: Cdr) -> dict[int, dict[str, int]]:
    """Element index -> {component type: step size} from the tariff snapshot."""
    steps: dict[int, dict[str, int]] = {}
    for index, element in enumerate(cdr.tariff_snapshot.get("elements", [])):
        steps[index] = {
            str(c.get("type")): max(1, int(c.get("step_size") or 1))
            for c in element.get("price_components", [])
        }
    return steps


_DIMENSION = {"energy": "ENERGY", "time": "TIME", "idle": "PARKING_TIME"}


def _step_phrase(kind: str, step: int) -> str:
    if kind == "energy":
        return "per Wh" if step == 1 else f"in steps of {step} Wh"
    if step == 1:
        return "per second"
    if step == 60:
        return "per started minute"
    return f"in steps of {step} s"


def _idle_fact(cdr: Cdr, lines: list[LineItem]) -> str:
    """Measured idle, the free grace and what was billed: the billed time is the
    sum of the idle lines' quantities, so the header and the lines agree."""
    measured = f"idle {duration(cdr.idle_seconds)}"
    grace_s = int(cdr.tariff_snapshot.get("idle_grace_s") or 0)
    if grace_s and cdr.idle_seconds:
        measured += f" (first {duration(min(grace_s, cdr.idle_seconds))} free)"
    idle_lines = [line for line in lines if line.kind == "idle"]
    if not idle_lines:
        return measured
    billed = sum((line.billed_volume for line in idle_lines), Decimal(0))
    text = f"{measured}, billed {duration(int(billed))}"
    if int(billed) != cdr.billed_idle_seconds:
        text += f" ({duration(cdr.billed_idle_seconds)} rounded up)"
    return text


def _rounding_rule(cdr: Cdr, lines: list[LineItem]) -> str:
    steps = _step_sizes(cdr)
    phrases: list[str] = []
    labels = {"energy": "energy", "time": "charging time", "idle": "idle time"}
    for line in lines:
        if line.kind not in _DIMENSION or line.element is None:
            continue
        step = steps.get(line.element, {}).get(_DIMENSION[line.kind], 1)
        phrase = f"{labels[line.kind]} {_step_phrase(line.kind, step)}"
        if phrase not in phrases:
            phrases.append(phrase)
    unit = minor_unit(cdr.currency)
    rule = (
        f"Rounding: each line's amount is rounded half-up to {cdr.currency} {unit:f}; "
        "tax is the net sum times the rate, rounded the same way."
    )
    if phrases:
        rule = f"Quantities are billed {', '.join(phrases)}. " + rule
    return rule


def receipt_build(cdr: Cdr) -> Receipt:
    """The receipt of an issued CDR, worded once for HTML, text and PDF."""
    zone = cdr_zone(cdr)
    lines = lines_from_json(cdr.line_items)
    zone_name = zone.key
    charging = (
        f"Charging {_local(cdr.started_at, zone)} – {_local(cdr.stopped_at, zone)}"
    )
    if cdr.idle_ended_at:
        charging += f", unplugged {_local(cdr.idle_ended_at, zone)}"
    charging += f" ({zone_name})"
    tariff_name = cdr.tariff_snapshot.get("name", "")
    facts = (
        f"Issued {_local(cdr.issued_at, zone)} ({zone_name})",
        f"Session {cdr.session_id} · token {cdr.id_tag}",
        charging,
        f"Energy {kwh(cdr.energy_wh)} · charging {duration(cdr.charging_seconds)}"
        f" · {_idle_fact(cdr, lines)}",
        f"Tariff “{tariff_name}”",
    )
    rows = tuple(
        ReceiptRow(
            description=line.description,
            quantity=line.quantity_display,
            unit_price=line.unit_price_text(cdr.currency),
            amount=money(line.amount, cdr.currency),
        )
        for line in lines
    )
    totals = (
        ReceiptTotal("Net", money(cdr.net_amount, cdr.currency)),
        ReceiptTotal(
            f"VAT ({cdr.vat_percent.normalize():f} %)",
            money(cdr.tax_amount, cdr.currency),
        ),
        ReceiptTotal("Total", money(cdr.total_amount, cdr.currency), is_total=True),
    )
    return Receipt(
        number=cdr.number,
        seller=_seller(cdr),
        site=_site(cdr),
        facts=facts,
        rows=rows,
        totals=totals,
        rounding_rule=_rounding_rule(cdr, lines),
        total=money(cdr.total_amount, cdr.currency),
        zone_name=zone_name,
    )


def receipt_context(cdr: Cdr) -> dict[str, Any]:
    zone = cdr_zone(cdr)
    return {
        "cdr": cdr,
        "receipt": receipt_build(cdr),
        "zone": zone,
        "completed_local": cdr.charging_completed_at.astimezone(zone),
    }


def receipt_html(cdr: Cdr) -> str:
    return render_to_string("billing/receipt_document.html", receipt_context(cdr))


def receipt_text(cdr: Cdr) -> str:
    receipt = receipt_build(cdr)
    out = [f"Receipt {receipt.number}", *receipt.seller, "", receipt.site]
    out += [*receipt.facts, ""]
    for row in receipt.rows:
        out.append(
            f"{row.description:<40} {row.quantity:>14} {row.unit_price:>16} "
            f"{row.amount:>16}"
        )
    out.append("")
    out += [f"{total.label:<40} {total.amount:>48}" for total in receipt.totals]
    out += ["", receipt.rounding_rule]
    return "\n".join(out) + "\n"


def receipt_pdf(cdr: Cdr) -> bytes:
    """A one-page A4 receipt. Streams are left uncompressed: tiny, and searchable."""
    receipt = receipt_build(cdr)
    buffer = io.BytesIO()
    pdf = Canvas(buffer, pagesize=A4, pageCompression=0)
    pdf.setTitle(f"Receipt {receipt.number}")
    pdf.setAuthor(receipt.seller[0])
    _width, height = A4
    y = height - 25 * mm

    def write(text: str, x: float, *, size: int = 10, bold: bool = False) -> None:
        pdf.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        pdf.drawString(x, y, text)

    def right(text: str, x: float, *, size: int = 10, bold: bool = False) -> None:
        pdf.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        pdf.drawRightString(x, y, text)

    write(f"Receipt {receipt.number}", 20 * mm, size=16, bold=True)
    y -= 9 * mm
    for text in receipt.seller:
        write(text, 20 * mm, bold=text == receipt.seller[0])
        y -= 5 * mm
    y -= 3 * mm
    for text in (receipt.site, *receipt.facts):
        write(text, 20 * mm, size=9)
        y -= 5 * mm
    y -= 4 * mm
    for label, x in (("Item", 20), ("Quantity", 110), ("Price", 148), ("Amount", 190)):
        (write if label == "Item" else right)(label, x * mm, bold=True)
    y -= 6 * mm
    for row in receipt.rows:
        write(row.description[:44], 20 * mm)
        right(row.quantity, 110 * mm)
        right(row.unit_price, 148 * mm)
        right(row.amount, 190 * mm)
        y -= 5.5 * mm
    y -= 3 * mm
    pdf.line(20 * mm, y + 4 * mm, 190 * mm, y + 4 * mm)
    for total in receipt.totals:
        write(total.label, 20 * mm, bold=total.is_total)
        right(total.amount, 190 * mm, bold=total.is_total)
        y -= 5.5 * mm
    y -= 4 * mm
    note = pdf.beginText(20 * mm, y)
    note.setFont("Helvetica", 8)
    for chunk in textwrap.wrap(receipt.rounding_rule, 110):
        note.textLine(chunk)
    pdf.drawText(note)
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
