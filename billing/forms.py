"""Forms of the finance screens; they validate input, services do the writes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import Q, QuerySet
from django.forms import formset_factory

from billing.models import Tariff, TariffElement, Weekday
from billing.selectors import CdrFilter
from cms.forms import form_field
from sessions_app.forms import origin_field_set
from sessions_app.models import IdToken
from stations.models import ConnectorType, Network, Station

TARIFF_FORM_FIELDS = [
    "name",
    "currency",
    "vat_percent",
    "min_price",
    "max_price",
    "idle_grace_minutes",
    "idle_fee_cap",
    "is_active",
]


class TariffForm(forms.ModelForm):
    network = forms.ModelChoiceField(queryset=Network.objects.none())

    class Meta:
        model = Tariff
        fields = ["network", *TARIFF_FORM_FIELDS]

    def __init__(self, *args: Any, networks: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            del self.fields["network"]
        else:
            form_field(self, "network", forms.ModelChoiceField).queryset = networks
        self.fields["currency"].help_text = "ISO 4217, e.g. INR or EUR."

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        low, high = data.get("min_price"), data.get("max_price")
        if low is not None and high is not None and low > high:
            self.add_error("max_price", "Must not be below the minimum price.")
        return data


_PRICE_FIELDS = (
    "energy_price_per_kwh",
    "time_price_per_hour",
    "idle_price_per_minute",
    "flat_price",
)
_RANGES = (
    ("min_kwh", "max_kwh"),
    ("min_duration_minutes", "max_duration_minutes"),
    ("min_power_kw", "max_power_kw"),
    ("start_date", "end_date"),
)


class TariffElementForm(forms.ModelForm):
    days_of_week = forms.MultipleChoiceField(
        choices=Weekday.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked = every day.",
    )

    class Meta:
        model = TariffElement
        fields = [
            "energy_price_per_kwh",
            "energy_step_wh",
            "time_price_per_hour",
            "time_step_s",
            "idle_price_per_minute",
            "idle_step_s",
            "flat_price",
            "start_time",
            "end_time",
            "days_of_week",
            "start_date",
            "end_date",
            "min_kwh",
            "max_kwh",
            "min_duration_minutes",
            "max_duration_minutes",
            "min_power_kw",
            "max_power_kw",
        ]
        widgets = {
            "start_time": forms.TimeInput(attrs={"type": "time"}),
            "end_time": forms.TimeInput(attrs={"type": "time"}),
            "start_date": forms.DateInput(attrs={"type": "date"}),
            "end_date": forms.DateInput(attrs={"type": "date"}),
        }

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if all(data.get(name) is None for name in _PRICE_FIELDS):
            self.add_error(
                "energy_price_per_kwh",
                "Give at least one price (energy, time, idle or flat).",
            )
        for low, high in _RANGES:
            if (
                data.get(low) is not None
                and data.get(high) is not None
                and data[low] >= data[high]
            ):
                self.add_error(high, "Must be above the lower bound.")
        return data

    def element_data(self) -> dict[str, Any]:
        data = dict(self.cleaned_data)
        data.pop("DELETE", None)
        data["days_of_week"] = list(data.get("days_of_week") or [])
        return data


class _ElementFormSet(forms.BaseFormSet):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        if not self.elements():
            raise forms.ValidationError("A tariff needs at least one element.")

    def elements(self) -> list[dict[str, Any]]:
        return [
            form.element_data()
            for form in self.forms
            # _should_delete_form: Django's own reading of the DELETE box, not in the stubs.
            if form.has_changed() and not self._should_delete_form(form)  # type: ignore[attr-defined]
        ]


TariffElementFormSet = formset_factory(
    TariffElementForm, formset=_ElementFormSet, extra=1, can_delete=True
)


def element_initial(tariff: Tariff) -> list[dict[str, Any]]:
    return [
        {
            field: getattr(element, field)
            for field in TariffElementForm.base_fields
            if field != "DELETE"
        }
        for element in tariff.elements.all()
    ]


class TariffAssignmentForm(forms.Form):
    station = forms.ModelChoiceField(
        queryset=Station.objects.none(),
        required=False,
        empty_label="Whole network (default)",
    )
    connector_type = forms.ChoiceField(
        choices=[("", "Any connector type"), *ConnectorType.choices], required=False
    )
    min_power_kw = forms.DecimalField(
        label="Power class from (kW)", required=False, min_value=Decimal(0)
    )
    max_power_kw = forms.DecimalField(
        label="Power class up to (kW)", required=False, min_value=Decimal(0)
    )
    token_group = forms.ModelChoiceField(
        queryset=IdToken.objects.none(),
        required=False,
        empty_label="Every driver",
        help_text="Only for drivers whose token belongs to this group.",
    )

    def __init__(self, *args: Any, tariff: Tariff, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(
            self, "station", forms.ModelChoiceField
        ).queryset = Station.objects.filter(network_id=tariff.network_id)
        form_field(self, "token_group", forms.ModelChoiceField).queryset = (
            IdToken.objects.filter(
                Q(network_id=tariff.network_id) | Q(network__isnull=True)
            )
            .filter(Q(kind=IdToken.Kind.GROUP) | Q(children__isnull=False))
            .distinct()
        )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        low, high = data.get("min_power_kw"), data.get("max_power_kw")
        if low is not None and high is not None and low > high:
            self.add_error("max_power_kw", "Must not be below the lower bound.")
        return data


class CreditNoteForm(forms.Form):
    total_amount = forms.DecimalField(
        label="Amount to credit (incl. tax)",
        min_value=Decimal("0.01"),
        max_digits=14,
        decimal_places=4,
    )
    reason = forms.CharField(max_length=255)


class CdrFilterForm(forms.Form):
    network = forms.ModelChoiceField(
        queryset=Network.objects.none(), required=False, empty_label="All networks"
    )
    station = forms.ModelChoiceField(
        queryset=Station.objects.none(), required=False, empty_label="All stations"
    )
    date_from = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text="Inclusive; days of the chosen network's time zone (UTC for all).",
    )
    q = forms.CharField(label="Receipt number or token", required=False)
    origin = forms.ChoiceField(required=False, label="Drivers")

    def __init__(self, *args: Any, networks: Any, stations: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        origin_field_set(self)
        form_field(self, "network", forms.ModelChoiceField).queryset = networks
        form_field(self, "station", forms.ModelChoiceField).queryset = stations

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "Must not be before the start date.")
        station, network = data.get("station"), data.get("network")
        if station and network and station.network_id != network.pk:
            self.add_error("station", "This station is not in the chosen network.")
        return data

    def to_filter(self) -> CdrFilter:
        data = self.cleaned_data
        network = data.get("network")
        station = data.get("station")
        if network is None and station is not None:
            network = station.network
        return CdrFilter(
            network=network,
            station=station,
            date_from=data.get("date_from"),
            date_to=data.get("date_to"),
            search=data.get("q") or "",
            origin=data.get("origin") or "",
        )


class StatementForm(forms.Form):
    """Which network's month: ``2026-01`` (the network's own calendar month)."""

    network: forms.ModelChoiceField[Network] = forms.ModelChoiceField(
        queryset=Network.objects.none()
    )
    month = forms.CharField(
        max_length=7,
        widget=forms.DateInput(attrs={"type": "month"}),
        help_text="YYYY-MM, in the network's time zone.",
    )

    def __init__(self, *args: Any, networks: QuerySet[Network], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        form_field(self, "network", forms.ModelChoiceField).queryset = networks

    def clean_month(self) -> date:
        text = self.cleaned_data["month"].strip()
        try:
            year, month = (int(part) for part in text.split("-"))
            return date(year, month, 1)
        except ValueError:
            raise forms.ValidationError("Use YYYY-MM, e.g. 2026-01.") from None
