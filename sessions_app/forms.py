"""Portal forms for id tokens, the token CSV import, session filters and reconciliation."""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from accounts.models import User
from accounts.scope import is_administrator
from cms.csvimport import uploaded_text
from cms.forms import form_field
from sessions_app.models import IdToken, SessionStatus, TokenStatus
from sessions_app.origins import session_origin_choices
from sessions_app.selectors import id_token_list_for_user
from stations.models import Network, Station
from stations.selectors import network_list_for_user, station_list_for_user

# Service field -> form field, so a service ValidationError lands on the right input.
SERVICE_FIELD_TO_FORM = {"parent": "parent_token", "owner": "owner_email"}


class IdTokenForm(forms.Form):
    network = forms.ModelChoiceField(
        queryset=Network.objects.none(),
        help_text="The network whose chargers accept this token.",
    )
    token = forms.CharField(
        max_length=20,
        help_text="The idTag as the charger reads it (RFID UID or app token), up to 20 characters.",
    )
    kind = forms.ChoiceField(choices=IdToken.Kind.choices, initial=IdToken.Kind.RFID)
    label = forms.CharField(max_length=120, required=False)
    status = forms.ChoiceField(
        choices=TokenStatus.choices, initial=TokenStatus.ACCEPTED
    )
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="In the network's time zone; empty = never expires.",
    )
    parent_token = forms.CharField(
        max_length=20,
        required=False,
        label="Parent (group) token",
        help_text="Blocking the parent blocks this token too.",
    )
    owner_email = forms.EmailField(
        required=False, label="Owner email", help_text="An existing user (driver)."
    )
    max_concurrent_sessions = forms.IntegerField(
        required=False,
        min_value=0,
        max_value=32767,
        label="Max concurrent sessions",
        help_text="Empty = the network's limit (one by default); 0 = no limit; "
        "above it a start answers ConcurrentTx.",
    )

    def __init__(
        self,
        *args: Any,
        user: User,
        instance: IdToken | None = None,
        **kwargs: Any,
    ) -> None:
        self.user = user
        self.instance = instance
        if instance is not None and "initial" not in kwargs:
            kwargs["initial"] = _initial_for(instance)
        super().__init__(*args, **kwargs)
        network_field = form_field(self, "network", forms.ModelChoiceField)
        network_field.queryset = network_list_for_user(user=user)
        if is_administrator(user):
            network_field.required = False
            network_field.empty_label = "— every network —"
            network_field.help_text = "Empty: valid at the chargers of every network."
        if instance is not None:
            # Moving a token between tenants is not an edit; keep its network.
            network_field.disabled = True

    def clean_token(self) -> str:
        token = self.cleaned_data["token"].strip()
        if any(not char.isprintable() or char.isspace() for char in token):
            raise ValidationError("Spaces and control characters are not allowed.")
        return token

    def _network(self) -> Network | None:
        if self.instance is not None:
            return self.instance.network
        return self.cleaned_data.get("network")

    def clean_expires_at(self) -> datetime | None:
        value = self.cleaned_data.get("expires_at")
        if value is None:
            return None
        network = self._network()
        zone = zoneinfo.ZoneInfo(network.time_zone if network else "UTC")
        # The browser sends a wall-clock time; read it in the network's zone.
        return value.replace(tzinfo=None).replace(tzinfo=zone)

    def clean_parent_token(self) -> IdToken | None:
        text = self.cleaned_data.get("parent_token", "").strip()
        if not text:
            return None
        parent = (
            id_token_list_for_user(user=self.user).filter(token__iexact=text).first()
        )
        if parent is None:
            raise ValidationError("No token with this value in your networks.")
        return parent

    def clean_owner_email(self) -> Any:
        email = self.cleaned_data.get("owner_email", "").strip()
        if not email:
            return None
        users = list(get_user_model().objects.filter(email__iexact=email)[:2])
        if len(users) != 1:
            raise ValidationError(
                "No user has this email."
                if not users
                else "Several users have this email."
            )
        return users[0]

    def service_kwargs(self) -> dict[str, Any]:
        data = self.cleaned_data
        kwargs = {
            "token": data["token"],
            "kind": data["kind"],
            "label": data["label"],
            "status": data["status"],
            "expires_at": data["expires_at"],
            "parent": data["parent_token"],
            "owner": data["owner_email"],
            "max_concurrent_sessions": data["max_concurrent_sessions"],
        }
        if self.instance is None:
            kwargs["network"] = data.get("network")
        return kwargs

    def add_service_errors(self, error: ValidationError) -> None:
        for field, messages in error.message_dict.items():
            name = SERVICE_FIELD_TO_FORM.get(field, field)
            self.add_error(name if name in self.fields else None, messages)


def _initial_for(instance: IdToken) -> dict[str, Any]:
    expires_at = instance.expires_at
    if expires_at is not None:
        zone = zoneinfo.ZoneInfo(
            instance.network.time_zone if instance.network else "UTC"
        )
        expires_at = expires_at.astimezone(zone).replace(tzinfo=None)
    return {
        "network": instance.network_id,
        "token": instance.token,
        "kind": instance.kind,
        "label": instance.label,
        "status": instance.status,
        "expires_at": expires_at,
        "parent_token": instance.parent.token if instance.parent else "",
        "owner_email": instance.owner.email if instance.owner else "",
        "max_concurrent_sessions": instance.max_concurrent_sessions,
    }


class IdTokenImportForm(forms.Form):
    network = forms.ModelChoiceField(
        queryset=Network.objects.none(), help_text="The network the tokens belong to."
    )
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8, first line: token,status,expiry,parent,owner_email "
        "(optional: label, kind, max_concurrent_sessions).",
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        network_field = form_field(self, "network", forms.ModelChoiceField)
        network_field.queryset = network_list_for_user(user=user)
        if is_administrator(user):
            network_field.required = False
            network_field.empty_label = "— every network —"

    def clean_file(self) -> str:
        return uploaded_text(self.cleaned_data["file"])


SESSION_SORTS = {
    "-started_at": ("Newest first", ["-started_at", "-id"]),
    "started_at": ("Oldest first", ["started_at", "id"]),
    "-energy_wh": ("Most energy", ["-energy_wh", "-id"]),
    "energy_wh": ("Least energy", ["energy_wh", "id"]),
    "-stopped_at": ("Recently stopped", ["-stopped_at", "-id"]),
}
FLAGGED = "flagged"


def origin_field_set(form: forms.Form) -> None:
    """Offer the own/roaming/partner filter, or drop the field when none is known."""
    choices = session_origin_choices()
    if choices:
        form_field(form, "origin", forms.ChoiceField).choices = choices
    else:
        del form.fields["origin"]


class SessionFilterForm(forms.Form):
    network = forms.ModelChoiceField(queryset=Network.objects.none(), required=False)
    station = forms.ModelChoiceField(queryset=Station.objects.none(), required=False)
    charger = forms.CharField(required=False, max_length=48, label="Charger id")
    token = forms.CharField(required=False, max_length=20, label="Token")
    status = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any status"),
            *SessionStatus.choices,
            (FLAGGED, "Meter anomaly"),
        ],
    )
    date_from = forms.DateField(
        required=False,
        label="Started from",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    date_to = forms.DateField(
        required=False,
        label="Started until",
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    sort = forms.ChoiceField(
        required=False,
        choices=[(key, label) for key, (label, _order) in SESSION_SORTS.items()],
    )
    origin = forms.ChoiceField(required=False, label="Drivers")

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        origin_field_set(self)
        form_field(
            self, "network", forms.ModelChoiceField
        ).queryset = network_list_for_user(user=user)
        form_field(self, "network", forms.ModelChoiceField).empty_label = "All networks"
        form_field(
            self, "station", forms.ModelChoiceField
        ).queryset = station_list_for_user(user=user)
        form_field(self, "station", forms.ModelChoiceField).empty_label = "All stations"

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if (
            data.get("date_from")
            and data.get("date_to")
            and data["date_from"] > data["date_to"]
        ):
            self.add_error("date_to", "Must not be before “Started from”.")
        return data


class UnmatchedStopResolveForm(forms.Form):
    note = forms.CharField(
        max_length=2000,
        label="Resolution note",
        widget=forms.TextInput,
        help_text="What was done, e.g. “matched to session 1234 by hand”.",
    )
