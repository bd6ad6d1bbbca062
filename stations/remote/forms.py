"""One form per command: clear fields in, the version-neutral command out.

The charger's version adapter turns the command into its wire CALL; should the
protocol refuse a value, the error names the command's attribute and
``field_for`` puts it on the form field it came from.
"""

from __future__ import annotations

import json
import zoneinfo
from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from django import forms
from django.utils import timezone

from stations.models import ChargePoint, OcppProtocol, Station
from stations.ocpp import commands as ocpp
from stations.ocpp import versions
from stations.ocpp.commands import CommandPayloadError
from stations.remote.models import ProfileKind, ProfilePurpose

_LOCAL = forms.DateTimeInput(attrs={"type": "datetime-local"})
TRIGGER_MESSAGES = [
    (m, m)
    for m in (
        "BootNotification",
        "DiagnosticsStatusNotification",
        "FirmwareStatusNotification",
        "Heartbeat",
        "MeterValues",
        "StatusNotification",
    )
]


def _tags(value: str) -> list[str]:
    return [tag.strip() for tag in value.replace("\n", ",").split(",") if tag.strip()]


class CommandForm(forms.Form):
    """Base: ``command()`` builds the neutral command from cleaned data."""

    action = ""
    title = ""
    # Command attribute -> form field, where they are named differently.
    command_fields: dict[str, str] = {}

    def __init__(self, *args: Any, time_zone: str = "UTC", **kwargs: Any) -> None:
        kwargs.setdefault("prefix", self.action)
        super().__init__(*args, **kwargs)
        self.time_zone = zoneinfo.ZoneInfo(time_zone)
        for field in self.fields.values():
            if isinstance(field.widget, forms.DateTimeInput):
                field.help_text = field.help_text or f"Local time ({time_zone})."

    def local(self, value: datetime | None) -> datetime | None:
        """Read a datetime-local input as the station's wall-clock time."""
        if value is None:
            return None
        return timezone.make_aware(value.replace(tzinfo=None), self.time_zone)

    def command(self) -> ocpp.Command:
        raise NotImplementedError

    def field_for(self, command_field: str) -> str | None:
        """The form field to show the protocol's complaint about an attribute on."""
        name = self.command_fields.get(command_field, command_field)
        return name if name in self.fields else None


class ResetForm(CommandForm):
    action, title = "Reset", "Reset"
    type = forms.ChoiceField(
        choices=[("Soft", "Soft (restart software)"), ("Hard", "Hard (reboot)")],
        initial="Soft",
        required=False,
    )
    command_fields = {"kind": "type"}

    def command(self) -> ocpp.Command:
        return ocpp.Reset(kind=ocpp.ResetKind(self.cleaned_data["type"] or "Soft"))


class UnlockConnectorForm(CommandForm):
    action, title = "UnlockConnector", "Unlock connector"
    connector_id = forms.IntegerField(min_value=1, label="Connector")
    command_fields = {"connector": "connector_id"}

    def command(self) -> ocpp.Command:
        return ocpp.UnlockConnector(connector=self.cleaned_data["connector_id"])


class RemoteStartForm(CommandForm):
    action, title = "RemoteStartTransaction", "Remote start"
    id_tag = forms.CharField(max_length=20, label="Token (idTag)")
    connector_id = forms.IntegerField(
        min_value=1, required=False, label="Connector", help_text="Empty: any."
    )
    command_fields = {"id_token": "id_tag", "connector": "connector_id"}

    def command(self) -> ocpp.Command:
        return ocpp.RemoteStart(
            id_token=self.cleaned_data["id_tag"],
            connector=self.cleaned_data["connector_id"] or None,
        )


class RemoteStopForm(CommandForm):
    action, title = "RemoteStopTransaction", "Remote stop"
    transaction_id = forms.IntegerField(
        label="Transaction id", help_text="The session number."
    )

    def command(self) -> ocpp.Command:
        return ocpp.RemoteStop(transaction_id=self.cleaned_data["transaction_id"])


class TriggerMessageForm(CommandForm):
    action, title = "TriggerMessage", "Trigger message"
    requested_message = forms.ChoiceField(choices=TRIGGER_MESSAGES, label="Message")
    connector_id = forms.IntegerField(min_value=1, required=False, label="Connector")
    command_fields = {"message": "requested_message", "connector": "connector_id"}

    def command(self) -> ocpp.Command:
        return ocpp.TriggerMessage(
            message=self.cleaned_data["requested_message"],
            connector=self.cleaned_data["connector_id"] or None,
        )


class ClearCacheForm(CommandForm):
    action, title = "ClearCache", "Clear authorization cache"

    def command(self) -> ocpp.Command:
        return ocpp.ClearCache()


class GetConfigurationForm(CommandForm):
    action, title = "GetConfiguration", "Read configuration"
    keys = forms.CharField(
        required=False, label="Keys", help_text="Comma-separated; empty reads all."
    )

    def command(self) -> ocpp.Command:
        return ocpp.GetConfiguration(keys=tuple(_tags(self.cleaned_data["keys"])))


class ChangeConfigurationForm(CommandForm):
    action, title = "ChangeConfiguration", "Change configuration"
    key = forms.CharField(max_length=50)
    value = forms.CharField(max_length=500, required=False)

    def command(self) -> ocpp.Command:
        return ocpp.ChangeConfiguration(
            key=self.cleaned_data["key"], value=self.cleaned_data["value"]
        )


class ChangeAvailabilityForm(CommandForm):
    action, title = "ChangeAvailability", "Change availability"
    connector_id = forms.IntegerField(
        min_value=0, initial=0, label="Connector", help_text="0 = the whole charger."
    )
    type = forms.ChoiceField(
        choices=[("Operative", "Operative"), ("Inoperative", "Inoperative")]
    )
    command_fields = {"connector": "connector_id", "availability": "type"}

    def command(self) -> ocpp.Command:
        return ocpp.ChangeAvailability(
            connector=self.cleaned_data["connector_id"],
            availability=ocpp.Availability(self.cleaned_data["type"]),
        )


class DataTransferForm(CommandForm):
    action, title = "DataTransfer", "Data transfer"
    vendor_id = forms.CharField(max_length=255, label="Vendor id")
    message_id = forms.CharField(max_length=50, required=False, label="Message id")
    # A form field named like BaseForm.data: the form metaclass moves it into
    # base_fields, so the attribute never shadows the bound data at run time.
    data = forms.CharField(  # type: ignore[assignment]
        required=False, widget=forms.Textarea(attrs={"rows": 3}), label="Data"
    )

    def command(self) -> ocpp.Command:
        return ocpp.DataTransfer(
            vendor_id=self.cleaned_data["vendor_id"],
            message_id=self.cleaned_data["message_id"],
            data=self.cleaned_data["data"],
        )


class UpdateFirmwareForm(CommandForm):
    action, title = "UpdateFirmware", "Update firmware"
    location = forms.URLField(
        max_length=512, label="Firmware URL", assume_scheme="https"
    )
    retrieve_at = forms.DateTimeField(widget=_LOCAL, label="Retrieve at")
    retries = forms.IntegerField(min_value=0, required=False)
    retry_interval = forms.IntegerField(
        min_value=0, required=False, label="Retry interval (s)"
    )
    command_fields = {"retry_interval_s": "retry_interval"}

    def command(self) -> ocpp.Command:
        retrieve_at = self.local(self.cleaned_data["retrieve_at"])
        return ocpp.UpdateFirmware(
            location=self.cleaned_data["location"],
            retrieve_at=retrieve_at or timezone.now(),
            retries=self.cleaned_data["retries"],
            retry_interval_s=self.cleaned_data["retry_interval"],
        )


class GetDiagnosticsForm(CommandForm):
    action, title = "GetDiagnostics", "Upload diagnostics"
    location = forms.CharField(
        max_length=512, label="Upload URL", help_text="e.g. ftp://host/path/"
    )
    start_time = forms.DateTimeField(widget=_LOCAL, required=False, label="From")
    stop_time = forms.DateTimeField(widget=_LOCAL, required=False, label="Until")
    retries = forms.IntegerField(min_value=0, required=False)
    retry_interval = forms.IntegerField(
        min_value=0, required=False, label="Retry interval (s)"
    )
    command_fields = {"retry_interval_s": "retry_interval"}

    def command(self) -> ocpp.Command:
        return ocpp.GetDiagnostics(
            location=self.cleaned_data["location"],
            start_time=self.local(self.cleaned_data["start_time"]),
            stop_time=self.local(self.cleaned_data["stop_time"]),
            retries=self.cleaned_data["retries"],
            retry_interval_s=self.cleaned_data["retry_interval"],
        )


class ReserveNowForm(CommandForm):
    action, title = "ReserveNow", "Reserve a connector"
    connector_id = forms.IntegerField(
        min_value=0, label="Connector", help_text="0 = any connector."
    )
    id_tag = forms.CharField(max_length=20, label="Token (idTag)")
    expires_at = forms.DateTimeField(widget=_LOCAL, label="Expires at")
    parent_id_tag = forms.CharField(max_length=20, required=False, label="Group token")
    command_fields = {
        "connector": "connector_id",
        "id_token": "id_tag",
        "parent_id_token": "parent_id_tag",
    }

    def clean_expires_at(self) -> datetime | None:
        value = self.local(self.cleaned_data["expires_at"])
        if value is not None and value <= timezone.now():
            raise forms.ValidationError("The expiry must be in the future.")
        return value

    def command(self) -> ocpp.Command:
        return ocpp.ReserveNow(
            reservation_id=0,  # the reservation's own id, once it is stored
            connector=self.cleaned_data["connector_id"],
            id_token=self.cleaned_data["id_tag"],
            expires_at=self.cleaned_data["expires_at"],
            parent_id_token=self.cleaned_data["parent_id_tag"],
        )


class CancelReservationForm(CommandForm):
    action, title = "CancelReservation", "Cancel reservation"
    reservation_id = forms.IntegerField(min_value=0, label="Reservation id")

    def command(self) -> ocpp.Command:
        return ocpp.CancelReservation(
            reservation_id=self.cleaned_data["reservation_id"]
        )


class GetLocalListVersionForm(CommandForm):
    action, title = "GetLocalListVersion", "Read local list version"

    def command(self) -> ocpp.Command:
        return ocpp.GetLocalListVersion()


class ClearChargingProfileForm(CommandForm):
    action, title = "ClearChargingProfile", "Clear charging profiles"
    profile_id = forms.IntegerField(required=False, label="Profile id")
    connector_id = forms.IntegerField(min_value=0, required=False, label="Connector")
    purpose = forms.ChoiceField(
        choices=[("", "any"), *ProfilePurpose.choices], required=False
    )
    stack_level = forms.IntegerField(min_value=0, required=False, label="Stack level")
    command_fields = {"connector": "connector_id"}

    def command(self) -> ocpp.Command:
        data = self.cleaned_data
        return ocpp.ClearChargingProfile(
            profile_id=data["profile_id"],
            connector=data["connector_id"],
            purpose=data["purpose"],
            stack_level=data["stack_level"],
        )


class GetCompositeScheduleForm(CommandForm):
    action, title = "GetCompositeSchedule", "Composite schedule"
    connector_id = forms.IntegerField(
        min_value=0, initial=1, label="Connector", help_text="0 = grid connection."
    )
    duration_s = forms.IntegerField(min_value=1, initial=86400, label="Duration (s)")
    rate_unit = forms.ChoiceField(
        choices=[("", "charger's choice"), ("A", "A"), ("W", "W")], required=False
    )
    command_fields = {"connector": "connector_id"}

    def command(self) -> ocpp.Command:
        return ocpp.GetCompositeSchedule(
            connector=self.cleaned_data["connector_id"],
            duration_s=self.cleaned_data["duration_s"],
            rate_unit=self.cleaned_data["rate_unit"],
        )


class SendLocalListForm(CommandForm):
    action, title = "SendLocalList", "Send local authorization list"
    update_type = forms.ChoiceField(
        choices=[
            ("Full", "Full (replace the charger's list)"),
            ("Differential", "Differential (add/update/remove)"),
        ]
    )
    tokens = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Comma-separated tokens; empty = all Accepted tokens of the network.",
    )
    remove = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Remove",
        help_text="Differential only: tokens to remove from the charger.",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("remove") and data.get("update_type") != "Differential":
            self.add_error("remove", "Removing tokens needs a Differential update.")
        return data


def raw_payload_check(
    form: forms.Form,
    *,
    action_field: str = "command",
    payload_field: str = "payload_json",
) -> None:
    """Check a raw payload against the action's OCPP schema through the version
    adapter (with its defaults: a Reset without ``type`` is Soft), so a wrong one
    is refused on the form, naming its field, before any command is stored."""
    action = form.cleaned_data.get(action_field)
    payload = form.cleaned_data.get(payload_field)
    if not action or payload is None:
        return
    try:
        versions.adapter_for(OcppProtocol.OCPP16).raw_call(action, payload)
    except CommandPayloadError as error:
        form.add_error(
            action_field if error.field == "action" else payload_field, str(error)
        )


class AdvancedForm(CommandForm):
    """Any action with a raw JSON payload (operations), validated by the adapter."""

    action, title = "advanced", "Advanced: any command, raw payload"
    # A field named like CommandForm.command(): the form metaclass moves it into
    # base_fields; this form is sent through payload(), never command().
    command = forms.ChoiceField(choices=[], label="Action")  # type: ignore[assignment]
    payload_json = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}),
        initial="{}",
        label="Payload (JSON)",
    )

    def __init__(self, *args: Any, actions: list[str] | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if actions is None:
            adapter = versions.adapter_for(OcppProtocol.OCPP16)
            actions = list(adapter.command_actions)
        names = sorted(actions)
        cast(forms.ChoiceField, self.fields["command"]).choices = [
            (a, a) for a in names
        ]

    def clean_payload_json(self) -> dict[str, Any]:
        try:
            value = json.loads(self.cleaned_data["payload_json"] or "{}")
        except json.JSONDecodeError as error:
            raise forms.ValidationError(f"Not valid JSON: {error.msg}.") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("The payload must be a JSON object.")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        raw_payload_check(self)
        return data

    def payload(self) -> dict[str, Any]:
        return self.cleaned_data["payload_json"]

    def field_for(self, command_field: str) -> str | None:
        return "command" if command_field == "action" else "payload_json"


ACTION_FORMS: dict[str, type[CommandForm]] = {
    form.action: form
    for form in (
        ResetForm,
        UnlockConnectorForm,
        RemoteStartForm,
        RemoteStopForm,
        TriggerMessageForm,
        ClearCacheForm,
        ChangeAvailabilityForm,
        GetConfigurationForm,
        ChangeConfigurationForm,
        ReserveNowForm,
        CancelReservationForm,
        GetLocalListVersionForm,
        SendLocalListForm,
        UpdateFirmwareForm,
        GetDiagnosticsForm,
        ClearChargingProfileForm,
        GetCompositeScheduleForm,
        DataTransferForm,
        AdvancedForm,
    )
}


class PeriodForm(forms.Form):
    start_period = forms.IntegerField(min_value=0, label="From (s)")
    limit = forms.DecimalField(min_value=Decimal(0), decimal_places=1, max_digits=9)
    number_phases = forms.IntegerField(
        min_value=1, max_value=3, required=False, label="Phases"
    )


PeriodFormSet = forms.formset_factory(PeriodForm, extra=4, max_num=24, min_num=1)


class ChargingProfileForm(forms.Form):
    """The profile editor: what, where, and the schedule's periods (formset)."""

    name = forms.CharField(max_length=80, required=False)
    connector_number = forms.IntegerField(
        min_value=0, initial=0, label="Connector", help_text="0 = the whole charger."
    )
    purpose = forms.ChoiceField(
        choices=[
            (ProfilePurpose.TX_DEFAULT, ProfilePurpose.TX_DEFAULT.label),
            (ProfilePurpose.TX, ProfilePurpose.TX.label),
        ]
    )
    stack_level = forms.IntegerField(min_value=0, initial=0, label="Stack level")
    kind = forms.ChoiceField(choices=ProfileKind.choices)
    recurrency_kind = forms.ChoiceField(
        choices=[("", "—"), ("Daily", "Daily"), ("Weekly", "Weekly")],
        required=False,
        label="Recurrence",
    )
    rate_unit = forms.ChoiceField(
        choices=[("A", "Amperes (A)"), ("W", "Watts (W)")], label="Unit"
    )
    transaction_id = forms.IntegerField(
        required=False, label="Transaction id", help_text="Required for TxProfile."
    )
    start_schedule = forms.DateTimeField(
        widget=_LOCAL, required=False, label="Schedule start"
    )
    duration_s = forms.IntegerField(min_value=1, required=False, label="Duration (s)")
    min_charging_rate = forms.DecimalField(
        min_value=Decimal(0), decimal_places=1, max_digits=9, required=False
    )
    valid_from = forms.DateTimeField(widget=_LOCAL, required=False)
    valid_to = forms.DateTimeField(widget=_LOCAL, required=False)

    def __init__(self, *args: Any, time_zone: str = "UTC", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.time_zone = zoneinfo.ZoneInfo(time_zone)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        for name in ("start_schedule", "valid_from", "valid_to"):
            if data.get(name) is not None:
                data[name] = timezone.make_aware(
                    data[name].replace(tzinfo=None), self.time_zone
                )
        if data.get("purpose") == ProfilePurpose.TX and not data.get("transaction_id"):
            self.add_error("transaction_id", "A TxProfile needs the transaction id.")
        if (
            data.get("purpose") == ProfilePurpose.TX
            and data.get("connector_number") == 0
        ):
            self.add_error("connector_number", "A TxProfile needs a connector (>0).")
        kind = data.get("kind")
        if kind == ProfileKind.RECURRING and not data.get("recurrency_kind"):
            self.add_error("recurrency_kind", "A recurring profile needs a recurrence.")
        if kind in (ProfileKind.ABSOLUTE, ProfileKind.RECURRING) and not data.get(
            "start_schedule"
        ):
            self.add_error("start_schedule", f"An {kind} profile needs a start.")
        if kind == ProfileKind.RELATIVE and data.get("start_schedule"):
            self.add_error("start_schedule", "A Relative profile has no start.")
        if (
            data.get("valid_from")
            and data.get("valid_to")
            and data["valid_to"] <= data["valid_from"]
        ):
            self.add_error("valid_to", "Must be after “valid from”.")
        return data


def periods_from_formset(formset: Any) -> list[dict[str, Any]] | None:
    """The schedule periods (``ChargingProfile.periods``), or None after adding errors."""
    periods: list[dict[str, Any]] = []
    for form in formset.forms:
        data = getattr(form, "cleaned_data", None) or {}
        if data.get("start_period") is None or data.get("limit") is None:
            continue
        period: dict[str, Any] = {
            "start_s": data["start_period"],
            "limit": float(data["limit"]),
        }
        if data.get("number_phases"):
            period["phases"] = data["number_phases"]
        periods.append(period)
    starts = [p["start_s"] for p in periods]
    if not periods or starts[0] != 0:
        formset.forms[0].add_error("start_period", "The first period starts at 0 s.")
        return None
    if starts != sorted(set(starts)):
        formset.forms[0].add_error(
            "start_period", "Periods must start at increasing times."
        )
        return None
    return periods


class BulkCommandForm(forms.Form):
    """One action on many chargers: a selection, a station or a model."""

    command = forms.ChoiceField(choices=[], label="Action")
    payload_json = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
        initial="{}",
        label="Payload (JSON)",
        help_text='The OCPP fields of the action, e.g. {"type": "Hard"} for Reset; '
        "empty {} takes the defaults (Reset: Soft).",
    )
    charge_points: forms.ModelMultipleChoiceField[ChargePoint] = (
        forms.ModelMultipleChoiceField(queryset=None, required=False, label="Chargers")
    )
    station: forms.ModelChoiceField[Station] = forms.ModelChoiceField(
        queryset=None, required=False
    )
    model = forms.ChoiceField(choices=[], required=False, label="Charger model")

    def __init__(
        self,
        *args: Any,
        actions: list[str],
        charge_points: Any,
        stations: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["command"]).choices = [
            (a, a) for a in actions
        ]
        cast(
            forms.ModelMultipleChoiceField, self.fields["charge_points"]
        ).queryset = charge_points
        cast(forms.ModelChoiceField, self.fields["station"]).queryset = stations
        models = sorted({m for m in charge_points.values_list("model", flat=True) if m})
        cast(forms.ChoiceField, self.fields["model"]).choices = [
            ("", "—"),
            *((m, m) for m in models),
        ]
        self._charge_points = charge_points

    def clean_payload_json(self) -> dict[str, Any]:
        return AdvancedForm.clean_payload_json(self)  # type: ignore[arg-type]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        raw_payload_check(self)
        targets = self._charge_points.none()
        description = []
        if data.get("charge_points"):
            targets |= data["charge_points"]
            description.append(f"{len(data['charge_points'])} selected")
        if data.get("station"):
            targets |= self._charge_points.filter(station=data["station"])
            description.append(f"station {data['station']}")
        if data.get("model"):
            targets |= self._charge_points.filter(model=data["model"])
            description.append(f"model {data['model']}")
        if not description:
            self.add_error("charge_points", "Choose chargers, a station or a model.")
        data["targets"] = list(targets.distinct().order_by("ocpp_id"))
        data["description"] = ", ".join(description)
        return data
