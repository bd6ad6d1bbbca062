"""Fleet tasks: the periodic sweep (``settings.PERIODIC_TASKS``) and one campaign step."""

from __future__ import annotations

from celery import shared_task

from stations.fleet.configuration import configuration_sweep
from stations.fleet.services import campaign_advance, campaigns_sweep


@shared_task(ignore_result=True)
def fleet_sweep_task() -> dict[str, int]:
    """Advance firmware campaigns and converge declared configuration; idempotent."""
    return {"campaigns": campaigns_sweep(), "configuration": configuration_sweep()}


@shared_task(ignore_result=True)
def campaign_advance_task(*, campaign_id: int) -> str:
    """One step of one campaign; safe to run twice."""
    return campaign_advance(campaign_id=campaign_id)
