"""Sockets of chargers that have not booted: a deadline and a cap per address.

A charger registers with a BootNotification right after connecting (OCPP 1.6
§4.2, 2.0.1 B01); until it is answered the socket is only a connected
identity. ``BootWatch`` makes such sockets cost little:

- a charger never accepted before (no accepted BootNotification on record)
  must have a BootNotification answered Accepted or Pending within
  ``OCPP_BOOT_DEADLINE_S`` of the handshake, else its socket is closed (1008,
  policy violation) and the close recorded in its connection history. Pending
  counts: the central system itself keeps such a charger waiting (1.6 §4.2.1,
  2.0.1 B02) while it is onboarded, and it boots again after the interval it
  was given. A charger once accepted may reconnect without booting (1.6 §4.2:
  a BootNotification follows a reboot, not a reconnect), so it is not watched;
- at most ``OCPP_UNBOOTED_PER_ADDRESS`` sockets per source address may be in
  the handshake or waiting for their boot in this process; more are refused
  before any password is hashed.

Counts are per process (a socket lives in exactly one); behind a load balancer
of N processes an address may hold up to N times the cap.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

# RFC 6455 §7.4.1: 1008, a message that violates the endpoint's policy.
BOOT_DEADLINE_CLOSE_CODE = 1008
# Registration statuses that end the watch (1.6 §7.48, 2.0.1 RegistrationStatusEnumType).
_ANSWERED = frozenset({"Accepted", "Pending"})

_unbooted: Counter[str] = Counter()


def unbooted_sockets(address: str) -> int:
    """How many sockets from ``address`` this process holds without a boot."""
    return _unbooted[address]


class BootWatch:
    """One socket's place among its address's unbooted sockets, and its deadline.

    ``admit`` takes the place at the start of the handshake; ``release`` (on a
    refusal, an answered boot, a disconnect or an exempt charger) gives it
    back, once. ``expire`` runs if the deadline passes first.
    """

    def __init__(self, address: str) -> None:
        self.address = address
        self._held = True
        self._timer: asyncio.TimerHandle | None = None
        self._expiry: asyncio.Task[None] | None = None
        _unbooted[address] += 1

    @classmethod
    def admit(cls, address: str) -> BootWatch | None:
        """A place for a new socket from ``address``, or None when it is full."""
        if _unbooted[address] >= settings.OCPP_UNBOOTED_PER_ADDRESS:
            return None
        return cls(address)

    def start(
        self, *, was_accepted: bool, expire: Callable[[str], Coroutine[Any, Any, None]]
    ) -> None:
        """After the handshake: start the deadline, or release an accepted charger."""
        if was_accepted or not self._held:
            self.release()
            return
        deadline_s = settings.OCPP_BOOT_DEADLINE_S
        detail = (
            f"Closed: no BootNotification accepted within {deadline_s:g} s "
            "of connecting."
        )

        def fire() -> None:
            self.release()
            self._expiry = asyncio.get_running_loop().create_task(expire(detail))

        self._timer = asyncio.get_running_loop().call_later(deadline_s, fire)

    def answered(self, action: str, payload: dict[str, Any]) -> None:
        """Observe the central system's answers: an accepted boot ends the watch."""
        if action == "BootNotification" and payload.get("status") in _ANSWERED:
            self.release()

    def release(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._held:
            return
        self._held = False
        _unbooted[self.address] -= 1
        if _unbooted[self.address] <= 0:
            del _unbooted[self.address]
