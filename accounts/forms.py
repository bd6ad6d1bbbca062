"""Forms of the user administration and the audit log filter."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, User
from cms.forms import TimeZoneInput, form_field
from stations.models import Network

ROLE_HELP = (
    "Operations: live network, all commands, configuration. Support: stations, "
    "sessions, reset/unlock/start/stop. Finance: sessions, tariffs, exports. "
    "Administrator: users, roles, networks (sees every network)."
)


def _role_field() -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        choices=Role.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=ROLE_HELP,
    )


class _PasswordPairMixin(forms.Form):
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password (again)",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def _password_user(self) -> User | None:
        return None

    def clean_password2(self) -> str:
        first = self.cleaned_data.get("password1")
        second = self.cleaned_data.get("password2", "")
        if first and second and first != second:
            raise forms.ValidationError("The two passwords do not match.")
        if second:
            try:
                password_validation.validate_password(second, self._password_user())
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return second


class UserCreateForm(_PasswordPairMixin):
    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="Letters, digits and @/./+/-/_ only.",
    )
    email = forms.EmailField(required=False)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    roles = _role_field()
    networks = forms.ModelMultipleChoiceField(
        queryset=Network.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The networks this user may see and act on.",
    )
    is_driver = forms.BooleanField(
        label="Driver account",
        required=False,
        help_text="Uses the app API only: no portal access, no roles, no networks.",
    )

    field_order = [
        "username",
        "email",
        "first_name",
        "last_name",
        "password1",
        "password2",
        "roles",
        "networks",
        "is_driver",
    ]

    def __init__(self, *args: Any, networks: QuerySet[Network], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "networks", forms.ModelChoiceField).queryset = networks

    def _password_user(self) -> User | None:
        # Lets UserAttributeSimilarityValidator compare with the new user's names.
        return User(
            username=self.cleaned_data.get("username", ""),
            email=self.cleaned_data.get("email", ""),
            first_name=self.cleaned_data.get("first_name", ""),
            last_name=self.cleaned_data.get("last_name", ""),
        )

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("A user with that username already exists.")
        return username

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("is_driver"):
            if cleaned.get("roles"):
                self.add_error("roles", "A driver account cannot hold portal roles.")
            if cleaned.get("networks"):
                self.add_error("networks", "A driver account has no network scope.")
        return cleaned


class UserEditForm(forms.Form):
    email = forms.EmailField(required=False)
    first_name = forms.CharField(max_length=150, required=False)
    last_name = forms.CharField(max_length=150, required=False)
    is_active = forms.BooleanField(
        label="Active",
        required=False,
        help_text="Inactive users cannot log in or use API tokens.",
    )
    roles = _role_field()

    @classmethod
    def initial_for(cls, user: User) -> dict[str, Any]:
        return {
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "is_active": user.is_active,
            "roles": [group.name for group in user.groups.all()],
        }


class PasswordResetForm(_PasswordPairMixin):
    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        self.user = user
        super().__init__(*args, **kwargs)

    def _password_user(self) -> User | None:
        return self.user


class NetworkGrantForm(forms.Form):
    network = forms.ModelChoiceField(queryset=Network.objects.none())

    def __init__(self, *args: Any, networks: QuerySet[Network], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "network", forms.ModelChoiceField).queryset = networks


# People's actions and the system's (sweeps, load management, charger-driven
# changes: no actor) are separate streams; people's are shown unless asked.
AUDIT_STREAMS = [
    ("people", "People"),
    ("system", "System"),
    ("all", "Everything"),
]


def audit_stream(entries: QuerySet[Any], stream: str) -> QuerySet[Any]:
    """The entries of one stream (``people``, ``system`` or ``all``)."""
    if stream == "system":
        return entries.filter(actor__isnull=True)
    if stream == "all":
        return entries
    return entries.filter(actor__isnull=False)


class AuditLogFilterForm(forms.Form):
    stream = forms.ChoiceField(choices=AUDIT_STREAMS, required=False, label="Stream")
    actor = forms.CharField(
        required=False,
        max_length=150,
        widget=forms.TextInput(attrs={"placeholder": "exact username"}),
    )
    action = forms.ChoiceField(required=False)
    object_type = forms.ChoiceField(required=False, label="Object type")
    network = forms.ModelChoiceField(
        queryset=Network.objects.none(), required=False, empty_label="All networks"
    )
    date_from = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False,
        label="To (inclusive)",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(
        self,
        *args: Any,
        networks: QuerySet[Network],
        actions: list[str],
        object_types: list[str],
        zone: ZoneInfo,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.zone = zone  # dates are days in the reader's zone
        self.fields["date_from"].label = f"From ({zone.key})"
        self.fields["date_to"].label = f"To ({zone.key}, inclusive)"
        form_field(self, "network", forms.ModelChoiceField).queryset = networks
        form_field(self, "action", forms.ChoiceField).choices = [
            ("", "All actions")
        ] + [(action, action) for action in actions]
        form_field(self, "object_type", forms.ChoiceField).choices = [
            ("", "All types")
        ] + [(object_type, object_type) for object_type in object_types]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", "The end date is before the start date.")
        return cleaned

    def filter(self, entries: QuerySet[Any]) -> QuerySet[Any]:
        """Apply the valid filters to ``entries`` (call after ``is_valid``)."""
        data = self.cleaned_data
        entries = audit_stream(entries, data.get("stream") or "people")
        if data.get("actor"):
            entries = entries.filter(actor_label__iexact=data["actor"].strip())
        if data.get("action"):
            entries = entries.filter(action=data["action"])
        if data.get("object_type"):
            entries = entries.filter(object_type=data["object_type"])
        if data.get("network"):
            entries = entries.filter(network=data["network"])
        if data.get("date_from"):
            start = datetime.combine(data["date_from"], time.min, tzinfo=self.zone)
            entries = entries.filter(at__gte=start)
        if data.get("date_to"):
            end = datetime.combine(
                data["date_to"] + timedelta(days=1), time.min, tzinfo=self.zone
            )
            entries = entries.filter(at__lt=end)
        return entries


class PreferencesForm(forms.ModelForm):
    """A user's own settings: the portal's language, the zone of network-wide lists."""

    language = forms.ChoiceField(
        label=_("Language"),
        required=False,
        choices=[("", _("The browser's language")), *settings.LANGUAGES],
    )

    class Meta:
        model = User
        fields = ["language", "time_zone"]
        widgets = {"time_zone": TimeZoneInput()}
        labels = {"time_zone": _("Time zone")}
        help_texts = {
            "time_zone": _(
                "Alerts, the audit log and other network-wide lists are "
                "shown in this IANA zone (e.g. Europe/Berlin). Leave empty for your "
                "network's zone. A station's pages always use the station's zone."
            )
        }
