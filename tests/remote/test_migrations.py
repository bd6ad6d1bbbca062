"""Stored charging profile periods move from 1.6 field names to the domain's own."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps

from stations.remote.models import ChargingProfile
from tests.factories import ChargePointFactory

pytestmark = pytest.mark.django_db

migration = importlib.import_module(
    "stations.migrations.0010_charging_profile_periods_neutral"
)


def test_periods_in_16_terms_are_renamed_and_back():
    profile = ChargingProfile.objects.create(
        charge_point=ChargePointFactory(),
        connector_number=0,
        purpose="TxDefaultProfile",
        stack_level=0,
        kind="Relative",
        rate_unit="A",
        periods=[
            {"startPeriod": 0, "limit": 16.0, "numberPhases": 3},
            {"startPeriod": 600, "limit": 8.0},
        ],
        created_at="2026-01-01T00:00:00Z",
    )

    migration.forward(apps, None)
    profile.refresh_from_db()
    assert profile.periods == [
        {"start_s": 0, "limit": 16.0, "phases": 3},
        {"start_s": 600, "limit": 8.0},
    ]
    migration.backward(apps, None)
    profile.refresh_from_db()
    assert profile.periods[0] == {"startPeriod": 0, "limit": 16.0, "numberPhases": 3}
