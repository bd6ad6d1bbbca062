"""The transactional outbox: events that leave the product, written with the change."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class OutboxEvent(models.Model):
    """One event for external subscribers; the relay delivers it at least once.

    Rows of one ``charger_key`` are delivered in ``id`` order: a row is written in
    the transaction of the change it announces, so ids follow commit order for a
    charger whose changes the gateway writes one message after another.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        FAILED = "failed", "Failed"  # gave up after OUTBOX_MAX_ATTEMPTS

    id = models.BigAutoField(primary_key=True)
    kind = models.CharField(max_length=64)
    charger_key = models.CharField(max_length=64, blank=True, default="")
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    state = models.CharField(
        max_length=16, choices=State.choices, default=State.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # The relay's claim: the oldest pending rows, and per charger.
            models.Index(
                fields=["id"],
                condition=models.Q(state="pending"),
                name="cms_outbox_claim",
            ),
            models.Index(
                fields=["charger_key", "id"],
                condition=models.Q(state="pending"),
                name="cms_outbox_pending",
            ),
            models.Index(fields=["state", "created_at"], name="cms_outbox_state"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.state})"
