"""Periodic remote-operation task (registered in ``settings.PERIODIC_TASKS``)."""

from __future__ import annotations

from celery import shared_task

from stations.remote.services import command_result_apply, remote_operations_sweep


@shared_task(ignore_result=True)
def remote_operations_sweep_task() -> dict[str, int]:
    """Apply command results and resolve time-driven remote operations; idempotent."""
    return remote_operations_sweep()


@shared_task(ignore_result=True)
def command_result_apply_task(*, command_id: int) -> bool:
    """Apply one finished command's result to its domain rows; safe to run twice."""
    return command_result_apply(command_id=command_id)
