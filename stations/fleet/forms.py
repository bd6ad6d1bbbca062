"""The campaign form: image, target set and plan, choices limited to the scope."""

from __future__ import annotations

from typing import Any, cast

from django import forms

from accounts.http import AnyUser
from stations.fleet.models import VENDOR_PROFILE_FIELDS, ChargerTag, VendorProfile
from stations.fleet.selectors import tag_list_for_user
from stations.fleet.services import TargetFilter
from stations.models import Network, Station
from stations.selectors import network_list_for_user, station_list_for_user


class CampaignForm(forms.Form):
    network = forms.ModelChoiceField(queryset=Network.objects.none())
    name = forms.CharField(max_length=120, required=False)
    location = forms.URLField(
        max_length=512,
        label="Image URL",
        help_text="Where chargers download it.",
        assume_scheme="https",
    )
    version = forms.CharField(
        max_length=50, help_text="The version chargers report after the update."
    )
    checksum = forms.CharField(max_length=128, required=False)
    signing_certificate = forms.CharField(
        max_length=5500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="A signed image: the PEM certificate that signed it.",
    )
    signature = forms.CharField(
        max_length=800,
        required=False,
        help_text="And its Base64 signature (OCPP 1.6 security extension, 2.0.1).",
    )
    rollback_location = forms.URLField(
        max_length=512,
        required=False,
        label="Rollback image URL",
        assume_scheme="https",
    )
    rollback_version = forms.CharField(
        max_length=50,
        required=False,
        help_text="The version chargers report after the rollback.",
    )
    rollback_on_failure = forms.BooleanField(
        required=False, label="Roll a failed charger back"
    )
    rollback_on_halt = forms.BooleanField(
        required=False, label="Roll the whole campaign back when it halts"
    )
    station = forms.ModelChoiceField(queryset=Station.objects.none(), required=False)
    vendor = forms.CharField(max_length=50, required=False)
    model = forms.CharField(max_length=50, required=False)
    from_version = forms.CharField(
        max_length=50, required=False, label="Only chargers on version"
    )
    tag = forms.ModelChoiceField(queryset=ChargerTag.objects.none(), required=False)
    canary_percent = forms.IntegerField(
        min_value=0, max_value=100, initial=10, label="Canary share (%)"
    )
    batch_size = forms.IntegerField(min_value=1, max_value=10_000, initial=10)
    pause_minutes = forms.IntegerField(
        min_value=0,
        max_value=7 * 24 * 60,
        initial=10,
        label="Pause between batches (min)",
    )
    allowed_from_hour = forms.IntegerField(
        min_value=0, max_value=23, required=False, label="Allowed from (local hour)"
    )
    allowed_to_hour = forms.IntegerField(
        min_value=0,
        max_value=24,
        required=False,
        label="Allowed until (local hour)",
        help_text="In each station's own zone; until < from runs past midnight.",
    )
    only_when_idle = forms.BooleanField(
        required=False, initial=True, label="Only when no session is running"
    )
    max_attempts = forms.IntegerField(min_value=1, max_value=10, initial=2)
    halt_failure_percent = forms.IntegerField(
        min_value=0, max_value=100, initial=20, label="Halt above failure share (%)"
    )

    def __init__(self, *args: Any, user: AnyUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = {
            "network": network_list_for_user(user=user),
            "station": station_list_for_user(user=user),
            "tag": tag_list_for_user(user=user),
        }
        for name, queryset in choices.items():
            cast(forms.ModelChoiceField, self.fields[name]).queryset = queryset

    def target_filter(self) -> TargetFilter:
        data = self.cleaned_data
        return TargetFilter(
            station=data.get("station"),
            vendor=data.get("vendor") or "",
            model=data.get("model") or "",
            from_version=data.get("from_version") or "",
            tag=data.get("tag"),
        )

    def plan(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "canary_percent": data["canary_percent"],
            "batch_size": data["batch_size"],
            "pause_s": data["pause_minutes"] * 60,
            "allowed_from_hour": data.get("allowed_from_hour"),
            "allowed_to_hour": data.get("allowed_to_hour"),
            "only_when_idle": data["only_when_idle"],
            "max_attempts": data["max_attempts"],
            "halt_failure_percent": data["halt_failure_percent"],
            "rollback_location": data.get("rollback_location") or "",
            "rollback_version": data.get("rollback_version") or "",
            "rollback_on_failure": data["rollback_on_failure"],
            "rollback_on_halt": data["rollback_on_halt"],
        }


class DesiredConfigurationForm(forms.Form):
    network = forms.ModelChoiceField(queryset=Network.objects.none())
    key = forms.CharField(
        max_length=50, help_text="1.6 key, or Component.Variable for OCPP 2.0.1."
    )
    value = forms.CharField(max_length=500)
    station = forms.ModelChoiceField(queryset=Station.objects.none(), required=False)
    tag = forms.ModelChoiceField(queryset=ChargerTag.objects.none(), required=False)
    vendor = forms.CharField(max_length=50, required=False)
    model = forms.CharField(max_length=50, required=False)

    def __init__(self, *args: Any, user: AnyUser, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = {
            "network": network_list_for_user(user=user),
            "station": station_list_for_user(user=user),
            "tag": tag_list_for_user(user=user),
        }
        for name, queryset in choices.items():
            cast(forms.ModelChoiceField, self.fields[name]).queryset = queryset


class VendorProfileForm(forms.ModelForm):
    class Meta:
        model = VendorProfile
        fields = list(VENDOR_PROFILE_FIELDS)
        labels = {
            "firmware_pattern": "Firmware versions",
            "energy_kwh_labelled_wh": "Energy in kWh labelled Wh",
            "naive_time_zone": "Time zone of timestamps without one",
            "connector_zero_ignored": "Connector 0 statuses to ignore",
            "close_sessions_at_boot": "Close open sessions at the next boot",
        }
        widgets = {"notes": forms.Textarea(attrs={"rows": 2})}
