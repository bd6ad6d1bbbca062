"""Signed firmware images: the 1.6 security extension's SignedUpdateFirmware and
2.0.1's FirmwareType, and the signature states as failures."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.utils import timezone

from stations.fleet.models import CampaignTarget, TargetState
from stations.fleet.services import (
    CampaignInputError,
    campaign_create,
    campaign_start,
    campaigns_sweep,
)
from stations.models import ChargePoint, ChargePointCommand
from stations.ocpp import commands as neutral
from stations.ocpp.protocol import CALL
from stations.ocpp.v16 import commands as v16
from stations.ocpp.v16.validation import validate as validate_v16
from stations.ocpp.v201 import commands as v201
from stations.ocpp.v201.validation import validate as validate_v201
from stations.remote.models import ConfigurationKey
from tests.factories import ChargePointFactory
from tests.ocpp.client import exchange, raw_socket, wait_for

PEM = (
    "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUJ0vendorSigner\n"
    "-----END CERTIFICATE-----\n"
)
SIGNATURE = "c2lnbmVkIGJ5IHRoZSB2ZW5kb3I="
IMAGE = "https://firmware.example.com/signed-3.0.0.bin"
SIGNED = neutral.UpdateFirmware(
    location=IMAGE,
    retrieve_at=datetime(2030, 3, 1, 8, 0, tzinfo=UTC),
    signing_certificate=PEM,
    signature=SIGNATURE,
)


def test_a_signed_image_is_a_signed_update_firmware_for_16():
    call = v16.call_for(SIGNED)

    assert call.action == "SignedUpdateFirmware"
    validate_v16(call.action, CALL, call.payload)  # the whitepaper's schema
    assert call.payload["firmware"] == {
        "location": IMAGE,
        "retrieveDateTime": "2030-03-01T08:00:00Z",
        "signingCertificate": PEM,
        "signature": SIGNATURE,
    }
    assert isinstance(call.payload["requestId"], int)
    # The stored row reads back as the same neutral command.
    assert v16.command_of(call.action, call.payload) == SIGNED
    assert v16.answer_of(call.action, {"status": "InvalidCertificate"}).is_rejected


def test_a_signed_image_carries_its_signature_in_201_firmware_type():
    call = v201.call_for(SIGNED)

    assert call.action == "UpdateFirmware"
    validate_v201(call.action, CALL, call.payload)
    assert call.payload["firmware"]["signingCertificate"] == PEM
    assert call.payload["firmware"]["signature"] == SIGNATURE
    unsigned = v201.call_for(
        neutral.UpdateFirmware(location=IMAGE, retrieve_at=SIGNED.retrieve_at)
    )
    assert "signature" not in unsigned.payload["firmware"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("certificate", "signature", "field"),
    [
        (PEM, "", "signature"),
        ("", SIGNATURE, "signing_certificate"),
        ("not a certificate", SIGNATURE, "signing_certificate"),
        (PEM, "not base64!", "signature"),
    ],
)
def test_a_half_or_malformed_signature_is_refused_naming_the_field(
    operator, station_a, certificate, signature, field
):
    ChargePointFactory(station=station_a)
    with pytest.raises(CampaignInputError) as refused:
        campaign_create(
            network=station_a.network, name="x", location=IMAGE, version="3.0.0",
            created_by=operator, signing_certificate=certificate, signature=signature,
        )  # fmt: skip
    assert refused.value.field == field


async def next_call(socket: Any, action: str) -> list[Any]:
    """The next CALL of ``action``; other CMS calls meanwhile get NotSupported."""
    while True:
        frame = json.loads(await asyncio.wait_for(socket.recv(), 30))
        if frame[0] == 2 and frame[2] == action:
            return frame
        if frame[0] == 2:
            await socket.send(json.dumps([4, frame[1], "NotSupported", "", {}]))


def boot(vendor: str) -> list[Any]:
    return [2, "boot", "BootNotification", {"chargePointVendor": vendor, "chargePointModel": "S1", "firmwareVersion": "2.9.0"}]  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_campaign_sends_signed_where_supported_and_invalid_signature_fails(
    asgi_server, operator, station_a
):
    secure = ChargePointFactory(station=station_a, ocpp_id="CP-SIG-SEC")
    ChargePointFactory(station=station_a, ocpp_id="CP-SIG-OLD")
    # The whitepaper's required key, as the charger reported it.
    ConfigurationKey.objects.create(
        charge_point=secure, key="SecurityProfile", value="0", is_readonly=True,
        fetched_at=timezone.now(),
    )  # fmt: skip

    def booted() -> bool:
        return (
            ChargePoint.objects.filter(
                ocpp_id__in=["CP-SIG-SEC", "CP-SIG-OLD"], last_boot_at__isnull=False
            ).count()
            == 2
        )

    def start() -> int:
        wait_for(booted, 30, what="both chargers booted")
        campaign = campaign_create(
            network=station_a.network, name="Signed 3.0.0", location=IMAGE,
            version="3.0.0", created_by=operator, canary_percent=0, pause_s=0,
            max_attempts=1, halt_failure_percent=100,
            signing_certificate=PEM, signature=SIGNATURE,
        )  # fmt: skip
        campaign_start(campaign=campaign, actor=operator)
        campaigns_sweep()
        return campaign.pk

    def target(campaign_id: int, ocpp_id: str) -> CampaignTarget:
        return CampaignTarget.objects.select_related("firmware_update").get(
            campaign_id=campaign_id, charge_point__ocpp_id=ocpp_id
        )

    async def scenario() -> tuple[int, list[Any], list[Any]]:
        async with (
            raw_socket(asgi_server, "CP-SIG-SEC") as sec,
            raw_socket(asgi_server, "CP-SIG-OLD") as old,
        ):
            await exchange(sec, boot("SigCo"))
            await exchange(old, boot("SigCo"))
            campaign_id = await asyncio.to_thread(start)
            signed = await next_call(sec, "SignedUpdateFirmware")
            await sec.send(json.dumps([3, signed[1], {"status": "Accepted"}]))
            plain = await next_call(old, "UpdateFirmware")
            await old.send(json.dumps([3, plain[1], {}]))
            answer = await exchange(sec, [
                2, "fw-1", "SignedFirmwareStatusNotification",
                {"status": "InvalidSignature", "requestId": signed[3]["requestId"]},
            ])  # fmt: skip
            assert answer == [3, "fw-1", {}]

            def failed() -> CampaignTarget | None:
                campaigns_sweep()
                row = target(campaign_id, "CP-SIG-SEC")
                return row if row.state == TargetState.FAILED else None

            await asyncio.to_thread(
                wait_for, failed, 30, what="the signed target failed"
            )
            return campaign_id, signed, plain

    campaign_id, signed, plain = asyncio.run(scenario())

    assert signed[3]["firmware"]["signature"] == SIGNATURE
    assert signed[3]["firmware"]["signingCertificate"] == PEM.strip()
    assert plain[3]["location"] == IMAGE
    assert "signature" not in json.dumps(plain[3])
    failed = target(campaign_id, "CP-SIG-SEC")
    assert failed.detail == "InvalidSignature"
    assert failed.firmware_update.signature == SIGNATURE
    unsigned = target(campaign_id, "CP-SIG-OLD")
    assert unsigned.firmware_update.signature == ""
    assert (
        ChargePointCommand.objects.get(charge_point__ocpp_id="CP-SIG-SEC").action
        == "SignedUpdateFirmware"
    )
