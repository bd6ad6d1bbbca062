"""How an issued CDR gets paid: a provider interface and the built-in provider.

``settings.BILLING_PAYMENT_PROVIDER`` names the provider class. The built-in
``InvoiceLaterProvider`` takes no money: it records the amount as due on the
receipt number, and finance marks it paid when the invoice is settled. A card or
wallet provider implements the same interface; it is called by a Celery task
after the CDR's transaction has committed, never inside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from django.conf import settings
from django.utils.module_loading import import_string

if TYPE_CHECKING:
    from billing.models import Cdr


@dataclass(frozen=True)
class PaymentOutcome:
    status: str  # a billing.models.Payment.Status value
    reference: str


class PaymentProvider(Protocol):
    code: str

    def collect(self, *, cdr: Cdr) -> PaymentOutcome:
        """Collect (or arrange collection of) the CDR's total."""
        ...


class InvoiceLaterProvider:
    """The driver or fleet is invoiced; the amount stays due until finance records it."""

    code = "invoice_later"

    def collect(self, *, cdr: Cdr) -> PaymentOutcome:
        from billing.models import Payment

        return PaymentOutcome(status=Payment.Status.INVOICED, reference=cdr.number)


def payment_provider() -> PaymentProvider:
    provider_class = import_string(settings.BILLING_PAYMENT_PROVIDER)
    return provider_class()
