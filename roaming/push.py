"""Pushes to partners (OCPI "Push" model, transport_and_format "Pull and Push").

Our changes reach partners from the outbox (external subscribers in
``roaming/apps.py``): an EVSE's status to every partner with a Locations
Receiver, a session and its CDR only to the eMSP whose token it is. Each push
is a queued ``RoamingPush``; ``pushes_deliver`` sends what is due, in order
per object, with back-off after a failure. transport_and_format "Offline
behaviour" says failed pushes SHOULD NOT be queued; we queue them anyway for
sessions and CDRs, because a partner's settlement depends on receiving every
one, and the order per object keeps a retried old state from overwriting a
newer one. Pull stays the fallback (our senders serve the same objects).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from alerts.models import Rule
from roaming.client import PartnerCallError, ocpi_call
from roaming.models import Partner, PartnerStatus, RoamingPush
from roaming.transport import our_party


def retry_delay(attempts: int) -> timedelta:
    """Back-off after ``attempts`` failed tries: 5 s doubling, at most 10 min."""
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 600))


def client_owned_url(base: str, *parts: str) -> str:
    """transport_and_format "Client Owned Object Push": {url}/{country}/{party}/{id}."""
    country_code, party_id = our_party()
    return "/".join([base.rstrip("/"), country_code, party_id, *parts])


def push_enqueue(
    *, partner: Partner, object_key: str, method: str, url: str, body: Any
) -> RoamingPush:
    return RoamingPush.objects.create(
        partner=partner,
        object_key=object_key,
        method=method,
        url=url,
        body=body,
        next_attempt_at=timezone.now(),
    )


def _send(push: RoamingPush, *, now: datetime) -> bool:
    partner = push.partner
    attempts = push.attempts + 1
    try:
        ocpi_call(
            push.url,
            token=partner.outgoing_token,
            method=push.method,
            body=push.body,
            encoding=partner.token_encoding,
            partner=partner,
            functional=True,
        )
    except PartnerCallError as error:
        gave_up = attempts >= settings.OCPI_PUSH_MAX_ATTEMPTS
        RoamingPush.objects.filter(pk=push.pk).update(
            attempts=attempts,
            last_error=error.message[:1000],
            next_attempt_at=now + retry_delay(attempts),
            failed_at=now if gave_up else None,
        )
        return False
    RoamingPush.objects.filter(pk=push.pk).update(
        attempts=attempts, delivered_at=timezone.now(), last_error=""
    )
    return True


def pushes_deliver(*, now: datetime | None = None, limit: int = 200) -> int:
    """Send the pushes that are due, oldest first per object; return how many went."""
    now = now or timezone.now()
    sent = 0
    # The head of each object's queue: its oldest push not yet delivered or given up.
    heads = (
        RoamingPush.objects.filter(
            delivered_at__isnull=True,
            failed_at__isnull=True,
            partner__status=PartnerStatus.REGISTERED,
        )
        .values("partner_id", "object_key")
        .annotate(first=Min("pk"))
        .values_list("first", flat=True)[:limit]
    )
    for pk in sorted(heads):
        with transaction.atomic():
            # The lock keeps two workers from sending the same push at once.
            push = (
                RoamingPush.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("partner")
                .filter(pk=pk, delivered_at__isnull=True, next_attempt_at__lte=now)
                .first()
            )
            if push is None:
                continue
            if _send(push, now=now):
                sent += 1
    return sent


@dataclass(frozen=True)
class PartnerHealth:
    last_success_at: datetime | None
    queued: int
    failing: int
    failing_since: datetime | None
    last_error: str


def partner_health(partner: Partner) -> PartnerHealth:
    """What an operator needs to know about pushes to ``partner``."""
    pushes = RoamingPush.objects.filter(partner=partner)
    figures = pushes.aggregate(
        last_success_at=Max("delivered_at"),
        queued=Count("pk", filter=Q(delivered_at__isnull=True, failed_at__isnull=True)),
        failing=Count(
            "pk",
            filter=Q(delivered_at__isnull=True, failed_at__isnull=True, attempts__gt=0),
        ),
        failing_since=Min(
            "created_at", filter=Q(delivered_at__isnull=True, attempts__gt=0)
        ),
    )
    last = (
        pushes.filter(delivered_at__isnull=True).exclude(last_error="").order_by("-pk")
    ).first()
    return PartnerHealth(
        last_success_at=figures["last_success_at"],
        queued=figures["queued"],
        failing=figures["failing"],
        failing_since=figures["failing_since"],
        last_error=last.last_error if last is not None else "",
    )


PUSH_ALERT_RULE = Rule.ROAMING_PUSH_FAILING


def partner_push_alerts(*, now: datetime | None = None) -> int:
    """Alert on partners whose pushes have failed longer than the threshold."""
    from alerts.services import alert_clear, alert_raise

    now = now or timezone.now()
    threshold = timedelta(minutes=settings.OCPI_PUSH_ALERT_MINUTES)
    raised = 0
    for partner in Partner.objects.filter(status=PartnerStatus.REGISTERED):
        health = partner_health(partner)
        subject = f"partner:{partner.pk}"
        if health.failing_since is not None and now - health.failing_since >= threshold:
            alert_raise(
                rule=PUSH_ALERT_RULE,
                subject_key=subject,
                title=f"Pushes to roaming partner {partner} failing",
                detail=(
                    f"{health.failing} pushes failing since "
                    f"{health.failing_since:%Y-%m-%d %H:%M} UTC: {health.last_error}"
                ),
                now=now,
            )
            raised += 1
        else:
            alert_clear(rule=PUSH_ALERT_RULE, subject_key=subject, now=now)
    return raised
