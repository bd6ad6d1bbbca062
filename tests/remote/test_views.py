"""Remote operations pages show the charger's answers in the product's terms."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from stations.models import ChargePointCommand, CommandStatus

pytestmark = pytest.mark.django_db


def composite_answered(charge_point, answer: dict) -> ChargePointCommand:
    now = timezone.now()
    return ChargePointCommand.objects.create(
        charge_point=charge_point,
        action="GetCompositeSchedule",
        payload={"connectorId": 1, "duration": 3600},
        requested_at=now,
        finished_at=now,
        status=CommandStatus.ACCEPTED,
        response_payload=answer,
    )


def profile_page(client, user, charge_point) -> str:
    client.force_login(user)
    page = client.get(reverse("commands:profiles", args=[charge_point.pk]))
    assert page.status_code == 200
    return page.content.decode()


def test_profile_page_charts_the_last_composite_schedule(
    client, operator, charge_point_a
):
    composite_answered(
        charge_point_a,
        {
            "status": "Accepted",
            "connectorId": 1,
            "scheduleStart": "2026-03-01T12:30:00Z",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "duration": 3600,
                "chargingSchedulePeriod": [
                    {"startPeriod": 0, "limit": 16},
                    {"startPeriod": 1800, "limit": 8},
                ],
            },
        },
    )

    html = profile_page(client, operator, charge_point_a)

    assert "for connector 1" in html
    chart = re.search(
        r'<script id="composite-data" type="application/json">(.*?)</script>', html
    )
    assert chart is not None
    assert json.loads(chart.group(1)) == {
        "rate_unit": "A",
        "duration_s": 3600,
        "periods": [{"start_s": 0, "limit": 16.0}, {"start_s": 1800, "limit": 8.0}],
    }


def test_profile_page_says_when_the_charger_has_no_schedule(
    client, operator, charge_point_a
):
    composite_answered(charge_point_a, {"status": "Accepted"})  # no chargingSchedule

    html = profile_page(client, operator, charge_point_a)

    assert "has no schedule for that connector (status Accepted)" in html
    assert 'id="composite-data"' not in html
