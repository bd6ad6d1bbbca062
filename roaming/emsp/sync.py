"""Pulling Locations and Tariffs from partner CPOs' Sender interfaces.

The first pull of a module reads everything, page by page (transport_and_format
"Pagination": follow ``Link: <...>; rel="next"``, or offset + limit up to
``X-Total-Count`` when a Sender sends no Link); later pulls ask only for what
changed since the start of the last complete pull (``date_from``, inclusive).
Objects go through the Receiver's own store functions, so a pull after pushes
keeps the newer copy and never duplicates. ``PartnerSync`` records the health.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.utils import timezone

from roaming.client import PartnerCallError, ocpi_call
from roaming.emsp.locations import location_store, owner_for
from roaming.emsp.tariffs import tariff_store
from roaming.models import Partner, PartnerStatus, PartnerSync, PartnerTariff
from roaming.transport import OcpiError, ocpi_timestamp

logger = logging.getLogger(__name__)

MODULES = ("locations", "tariffs")
# A Sender that keeps sending "next" links is stopped here.
MAX_PAGES = 1000


@dataclass
class PullResult:
    module: str
    ok: bool
    full: bool
    pages: int = 0
    received: int = 0
    stored: int = 0
    rejected: int = 0
    error: str = ""


def pull_partners() -> list[Partner]:
    """Registered partners with a CPO role: those we pull from."""
    return [
        partner
        for partner in Partner.objects.filter(status=PartnerStatus.REGISTERED)
        if partner.has_role("CPO")
    ]


def _next_url(url: str, headers: dict[str, str], count: int) -> str | None:
    """The next page: the Link header, else offset + limit below X-Total-Count."""
    lowered = {name.lower(): value for name, value in headers.items()}
    link = lowered.get("link", "")
    for part in link.split(","):
        if 'rel="next"' in part:
            return part.split(";")[0].strip().lstrip("<").rstrip(">")
    total = lowered.get("x-total-count")
    if not total or not total.isdigit() or count == 0:
        return None
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    offset = int(query.get("offset", "0") or 0) + count
    if offset >= int(total):
        return None
    query["offset"] = str(offset)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _store_one(partner: Partner, module: str, obj: Any) -> bool:
    if not isinstance(obj, dict):
        raise OcpiError(2001, "not a JSON object")
    owner = owner_for(
        partner, str(obj.get("country_code", "")), str(obj.get("party_id", ""))
    )
    object_id = obj.get("id")
    if not isinstance(object_id, str) or not object_id:
        raise OcpiError(2001, "Missing required field: id")
    store: Callable[..., bool] = (
        location_store if module == "locations" else tariff_store
    )
    return store(owner, object_id, obj)


def partner_pull(
    partner: Partner, module: str, *, full: bool = False, now: datetime | None = None
) -> PullResult:
    """Pull ``module`` from the partner's Sender; record how it went."""
    if module not in MODULES:
        raise ValueError(f"module: one of {', '.join(MODULES)}")
    started = now or timezone.now()
    sync, _created = PartnerSync.objects.get_or_create(partner=partner, module=module)
    full = full or sync.synced_from is None
    result = PullResult(module=module, ok=False, full=full)
    url = partner.endpoint_url(module, "SENDER")
    sync.last_attempt_at = started
    if not partner.is_registered or url is None:
        result.error = f"{partner} has no {module} Sender endpoint"
        _failed(sync, result, started)
        return result
    query: dict[str, str] = {"limit": str(settings.OCPI_PULL_PAGE_LIMIT)}
    if not full and sync.synced_from is not None:
        query["date_from"] = ocpi_timestamp(sync.synced_from)
    separator = "&" if "?" in url else "?"
    next_url: str | None = url + separator + urlencode(query)
    seen: set[str] = set()
    try:
        while next_url is not None:
            if result.pages >= MAX_PAGES:
                raise PartnerCallError(f"more than {MAX_PAGES} pages")
            answer = ocpi_call(
                next_url,
                token=partner.outgoing_token,
                encoding=partner.token_encoding,
                partner=partner,
                functional=True,
            )
            result.pages += 1
            items = answer.data if isinstance(answer.data, list) else []
            for obj in items:
                result.received += 1
                try:
                    if _store_one(partner, module, obj):
                        result.stored += 1
                except OcpiError as error:
                    result.rejected += 1
                    name = obj.get("id") if isinstance(obj, dict) else None
                    logger.warning(
                        "%s %s %s refused: %s", partner, module, name, error.message
                    )
                    sync.last_error = f"{module} {name}: {error.message}"
                    sync.last_error_at = started
                if isinstance(obj, dict) and isinstance(obj.get("id"), str):
                    seen.add(obj["id"])
            next_url = _next_url(next_url, answer.headers, len(items))
    except PartnerCallError as error:
        result.error = error.message
        _failed(sync, result, started)
        return result
    if full and module == "tariffs":
        # A complete list: tariffs the CPO no longer has are gone (mod_tariffs
        # Sender "GET Method" lists all of them).
        PartnerTariff.objects.filter(partner=partner).exclude(
            tariff_id__in=seen
        ).delete()
    result.ok = True
    sync.synced_from = started
    sync.last_success_at = timezone.now()
    sync.objects_received = result.received
    sync.objects_stored = result.stored
    sync.objects_rejected = result.rejected
    sync.pages = result.pages
    if not result.rejected:
        sync.last_error = ""
    sync.save()
    return result


def _failed(sync: PartnerSync, result: PullResult, moment: datetime) -> None:
    sync.last_error = result.error
    sync.last_error_at = moment
    sync.save()


def pull_all(*, now: datetime | None = None) -> list[PullResult]:
    """Periodic catch-up: every CPO partner's Locations and Tariffs."""
    results = []
    for partner in pull_partners():
        for module in MODULES:
            if partner.endpoint_url(module, "SENDER") is not None:
                results.append(partner_pull(partner, module, now=now))
    return results
