from __future__ import annotations

from django import forms

from roaming.models import TokenEncoding


class PartnerPartyForm(forms.Form):
    name = forms.CharField(max_length=100, required=False)
    country_code = forms.CharField(
        max_length=2, min_length=2, help_text="ISO 3166-1 alpha-2, e.g. DE."
    )
    party_id = forms.CharField(
        max_length=3, min_length=1, help_text="The partner's OCPI party id, e.g. ABC."
    )


class PartnerRegisterForm(PartnerPartyForm):
    versions_url = forms.URLField(
        max_length=255,
        assume_scheme="https",
        help_text="The partner's OCPI versions URL.",
    )
    token_a = forms.CharField(
        max_length=64, label="Token A", help_text="The token the partner gave us."
    )
    token_encoding = forms.ChoiceField(
        choices=TokenEncoding.choices,
        initial=TokenEncoding.BASE64,
        help_text="How the partner sends and expects the credentials token.",
    )
