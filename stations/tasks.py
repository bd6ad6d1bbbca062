"""Periodic gateway tasks: offline sweep, stale commands, message log and
refused-handshake retention."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from stations.remote.dispatch import commands_expire_stale
from stations.services import (
    charge_points_offline_sweep,
    connection_attempts_purge,
    ocpp_messages_purge,
)


@shared_task(ignore_result=True)
def charge_points_offline_sweep_task() -> int:
    """Mark chargers silent past their heartbeat as offline; expire lost commands."""
    now = timezone.now()
    marked = charge_points_offline_sweep(now=now)
    commands_expire_stale(now=now)
    return marked


@shared_task(ignore_result=True)
def ocpp_messages_purge_task() -> int:
    """Delete OCPP message log rows past the retention period; safe to run twice."""
    before = timezone.now() - timedelta(days=settings.OCPP_MESSAGE_LOG_RETENTION_DAYS)
    return ocpp_messages_purge(before=before)


@shared_task(ignore_result=True)
def connection_attempts_purge_task() -> int:
    """Forget refused-handshake rows past their retention; safe to run twice."""
    before = timezone.now() - timedelta(
        days=settings.OCPP_CONNECTION_ATTEMPT_RETENTION_DAYS
    )
    return connection_attempts_purge(before=before)
