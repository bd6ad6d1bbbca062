"""Our commands to a CPO partner (mod_commands Sender): the synchronous
CommandResponse, the CommandResult at our response_url, timeouts, audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import AuditLog
from cms.errors import InputError
from roaming.emsp.commands import command_send, command_timeouts_sweep
from roaming.models import EmspCommand, Partner
from tests.factories import IdTokenFactory, UserFactory
from tests.roaming.cpo_peer import CpoPeer
from tests.roaming.emsp import EmspPlatform

pytestmark = pytest.mark.django_db(transaction=True)


def _partner() -> Partner:
    return Partner.objects.get(country_code="FR", party_id="CPX")


def test_start_session_is_accepted_then_its_result_arrives(
    registered_cpo: CpoPeer, cpo: str
):
    driver = UserFactory(username="driver-abroad")
    token = IdTokenFactory(token="ABROAD-1", owner=driver)
    command = command_send(
        partner=_partner(),
        type="START_SESSION",
        actor=driver,
        id_token=token,
        location_id="LOC1",
        evse_uid="FR*CPX*E1",
        connector_id="1",
    )

    assert (command.response, command.timeout_s, command.result) == (
        "ACCEPTED",
        30,
        "",
    )
    [sent] = registered_cpo.commands("START_SESSION")
    assert sent.body["token"]["uid"] == "ABROAD-1"
    assert sent.body["token"]["party_id"] == "CMS"
    assert sent.body["location_id"] == "LOC1"
    assert sent.body["evse_uid"] == "FR*CPX*E1"
    assert sent.body["connector_id"] == "1"
    assert sent.body["authorization_reference"] == command.reference
    assert sent.body["response_url"] == (
        f"{cpo}/ocpi/emsp/2.2.1/commands/START_SESSION/{command.reference}"
    )
    assert sent.headers["ocpi-to-party-id"] == "CPX"

    answer = registered_cpo.send_result(sent, "ACCEPTED")
    assert (answer.status, answer.status_code) == (200, 1000)
    command.refresh_from_db()
    assert command.result == "ACCEPTED"
    assert command.result_at is not None
    # A second CommandResult does not overwrite the first.
    registered_cpo.send_result(sent, "FAILED")
    command.refresh_from_db()
    assert command.result == "ACCEPTED"

    sent_audit = AuditLog.objects.get(action="ocpi.command.start_session")
    assert sent_audit.actor == driver
    assert sent_audit.after["response"] == "ACCEPTED"
    assert AuditLog.objects.filter(action="ocpi.command.result").count() == 1


def test_each_command_carries_the_fields_the_spec_asks_for(registered_cpo: CpoPeer):
    token = IdTokenFactory(token="ABROAD-2")
    expiry = timezone.now() + timedelta(minutes=30)
    command_send(
        partner=_partner(),
        type="RESERVE_NOW",
        actor=None,
        id_token=token,
        location_id="LOC1",
        evse_uid="FR*CPX*E1",
        reservation_id="R-7",
        expiry=expiry,
    )
    command_send(
        partner=_partner(),
        type="UNLOCK_CONNECTOR",
        actor=None,
        location_id="LOC1",
        evse_uid="FR*CPX*E1",
        connector_id="2",
    )
    registered_cpo.command_response = {
        "result": "UNKNOWN_SESSION",
        "timeout": 10,
        "message": [{"language": "en", "text": "No such session"}],
    }
    stop = command_send(
        partner=_partner(), type="STOP_SESSION", actor=None, session_id="S-42"
    )

    [reserve] = registered_cpo.commands("RESERVE_NOW")
    assert reserve.body["reservation_id"] == "R-7"
    assert reserve.body["token"]["uid"] == "ABROAD-2"
    assert reserve.body["expiry_date"] == expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
    [unlock] = registered_cpo.commands("UNLOCK_CONNECTOR")
    assert {k: unlock.body[k] for k in ("location_id", "evse_uid", "connector_id")} == {
        "location_id": "LOC1",
        "evse_uid": "FR*CPX*E1",
        "connector_id": "2",
    }
    assert "token" not in unlock.body
    [stop_sent] = registered_cpo.commands("STOP_SESSION")
    assert stop_sent.body["session_id"] == "S-42"
    assert (stop.response, stop.response_message) == (
        "UNKNOWN_SESSION",
        "No such session",
    )


def test_a_result_that_does_not_come_is_timeout_and_a_cpo_that_is_down_failed(
    registered_cpo: CpoPeer,
):
    token = IdTokenFactory(token="ABROAD-3")
    command = command_send(
        partner=_partner(),
        type="START_SESSION",
        actor=None,
        id_token=token,
        location_id="LOC1",
    )
    assert command_timeouts_sweep(now=command.created_at + timedelta(seconds=29)) == 0
    assert command_timeouts_sweep(now=command.created_at + timedelta(seconds=31)) == 1
    command.refresh_from_db()
    assert command.result == "TIMEOUT"
    # A result arriving late still counts: the CPO knows what happened.
    [sent] = registered_cpo.commands("START_SESSION")
    registered_cpo.send_result(sent, "EVSE_OCCUPIED")
    command.refresh_from_db()
    assert command.result == "EVSE_OCCUPIED"

    registered_cpo.down = True
    failed = command_send(
        partner=_partner(),
        type="START_SESSION",
        actor=None,
        id_token=token,
        location_id="LOC1",
    )
    assert (failed.response, failed.result) == ("", "FAILED")
    assert "503" in failed.error
    assert EmspCommand.objects.filter(result="FAILED").count() == 1


def test_bad_input_and_strangers_are_refused(
    registered_cpo: CpoPeer, registered: EmspPlatform
):
    token = IdTokenFactory(token="ABROAD-4")
    with pytest.raises(InputError) as missing:
        command_send(
            partner=_partner(), type="START_SESSION", actor=None, id_token=token
        )
    assert missing.value.field == "location_id"
    with pytest.raises(InputError) as unknown:
        command_send(partner=_partner(), type="REBOOT", actor=None)
    assert unknown.value.field == "type"
    emsp_partner = Partner.objects.get(country_code="DE", party_id="EMS")
    with pytest.raises(InputError) as not_cpo:
        command_send(partner=emsp_partner, type="STOP_SESSION", actor=None,
                     session_id="S")  # fmt: skip
    assert not_cpo.value.field == "partner"

    command = command_send(
        partner=_partner(), type="STOP_SESSION", actor=None, session_id="S-1"
    )
    [sent] = registered_cpo.commands("STOP_SESSION")
    url = sent.body["response_url"]
    bad = registered_cpo.call("POST", url, body={"result": "MAYBE"}, routing=True)
    assert (bad.status, bad.status_code) == (200, 2001)
    assert "result" in bad.body["status_message"]
    empty = registered_cpo.call("POST", url, body={}, routing=True)
    assert empty.status_code == 2001
    malformed = registered_cpo.call("POST", url, raw_body=b"{no", routing=True)
    assert malformed.status == 400
    other = registered_cpo.call(
        "POST", url.replace(command.reference, "0" * 32), body={"result": "ACCEPTED"}
    )
    assert other.status == 404
    # An eMSP partner cannot post results at all; the command is untouched.
    stranger = registered.call("POST", url, body={"result": "ACCEPTED"})
    assert stranger.status == 403
    command.refresh_from_db()
    assert command.result == ""
