"""What the portal's forms share."""

from __future__ import annotations

from typing import Any, TypeVar

from django import forms

from cms.validators import time_zone_names

_Field = TypeVar("_Field", bound=forms.Field)


def form_field(form: forms.BaseForm, name: str, kind: type[_Field]) -> _Field:
    """``form.fields[name]`` as the ``kind`` of field it is.

    ``form.fields`` holds plain ``Field``s to the type checker; the forms narrow
    the choices of their fields per user (their networks, stations, chargers).
    """
    field = form.fields[name]
    if not isinstance(field, kind):
        raise TypeError(f"{type(form).__name__}.{name} is not a {kind.__name__}")
    return field


TIME_ZONES = sorted(time_zone_names())


class TimeZoneInput(forms.TextInput):
    """A text box with the IANA zone names as suggestions (``<datalist id=time-zones>``)."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({"list": "time-zones", "autocomplete": "off", **(attrs or {})})
