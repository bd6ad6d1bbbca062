"""Portal forms for networks, stations, charge points and connectors.

Choices of networks and stations are limited to the user's scope by the view;
model validators (coordinates, time zone, power) run through ``ModelForm``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.validators import MinValueValidator
from django.db.models import QuerySet

from cms.csvimport import uploaded_text
from cms.forms import TimeZoneInput, form_field
from stations.inventory import NETWORK_FIELDS
from stations.models import (
    ChargePoint,
    Connector,
    Network,
    SecurityProfile,
    Station,
)


class NetworkForm(forms.ModelForm):
    class Meta:
        model = Network
        fields = list(NETWORK_FIELDS)
        widgets = {
            "time_zone": TimeZoneInput(),
            "legal_address": forms.Textarea(attrs={"rows": 3}),
        }
        help_texts = {
            "currency": "ISO 4217 code, e.g. EUR.",
            "time_zone": "Default IANA time zone, e.g. Europe/Berlin.",
            "legal_name": "The seller named on receipts, e.g. Example Charging GmbH.",
            "legal_address": "The seller's registered address, printed on receipts.",
            "vat_id": "The seller's VAT identification number, e.g. DE123456789.",
            "max_concurrent_sessions_per_token": "Sessions one card or app token "
            "may have open at once (a start beyond it answers ConcurrentTx); a "
            "token's own limit overrides it. Empty = one; 0 = no limit.",
        }


class StationForm(forms.ModelForm):
    class Meta:
        model = Station
        fields = [
            "network",
            "name",
            "address",
            "postal_code",
            "city",
            "country",
            "region",
            "latitude",
            "longitude",
            "time_zone",
            "power_limit_kw",
        ]
        widgets = {"time_zone": TimeZoneInput()}
        labels = {"power_limit_kw": "Site power limit (kW)"}
        help_texts = {
            "latitude": "Decimal degrees, −90 to 90.",
            "longitude": "Decimal degrees, −180 to 180.",
            "time_zone": "IANA time zone, e.g. Europe/Berlin; times are shown in it.",
        }

    def __init__(self, *args: Any, networks: QuerySet[Network], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["network"].queryset = networks  # type: ignore[attr-defined]


class ChargePointRegisterForm(forms.ModelForm):
    password = forms.CharField(
        label="OCPP password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password"}
        ),
        help_text="For OCPP basic authentication (security profile 1/2). Stored hashed, never shown. "
        "Leave empty for a charger without a password.",
    )

    class Meta:
        model = ChargePoint
        fields = [
            "ocpp_id",
            "station",
            "display_name",
            "heartbeat_interval_s",
            "ocpp_protocol_max",
        ]
        labels = {"heartbeat_interval_s": "Heartbeat interval (s)"}
        help_texts = {
            "ocpp_id": "The charge box identity the charger connects with.",
            "ocpp_protocol_max": "A charger offering several versions gets the "
            "newest up to this one at its next connection.",
        }

    def __init__(self, *args: Any, stations: QuerySet[Station], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["station"].queryset = stations  # type: ignore[attr-defined]
        # Left out of a submission: the charger keeps its setting (new: the newest).
        self.fields["ocpp_protocol_max"].required = False
        self.fields["heartbeat_interval_s"].min_value = 10  # type: ignore[attr-defined]
        self.fields["heartbeat_interval_s"].validators.append(MinValueValidator(10))

    def clean_ocpp_protocol_max(self) -> str:
        return str(
            self.cleaned_data.get("ocpp_protocol_max")
            or self.instance.ocpp_protocol_max
        )

    def clean_password(self) -> str:
        password = self.cleaned_data.get("password") or ""
        if password and len(password) < 8:
            raise forms.ValidationError("Use at least 8 characters.")
        if len(password) > 40:  # OCPP 1.6 security whitepaper: 16..40 bytes
            raise forms.ValidationError("Use at most 40 characters.")
        return password


class ChargePointEditForm(ChargePointRegisterForm):
    password = forms.CharField(
        label="New OCPP password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password"}
        ),
        help_text="Leave empty to keep the current password.",
    )
    clear_password = forms.BooleanField(
        label="Remove the OCPP password", required=False
    )

    class Meta(ChargePointRegisterForm.Meta):
        fields = [
            "station",
            "display_name",
            "heartbeat_interval_s",
            "max_frame_bytes",
            "strict_payloads",
            "ocpp_protocol_max",
            "security_profile",
        ]
        labels = {
            **ChargePointRegisterForm.Meta.labels,
            "max_frame_bytes": "Largest OCPP frame (bytes)",
            "strict_payloads": "Strict meter values",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Left out of a submission: the charger keeps its profile.
        self.fields["security_profile"].required = False

    def clean_security_profile(self) -> int:
        return int(
            self.cleaned_data.get("security_profile") or self.instance.security_profile
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        profile = cleaned.get("security_profile")
        keeps_password = bool(self.instance.password_hash) and not cleaned.get(
            "clear_password"
        )
        if profile == SecurityProfile.TLS_BASIC and not (
            cleaned.get("password") or keeps_password
        ):
            self.add_error(
                "security_profile",
                "Security profile 2 authenticates the charger by its password: "
                "set one.",
            )
        return cleaned


class ChargePointAssignForm(forms.Form):
    station = forms.ModelChoiceField(queryset=Station.objects.none())

    def __init__(self, *args: Any, stations: QuerySet[Station], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["station"].queryset = stations  # type: ignore[attr-defined]


class ConnectorForm(forms.ModelForm):
    class Meta:
        model = Connector
        fields = ["connector_id", "connector_type", "max_power_kw"]
        labels = {"max_power_kw": "Max power (kW)"}

    def __init__(self, *args: Any, charge_point: ChargePoint, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.charge_point = charge_point
        self.fields["max_power_kw"].min_value = Decimal("0.01")  # type: ignore[attr-defined]

    def clean_connector_id(self) -> int:
        number = self.cleaned_data["connector_id"]
        duplicates = Connector.objects.filter(
            charge_point=self.charge_point, connector_id=number
        )
        if self.instance.pk:
            duplicates = duplicates.exclude(pk=self.instance.pk)
        if duplicates.exists():
            raise forms.ValidationError(
                "This charge point already has a connector with this number."
            )
        return int(number)


class MessageSearchForm(forms.Form):
    q = forms.CharField(label="Action or unique id", required=False, max_length=64)


class ChargerImportForm(forms.Form):
    network: forms.ModelChoiceField[Network] = forms.ModelChoiceField(
        queryset=Network.objects.none(),
        help_text="The network whose stations the file names.",
    )
    file = forms.FileField(
        label="CSV file",
        help_text="UTF-8, first line: ocpp_id,station,connectors,connector_types,"
        "max_power_kw (optional: display_name).",
    )

    def __init__(self, *args: Any, networks: QuerySet[Network], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "network", forms.ModelChoiceField).queryset = networks

    def clean_file(self) -> str:
        return uploaded_text(self.cleaned_data["file"])


class UnassignedOnboardForm(forms.Form):
    """Place many unassigned chargers at one station (and accept them) at once."""

    charge_points: forms.ModelMultipleChoiceField[ChargePoint] = (
        forms.ModelMultipleChoiceField(
            queryset=ChargePoint.objects.none(), required=False, label="Chargers"
        )
    )
    everything = forms.BooleanField(
        required=False, label="Every unassigned charger matching the filter"
    )
    station: forms.ModelChoiceField[Station] = forms.ModelChoiceField(
        queryset=Station.objects.none(), label="Assign to station"
    )
    accept = forms.BooleanField(
        required=False, initial=True, label="Accept their registration"
    )

    def __init__(
        self,
        *args: Any,
        charge_points: QuerySet[ChargePoint],
        stations: QuerySet[Station],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._all = charge_points
        form_field(
            self, "charge_points", forms.ModelMultipleChoiceField
        ).queryset = charge_points
        form_field(self, "station", forms.ModelChoiceField).queryset = stations

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("everything"):
            data["targets"] = list(self._all)
        else:
            data["targets"] = list(data.get("charge_points") or [])
        if not data["targets"]:
            self.add_error(
                "charge_points", "Choose chargers, or every one matching the filter."
            )
        return data
