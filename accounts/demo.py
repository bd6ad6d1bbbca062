"""The demo's users: one per role (scoped to the demo network by stations' part)
and a driver; their password is ``DEMO_PASSWORD``. Registered into ``cms.demo``."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group

from accounts.models import Role, User
from cms.demo import DemoDataError, DemoLoad, DemoTally, SharedPassword

# username, role, first name, last name; all scoped to the demo network only.
DEMO_USERS = (
    ("admin", Role.ADMINISTRATOR, "Ada", "Admin"),
    ("ops", Role.OPERATIONS, "Oskar", "Operations"),
    ("support", Role.SUPPORT, "Sofia", "Support"),
    ("finance", Role.FINANCE, "Felix", "Finance"),
)

DRIVER_USERNAME = "driver"


def _user(
    username: str,
    tally: DemoTally,
    password: SharedPassword,
    *,
    first_name: str,
    last_name: str,
    is_driver: bool = False,
) -> User:
    user, created = User.objects.get_or_create(
        username=username,
        defaults={
            "first_name": first_name,
            "last_name": last_name,
            "email": f"{username}@demo.example.org",
            "is_driver": is_driver,
        },
    )
    tally.add("users", created)
    if not password.matches(user.password):
        user.password = password.encoded
        user.save(update_fields=["password"])
        if not created:
            tally.updated.append(f"password of {username}")
    return user


def accounts_demo_load(load: DemoLoad) -> None:
    missing_roles = {str(role) for role in Role} - set(
        Group.objects.values_list("name", flat=True)
    )
    if missing_roles:
        raise DemoDataError(
            f"Role groups missing ({', '.join(sorted(missing_roles))}): "
            "run `manage.py migrate` first."
        )
    if not settings.DEMO_PASSWORD:
        raise DemoDataError("DEMO_PASSWORD is empty: the demo users need one.")
    password = load.password(settings.DEMO_PASSWORD)
    for username, role, first_name, last_name in DEMO_USERS:
        user = _user(
            username,
            load.tally,
            password,
            first_name=first_name,
            last_name=last_name,
        )
        if not user.groups.filter(name=str(role)).exists():
            user.groups.add(Group.objects.get(name=str(role)))
            load.tally.add("role memberships", True)
    _user(
        DRIVER_USERNAME,
        load.tally,
        password,
        first_name="Dana",
        last_name="Fischer",
        is_driver=True,
    )
