"""The CMS CA end to end with real chargers: SignCertificate -> CertificateSigned,
a reconnect on security profile 3 with the signed certificate, the portal
showing it; Basic-auth password rotation switched only when the charger accepts.
"""

from __future__ import annotations

import asyncio
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from ocpp.routing import on
from ocpp.v16 import call, call_result
from ocpp.v16.enums import Action
from ocpp.v201 import ChargePoint as V201ChargePoint
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as call_result201
from ocpp.v201.enums import Action as Action201

from stations.models import (
    CertificateDelivery,
    ChargePoint,
    ChargePointCommand,
    ChargerCertificate,
    OcppMessage,
    PasswordRotation,
    RotationStatus,
)
from stations.security.services import charge_point_password_rotate
from tests.factories import ChargePointFactory
from tests.ocpp.client import ClientChargePoint, auth_header, boot, charger, wait_for
from tests.ocpp.test_security_profiles import handshake_status
from tests.security.certs import (
    charger_key_and_csr,
    client_context,
    csr_pem,
    write_client_files,
)

pytestmark = pytest.mark.django_db(transaction=True)


class SecurityCharger16(ClientChargePoint):
    """A 1.6 charger with the security extension: installs what it is sent."""

    certificate_answer = "Accepted"
    password_answer = "Accepted"

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.certificates: asyncio.Queue[str] = asyncio.Queue()
        self.configuration: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    @on(Action.certificate_signed)
    async def on_certificate_signed(
        self, certificate_chain: str, **_
    ) -> call_result.CertificateSigned:
        self.certificates.put_nowait(certificate_chain)
        return call_result.CertificateSigned(status=self.certificate_answer)

    @on(Action.change_configuration)
    async def on_change_configuration(
        self, key: str, value: str, **_
    ) -> call_result.ChangeConfiguration:
        self.configuration.put_nowait((key, value))
        return call_result.ChangeConfiguration(status=self.password_answer)


class SecurityCharger201(V201ChargePoint):
    answer_reset = True

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.certificates: asyncio.Queue[str] = asyncio.Queue()
        self.variables: asyncio.Queue[dict] = asyncio.Queue()

    @on(Action201.certificate_signed)
    async def on_certificate_signed(
        self, certificate_chain: str, **_
    ) -> call_result201.CertificateSigned:
        self.certificates.put_nowait(certificate_chain)
        return call_result201.CertificateSigned(status="Accepted")

    @on(Action201.set_variables)
    async def on_set_variables(
        self, set_variable_data: list, **_
    ) -> call_result201.SetVariables:
        self.variables.put_nowait(set_variable_data[0])
        item = set_variable_data[0]
        return call_result201.SetVariables(
            set_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "component": item["component"],
                    "variable": item["variable"],
                }
            ]
        )


def _installed(ocpp_id: str) -> ChargerCertificate | None:
    return ChargerCertificate.objects.filter(
        charge_point__ocpp_id=ocpp_id, delivery=CertificateDelivery.INSTALLED
    ).first()


def test_16_charger_gets_a_certificate_and_reconnects_on_profile_3(
    tls_server, tmp_path, client, operator, station_a
):
    ChargePointFactory(
        ocpp_id="CP-CSR16",
        station=station_a,
        password="s3cret-pass-16",
        security_profile=2,
    )
    key, csr = charger_key_and_csr("CP-CSR16")

    async def request_certificate() -> tuple[str, str]:
        async with charger(
            tls_server, "CP-CSR16", password="s3cret-pass-16", cls=SecurityCharger16
        ) as cp:
            answer = await cp.call(call.SignCertificate(csr=csr_pem(csr)))
            chain = await asyncio.wait_for(cp.certificates.get(), 15)
            # Connected until the CMS has recorded the charger's answer.
            await asyncio.to_thread(wait_for, lambda: _installed("CP-CSR16"), 15)
            return answer.status, chain

    status, chain = asyncio.run(request_certificate())
    installed = _installed("CP-CSR16")

    assert status == "Accepted"
    assert installed.pem.strip() == chain.strip()
    assert "CN=CP-CSR16" in installed.subject

    ChargePoint.objects.filter(ocpp_id="CP-CSR16").update(security_profile=3)
    files = write_client_files(tmp_path, "CP-CSR16", key, chain)

    async def reconnect() -> str:
        context = client_context(tls_server.tls_ca_file, files)
        async with charger(tls_server, "CP-CSR16", ssl_context=context) as cp:
            return (await cp.call(boot())).status

    assert asyncio.run(reconnect()) == "Accepted"
    used = wait_for(
        lambda: ChargerCertificate.objects.filter(
            pk=installed.pk, last_used_at__isnull=False
        ).first()
    )
    client.force_login(operator)
    page = client.get(
        reverse("stations:charge_point_security", args=[used.charge_point_id])
    ).content.decode()
    assert used.serial_number[:15] in page
    assert (
        f"{used.not_after.astimezone(ZoneInfo(station_a.time_zone)):%Y-%m-%d}" in page
    )
    assert "Installed by the charger" in page
    assert "current" in page


def test_201_station_gets_a_certificate_and_reconnects_on_profile_3(
    tls_server, tmp_path
):
    ChargePointFactory(
        ocpp_id="CS-CSR201", password="s3cret-pass-201", security_profile=2
    )
    key, csr = charger_key_and_csr("CS-CSR201")

    async def request_certificate() -> tuple[str, str]:
        async with charger(
            tls_server,
            "CS-CSR201",
            password="s3cret-pass-201",
            cls=SecurityCharger201,
            subprotocols=("ocpp2.0.1",),
        ) as cs:
            answer = await cs.call(
                call201.SignCertificate(
                    csr=csr_pem(csr), certificate_type="ChargingStationCertificate"
                )
            )
            chain = await asyncio.wait_for(cs.certificates.get(), 15)
            await asyncio.to_thread(wait_for, lambda: _installed("CS-CSR201"), 15)
            return answer.status, chain

    status, chain = asyncio.run(request_certificate())
    installed = _installed("CS-CSR201")
    assert status == "Accepted"
    assert installed.certificate_type == "ChargingStationCertificate"

    ChargePoint.objects.filter(ocpp_id="CS-CSR201").update(security_profile=3)
    files = write_client_files(tmp_path, "CS-CSR201", key, chain)

    async def reconnect() -> str:
        context = client_context(tls_server.tls_ca_file, files)
        async with charger(
            tls_server,
            "CS-CSR201",
            ssl_context=context,
            cls=SecurityCharger201,
            subprotocols=("ocpp2.0.1",),
        ) as cs:
            return (await cs.call(call201.Heartbeat())).current_time

    assert asyncio.run(reconnect())


def test_csr_naming_another_charger_is_rejected(tls_server):
    ChargePointFactory(
        ocpp_id="CP-CSR-BAD", password="s3cret-pass-16", security_profile=2
    )
    _key, csr = charger_key_and_csr("CP-SOMEONE-ELSE")

    async def scenario() -> str:
        async with charger(
            tls_server, "CP-CSR-BAD", password="s3cret-pass-16", cls=SecurityCharger16
        ) as cp:
            return (await cp.call(call.SignCertificate(csr=csr_pem(csr)))).status

    assert asyncio.run(scenario()) == "Rejected"
    assert not ChargerCertificate.objects.filter(
        charge_point__ocpp_id="CP-CSR-BAD"
    ).exists()
    assert not ChargePointCommand.objects.filter(
        charge_point__ocpp_id="CP-CSR-BAD", action="CertificateSigned"
    ).exists()


# --- password rotation ---------------------------------------------------------------


def _rotate_while_connected(server, ocpp_id: str, password: str, answer: str) -> str:
    """Rotate the password of a connected 1.6 charger; the key/value it was sent."""

    async def scenario() -> tuple[str, str]:
        SecurityCharger16.password_answer = answer
        async with charger(
            server, ocpp_id, password=password, cls=SecurityCharger16
        ) as cp:
            await cp.call(boot())
            charge_point = await asyncio.to_thread(
                ChargePoint.objects.get, ocpp_id=ocpp_id
            )
            await asyncio.to_thread(
                charge_point_password_rotate,
                charge_point=charge_point,
                requested_by=None,
            )
            key, value = await asyncio.wait_for(cp.configuration.get(), 15)
            await asyncio.to_thread(
                wait_for,
                lambda: (
                    PasswordRotation.objects.filter(charge_point__ocpp_id=ocpp_id)
                    .exclude(status=RotationStatus.PENDING)
                    .exists()
                ),
                15,
            )
            return key, value

    try:
        key, value = asyncio.run(scenario())
    finally:
        SecurityCharger16.password_answer = "Accepted"
    assert key == "AuthorizationKey"
    return bytes.fromhex(value).decode()


def test_rotated_password_works_once_accepted_and_the_old_one_stops(asgi_server):
    ChargePointFactory(ocpp_id="CP-ROT-1", password="old-pass-1234567")

    new_password = _rotate_while_connected(
        asgi_server, "CP-ROT-1", "old-pass-1234567", "Accepted"
    )

    rotation = PasswordRotation.objects.get(charge_point__ocpp_id="CP-ROT-1")
    assert rotation.status == RotationStatus.SWITCHED
    assert len(new_password) == 20
    assert (
        handshake_status(
            asgi_server, "CP-ROT-1", headers=auth_header("CP-ROT-1", "old-pass-1234567")
        )
        == 401
    )

    async def with_new() -> str:
        async with charger(asgi_server, "CP-ROT-1", password=new_password) as cp:
            return (await cp.call(boot())).status

    assert asyncio.run(with_new()) == "Accepted"
    # The password is in neither the command row nor the message log.
    hexed = new_password.encode().hex()
    command = ChargePointCommand.objects.get(
        charge_point__ocpp_id="CP-ROT-1", action="ChangeConfiguration"
    )
    assert hexed not in str(command.payload)
    logged = OcppMessage.objects.filter(
        charge_point__ocpp_id="CP-ROT-1", action="ChangeConfiguration"
    )
    assert logged.exists()
    assert all(hexed not in str(row.payload) for row in logged)


def test_a_charger_rejecting_the_change_keeps_the_old_password(asgi_server):
    ChargePointFactory(ocpp_id="CP-ROT-2", password="old-pass-7654321")

    new_password = _rotate_while_connected(
        asgi_server, "CP-ROT-2", "old-pass-7654321", "Rejected"
    )

    rotation = PasswordRotation.objects.get(charge_point__ocpp_id="CP-ROT-2")
    assert rotation.status == RotationStatus.REJECTED
    assert (
        handshake_status(
            asgi_server, "CP-ROT-2", headers=auth_header("CP-ROT-2", new_password)
        )
        == 401
    )

    async def with_old() -> str:
        async with charger(asgi_server, "CP-ROT-2", password="old-pass-7654321") as cp:
            return (await cp.call(boot())).status

    assert asyncio.run(with_old()) == "Accepted"


def test_201_password_rotation_uses_set_variables(asgi_server):
    ChargePointFactory(ocpp_id="CS-ROT-201", password="old-pass-2010201")

    async def scenario() -> dict:
        async with charger(
            asgi_server,
            "CS-ROT-201",
            password="old-pass-2010201",
            cls=SecurityCharger201,
            subprotocols=("ocpp2.0.1",),
        ) as cs:
            charge_point = await asyncio.to_thread(
                ChargePoint.objects.get, ocpp_id="CS-ROT-201"
            )
            await asyncio.to_thread(
                charge_point_password_rotate,
                charge_point=charge_point,
                requested_by=None,
            )
            item = await asyncio.wait_for(cs.variables.get(), 15)
            await asyncio.to_thread(
                wait_for,
                lambda: PasswordRotation.objects.filter(
                    charge_point__ocpp_id="CS-ROT-201", status=RotationStatus.SWITCHED
                ).exists(),
                15,
            )
            return item

    item = asyncio.run(scenario())

    assert item["component"]["name"] == "SecurityCtrlr"
    assert item["variable"]["name"] == "BasicAuthPassword"
    assert ChargePoint.objects.get(ocpp_id="CS-ROT-201").check_password(
        item["attribute_value"]
    )


def test_both_passwords_count_while_the_charger_has_not_answered(asgi_server):
    """A charger that applies the new password before its answer arrives."""
    ChargePointFactory(ocpp_id="CP-ROT-3", password="old-pass-3333333")
    rotated: dict[str, str] = {}

    class ReconnectsFirst(SecurityCharger16):
        @on(Action.change_configuration)
        async def on_change_configuration(self, key: str, value: str, **_):
            rotated["password"] = bytes.fromhex(value).decode()
            await asyncio.sleep(3600)  # the answer never comes

    async def scenario() -> tuple[str, str]:
        async with charger(
            asgi_server, "CP-ROT-3", password="old-pass-3333333", cls=ReconnectsFirst
        ):
            charge_point = await asyncio.to_thread(
                ChargePoint.objects.get, ocpp_id="CP-ROT-3"
            )
            await asyncio.to_thread(
                charge_point_password_rotate,
                charge_point=charge_point,
                requested_by=None,
            )
            await asyncio.to_thread(wait_for, lambda: rotated.get("password"), 15)
        async with charger(asgi_server, "CP-ROT-3", password=rotated["password"]) as cp:
            with_new = (await cp.call(boot())).status
        async with charger(asgi_server, "CP-ROT-3", password="old-pass-3333333") as cp:
            with_old = (await cp.call(boot())).status
        return with_new, with_old

    assert asyncio.run(scenario()) == ("Accepted", "Accepted")
    assert (
        PasswordRotation.objects.get(charge_point__ocpp_id="CP-ROT-3").status
        == RotationStatus.PENDING
    )


# --- certificate renewal from the portal ------------------------------------------


class RenewingCharger16(SecurityCharger16):
    """Answers ExtendedTriggerMessage SignChargePointCertificate with a new CSR."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.triggered: asyncio.Queue[str] = asyncio.Queue()

    @on(Action.extended_trigger_message)
    async def on_extended_trigger_message(
        self, requested_message: str, **_
    ) -> call_result.ExtendedTriggerMessage:
        self.triggered.put_nowait(requested_message)
        return call_result.ExtendedTriggerMessage(status="Accepted")


def test_operations_renews_a_chargers_certificate_from_the_security_page(
    tls_server, client, operator, station_a
):
    charge_point = ChargePointFactory(
        ocpp_id="CP-RENEW",
        station=station_a,
        password="s3cret-pass-16",
        security_profile=2,
    )
    _key, csr = charger_key_and_csr("CP-RENEW")
    client.force_login(operator)

    async def scenario() -> tuple[str, str, int]:
        async with charger(
            tls_server, "CP-RENEW", password="s3cret-pass-16", cls=RenewingCharger16
        ) as cp:
            await cp.call(boot())
            response = await asyncio.to_thread(
                client.post,
                reverse(
                    "stations:charge_point_certificate_renew", args=[charge_point.pk]
                ),
            )
            requested = await asyncio.wait_for(cp.triggered.get(), 15)
            answer = await cp.call(call.SignCertificate(csr=csr_pem(csr)))
            await asyncio.wait_for(cp.certificates.get(), 15)
            await asyncio.to_thread(wait_for, lambda: _installed("CP-RENEW"), 15)
            return requested, answer.status, response.status_code

    requested, status, http_status = asyncio.run(scenario())

    assert http_status == 302
    assert requested == "SignChargePointCertificate"
    assert status == "Accepted"
    assert _installed("CP-RENEW") is not None


def test_support_cannot_renew_certificates(client, support, station_a):
    charge_point = ChargePointFactory(ocpp_id="CP-RENEW-S", station=station_a)
    client.force_login(support)

    response = client.post(
        reverse("stations:charge_point_certificate_renew", args=[charge_point.pk])
    )

    assert response.status_code == 403
    assert not ChargePointCommand.objects.filter(charge_point=charge_point).exists()
