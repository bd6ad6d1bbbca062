"""Charger passwords (OCPP security profile 1): slow hashes, cheap reconnects.

Charger passwords are stored with Django's password hasher (PBKDF2, deliberately
slow). A reconnect storm after a server restart would hash thousands of them at
once, so a successful check is remembered in the cache (Redis in production) for a
day under an HMAC of identity, password and stored hash: nothing in the cache
reveals a password, and changing the password (a new stored hash) invalidates it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import math
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.core.cache import cache

VERIFIED_TTL_S = 24 * 3600


def _verified_key(ocpp_id: str, password: str, password_hash: str) -> str:
    message = "\0".join((ocpp_id, password, password_hash)).encode()
    digest = hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()
    return f"ocpp:password-ok:{digest}"


def charger_password_matches(
    *, ocpp_id: str, password: str, password_hash: str
) -> bool:
    """Check a charger's Basic-auth password; sync (run it off the event loop)."""
    if not password_hash:
        return False
    key = _verified_key(ocpp_id, password, password_hash)
    if cache.get(key):
        return True
    if not check_password(password, password_hash):
        return False
    cache.set(key, True, VERIFIED_TTL_S)
    return True


# --- handshake storms ------------------------------------------------------------
# Sixty wrong-password handshakes to one charger id must not slow every other
# charger's connect: hashes run on a small pool of their own (never the shared
# thread), verified passwords are also remembered in this process (a Redis restart
# forces no re-hashing), failures back off per charger id and per source address
# before anything is hashed, and a refusal storm writes one history row a minute.


class _Backoff:
    """Failures per key; past the limit, refused without hashing, doubling."""

    def __init__(self) -> None:
        self._failures: dict[str, tuple[int, float]] = {}  # key -> (count, until)

    def blocked_for(self, key: str, now: float) -> float:
        _count, until = self._failures.get(key, (0, 0.0))
        return max(0.0, until - now) if until else 0.0

    def failed(self, key: str, limit: int, now: float) -> None:
        count, _until = self._failures.get(key, (0, 0.0))
        count += 1
        until = 0.0
        if count >= limit:
            base = settings.OCPP_AUTH_BACKOFF_SECONDS
            until = now + min(
                base * 2 ** (count - limit), settings.OCPP_AUTH_BACKOFF_MAX_SECONDS
            )
        self._failures[key] = (count, until)
        if len(self._failures) > 50_000:  # bounded: forget the oldest entries
            for old in list(self._failures)[:10_000]:
                del self._failures[old]

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)


_backoff = _Backoff()
_local_verified: OrderedDict[str, float] = OrderedDict()
_LOCAL_VERIFIED_MAX = 20_000
_pool: ThreadPoolExecutor | None = None
_refusals: dict[tuple[str, str], tuple[float, int, int]] = {}
TOO_MANY_FAILURES = "too many failed attempts"


def _hash_pool() -> ThreadPoolExecutor:
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(
            max_workers=settings.OCPP_PASSWORD_CHECK_WORKERS,
            thread_name_prefix="ocpp-password",
        )
    return _pool


def _locally_verified(key: str, now: float) -> bool:
    expires = _local_verified.get(key)
    if expires is None or expires < now:
        return False
    _local_verified.move_to_end(key)
    return True


def _remember_locally(key: str, now: float) -> None:
    _local_verified[key] = now + VERIFIED_TTL_S
    _local_verified.move_to_end(key)
    while len(_local_verified) > _LOCAL_VERIFIED_MAX:
        _local_verified.popitem(last=False)


def _matching_index(
    *, ocpp_id: str, password: str, password_hashes: tuple[str, ...]
) -> int:
    """Which stored hash the password matches (-1: none)."""
    for index, password_hash in enumerate(password_hashes):
        if charger_password_matches(
            ocpp_id=ocpp_id, password=password, password_hash=password_hash
        ):
            return index
    return -1


async def charger_password_check(
    *,
    ocpp_id: str,
    password: str,
    password_hash: str,
    address: str,
    rotating_to_hash: str = "",
) -> str:
    """Why the password is refused ("" = it matches), cheaply under a storm.

    During a password rotation (``rotating_to_hash``: the new password the
    charger was sent, not yet confirmed) either password is accepted.
    """
    now = time.monotonic()
    hashes = (password_hash, rotating_to_hash) if rotating_to_hash else (password_hash,)
    keys = [_verified_key(ocpp_id, password, stored) for stored in hashes]
    if any(_locally_verified(key, now) for key in keys):
        return ""
    waits = [
        _backoff.blocked_for(f"id:{ocpp_id}", now),
        _backoff.blocked_for(f"addr:{address}", now) if address else 0.0,
    ]
    if max(waits) > 0:
        return f"{TOO_MANY_FAILURES}: retry in {math.ceil(max(waits))} s"
    loop = asyncio.get_running_loop()
    matched = await loop.run_in_executor(
        _hash_pool(),
        functools.partial(
            _matching_index,
            ocpp_id=ocpp_id,
            password=password,
            password_hashes=hashes,
        ),
    )
    now = time.monotonic()
    if matched >= 0:
        _remember_locally(keys[matched], now)
        _backoff.succeeded(f"id:{ocpp_id}")
        return ""
    _backoff.failed(f"id:{ocpp_id}", settings.OCPP_AUTH_FAILURES_PER_ID, now)
    if address:
        _backoff.failed(f"addr:{address}", settings.OCPP_AUTH_FAILURES_PER_ADDRESS, now)
    return "wrong password"


REFUSALS_RECORDED_PER_MINUTE = 3


def refusal_to_record(ocpp_id: str, reason: str) -> str | None:
    """The history detail to store for this refusal, or None within a storm.

    The first few refusals of a kind per charger and minute are stored; the
    first one of the next minute says how many were left out meanwhile.
    """
    now = time.monotonic()
    key = (ocpp_id, reason.split(":", 1)[0])
    started, recorded, skipped = _refusals.get(key, (0.0, 0, 0))
    if not started or now - started >= 60:
        _refusals[key] = (now, 1, 0)
        if len(_refusals) > 50_000:
            _refusals.clear()
        return (
            f"{reason} (and {skipped} more in the minute before)" if skipped else reason
        )
    if recorded < REFUSALS_RECORDED_PER_MINUTE:
        _refusals[key] = (started, recorded + 1, skipped)
        return reason
    _refusals[key] = (started, recorded, skipped + 1)
    return None
