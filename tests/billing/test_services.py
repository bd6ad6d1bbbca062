"""Rating sessions into CDRs: snapshots, idempotency, idle finalization, numbering."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.utils import timezone

from accounts.models import AuditLog
from billing import services
from billing.models import (
    Cdr,
    CreditNote,
    Payment,
    RatingStatus,
    SessionTariff,
    TariffRevision,
)
from billing.tasks import billing_sweep_task, session_rate_task
from cms.events import SessionStopped, emit
from sessions_app.models import IdToken
from stations.models import Connector
from tests.billing.conftest import INR_ELEMENT, record_status
from tests.factories import (
    ChargePointFactory,
    ChargingSessionFactory,
    ConnectorFactory,
    IdTokenFactory,
    NetworkFactory,
    StationFactory,
    UserFactory,
)


def test_reference_story_is_priced_396_rupees_plus_idle(inr_tariff, finished_session):
    session = finished_session(energy_wh=22000, idle_minutes=10)

    cdr = services.session_rate(session_id=session.pk)

    assert cdr is not None
    lines = {line["kind"]: Decimal(line["amount"]) for line in cdr.line_items}
    assert lines == {"energy": Decimal("396.00"), "idle": Decimal("30.00")}
    assert cdr.total_amount == Decimal("426.00")
    assert cdr.currency == "INR"
    assert cdr.energy_wh == 22000
    assert cdr.idle_seconds == 600


def test_rating_twice_issues_one_cdr(inr_tariff, finished_session):
    session = finished_session()

    session_rate_task(session_id=session.pk)
    session_rate_task(session_id=session.pk)

    assert Cdr.objects.filter(session=session).count() == 1
    assert SessionTariff.objects.get(session=session).status == RatingStatus.RATED


def test_later_tariff_edit_never_reprices_past_session(inr_tariff, finished_session):
    session = finished_session(energy_wh=22000, idle_minutes=0)
    services.session_rate(session_id=session.pk)
    before = Cdr.objects.get(session=session)

    services.tariff_update(
        actor=None,
        tariff=inr_tariff,
        data={"name": "Standard"},
        elements=[{"energy_price_per_kwh": Decimal("25")}],
    )
    services.session_rate(session_id=session.pk)

    after = Cdr.objects.get(session=session)
    assert after.total_amount == before.total_amount == Decimal("396.00")
    assert after.line_items == before.line_items
    assert TariffRevision.objects.filter(tariff=inr_tariff).count() == 2


def test_session_started_before_an_edit_is_rated_with_the_old_revision(
    inr_tariff, finished_session
):
    session = finished_session(energy_wh=22000, idle_minutes=0)
    TariffRevision.objects.filter(tariff=inr_tariff).update(
        valid_from=session.started_at - timedelta(days=1)
    )
    # edited while the session was running, before it was rated
    services.tariff_update(
        actor=None,
        tariff=inr_tariff,
        data={},
        elements=[{"energy_price_per_kwh": Decimal("25")}],
    )

    cdr = services.session_rate(session_id=session.pk)

    assert cdr.total_amount == Decimal("396.00")
    assert cdr.tariff_snapshot["revision"] == 1


def test_car_still_plugged_in_waits_then_finalizes_on_available(
    inr_tariff, finished_session, connector_a
):
    session = finished_session(idle_minutes=None)

    assert services.session_rate(session_id=session.pk) is None
    assert SessionTariff.objects.get(session=session).status == (
        RatingStatus.AWAITING_IDLE_END
    )
    record_status(connector_a, "Available", session.stopped_at + timedelta(minutes=20))
    cdr = services.session_idle_finalize(session.pk)

    assert cdr is not None
    assert cdr.idle_ended_at == session.stopped_at + timedelta(minutes=20)
    assert Decimal(cdr.line_items[-1]["amount"]) == Decimal("60.00")


def test_sweep_issues_when_idle_cap_reached(make_tariff, finished_session):
    make_tariff(idle_fee_cap=Decimal("50"))
    session = finished_session(idle_minutes=None)  # stopped 2.5 h ago, still plugged

    billing_sweep_task()

    cdr = Cdr.objects.get(session=session)
    assert cdr.idle_ended_at is None
    assert cdr.total_amount == Decimal("446.00")  # 396 + the 50 cap


def test_sweep_issues_after_the_idle_window_with_idle_up_to_its_end(
    inr_tariff, finished_session, settings
):
    settings.BILLING_IDLE_MAX_HOURS = 1
    session = finished_session(idle_minutes=None)

    counts = services.billing_sweep()

    cdr = Cdr.objects.get(session=session)
    assert counts["issued"] == 1
    assert cdr.idle_seconds == 3600
    assert cdr.total_amount == Decimal("396.00") + 60 * 3


def test_sweep_rates_stopped_sessions_no_hook_reported(inr_tariff, finished_session):
    session = finished_session()

    services.billing_sweep()

    assert Cdr.objects.filter(session=session).exists()


def test_missing_tariff_is_recorded_not_swallowed(finished_session):
    session = finished_session()

    assert services.session_rate(session_id=session.pk) is None

    billing = SessionTariff.objects.get(session=session)
    assert billing.status == RatingStatus.FAILED
    assert "No active tariff" in billing.error
    assert billing.attempts == 1
    assert not Cdr.objects.exists()


def test_retry_after_assigning_a_tariff_issues_the_cdr(
    make_tariff, finished_session, finance
):
    session = finished_session()
    services.session_rate(session_id=session.pk)
    tariff = make_tariff(assign=False)
    # The tariff did not exist when the session started: its first revision applies.
    services.tariff_assignment_add(actor=finance, tariff=tariff)

    cdr = services.session_rating_retry(actor=finance, session_id=session.pk)

    assert cdr is not None
    assert cdr.tariff_snapshot["applied_after_start"] is True


def test_most_specific_assignment_wins(make_tariff, finished_session, station_a):
    make_tariff(name="Default")
    station_tariff = make_tariff(
        name="Mall", assign=False, elements=[{"energy_price_per_kwh": Decimal("20")}]
    )
    services.tariff_assignment_add(actor=None, tariff=station_tariff, station=station_a)
    group = IdTokenFactory(kind=IdToken.Kind.GROUP, token="FLEET")
    fleet = make_tariff(
        name="Fleet", assign=False, elements=[{"energy_price_per_kwh": Decimal("15")}]
    )
    services.tariff_assignment_add(actor=None, tariff=fleet, token_group=group)
    driver = IdTokenFactory(parent=group)
    other = IdTokenFactory()

    fleet_cdr = services.session_rate(
        session_id=finished_session(energy_wh=10000, id_token=driver).pk
    )
    walk_in = services.session_rate(
        session_id=finished_session(
            energy_wh=10000,
            id_token=other,
            started_at=timezone.now() - timedelta(hours=2),
            charging_minutes=30,
        ).pk
    )

    assert fleet_cdr.total_amount == Decimal("150.00")
    assert walk_in.total_amount == Decimal("200.00")


def test_connector_power_class_assignment(make_tariff, finished_session, connector_a):
    make_tariff(name="AC")
    dc = make_tariff(
        name="DC", assign=False, elements=[{"energy_price_per_kwh": Decimal("24")}]
    )
    services.tariff_assignment_add(actor=None, tariff=dc, min_power_kw=Decimal("50"))
    Connector.objects.filter(pk=connector_a.pk).update(max_power_kw=Decimal("150"))

    cdr = services.session_rate(session_id=finished_session(energy_wh=10000).pk)

    assert cdr.total_amount == Decimal("240.00")


def test_cost_estimate_while_charging(inr_tariff, connector_a):
    start = timezone.now() - timedelta(minutes=30)
    session = ChargingSessionFactory(
        charge_point=connector_a.charge_point,
        connector=connector_a,
        meter_start_wh=0,
        started_at=start,
    )
    session.meter_values.create(
        charge_point=connector_a.charge_point,
        connector_number=1,
        timestamp=start + timedelta(minutes=20),
        raw_value="5000",
        value=5000,
        received_at=start,
    )

    assert services.session_cost_estimate(session) == Decimal("90.00")


def test_cost_estimate_without_tariff_raises(connector_a):
    session = ChargingSessionFactory(charge_point=connector_a.charge_point)

    with pytest.raises(services.NoTariffAssigned):
        services.session_cost_estimate(session)


def test_receipt_numbers_are_sequential_per_network(
    inr_tariff, finished_session, make_tariff
):
    numbers = []
    for hours in (10, 8, 6):
        session = finished_session(
            started_at=timezone.now() - timedelta(hours=hours), charging_minutes=30
        )
        numbers.append(services.session_rate(session_id=session.pk).sequence)
    other_network = NetworkFactory()
    make_tariff(network=other_network)
    other_connector = ConnectorFactory(
        charge_point=ChargePointFactory(station=StationFactory(network=other_network))
    )
    other = ChargingSessionFactory(
        charge_point=other_connector.charge_point,
        connector=other_connector,
        meter_stop_wh=2000,
        started_at=timezone.now() - timedelta(hours=2),
        stopped_at=timezone.now() - timedelta(hours=1),
        status="completed",
    )
    record_status(other_connector, "Available", timezone.now() - timedelta(minutes=50))

    first_of_other = services.session_rate(session_id=other.pk)

    assert numbers == [1, 2, 3]
    assert first_of_other.sequence == 1
    assert (
        first_of_other.number
        != Cdr.objects.get(sequence=1, network=inr_tariff.network).number
    )


def test_credit_note_refers_to_the_unchanged_cdr(inr_tariff, finished_session, finance):
    cdr = services.session_rate(session_id=finished_session(idle_minutes=0).pk)

    note = services.credit_note_issue(
        actor=finance, cdr=cdr, total_amount=Decimal("96"), reason="Faulty cable"
    )

    cdr.refresh_from_db()
    assert note.cdr == cdr
    assert note.total_amount == Decimal("96.00")
    assert cdr.total_amount == Decimal("396.00")
    assert note.number.startswith("C")
    assert AuditLog.objects.filter(action="billing.credit_note").count() == 1


def test_credit_notes_cannot_exceed_the_cdr_total(
    inr_tariff, finished_session, finance
):
    cdr = services.session_rate(session_id=finished_session(idle_minutes=0).pk)
    services.credit_note_issue(
        actor=finance, cdr=cdr, total_amount=Decimal("300"), reason="Goodwill"
    )

    with pytest.raises(services.ValidationError) as error:
        services.credit_note_issue(
            actor=finance, cdr=cdr, total_amount=Decimal("100"), reason="More"
        )

    assert "total_amount" in error.value.message_dict
    assert CreditNote.objects.count() == 1


def test_receipt_is_emailed_to_the_token_owner_once(
    inr_tariff, finished_session, django_capture_on_commit_callbacks
):
    owner = UserFactory(email="driver@example.org", is_driver=True)
    token = IdTokenFactory(owner=owner)
    session = finished_session(id_token=token)

    with django_capture_on_commit_callbacks(execute=True):
        cdr = services.session_rate(session_id=session.pk)
    services.cdr_receipt_email(cdr_id=cdr.pk)

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["driver@example.org"]
    assert cdr.number in message.subject
    assert "INR 426.00" in message.body
    assert message.attachments[0][2] == "application/pdf"
    cdr.refresh_from_db()
    assert cdr.receipt_emailed_to == "driver@example.org"


def test_no_email_without_an_owner(
    inr_tariff, finished_session, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.session_rate(session_id=finished_session().pk)

    assert mail.outbox == []


def test_invoice_later_payment_is_recorded_once_and_can_be_settled(
    inr_tariff, finished_session, finance, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        cdr = services.session_rate(session_id=finished_session().pk)
    again = services.cdr_payment_collect(cdr_id=cdr.pk)

    payment = Payment.objects.get(cdr=cdr)
    assert again == payment
    assert payment.status == Payment.Status.INVOICED
    assert payment.amount == cdr.total_amount
    services.payment_mark_paid(actor=finance, payment=payment, reference="BANK-1")
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID


def test_tariff_changes_are_audited(make_tariff, finance):
    tariff = make_tariff()
    services.tariff_update(
        actor=finance,
        tariff=tariff,
        data={"vat_percent": Decimal("18")},
        elements=[dict(INR_ELEMENT)],
    )

    actions = list(
        AuditLog.objects.filter(object_id=str(tariff.pk)).values_list(
            "action", flat=True
        )
    )
    assert sorted(actions) == ["tariff.assign", "tariff.create", "tariff.update"]
    update = AuditLog.objects.get(action="tariff.update")
    assert update.before["vat_percent"] == "0.00"
    assert update.after["vat_percent"] == "18"


def test_a_committed_session_stop_rates_the_session(
    inr_tariff, finished_session, django_capture_on_commit_callbacks
):
    session = finished_session()

    with django_capture_on_commit_callbacks(execute=True):
        emit(
            SessionStopped(
                session_id=session.pk, charge_point_pk=session.charge_point_id
            )
        )

    assert Cdr.objects.filter(session=session).exists()


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="row locks need PostgreSQL"
)
@pytest.mark.django_db(transaction=True)
def test_parallel_rating_numbers_have_no_gaps_or_duplicates(
    make_tariff, finished_session
):
    make_tariff()
    sessions = [
        finished_session(
            started_at=timezone.now() - timedelta(hours=40 - i), charging_minutes=20
        )
        for i in range(16)
    ]
    errors: list[BaseException] = []

    def work(session_ids: list[int]) -> None:
        try:
            for session_id in session_ids:
                services.session_rate(session_id=session_id)
        except BaseException as exc:  # surfaced by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    ids = [s.pk for s in sessions]
    # Every session is rated by two threads at once, in different orders.
    threads = [
        threading.Thread(target=work, args=(ids[i::4] + ids[i::4][::-1],))
        for i in range(4)
    ] + [threading.Thread(target=work, args=(ids[::-1],))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    sequences = sorted(Cdr.objects.values_list("sequence", flat=True))
    assert sequences == list(range(1, 17))


def test_sweep_collects_the_payment_of_a_cdr_whose_task_was_never_queued(
    inr_tariff, finished_session
):
    # No on-commit callbacks run here: the payment task is never queued, as
    # when the broker was down when the CDR was issued.
    cdr = services.session_rate(session_id=finished_session().pk)
    Cdr.objects.filter(pk=cdr.pk).update(issued_at=timezone.now())
    assert services.billing_sweep()["collected"] == 0  # its task may still come
    assert not Payment.objects.filter(cdr=cdr).exists()

    late = services.PAYMENT_SWEEP_GRACE_MINUTES + 1
    Cdr.objects.filter(pk=cdr.pk).update(
        issued_at=timezone.now() - timedelta(minutes=late)
    )
    counts = services.billing_sweep()

    payment = Payment.objects.get(cdr=cdr)
    assert counts["collected"] == 1
    assert (payment.amount, payment.currency) == (cdr.total_amount, cdr.currency)
    assert services.billing_sweep()["collected"] == 0
