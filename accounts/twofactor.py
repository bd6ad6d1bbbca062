"""Two-factor log-in for portal staff: TOTP (RFC 6238) and recovery codes.

Optional per user (``/accounts/two-factor/``), required for the roles named in
``TWO_FACTOR_REQUIRED_ROLES``. Enrolling stores a new secret unconfirmed; the
first matching code confirms it and issues ``RECOVERY_CODE_COUNT`` one-time
recovery codes, shown once and stored as SHA-256 (they are random, 50 bits
each, so a slow hash adds nothing). Every change is an audit row; wrong codes
at log-in are throttled with the log-in throttle (``accounts/throttle.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

import pyotp
import segno
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import RecoveryCode, TotpDevice, User
from accounts.services import audit_record

RECOVERY_CODE_COUNT = 10
# RFC 6238 §5.2: accept one time step either side for clock drift, no more.
_DRIFT_STEPS = 1
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret)  # SHA-1, 6 digits, 30 s: what authenticator apps use


def _normalized(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _recovery_hash(code: str) -> str:
    return hashlib.sha256(_normalized(code).encode()).hexdigest()


def matching_step(secret: str, code: str, *, at: datetime) -> int | None:
    """The time step whose TOTP equals ``code`` (within the drift), or None."""
    code = _normalized(code)
    if not code.isdigit():
        return None
    totp = _totp(secret)
    for offset in range(-_DRIFT_STEPS, _DRIFT_STEPS + 1):
        moment = at.timestamp() + offset * totp.interval
        if hmac.compare_digest(totp.at(moment), code):
            return int(totp.timecode(datetime.fromtimestamp(moment, tz=at.tzinfo)))
    return None


def two_factor_required(user: User) -> bool:
    """Whether the user's roles oblige them to use two-factor log-in."""
    required = set(settings.TWO_FACTOR_REQUIRED_ROLES)
    if not required or user.is_driver:
        return False
    if user.is_superuser and "Administrator" in required:
        return True
    return bool(required.intersection(user.role_names))


def two_factor_enabled(user: User) -> bool:
    device = TotpDevice.objects.filter(user=user).first()
    return device is not None and device.is_confirmed


@dataclass(frozen=True)
class Enrollment:
    secret: str
    uri: str  # otpauth:// (Key Uri Format), what the QR code holds
    qr_svg: str


def _enrollment(user: User, secret: str) -> Enrollment:
    uri = _totp(secret).provisioning_uri(
        name=user.get_username(), issuer_name=settings.TWO_FACTOR_ISSUER
    )
    qr = segno.make(uri, error="m")
    svg = qr.svg_inline(scale=4, title=f"QR code for {quote(user.get_username())}")
    return Enrollment(secret=secret, uri=uri, qr_svg=svg)


@transaction.atomic
def two_factor_enrollment_start(*, user: User) -> Enrollment:
    """A new unconfirmed secret (replacing an unconfirmed one); refused if enabled."""
    device = TotpDevice.objects.select_for_update().filter(user=user).first()
    if device is not None and device.is_confirmed:
        raise ValueError("two-factor log-in is already enabled")
    secret = pyotp.random_base32(length=32)
    TotpDevice.objects.update_or_create(
        user=user,
        defaults={"secret": secret, "confirmed_at": None, "last_used_step": 0},
    )
    return _enrollment(user, secret)


def two_factor_enrollment_pending(*, user: User) -> Enrollment | None:
    device = TotpDevice.objects.filter(user=user, confirmed_at=None).first()
    return _enrollment(user, device.secret) if device is not None else None


def _new_recovery_codes(user: User) -> list[str]:
    RecoveryCode.objects.filter(user=user).delete()
    codes = [
        "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10))
        for _ in range(RECOVERY_CODE_COUNT)
    ]
    RecoveryCode.objects.bulk_create(
        RecoveryCode(user=user, code_sha256=_recovery_hash(code)) for code in codes
    )
    return [f"{code[:5]}-{code[5:]}" for code in codes]


@transaction.atomic
def two_factor_enrollment_confirm(
    *, user: User, code: str, ip_address: str | None = None
) -> list[str] | None:
    """Confirm the pending secret with a code; returns the new recovery codes."""
    device = (
        TotpDevice.objects.select_for_update()
        .filter(user=user, confirmed_at=None)
        .first()
    )
    if device is None:
        return None
    now = timezone.now()
    step = matching_step(device.secret, code, at=now)
    if step is None:
        return None
    device.confirmed_at = now
    device.last_used_step = step
    device.save(update_fields=["confirmed_at", "last_used_step"])
    codes = _new_recovery_codes(user)
    audit_record(
        actor=user, action="two_factor.enabled", target=user, ip_address=ip_address
    )
    return codes


@transaction.atomic
def two_factor_recovery_codes_renew(
    *, user: User, ip_address: str | None = None
) -> list[str]:
    codes = _new_recovery_codes(user)
    audit_record(
        actor=user,
        action="two_factor.recovery_codes_renewed",
        target=user,
        ip_address=ip_address,
    )
    return codes


@transaction.atomic
def two_factor_disable(
    *, user: User, actor: User, ip_address: str | None = None, detail: str = ""
) -> bool:
    """Remove the user's authenticator and recovery codes (audited)."""
    deleted, _ = TotpDevice.objects.filter(user=user).delete()
    RecoveryCode.objects.filter(user=user).delete()
    if deleted:
        audit_record(
            actor=actor,
            action="two_factor.disabled",
            target=user,
            detail=detail,
            ip_address=ip_address,
        )
    return bool(deleted)


@transaction.atomic
def two_factor_verify(*, user: User, code: str, ip_address: str | None = None) -> str:
    """Check a log-in code: "totp", "recovery" (one used up) or "" when wrong.

    A TOTP of a time step already used (or earlier) is refused (RFC 6238 §5.2),
    so a code seen over someone's shoulder cannot be replayed.
    """
    device = (
        TotpDevice.objects.select_for_update()
        .filter(user=user, confirmed_at__isnull=False)
        .first()
    )
    if device is None:
        return ""
    now = timezone.now()
    step = matching_step(device.secret, code, at=now)
    if step is not None and step > device.last_used_step:
        device.last_used_step = step
        device.save(update_fields=["last_used_step"])
        return "totp"
    if step is not None:
        return ""  # replayed
    used = RecoveryCode.objects.filter(
        user=user, code_sha256=_recovery_hash(code), used_at=None
    ).update(used_at=now)
    if not used:
        return ""
    left = RecoveryCode.objects.filter(user=user, used_at=None).count()
    audit_record(
        actor=user,
        action="two_factor.recovery_code_used",
        target=user,
        detail=f"{left} recovery code(s) left",
        ip_address=ip_address,
    )
    return "recovery"


def recovery_codes_left(*, user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at=None).count()
