"""The demo's id tokens: twenty cards and app tokens of the demo network (one
blocked, one expired, one the driver's app) and two of the second network.
Registered into ``cms.demo``; the simulated fleet presents these tags."""

from __future__ import annotations

from datetime import UTC, datetime

from accounts.demo import DRIVER_USERNAME
from accounts.models import User
from cms.demo import DemoLoad, DemoTally
from sessions_app.models import IdToken, TokenStatus
from stations.demo import DEMO_NETWORK, SECOND_NETWORK
from stations.models import Network

TOKEN_COUNT = 20
BLOCKED_TAG = "DEMO-TAG-019"
EXPIRED_TAG = "DEMO-TAG-020"
DRIVER_TAG = "DEMO-TAG-001"

# Labels read like a real card register.
_TOKEN_LABELS = (
    "App: Dana Fischer", "Fleet van B-EV 101", "Fleet van B-EV 102", "Fleet van B-EV 103",
    "Card: Jonas Weber", "Card: Lea Schmidt", "Card: Noah Becker", "Card: Mia Wagner",
    "Card: Paul Hoffmann", "Card: Emma Schulz", "Taxi 4711", "Taxi 4712",
    "Car sharing GO-17", "Car sharing GO-18", "Car sharing GO-19", "Staff: night shift",
    "Staff: day shift", "Visitor card 1", "Card reported stolen", "Card of former staff",
)  # fmt: skip


def _token(
    token: str,
    network: Network,
    tally: DemoTally,
    *,
    label: str,
    status: str = TokenStatus.ACCEPTED,
    expires_at: datetime | None = None,
    kind: str = IdToken.Kind.RFID,
    owner: User | None = None,
) -> IdToken:
    id_token, created = IdToken.objects.get_or_create(
        token=token,
        defaults={
            "network": network,
            "label": label,
            "status": status,
            "expires_at": expires_at,
            "kind": kind,
            "owner": owner,
        },
    )
    tally.add("id tokens", created)
    return id_token


def sessions_demo_load(load: DemoLoad) -> None:
    tally = load.tally
    demo = Network.objects.get(name=DEMO_NETWORK)
    northside = Network.objects.get(name=SECOND_NETWORK)
    driver = User.objects.get(username=DRIVER_USERNAME)
    expired_at = datetime(2025, 12, 31, 23, 0, tzinfo=UTC)
    for number in range(1, TOKEN_COUNT + 1):
        token = f"DEMO-TAG-{number:03d}"
        _token(
            token,
            demo,
            tally,
            label=_TOKEN_LABELS[number - 1],
            status=TokenStatus.BLOCKED
            if token == BLOCKED_TAG
            else (
                TokenStatus.EXPIRED if token == EXPIRED_TAG else TokenStatus.ACCEPTED
            ),
            expires_at=expired_at if token == EXPIRED_TAG else None,
            kind=IdToken.Kind.APP if token == DRIVER_TAG else IdToken.Kind.RFID,
            owner=driver if token == DRIVER_TAG else None,
        )
    for number in (1, 2):
        _token(
            f"NORTH-TAG-{number:03d}",
            northside,
            tally,
            label=f"Card: Northside customer {number}",
        )
