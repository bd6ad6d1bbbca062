"""Receipts of issued CDRs: HTML (portal and email), plain text, and PDF."""

from __future__ import annotations

import io
from typing import Any
from zoneinfo import ZoneInfo

from django.template.loader import render_to_string
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfgen.canvas import Canvas

from billing.models import Cdr
from billing.rating import lines_from_json
from billing.templatetags.billing_tags import duration, kwh, money


def _zone(cdr: Cdr) -> ZoneInfo:
    return ZoneInfo(cdr.station.time_zone if cdr.station else "UTC")


def receipt_context(cdr: Cdr) -> dict[str, Any]:
    zone = _zone(cdr)
    return {
        "cdr": cdr,
        "lines": lines_from_json(cdr.line_items),
        "zone": zone,
        "started_local": cdr.started_at.astimezone(zone),
        "stopped_local": cdr.stopped_at.astimezone(zone),
        "idle_ended_local": cdr.idle_ended_at.astimezone(zone)
        if cdr.idle_ended_at
        else None,
        "issued_local": cdr.issued_at.astimezone(zone),
        "tariff_name": cdr.tariff_snapshot.get("name", ""),
    }


def receipt_html(cdr: Cdr) -> str:
    return render_to_string("billing/receipt_document.html", receipt_context(cdr))


def _rows(cdr: Cdr) -> list[tuple[str, str, str, str]]:
    rows = []
    for line in lines_from_json(cdr.line_items):
        rows.append(
            (
                line.description,
                line.quantity_display,
                line.unit_price_display,
                money(line.amount, cdr.currency),
            )
        )
    return rows


def receipt_text(cdr: Cdr) -> str:
    context = receipt_context(cdr)
    out = [
        f"Receipt {cdr.number}",
        f"{cdr.network.name} · {cdr.station.name if cdr.station else ''}",
        f"Session {cdr.session_id}, token {cdr.id_tag}",
        f"{context['started_local']:%Y-%m-%d %H:%M} – "
        f"{context['stopped_local']:%Y-%m-%d %H:%M} ({context['zone'].key})",
        f"Energy {kwh(cdr.energy_wh)}, idle {duration(cdr.idle_seconds)}",
        "",
    ]
    for description, quantity, price, amount in _rows(cdr):
        out.append(f"{description:<40} {quantity:>14} {price:>12} {amount:>16}")
    out += [
        "",
        f"{'Net':<40} {money(cdr.net_amount, cdr.currency):>44}",
        f"{f'Tax ({cdr.vat_percent}%)':<40} {money(cdr.tax_amount, cdr.currency):>44}",
        f"{'Total':<40} {money(cdr.total_amount, cdr.currency):>44}",
    ]
    return "\n".join(out) + "\n"


def receipt_pdf(cdr: Cdr) -> bytes:
    """A one-page A4 receipt. Streams are left uncompressed: tiny, and searchable."""
    context = receipt_context(cdr)
    buffer = io.BytesIO()
    pdf = Canvas(buffer, pagesize=A4, pageCompression=0)
    pdf.setTitle(f"Receipt {cdr.number}")
    pdf.setAuthor(cdr.network.name)
    _width, height = A4
    y = height - 25 * mm

    def write(text: str, x: float, *, size: int = 10, bold: bool = False) -> None:
        pdf.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        pdf.drawString(x, y, text)

    def right(text: str, x: float, *, size: int = 10, bold: bool = False) -> None:
        pdf.setFont("Helvetica-Bold" if bold else "Helvetica", size)
        pdf.drawRightString(x, y, text)

    write(f"Receipt {cdr.number}", 20 * mm, size=16, bold=True)
    y -= 9 * mm
    header = [
        f"{cdr.network.name} - {cdr.station.name if cdr.station else ''}",
        f"Issued {context['issued_local']:%Y-%m-%d %H:%M} ({context['zone'].key})",
        f"Session {cdr.session_id} - token {cdr.id_tag}",
        f"Charging {context['started_local']:%Y-%m-%d %H:%M} to "
        f"{context['stopped_local']:%Y-%m-%d %H:%M}",
        f"Energy {kwh(cdr.energy_wh)} - idle {duration(cdr.idle_seconds)}"
        f" (billed {duration(cdr.billed_idle_seconds)})",
        f"Tariff: {context['tariff_name']}",
    ]
    for text in header:
        write(text, 20 * mm)
        y -= 5.5 * mm
    y -= 4 * mm
    for label, x in (("Item", 20), ("Quantity", 110), ("Price", 145), ("Amount", 190)):
        (write if label == "Item" else right)(label, x * mm, bold=True)
    y -= 6 * mm
    for description, quantity, price, amount in _rows(cdr):
        write(description[:48], 20 * mm)
        right(quantity, 110 * mm)
        right(price, 145 * mm)
        right(amount, 190 * mm)
        y -= 5.5 * mm
    y -= 3 * mm
    pdf.line(20 * mm, y + 4 * mm, 190 * mm, y + 4 * mm)
    for label, sum_amount, bold in (
        ("Net", cdr.net_amount, False),
        (f"Tax ({cdr.vat_percent}%)", cdr.tax_amount, False),
        ("Total", cdr.total_amount, True),
    ):
        write(label, 20 * mm, bold=bold)
        right(money(sum_amount, cdr.currency), 190 * mm, bold=bold)
        y -= 5.5 * mm
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()
