"""Two-factor log-in: enrollment, the code step, replay, recovery codes, throttling,
enforcement per role and the administrator's reset."""

from __future__ import annotations

from datetime import timedelta

import pyotp
import pytest
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from accounts.models import AuditLog, Role, TotpDevice, User
from accounts.twofactor import (
    two_factor_enrollment_confirm,
    two_factor_enrollment_start,
    two_factor_verify,
)
from tests.factories import UserFactory, user_with_role

PASSWORD = "pw-test-1234"  # tests.factories.UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


def _enrolled(user: User) -> tuple[pyotp.TOTP, list[str]]:
    enrollment = two_factor_enrollment_start(user=user)
    totp = pyotp.TOTP(enrollment.secret)
    # The code of the previous step, so the next log-in's current code is new.
    earlier = timezone.now() - timedelta(seconds=30)
    codes = two_factor_enrollment_confirm(user=user, code=totp.at(earlier))
    assert codes is not None
    return totp, codes


def _password_step(client: Client, username: str):
    return client.post(
        "/accounts/login/",
        {"username": username, "password": PASSWORD, "next": "/stations/"},
    )


def test_enrollment_is_confirmed_by_a_matching_code_only():
    user = UserFactory(username="fay")
    enrollment = two_factor_enrollment_start(user=user)
    assert enrollment.uri.startswith("otpauth://totp/")
    assert "<svg" in enrollment.qr_svg

    totp = pyotp.TOTP(enrollment.secret)
    near = {totp.at(timezone.now() + timedelta(seconds=s)) for s in (-30, 0, 30)}
    wrong = next(f"{n:06d}" for n in range(1000) if f"{n:06d}" not in near)
    assert two_factor_enrollment_confirm(user=user, code=wrong) is None
    assert TotpDevice.objects.get(user=user).confirmed_at is None
    codes = two_factor_enrollment_confirm(
        user=user, code=pyotp.TOTP(enrollment.secret).now()
    )

    assert codes is not None
    assert len(set(codes)) == 10
    assert TotpDevice.objects.get(user=user).confirmed_at is not None
    assert AuditLog.objects.filter(action="two_factor.enabled", actor=user).exists()


def test_log_in_asks_for_the_code_after_the_password_and_refuses_a_replay():
    user = UserFactory(username="gil")
    totp, _ = _enrolled(user)
    client = Client()

    after_password = _password_step(client, "gil")
    assert after_password.status_code == 302
    assert after_password.url == "/accounts/login/code/"
    assert "_auth_user_id" not in client.session
    assert client.get("/stations/").status_code == 302  # not logged in yet

    code = totp.now()
    logged_in = client.post("/accounts/login/code/", {"code": code})
    assert logged_in.status_code == 302
    assert logged_in.url == "/stations/"
    assert client.session["_auth_user_id"] == str(user.pk)

    # The same code again (seen over a shoulder) does not log anyone in.
    other = Client()
    _password_step(other, "gil")
    replay = other.post("/accounts/login/code/", {"code": code})
    assert replay.status_code == 400
    assert "_auth_user_id" not in other.session


def test_a_recovery_code_logs_in_once():
    user = UserFactory(username="hal")
    _, codes = _enrolled(user)

    first = Client()
    _password_step(first, "hal")
    assert first.post("/accounts/login/code/", {"code": codes[0]}).status_code == 302

    second = Client()
    _password_step(second, "hal")
    again = second.post("/accounts/login/code/", {"code": codes[0].upper()})
    assert again.status_code == 400
    assert "_auth_user_id" not in second.session
    used = AuditLog.objects.get(action="two_factor.recovery_code_used")
    assert used.detail == "9 recovery code(s) left"


def test_wrong_codes_lock_the_account_and_the_right_password_does_not_reset_it(
    settings,
):
    user = UserFactory(username="ida")
    totp, _ = _enrolled(user)
    client = Client(REMOTE_ADDR="198.51.100.20")
    statuses = []
    for _ in range(settings.LOGIN_FAILURES_PER_USER):
        # The password again each time: it must not reset the code counter.
        _password_step(client, "ida")
        statuses.append(
            client.post("/accounts/login/code/", {"code": "12"}).status_code
        )

    assert statuses == [400] * (settings.LOGIN_FAILURES_PER_USER - 1) + [429]
    right_code = client.post("/accounts/login/code/", {"code": totp.now()})
    assert right_code.status_code == 429
    assert "_auth_user_id" not in client.session
    assert AuditLog.objects.filter(
        action="login.locked", detail__contains="wrong one-time code"
    ).exists()


def test_the_code_step_needs_the_password_step_first():
    user = UserFactory(username="jo")
    totp, _ = _enrolled(user)
    client = Client()

    response = client.post("/accounts/login/code/", {"code": totp.now()})

    assert response.status_code == 302
    assert response.url == "/accounts/login/"
    assert "_auth_user_id" not in client.session


def test_a_user_without_two_factor_logs_in_with_the_password_alone():
    UserFactory(username="kim")
    client = Client()

    response = _password_step(client, "kim")

    assert response.status_code == 302
    assert response.url == "/stations/"
    assert "_auth_user_id" in client.session


def test_a_required_role_must_enroll_before_anything_else(settings, network_a):
    settings.TWO_FACTOR_REQUIRED_ROLES = ["Administrator"]
    admin = user_with_role(Role.ADMINISTRATOR, network_a, username="lee")
    support = user_with_role(Role.SUPPORT, network_a, username="max")
    admin_client, support_client = Client(), Client()
    admin_client.force_login(admin)
    support_client.force_login(support)

    page = admin_client.get("/stations/")
    api = admin_client.get("/api/v1/networks/")
    assert page.status_code == 302
    assert page.url == "/accounts/two-factor/"
    assert api.status_code == 403
    assert "two-factor" in api.json()["errors"][0]["message"]
    assert support_client.get("/stations/").status_code == 200

    admin_client.post("/accounts/two-factor/", {"action": "start"})
    secret = TotpDevice.objects.get(user=admin).secret
    done = admin_client.post(
        "/accounts/two-factor/",
        {"action": "confirm", "code": pyotp.TOTP(secret).now()},
    )
    assert done.status_code == 200
    assert len(done.context["codes"]) == 10
    assert admin_client.get("/stations/").status_code == 200
    # Required: it cannot be turned off by the user.
    refused = admin_client.post(
        "/accounts/two-factor/",
        {"action": "disable", "code": pyotp.TOTP(secret).now()},
    )
    assert refused.status_code == 400
    assert TotpDevice.objects.filter(user=admin).exists()


def test_turning_off_needs_a_current_code():
    user = UserFactory(username="ned")
    totp, _ = _enrolled(user)
    client = Client()
    client.force_login(user)

    wrong = client.post("/accounts/two-factor/", {"action": "disable", "code": "1"})
    assert wrong.status_code == 400
    assert TotpDevice.objects.filter(user=user).exists()

    right = client.post(
        "/accounts/two-factor/", {"action": "disable", "code": totp.now()}
    )
    assert right.status_code == 302
    assert not TotpDevice.objects.filter(user=user).exists()
    assert AuditLog.objects.filter(action="two_factor.disabled", actor=user).exists()


@pytest.mark.parametrize("role", [Role.SUPPORT, Role.OPERATIONS, Role.FINANCE])
def test_only_an_administrator_resets_another_users_two_factor(role, network_a):
    target = user_with_role(Role.SUPPORT, network_a, username="oli")
    _enrolled(target)
    other = user_with_role(role, network_a, username=f"not-admin-{role}")
    admin = user_with_role(Role.ADMINISTRATOR, network_a, username="pat")
    url = f"/accounts/users/{target.pk}/two-factor/reset/"

    denied = Client()
    denied.force_login(other)
    assert denied.post(url).status_code in {403, 404}
    assert TotpDevice.objects.filter(user=target).exists()

    allowed = Client()
    allowed.force_login(admin)
    assert allowed.post(url).status_code == 302
    assert not TotpDevice.objects.filter(user=target).exists()
    reset = AuditLog.objects.get(action="two_factor.disabled")
    assert reset.actor == admin
    assert reset.detail == "reset by an administrator"


def test_verify_refuses_a_code_of_a_time_step_already_used():
    user = UserFactory(username="quin")
    totp, _ = _enrolled(user)
    code = totp.now()

    assert two_factor_verify(user=user, code=code) == "totp"
    assert two_factor_verify(user=user, code=code) == ""
