"""Background work of roaming: CommandResults and charging-profile results to
partners, retried with back-off; the periodic sweep."""

from __future__ import annotations

from datetime import datetime, timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from roaming.client import PartnerCallError, ocpi_call
from roaming.cpo.commands import command_result_body, command_result_of
from roaming.models import RoamingChargingProfile, RoamingCommand


def retry_delay(attempts: int) -> timedelta:
    """Back-off after ``attempts`` failed deliveries: 5 s doubling, at most 10 min."""
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 600))


def command_result_deliver(
    *, roaming_command_id: int, now: datetime | None = None
) -> bool:
    """POST the CommandResult of a finished command to the partner; True when done.

    Safe to run twice: a delivered result is not sent again. A failed POST is
    kept for ``command_results_retry_sweep`` with its back-off; after
    ``OCPI_PUSH_MAX_ATTEMPTS`` the error stays on the row for the operator.
    """
    # The row lock makes the two ways a result is sent (the event, the command
    # found finished when attached) and the retry sweep send it once.
    with transaction.atomic():
        record = (
            RoamingCommand.objects.select_for_update(of=("self",))
            .select_related("partner", "command")
            .filter(pk=roaming_command_id, result_delivered_at__isnull=True)
            .first()
        )
        if record is None:
            return True  # delivered already, or gone
        return _deliver_locked(record, now=now)


def _deliver_locked(record: RoamingCommand, *, now: datetime | None) -> bool:
    result = command_result_of(record)
    if result is None:
        return False  # the charger has not answered; its command.finished follows
    partner = record.partner
    attempts = record.result_attempts + 1
    try:
        # mod_commands "CommandResult object", POSTed to response_url.
        ocpi_call(
            record.response_url,
            token=partner.outgoing_token,
            method="POST",
            body=command_result_body(record, result),
            encoding=partner.token_encoding,
            partner=partner,
            functional=True,
        )
    except PartnerCallError as error:
        retry_at = None
        if attempts < settings.OCPI_PUSH_MAX_ATTEMPTS:
            retry_at = (now or timezone.now()) + retry_delay(attempts)
        RoamingCommand.objects.filter(pk=record.pk).update(
            result=result,
            result_attempts=attempts,
            result_error=error.message,
            result_retry_at=retry_at,
        )
        return False
    RoamingCommand.objects.filter(
        pk=record.pk, result_delivered_at__isnull=True
    ).update(
        result=result,
        result_delivered_at=timezone.now(),
        result_attempts=attempts,
        result_error="",
        result_retry_at=None,
    )
    return True


def command_results_retry_sweep(*, now: datetime | None = None) -> int:
    """Deliver the CommandResults whose retry is due; return how many were tried."""
    now = now or timezone.now()
    due = list(
        RoamingCommand.objects.filter(
            result_delivered_at__isnull=True, result_retry_at__lte=now
        )
        .order_by("result_retry_at")
        .values_list("pk", flat=True)[:100]
    )
    for pk in due:
        command_result_deliver(roaming_command_id=pk, now=now)
    return len(due)


def charging_profile_result_deliver(
    *, profile_id: int, now: datetime | None = None
) -> bool:
    """POST the result of a partner's charging-profile request; True when done.

    Safe to run twice (the row lock and ``result_delivered_at``); a result not
    known yet (the charger has not answered) is left for the next nudge or sweep.
    """
    from roaming.cpo.chargingprofiles import result_of

    now = now or timezone.now()
    with transaction.atomic():
        row = (
            RoamingChargingProfile.objects.select_for_update(of=("self",))
            .select_related("partner", "session")
            .filter(pk=profile_id, result_delivered_at__isnull=True)
            .first()
        )
        if row is None:
            return True
        body = row.result_body or result_of(row, now=now)
        if body is None:
            return False
        partner = row.partner
        attempts = row.result_attempts + 1
        try:
            # mod_charging_profiles Sender "POST Method": the result object.
            ocpi_call(
                row.response_url,
                token=partner.outgoing_token,
                method="POST",
                body=body,
                encoding=partner.token_encoding,
                partner=partner,
                functional=True,
            )
        except PartnerCallError as error:
            retry_at = None
            if attempts < settings.OCPI_PUSH_MAX_ATTEMPTS:
                retry_at = now + retry_delay(attempts)
            RoamingChargingProfile.objects.filter(pk=row.pk).update(
                result=body["result"],
                result_body=body,
                result_attempts=attempts,
                result_error=error.message,
                result_retry_at=retry_at,
            )
            return False
        RoamingChargingProfile.objects.filter(pk=row.pk).update(
            result=body["result"],
            result_body=body,
            result_attempts=attempts,
            result_error="",
            result_retry_at=None,
            result_delivered_at=timezone.now(),
        )
        return True


def charging_profile_results_deliver(*, now: datetime | None = None) -> int:
    """Deliver every charging-profile result that is known and due; return how many."""
    from roaming.cpo.chargingprofiles import profile_results_pending

    now = now or timezone.now()
    return sum(
        charging_profile_result_deliver(profile_id=pk, now=now)
        for pk in profile_results_pending(now=now)
    )


@shared_task(acks_late=True)
def charging_profile_results_deliver_task() -> int:
    """Send the charging-profile results that are known; safe to run twice."""
    return charging_profile_results_deliver()


@shared_task(acks_late=True)
def command_result_deliver_task(*, roaming_command_id: int) -> None:
    """Send one CommandResult; safe to run twice."""
    command_result_deliver(roaming_command_id=roaming_command_id)


@shared_task(acks_late=True)
def roaming_pushes_deliver_task() -> int:
    """Send the pushes that are due (nudged after each one is queued)."""
    from roaming.push import pushes_deliver

    return pushes_deliver()


@shared_task(acks_late=True)
def roaming_retry_sweep_task() -> dict[str, int]:
    """Periodic: our drivers' tokens, EVSE statuses, session changes and CDRs to
    push, pushes and CommandResults due, partner health alerts, our commands to
    CPOs whose result did not come in time."""
    from roaming.cpo.pushes import (
        cdr_pushes_enqueue,
        evse_status_pushes_enqueue,
        session_pushes_enqueue,
    )
    from roaming.emsp.commands import command_timeouts_sweep
    from roaming.emsp.tokens import token_pushes_enqueue
    from roaming.push import partner_push_alerts, pushes_deliver

    return {
        "tokens_queued": token_pushes_enqueue(),
        "evse_statuses_queued": evse_status_pushes_enqueue(),
        "sessions_queued": session_pushes_enqueue(),
        "cdrs_queued": cdr_pushes_enqueue(),
        "pushes_sent": pushes_deliver(),
        "command_results": command_results_retry_sweep(),
        "charging_profile_results": charging_profile_results_deliver(),
        "partners_alerted": partner_push_alerts(),
        "commands_timed_out": command_timeouts_sweep(),
    }


@shared_task(acks_late=True)
def roaming_pull_sync_task() -> list[dict[str, object]]:
    """Periodic: catch up partner CPOs' Locations and Tariffs (pull)."""
    from roaming.emsp.sync import pull_all

    return [
        {"module": r.module, "ok": r.ok, "stored": r.stored, "error": r.error}
        for r in pull_all()
    ]
