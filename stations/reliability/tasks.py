"""The periodic outage-record refresh (``PERIODIC_TASKS["outage-records"]``)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from stations.models import Connector
from stations.reliability.outages import outages_refresh


@shared_task(ignore_result=True)
def outages_refresh_task() -> int:
    """Write the outage records of every assigned port; safe to run twice."""
    connectors = list(
        Connector.objects.filter(charge_point__station__isnull=False).order_by("pk")
    )
    return outages_refresh(
        connectors=connectors,
        now=timezone.now(),
        lookback=timedelta(hours=settings.OUTAGE_REFRESH_LOOKBACK_HOURS),
    )
