"""Get/ClearCustomerInformation (2.0.1 N09/N10): sent by operations, the parts collected."""

from __future__ import annotations

import asyncio
import io

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from stations.models import ChargePointCommand, CommandStatus
from stations.remote.dispatch import command_wait
from stations.remote.models import CustomerInformationReport
from tests.factories import ChargePointFactory
from tests.ocpp.client import charger, wait_for
from tests.v201.station import boot_payload, booted, now, station

pytestmark = pytest.mark.django_db(transaction=True)

ASK = {
    "requestId": 7,
    "report": True,
    "clear": False,
    "customerIdentifier": "jana.novak@example.org",
}


def test_operations_ask_the_station_and_the_report_is_collected_from_its_parts(
    asgi_server, api, operator, support, finance, outsider, station_a
):
    charge_point = ChargePointFactory(station=station_a, ocpp_id="CP-201-CUST")
    old = ChargePointFactory(station=station_a, ocpp_id="CP-16-CUST")
    url = f"/api/v1/charge-points/{charge_point.pk}/commands/"

    def post(who: str, target_url: str = url) -> tuple[int, dict]:
        answer = api(who).post(
            target_url,
            {"action": "CustomerInformation", "payload": ASK},
            format="json",
        )
        return answer.status_code, answer.json()

    async def scenario() -> dict:
        seen: dict = {}
        async with (
            station(asgi_server, charge_point.ocpp_id) as client,
            charger(asgi_server, old.ocpp_id),
        ):
            await client.call("BootNotification", boot_payload())
            await asyncio.to_thread(wait_for, lambda: booted(charge_point.ocpp_id))
            # Privacy data: not for support or finance, nor another network.
            seen["denied"] = [
                (await asyncio.to_thread(post, who))[0]
                for who in ("support", "finance", "outsider")
            ]
            seen["old"] = await asyncio.to_thread(
                post, "operator", f"/api/v1/charge-points/{old.pk}/commands/"
            )
            code, body = await asyncio.to_thread(post, "operator")
            assert code == 202, body
            seen["asked"] = await asyncio.to_thread(command_wait, body["id"], 25)
            # The parts arrive out of order, and the last one twice.
            parts = [
                (1, "last used 2030-04-30; ", False),
                (0, "card CARD0042, sessions 12; ", True),
                (1, "last used 2030-04-30; ", False),
            ]
            for seq_no, data, tbc in parts:
                await client.call(
                    "NotifyCustomerInformation",
                    {
                        "data": data,
                        "tbc": tbc,
                        "seqNo": seq_no,
                        "generatedAt": now(),
                        "requestId": 7,
                    },
                )
            # N10: the CLI clears what the station holds of the customer.
            out = io.StringIO()
            await asyncio.to_thread(
                call_command,
                "send_command",
                charge_point.ocpp_id,
                "CustomerInformation",
                '{"requestId": 8, "report": false, "clear": true, '
                '"idToken": {"idToken": "CARD0042", "type": "ISO14443"}}',
                stdout=out,
            )
            seen["received"] = list(client.received)
        return seen

    seen = asyncio.run(scenario())

    assert seen["denied"] == [403, 403, 404]
    code, body = seen["old"]
    assert code == 400
    assert [e["field"] for e in body["errors"]] == ["action"]
    assert seen["asked"].status == CommandStatus.ACCEPTED
    assert seen["received"] == [
        ("CustomerInformation", ASK),
        (
            "CustomerInformation",
            {
                "requestId": 8,
                "report": False,
                "clear": True,
                "idToken": {"idToken": "CARD0042", "type": "ISO14443"},
            },
        ),
    ]
    assert list(
        ChargePointCommand.objects.filter(action="CustomerInformation")
        .order_by("pk")
        .values_list("requested_by__username", flat=True)
    ) == ["operator", None]
    report = CustomerInformationReport.objects.get(
        charge_point=charge_point, request_id=7
    )
    assert report.is_complete
    assert [p["seq_no"] for p in report.parts] == [0, 1]
    assert report.text == "card CARD0042, sessions 12; last used 2030-04-30; "
    assert report.command == seen["asked"]

    page_url = reverse("commands:customer_information", args=[charge_point.pk])
    pages = {}
    for who in (operator, support, finance, outsider):
        browser = Client()
        browser.force_login(who)
        pages[who.username] = browser.get(page_url)
    assert pages["operator"].status_code == 200
    assert "card CARD0042, sessions 12; last used" in pages["operator"].content.decode()
    assert [pages[n].status_code for n in ("support", "finance", "outsider")] == [
        403,
        403,
        404,
    ]
