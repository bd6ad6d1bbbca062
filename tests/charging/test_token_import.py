from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from accounts.models import AuditLog
from sessions_app.models import IdToken
from sessions_app.token_import import IdTokenImportError, id_tokens_import
from tests.factories import IdTokenFactory, UserFactory

pytestmark = pytest.mark.django_db

FILE = """token,status,expiry,parent,owner_email
FLEET01,Accepted,,,
04A1B2C3,Accepted,2027-12-31,FLEET01,driver@example.org
04A1B2C4,blocked,2027-06-30T12:00:00Z,FLEET01,
"""


@pytest.fixture
def driver(db):
    return UserFactory(username="driver", email="driver@example.org")


def _import(text, network, actor=None):
    return id_tokens_import(actor=actor, csv_text=text, network=network)


def test_import_creates_tokens_with_parents_owners_and_expiry(
    network_a, driver, operator
):
    summary = _import(FILE, network_a, actor=operator)
    assert (summary.created, summary.updated) == (3, 0)
    card = IdToken.objects.get(token="04A1B2C3")
    assert card.network == network_a
    assert card.parent.token == "FLEET01"
    assert card.owner == driver
    # A date is valid through that whole day in the network's time (Berlin, CET).
    assert card.expires_at == datetime(2027, 12, 31, 23, 0, tzinfo=UTC)
    blocked = IdToken.objects.get(token="04A1B2C4")
    assert blocked.status == "Blocked"
    assert blocked.expires_at == datetime(2027, 6, 30, 12, 0, tzinfo=UTC)
    assert (
        AuditLog.objects.filter(action="id_token.import_create", actor=operator).count()
        == 3
    )


def test_reimport_updates_without_duplicating(network_a, driver):
    _import(FILE, network_a)
    summary = _import(
        "Token,Status,Parent Token,Owner Email\n"
        "04a1b2c3,Blocked,,\n"
        "FLEET01,Accepted,,\n",
        network_a,
    )
    assert (summary.created, summary.updated, summary.unchanged) == (0, 1, 1)
    assert IdToken.objects.count() == 3
    card = IdToken.objects.get(token="04A1B2C3")
    assert (card.status, card.parent, card.owner) == ("Blocked", None, None)
    # The expiry column was not in the file, so the expiry stays.
    assert card.expires_at is not None


def test_a_bad_line_rejects_the_whole_file_naming_line_and_field(network_a):
    text = (
        "token,status,expiry,parent,owner_email\n"
        "GOOD1,Accepted,,,\n"
        "GOOD2,Maybe,,,\n"
        "GOOD3,Accepted,31/12/2027,,\n"
        "GOOD4,Accepted,,NOSUCH,\n"
        "GOOD5,Accepted,,,nobody@example.org\n"
        ",Accepted,,,\n"
        "THIS-TOKEN-IS-FAR-TOO-LONG,Accepted,,,\n"
        "good1,Accepted,,,\n"
    )
    with pytest.raises(IdTokenImportError) as caught:
        _import(text, network_a)
    reported = {(error.line, error.column) for error in caught.value.errors}
    assert {
        (3, "status"),
        (4, "expiry"),
        (7, "token"),
        (8, "token"),
    } <= reported
    assert not IdToken.objects.exists()

    # With the line-level errors fixed, cross-line checks report theirs.
    with pytest.raises(IdTokenImportError) as caught:
        _import(
            "token,parent,owner_email\n"
            "GOOD1,,\n"
            "GOOD4,NOSUCH,\n"
            "GOOD5,,nobody@example.org\n"
            "good1,,\n",
            network_a,
        )
    reported = {(error.line, error.column) for error in caught.value.errors}
    assert reported == {(3, "parent"), (4, "owner_email"), (5, "token")}
    assert not IdToken.objects.exists()


def test_unknown_column_is_reported_on_the_header_line(network_a):
    with pytest.raises(IdTokenImportError) as caught:
        _import("token,colour\nA1,red\n", network_a)
    assert [(e.line, e.column) for e in caught.value.errors] == [(1, "colour")]


def test_parent_cycle_is_refused(network_a):
    with pytest.raises(IdTokenImportError) as caught:
        _import("token,parent\nA1,B1\nB1,A1\n", network_a)
    assert {(e.line, e.column) for e in caught.value.errors} == {
        (2, "parent"),
        (3, "parent"),
    }
    assert not IdToken.objects.exists()


def test_token_of_another_network_is_not_taken_over(network_a, network_b):
    IdTokenFactory(token="SHARED", network=network_b, status="Accepted")
    with pytest.raises(IdTokenImportError) as caught:
        _import("token,status\nSHARED,Blocked\n", network_a)
    assert [(e.line, e.column) for e in caught.value.errors] == [(2, "token")]
    shared = IdToken.objects.get(token="SHARED")
    assert (shared.network, shared.status) == (network_b, "Accepted")


def test_management_command_imports_a_file(tmp_path, network_a, driver):
    path = tmp_path / "tokens.csv"
    path.write_text(FILE, encoding="utf-8")
    call_command("import_id_tokens", str(path), "--network", "Network A")
    call_command("import_id_tokens", str(path), "--network", "Network A")
    assert IdToken.objects.filter(network=network_a).count() == 3


def test_management_command_reports_bad_lines_and_writes_nothing(
    tmp_path, network_a, capsys
):
    path = tmp_path / "tokens.csv"
    path.write_text("token,status\nOK1,Accepted\nBAD,Sometimes\n", encoding="utf-8")
    with pytest.raises(CommandError, match="Nothing imported"):
        call_command("import_id_tokens", str(path), "--network", "Network A")
    assert "line 3, status" in capsys.readouterr().err
    assert not IdToken.objects.exists()


def test_management_command_refuses_an_unknown_network(tmp_path, db):
    path = tmp_path / "tokens.csv"
    path.write_text("token\nA1\n", encoding="utf-8")
    with pytest.raises(CommandError, match="No network"):
        call_command("import_id_tokens", str(path), "--network", "Nowhere")
    assert not IdToken.objects.exists()
