from __future__ import annotations

import secrets
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _

from accounts.models import Role
from alerts.models import (
    AlertRuleConfig,
    AlertStatus,
    MaintenanceTicket,
    Rule,
    Severity,
    TicketStatus,
    WebhookEndpoint,
)
from cms.forms import form_field
from cms.streams import enabled_kinds as stream_enabled_kinds
from stations.models import ChargePoint, Network


class AlertFilterForm(forms.Form):
    STATUS_CHOICES = [
        ("active", "Open or acknowledged"),
        *AlertStatus.choices,
        ("all", "All"),
    ]

    network: forms.ModelChoiceField[Network] = forms.ModelChoiceField(
        queryset=None, required=False, empty_label="All"
    )
    severity = forms.ChoiceField(
        choices=[("", "All"), *Severity.choices], required=False
    )
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    rule = forms.ChoiceField(choices=[("", "All"), *Rule.choices], required=False)

    def __init__(self, *args: Any, networks: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "network", forms.ModelChoiceField).queryset = networks


class AlertRuleConfigForm(forms.ModelForm):
    class Meta:
        model = AlertRuleConfig
        fields = [
            field.name
            for field in AlertRuleConfig._meta.get_fields()
            if getattr(field, "editable", False)
            and field.name not in {"id", "network", "updated_by", "updated_at"}
        ]

    def clean_email_recipients(self) -> str:
        value = self.cleaned_data["email_recipients"]
        config = AlertRuleConfig(email_recipients=value)
        for address in config.extra_recipients:
            try:
                validate_email(address)
            except ValidationError as exc:
                raise ValidationError(f"“{address}” is not an email address.") from exc
        return value


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(
        max_length=500,
        assume_scheme="https",
        help_text="http(s) URL that accepts a JSON POST.",
    )
    secret = forms.CharField(
        required=False,
        max_length=128,
        widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the current secret (a new one is generated for a new endpoint).",
    )

    stream_kinds = forms.MultipleChoiceField(
        required=False,
        label=_("Event-stream documents"),
        choices=[
            ("status", _("Connector status")),
            ("meter_values", _("Meter values")),
            ("transactions", _("Transactions (start and stop)")),
        ],
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Also post these documents of the network's event stream, one POST per "
            "document (body: kind, event_id, data). A kind must be on in the "
            "EVENT_STREAM_KINDS setting."
        ),
    )

    class Meta:
        model = WebhookEndpoint
        fields = [
            "network",
            "name",
            "url",
            "secret",
            "send_alerts",
            "min_severity",
            "send_resolved",
            "stream_kinds",
            "is_active",
        ]

    def __init__(self, *args: Any, networks: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "network", forms.ModelChoiceField).queryset = networks

    def clean_stream_kinds(self) -> list[str]:
        kinds = list(self.cleaned_data.get("stream_kinds") or [])
        off = [kind for kind in kinds if kind not in stream_enabled_kinds()]
        if off:
            raise ValidationError(
                _(
                    "The event stream does not relay %(kinds)s: add them to the "
                    "EVENT_STREAM_KINDS setting first."
                )
                % {"kinds": ", ".join(off)}
            )
        return kinds

    def clean_url(self) -> str:
        url = self.cleaned_data["url"]
        if not url.lower().startswith(("http://", "https://")):
            raise ValidationError("Use an http:// or https:// URL.")
        return url

    def clean_secret(self) -> str:
        secret = self.cleaned_data.get("secret") or ""
        if secret and len(secret) < 16:
            raise ValidationError("Use at least 16 characters.")
        if not secret:
            secret = self.instance.secret or secrets.token_urlsafe(32)
        return secret


def _assignable_users(network_id: int | None) -> Any:
    users = get_user_model().objects.filter(is_active=True, is_driver=False)
    staff = users.filter(groups__name__in=[Role.OPERATIONS, Role.SUPPORT])
    if network_id is None:
        return users.filter(groups__name=Role.ADMINISTRATOR).distinct()
    in_scope = staff.filter(
        networkuserobjectpermission__content_object_id=network_id,
        networkuserobjectpermission__permission__codename="access_network",
    )
    return (
        users.filter(pk__in=in_scope.values("pk"))
        | users.filter(groups__name=Role.ADMINISTRATOR)
    ).distinct()


class TicketForm(forms.ModelForm):
    charge_point = forms.ModelChoiceField(queryset=ChargePoint.objects.none())
    due_at = forms.DateTimeField(
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="In the station's time zone.",
    )

    class Meta:
        model = MaintenanceTicket
        fields = [
            "charge_point",
            "title",
            "description",
            "status",
            "assignee",
            "due_at",
            "resolve_alerts_on_close",
        ]

    def __init__(
        self,
        *args: Any,
        charge_points: Any,
        network_id: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        form_field(
            self, "charge_point", forms.ModelChoiceField
        ).queryset = charge_points
        form_field(
            self, "assignee", forms.ModelChoiceField
        ).queryset = _assignable_users(network_id)
        self.fields["status"].initial = TicketStatus.OPEN
        if self.instance.pk:
            self.fields["charge_point"].disabled = True

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        charge_point = cleaned.get("charge_point")
        assignee = cleaned.get("assignee")
        if charge_point is not None and assignee is not None:
            network_id = (
                charge_point.station.network_id if charge_point.station else None
            )
            if not _assignable_users(network_id).filter(pk=assignee.pk).exists():
                self.add_error(
                    "assignee", "This user has no access to the charger's network."
                )
        return cleaned


class TicketNoteForm(forms.Form):
    body = forms.CharField(label="Note", widget=forms.Textarea(attrs={"rows": 3}))


class AlertActionForm(forms.Form):
    note = forms.CharField(required=False, max_length=1000)
