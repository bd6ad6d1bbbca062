"""Forms of the outage pages: filters, one classification, a known event for many ports."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet

from stations.models import Network, Station
from stations.reliability.models import ExclusionReason, OutageCause

_REASONS = [("", "—"), *ExclusionReason.choices]


class OutageFilterForm(forms.Form):
    network = forms.ModelChoiceField(queryset=Network.objects.none(), required=False)
    station = forms.ModelChoiceField(queryset=Station.objects.none(), required=False)
    cause = forms.ChoiceField(
        choices=[("", "Any"), *OutageCause.choices], required=False
    )
    classification = forms.ChoiceField(
        choices=[
            ("", "Any"),
            ("unclassified", "Not classified"),
            ("excluded", "Excluded"),
            ("counted", "Classified, counted"),
        ],
        required=False,
    )
    date_from = forms.DateField(required=False, label="From")
    date_to = forms.DateField(required=False, label="To")

    def __init__(
        self,
        *args: Any,
        networks: QuerySet[Network],
        stations: QuerySet[Station],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["network"].queryset = networks  # type: ignore[attr-defined]
        self.fields["station"].queryset = stations  # type: ignore[attr-defined]


class OutageClassifyForm(forms.Form):
    is_excluded = forms.TypedChoiceField(
        label="Counts toward uptime",
        choices=[("0", "Counted (operator's outage)"), ("1", "Excluded")],
        coerce=lambda value: value == "1",
    )
    exclusion_reason = forms.ChoiceField(
        label="Excluded cause (23 CFR 680.116(b))", choices=_REASONS, required=False
    )
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    evidence = forms.CharField(max_length=500, required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("is_excluded"):
            if not data.get("exclusion_reason"):
                self.add_error("exclusion_reason", "Choose the excluded cause.")
            if not (data.get("note") or "").strip():
                self.add_error("note", "Say why the outage is excluded.")
        return data


class OutageEventForm(forms.Form):
    event_label = forms.CharField(
        max_length=120, label="Event", help_text="E.g. the utility's outage ticket."
    )
    exclusion_reason = forms.ChoiceField(
        label="Excluded cause", choices=ExclusionReason.choices
    )
    window_start = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    window_end = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    stations = forms.ModelMultipleChoiceField(
        queryset=Station.objects.none(), help_text="Every port of these stations."
    )
    note = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)
    evidence = forms.CharField(max_length=500, required=False)

    def __init__(self, *args: Any, stations: QuerySet[Station], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["stations"].queryset = stations  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("window_start"), data.get("window_end")
        if start and end and end <= start:
            self.add_error("window_end", "The end must be after the start.")
        return data
