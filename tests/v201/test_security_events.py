"""SecurityEventNotification feeds the alerts alike from a 1.6 charger and a 2.0.1 station."""

from __future__ import annotations

import asyncio

import pytest

from alerts.models import Alert, Rule, Severity
from stations.security.models import SecurityEvent
from tests.factories import ChargePointFactory
from tests.ocpp.client import exchange, raw_socket, wait_for
from tests.v201.station import boot_payload, now, station

pytestmark = pytest.mark.django_db(transaction=True)


def _security_alerts(charge_point) -> list[Alert]:
    return list(
        Alert.objects.filter(rule=Rule.SECURITY_EVENT, charge_point=charge_point)
    )


def test_a_critical_security_event_is_an_alert_for_both_versions_a_minor_one_is_not(
    asgi_server, station_a
):
    old = ChargePointFactory(station=station_a, ocpp_id="CP-SEC-16")
    new = ChargePointFactory(station=station_a, ocpp_id="CP-SEC-201")
    # Not critical in the lists of either version (1.6 whitepaper A04, 2.0.1
    # Appendix "Security events"): kept, not alerted.
    minor = {"16": "InvalidCentralSystemCertificate", "201": "InvalidCsmsCertificate"}

    async def ocpp16() -> None:
        async with raw_socket(asgi_server, old.ocpp_id) as socket:
            frames = [
                [
                    2,
                    "b",
                    "BootNotification",
                    {"chargePointVendor": "ACME", "chargePointModel": "AC-22"},
                ],
                [
                    2,
                    "s1",
                    "SecurityEventNotification",
                    {"type": minor["16"], "timestamp": now()},
                ],
                [
                    2,
                    "s2",
                    "SecurityEventNotification",
                    {
                        "type": "TamperDetectionActivated",
                        "timestamp": now(),
                        "techInfo": "cabinet door",
                    },
                ],
                # Resent (its answer was lost): the same alert, not a second.
                [
                    2,
                    "s3",
                    "SecurityEventNotification",
                    {
                        "type": "TamperDetectionActivated",
                        "timestamp": now(),
                        "techInfo": "cabinet door",
                    },
                ],
            ]
            for frame in frames:
                answer = await exchange(socket, frame)
                assert answer[0] == 3, answer

    async def ocpp201() -> None:
        async with station(asgi_server, new.ocpp_id) as client:
            await client.call("BootNotification", boot_payload())
            await client.call(
                "SecurityEventNotification", {"type": minor["201"], "timestamp": now()}
            )
            await client.call(
                "SecurityEventNotification",
                {
                    "type": "TamperDetectionActivated",
                    "timestamp": now(),
                    "techInfo": "cabinet door",
                },
            )

    asyncio.run(ocpp16())
    asyncio.run(ocpp201())

    for charge_point in (old, new):
        wait_for(
            lambda cp=charge_point: _security_alerts(cp),
            what=f"a security alert for {charge_point.ocpp_id}",
        )
    shown = {}
    for charge_point in (old, new):
        (alert,) = _security_alerts(charge_point)
        assert alert.resolved_at is None
        assert alert.severity == Severity.CRITICAL
        assert alert.context["event_type"] == "TamperDetectionActivated"
        assert "cabinet door" in alert.detail
        shown[charge_point.ocpp_id] = alert.title.removeprefix(charge_point.ocpp_id)
    assert shown["CP-SEC-16"] == shown["CP-SEC-201"]
    # The minor events came first on each socket, so they were judged already.
    assert set(
        SecurityEvent.objects.filter(charge_point__in=[old, new]).values_list(
            "kind", flat=True
        )
    ) == {"TamperDetectionActivated", *minor.values()}
    assert Alert.objects.filter(rule=Rule.SECURITY_EVENT).count() == 2
