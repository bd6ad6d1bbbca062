"""Charger passwords (OCPP security profile 1): slow hashes, cheap reconnects.

Charger passwords are stored with Django's password hasher (PBKDF2, deliberately
slow). A reconnect storm after a server restart would hash thousands of them at
once, so a successful check is remembered in the cache (Redis in production) for a
day under an HMAC of identity, password and stored hash: nothing in the cache
reveals a password, and changing the password (a new stored hash) invalidates it.
"""

from __future__ import annotations

import hashlib
import hmac

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
