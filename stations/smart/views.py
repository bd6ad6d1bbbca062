"""Portal pages of smart charging: a site's limit, its schedule and signals, the chart.

Reads need ``stations.view_station``; every change needs
``stations.manage_charging_profiles`` (operations, administrator) and the
station in the user's scope, both checked through ``station_get_for_user``.
"""

from __future__ import annotations

import zoneinfo
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from stations.models import Connector, Station
from stations.selectors import connector_get_for_user, station_get_for_user
from stations.smart.models import (
    ConnectorSmartSettings,
    SiteLimitScheduleEntry,
    SiteLimitSignal,
    SmartPriorityToken,
    SmartProfileState,
)
from stations.smart.services import (
    SmartChargingInputError,
    connector_limits,
    connector_settings_update,
    limit_signal_cancel,
    limit_signal_submit,
    plan_history,
    priority_token_delete,
    priority_token_set,
    schedule_entry_add,
    schedule_entry_delete,
    site_limit,
    site_static_limit_set,
)

VIEW = "stations.view_station"
MANAGE = "stations.manage_charging_profiles"
WEEKDAYS = [
    (0, "Mon"),
    (1, "Tue"),
    (2, "Wed"),
    (3, "Thu"),
    (4, "Fri"),
    (5, "Sat"),
    (6, "Sun"),
]
HISTORY_MINUTES = (15, 60, 240, 1440)


# --- forms -----------------------------------------------------------------------


class StaticLimitForm(forms.Form):
    limit_kw = forms.DecimalField(
        label="Static site limit (kW)",
        required=False,
        min_value=Decimal("0.01"),
        max_digits=9,
        decimal_places=2,
        help_text="The grid connection; empty = no static limit.",
    )


class ScheduleEntryForm(forms.Form):
    weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS, coerce=int, widget=forms.CheckboxSelectMultiple
    )
    start_time = forms.TimeField(
        label="From (local)", widget=forms.TimeInput(attrs={"type": "time"})
    )
    end_time = forms.TimeField(
        label="To (local)", widget=forms.TimeInput(attrs={"type": "time"})
    )
    limit_kw = forms.DecimalField(
        label="Limit (kW)", min_value=Decimal("0"), max_digits=9, decimal_places=2
    )


class SignalForm(forms.Form):
    limit_kw = forms.DecimalField(
        label="Limit (kW)", min_value=Decimal("0"), max_digits=9, decimal_places=2
    )
    duration_min = forms.IntegerField(
        label="For (minutes)", min_value=1, max_value=366 * 24 * 60, initial=60
    )
    reference = forms.CharField(label="Reference", required=False, max_length=100)


class ConnectorSettingsForm(forms.Form):
    phases = forms.TypedChoiceField(
        choices=ConnectorSmartSettings.Phases.choices, coerce=int, initial=3
    )
    min_current_a = forms.DecimalField(
        label="Min current (A)",
        min_value=Decimal("0"),
        max_digits=6,
        decimal_places=1,
        initial=Decimal("6"),
    )
    max_current_a = forms.DecimalField(
        label="Max current (A)",
        required=False,
        min_value=Decimal("0.1"),
        max_digits=6,
        decimal_places=1,
    )
    min_power_kw = forms.DecimalField(
        label="DC min power (kW)",
        required=False,
        min_value=Decimal("0"),
        max_digits=7,
        decimal_places=2,
    )
    priority = forms.IntegerField(min_value=-100, max_value=100, initial=0)


class PriorityTokenForm(forms.Form):
    id_tag = forms.CharField(label="Token or parent token", max_length=20)
    priority = forms.IntegerField(min_value=-100, max_value=100, initial=1)
    note = forms.CharField(required=False, max_length=120)


# --- helpers ---------------------------------------------------------------------


def _kw(value_w: int | None) -> Decimal | None:
    if value_w is None:
        return None
    return (Decimal(value_w) / 1000).quantize(Decimal("0.01"))


def _weekday_labels(bits: int) -> str:
    return " ".join(label for day, label in WEEKDAYS if bits >> day & 1)


def _site_url(station: Station) -> str:
    return reverse("smart:site", args=[station.pk])


def _latest_allocations(station: Station) -> list[dict[str, Any]]:
    plans = plan_history(station=station, since=timezone.now() - timedelta(hours=1))
    if not plans:
        return []
    latest = plans[-1]
    states = {
        (state.connector_id, state.purpose): state
        for state in SmartProfileState.objects.filter(
            connector__charge_point__station=station
        )
    }
    return [
        {
            "entry": entry,
            "allocated_kw": _kw(entry.allocated_w),
            "measured_kw": _kw(entry.measured_w),
            "profile": states.get((entry.connector_id, SmartProfileState.Purpose.TX)),
        }
        for entry in latest.entries.all()
    ]


def summary_context(station: Station) -> dict[str, Any]:
    now = timezone.now()
    limit = site_limit(station=station, now=now)
    allocations = _latest_allocations(station)
    return {
        "station": station,
        "limit": limit,
        "limit_kw": _kw(limit.limit_w),
        "static_kw": _kw(limit.static_w),
        "schedule_kw": _kw(limit.schedule_w),
        "signal_kw": _kw(limit.signal_w),
        "allocations": allocations,
        "allocated_kw": _kw(sum(row["entry"].allocated_w for row in allocations)),
        "measured_kw": _kw(sum(row["entry"].measured_w or 0 for row in allocations)),
        "local_now": now.astimezone(zoneinfo.ZoneInfo(station.time_zone)),
    }


def _page_context(
    request: HttpRequest, station: Station, **forms_: forms.Form
) -> dict[str, Any]:
    now = timezone.now()
    connectors = list(
        Connector.objects.filter(charge_point__station=station)
        .select_related("charge_point", "smart_settings")
        .order_by("charge_point__ocpp_id", "connector_id")
    )
    schedule = [
        {"entry": entry, "days": _weekday_labels(entry.weekdays)}
        for entry in SiteLimitScheduleEntry.objects.filter(station=station)
    ]
    signals = SiteLimitSignal.objects.filter(
        station=station, valid_until__gt=now - timedelta(days=1)
    ).order_by("-created_at")[:20]
    context = summary_context(station)
    context.update(
        {
            "can_manage": request.user.has_perm(MANAGE),
            "schedule": schedule,
            "signals": signals,
            "now": now,
            "connectors": [
                {"connector": c, "limits": connector_limits(c)} for c in connectors
            ],
            "priority_tokens": SmartPriorityToken.objects.filter(
                network=station.network
            ),
            "static_form": forms_.get("static_form")
            or StaticLimitForm(initial={"limit_kw": station.power_limit_kw}),
            "schedule_form": forms_.get("schedule_form")
            or ScheduleEntryForm(initial={"weekdays": [0, 1, 2, 3, 4]}),
            "signal_form": forms_.get("signal_form") or SignalForm(),
            "token_form": forms_.get("token_form") or PriorityTokenForm(),
            "settings_form": forms_.get("settings_form"),
            "history_minutes": HISTORY_MINUTES,
        }
    )
    return context


def _invalid(
    request: HttpRequest, station: Station, **forms_: forms.Form
) -> HttpResponse:
    return render(
        request,
        "stations/smart/site.html",
        _page_context(request, station, **forms_),
        status=400,
    )


def _apply_error(form: forms.Form, error: SmartChargingInputError) -> None:
    field = error.field if error.field in form.fields else None
    form.add_error(field, str(error))


# --- pages -----------------------------------------------------------------------


@login_required
@require_GET
def site_smart(request: HttpRequest, pk: int) -> HttpResponse:
    station = station_get_for_user(user=request.user, pk=pk, perm=VIEW)
    return render(request, "stations/smart/site.html", _page_context(request, station))


@login_required
@require_GET
def site_summary(request: HttpRequest, pk: int) -> HttpResponse:
    """The limit and current shares, for the station page panel (htmx)."""
    station = station_get_for_user(user=request.user, pk=pk, perm=VIEW)
    return render(request, "stations/smart/summary.html", summary_context(station))


@login_required
@require_GET
def site_series(request: HttpRequest, pk: int) -> JsonResponse:
    """Allocated and measured power per connector over time (chart data)."""
    station = station_get_for_user(user=request.user, pk=pk, perm=VIEW)
    try:
        minutes = int(request.GET.get("minutes", "60"))
    except ValueError:
        return JsonResponse({"errors": {"minutes": "Whole minutes."}}, status=400)
    if not 1 <= minutes <= 1440:
        return JsonResponse({"errors": {"minutes": "1 to 1440 minutes."}}, status=400)
    plans = plan_history(
        station=station, since=timezone.now() - timedelta(minutes=minutes)
    )
    connectors: dict[int, dict[str, Any]] = {}
    points = []
    for plan in plans:
        shares = {}
        for entry in plan.entries.all():
            connector = entry.connector
            connectors.setdefault(
                connector.pk,
                {
                    "id": connector.pk,
                    "label": str(connector),
                    "charge_point_pk": connector.charge_point_id,
                    "connector_number": connector.connector_id,
                },
            )
            shares[str(connector.pk)] = {
                "allocated_w": entry.allocated_w,
                "measured_w": entry.measured_w,
                "is_paused": entry.is_paused,
            }
        points.append(
            {
                "t": plan.created_at.isoformat(),
                "limit_w": plan.limit_w,
                "allocated_w": plan.allocated_w,
                "measured_w": plan.measured_w,
                "connectors": shares,
            }
        )
    return JsonResponse(
        {
            "station": station.pk,
            "time_zone": station.time_zone,
            "connectors": list(connectors.values()),
            "points": points,
        }
    )


# --- changes ---------------------------------------------------------------------


def _managed_station(request: HttpRequest, pk: int) -> Station:
    return station_get_for_user(user=request.user, pk=pk, perm=MANAGE)


@login_required
@require_POST
def static_limit_set(request: HttpRequest, pk: int) -> HttpResponse:
    station = _managed_station(request, pk)
    form = StaticLimitForm(request.POST)
    if not form.is_valid():
        return _invalid(request, station, static_form=form)
    try:
        site_static_limit_set(
            station=station, limit_kw=form.cleaned_data["limit_kw"], actor=request.user
        )
    except SmartChargingInputError as error:
        _apply_error(form, error)
        return _invalid(request, station, static_form=form)
    messages.success(request, "Static site limit saved.")
    return redirect(_site_url(station))


@login_required
@require_POST
def schedule_add(request: HttpRequest, pk: int) -> HttpResponse:
    station = _managed_station(request, pk)
    form = ScheduleEntryForm(request.POST)
    if not form.is_valid():
        return _invalid(request, station, schedule_form=form)
    data = form.cleaned_data
    try:
        schedule_entry_add(
            station=station,
            weekdays=sum(1 << day for day in set(data["weekdays"])),
            start_time=data["start_time"],
            end_time=data["end_time"],
            limit_kw=data["limit_kw"],
            actor=request.user,
        )
    except SmartChargingInputError as error:
        _apply_error(form, error)
        return _invalid(request, station, schedule_form=form)
    messages.success(request, "Schedule entry added.")
    return redirect(_site_url(station))


@login_required
@require_POST
def schedule_delete(request: HttpRequest, pk: int, entry_pk: int) -> HttpResponse:
    station = _managed_station(request, pk)
    entry = SiteLimitScheduleEntry.objects.filter(pk=entry_pk, station=station).first()
    if entry is None:
        raise Http404("No such schedule entry.")
    schedule_entry_delete(entry=entry, actor=request.user)
    messages.success(request, "Schedule entry removed.")
    return redirect(_site_url(station))


@login_required
@require_POST
def signal_add(request: HttpRequest, pk: int) -> HttpResponse:
    station = _managed_station(request, pk)
    form = SignalForm(request.POST)
    if not form.is_valid():
        return _invalid(request, station, signal_form=form)
    data = form.cleaned_data
    now = timezone.now()
    try:
        limit_signal_submit(
            station=station,
            limit_kw=data["limit_kw"],
            valid_until=now + timedelta(minutes=data["duration_min"]),
            reference=data["reference"],
            source=SiteLimitSignal.Source.PORTAL,
            actor=request.user,
            now=now,
        )
    except SmartChargingInputError as error:
        _apply_error(form, error)
        return _invalid(request, station, signal_form=form)
    messages.success(request, "Limit signal recorded.")
    return redirect(_site_url(station))


@login_required
@require_POST
def signal_cancel(request: HttpRequest, pk: int, signal_pk: int) -> HttpResponse:
    station = _managed_station(request, pk)
    signal = SiteLimitSignal.objects.filter(pk=signal_pk, station=station).first()
    if signal is None:
        raise Http404("No such signal.")
    if limit_signal_cancel(signal=signal, actor=request.user):
        messages.success(request, "Signal ended.")
    return redirect(_site_url(station))


@login_required
@require_POST
def connector_settings(
    request: HttpRequest, pk: int, connector_pk: int
) -> HttpResponse:
    station = _managed_station(request, pk)
    connector = connector_get_for_user(user=request.user, pk=connector_pk, perm=MANAGE)
    if connector.charge_point.station_id != station.pk:
        raise Http404("No such connector at this station.")
    form = ConnectorSettingsForm(request.POST)
    if not form.is_valid():
        return _invalid(request, station, settings_form=form)
    data = form.cleaned_data
    try:
        connector_settings_update(connector=connector, actor=request.user, **data)
    except SmartChargingInputError as error:
        _apply_error(form, error)
        return _invalid(request, station, settings_form=form)
    messages.success(request, f"Limits of {connector} saved.")
    return redirect(_site_url(station))


@login_required
@require_POST
def priority_token_add(request: HttpRequest, pk: int) -> HttpResponse:
    station = _managed_station(request, pk)
    form = PriorityTokenForm(request.POST)
    if not form.is_valid():
        return _invalid(request, station, token_form=form)
    try:
        priority_token_set(station=station, actor=request.user, **form.cleaned_data)
    except SmartChargingInputError as error:
        _apply_error(form, error)
        return _invalid(request, station, token_form=form)
    messages.success(request, "Priority token saved.")
    return redirect(_site_url(station))


@login_required
@require_POST
def priority_token_remove(request: HttpRequest, pk: int, token_pk: int) -> HttpResponse:
    station = _managed_station(request, pk)
    token = SmartPriorityToken.objects.filter(
        pk=token_pk, network_id=station.network_id
    ).first()
    if token is None:
        raise Http404("No such priority token.")
    priority_token_delete(token=token, actor=request.user)
    messages.success(request, "Priority token removed.")
    return redirect(_site_url(station))
