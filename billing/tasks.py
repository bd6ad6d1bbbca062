"""Celery tasks of billing: take ids, call one service, safe to run twice."""

from __future__ import annotations

import smtplib

from celery import shared_task

from billing import services


@shared_task(acks_late=True)
def session_rate_task(*, session_id: int) -> None:
    """Rate a stopped session; its CDR is issued once its price is final."""
    services.session_rate(session_id=session_id)


@shared_task(acks_late=True)
def session_idle_finalize_task(*, session_id: int) -> None:
    """Issue the CDR of a session whose connector became Available."""
    services.session_idle_finalize(session_id)


@shared_task(acks_late=True)
def billing_sweep_task() -> dict[str, int]:
    """Rate sessions no hook rated, close idle windows, retry failed ratings."""
    return services.billing_sweep()


@shared_task(acks_late=True)
def cdr_payment_collect_task(*, cdr_id: int) -> None:
    services.cdr_payment_collect(cdr_id=cdr_id)


@shared_task(
    acks_late=True,
    autoretry_for=(OSError, smtplib.SMTPException),
    retry_backoff=True,
    max_retries=5,
)
def cdr_receipt_email_task(*, cdr_id: int) -> None:
    """Email the receipt to the driver; sends at most once."""
    services.cdr_receipt_email(cdr_id=cdr_id)
