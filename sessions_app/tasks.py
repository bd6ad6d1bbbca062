"""Periodic work on charging sessions."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from sessions_app import costs, services


@shared_task
def zombie_sessions_sweep_task() -> int:
    """Close sessions whose connector went Available without a StopTransaction."""
    return services.zombie_sessions_sweep(now=timezone.now())


@shared_task
def session_cost_updates_sweep_task() -> int:
    """Tell 2.0.1 stations the running cost of their open sessions (I02)."""
    return costs.session_cost_updates_sweep()
