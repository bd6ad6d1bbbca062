"""Our drivers' tokens pushed to a CPO's Tokens Receiver (mod_tokens), through
the push queue: on creation, block/unblock and expiry, kept for a CPO that is
down, never duplicated."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.utils import timezone

from roaming.emsp.tokens import token_pushes_enqueue
from roaming.models import RoamingPush
from roaming.push import pushes_deliver
from roaming.tasks import roaming_retry_sweep_task
from sessions_app.models import TokenStatus
from sessions_app.services import id_token_create, id_token_update
from tests.factories import IdTokenFactory
from tests.roaming.cpo_peer import CpoPeer

pytestmark = pytest.mark.django_db(transaction=True)


def _stored(cpo: CpoPeer, uid: str) -> dict:
    return cpo.tokens[("NL", "CMS", uid, "RFID")]


def test_tokens_reach_the_cpo_on_creation_block_unblock_and_expiry(
    registered_cpo: CpoPeer,
):
    IdTokenFactory(token="BEFORE-REG")  # exists when the CPO registered
    card = id_token_create(actor=None, token="DRIVER-1", network=None, label="Card 1")
    roaming_retry_sweep_task()  # the periodic sweep queues and sends

    assert _stored(registered_cpo, "DRIVER-1")["valid"] is True
    assert _stored(registered_cpo, "DRIVER-1")["visual_number"] == "Card 1"
    assert _stored(registered_cpo, "BEFORE-REG")["whitelist"] == "ALLOWED"
    [put] = [
        r for r in registered_cpo.token_pushes() if "/DRIVER-1" in r.path
    ]  # one push, to the Client Owned Object URL, with routing headers
    assert put.method == "PUT"
    assert put.path == "/ocpi/cpo/2.2.1/tokens/NL/CMS/DRIVER-1?type=RFID"
    assert put.headers["ocpi-to-party-id"] == "CPX"
    assert put.headers["ocpi-from-party-id"] == "CMS"

    id_token_update(actor=None, id_token=card, status=TokenStatus.BLOCKED)
    roaming_retry_sweep_task()
    assert _stored(registered_cpo, "DRIVER-1")["valid"] is False
    # The CPO asks in real time: blocked on our side is BLOCKED there.
    assert registered_cpo.authorize("DRIVER-1").data["allowed"] == "BLOCKED"

    id_token_update(actor=None, id_token=card, status=TokenStatus.ACCEPTED)
    roaming_retry_sweep_task()
    assert _stored(registered_cpo, "DRIVER-1")["valid"] is True

    # Nothing changed: a further sweep pushes nothing.
    pushed = len(registered_cpo.token_pushes())
    roaming_retry_sweep_task()
    assert len(registered_cpo.token_pushes()) == pushed

    # Expiry is no change of the row: the sweep after the moment pushes it.
    card = id_token_update(
        actor=None, id_token=card, expires_at=timezone.now() + timedelta(hours=1)
    )
    roaming_retry_sweep_task()
    assert _stored(registered_cpo, "DRIVER-1")["valid"] is True
    later = timezone.now() + timedelta(hours=2)
    assert token_pushes_enqueue(now=later) == 1
    pushes_deliver(now=later)
    expired = _stored(registered_cpo, "DRIVER-1")
    assert expired["valid"] is False
    assert expired["last_updated"] == card.expires_at.astimezone(UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def test_a_cpo_that_is_down_gets_every_token_in_order_when_it_is_back(
    registered_cpo: CpoPeer,
):
    registered_cpo.down = True
    first = id_token_create(actor=None, token="DOWN-1", network=None)
    id_token_create(actor=None, token="DOWN-2", network=None)
    roaming_retry_sweep_task()
    id_token_update(actor=None, id_token=first, status=TokenStatus.BLOCKED)
    roaming_retry_sweep_task()

    assert registered_cpo.tokens == {}
    queued = RoamingPush.objects.filter(object_key__startswith="token:")
    assert queued.count() == 3  # DOWN-1 twice (created, blocked), DOWN-2 once
    assert all(p.delivered_at is None for p in queued)
    assert "503" in queued.filter(object_key="token:DOWN-1").first().last_error

    registered_cpo.down = False
    seen = len(registered_cpo.received)
    later = timezone.now()
    while RoamingPush.objects.filter(delivered_at__isnull=True).exists():
        later += timedelta(minutes=15)  # past every back-off
        pushes_deliver(now=later)

    assert _stored(registered_cpo, "DOWN-1")["valid"] is False  # the newest state
    assert _stored(registered_cpo, "DOWN-2")["valid"] is True
    delivered = [
        r for r in registered_cpo.received[seen:] if r.path.startswith("/ocpi/cpo/")
    ]
    # Each queued push arrived once, DOWN-1's creation before its block.
    assert [(r.path.split("?")[0].rsplit("/", 1)[1], r.body["valid"]) for r in
            delivered if "DOWN-1" in r.path] == [("DOWN-1", True), ("DOWN-1", False)]  # fmt: skip
    assert len(delivered) == 3
