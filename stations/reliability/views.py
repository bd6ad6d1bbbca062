"""Outage pages: the list per port, classifying one outage, a known event for many."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.http import AuthenticatedHttpRequest
from cms.errors import InputError
from stations.models import Connector
from stations.reliability.forms import (
    OutageClassifyForm,
    OutageEventForm,
    OutageFilterForm,
)
from stations.reliability.models import Outage
from stations.reliability.reports import port_id
from stations.reliability.selectors import (
    CLASSIFY_OUTAGE,
    outage_get_for_user,
    outage_list_for_user,
    outages_require,
)
from stations.reliability.services import outage_classify, outages_classify_event
from stations.selectors import network_list_for_user, station_list_for_user

PAGE_SIZE = 50


@dataclass(frozen=True)
class OutageRow:
    """An outage as the list shows it: times in its station's zone, zone named."""

    outage: Outage
    port: str
    zone: str
    started: str
    ended: str
    duration: str
    excluded_part: str


def _local(moment: datetime | None, zone: ZoneInfo) -> str:
    return "" if moment is None else f"{moment.astimezone(zone):%Y-%m-%d %H:%M}"


def _duration(outage: Outage) -> str:
    end = outage.ended_at or timezone.now()
    minutes = int((end - outage.started_at).total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d} min" if hours else f"{rest} min"


def outage_row(outage: Outage) -> OutageRow:
    station = outage.connector.charge_point.station
    zone_name = (station.time_zone if station else "") or "UTC"
    zone = ZoneInfo(zone_name)
    part = ""
    if outage.is_excluded and (outage.excluded_from or outage.excluded_until):
        part = (
            f"{_local(outage.excluded_from or outage.started_at, zone)} – "
            f"{_local(outage.excluded_until or outage.ended_at, zone) or 'ongoing'}"
        )
    return OutageRow(
        outage=outage,
        port=port_id(outage.connector),
        zone=zone_name,
        started=_local(outage.started_at, zone),
        ended=_local(outage.ended_at, zone),
        duration=_duration(outage),
        excluded_part=part,
    )


def _filtered(request: HttpRequest) -> tuple[QuerySet[Outage], OutageFilterForm]:
    outages = outage_list_for_user(user=request.user)
    form = OutageFilterForm(
        request.GET or None,
        networks=network_list_for_user(user=request.user),
        stations=station_list_for_user(user=request.user).order_by("name"),
    )
    if form.is_valid():
        data = form.cleaned_data
        if data["network"]:
            outages = outages.filter(
                connector__charge_point__station__network=data["network"]
            )
        if data["station"]:
            outages = outages.filter(connector__charge_point__station=data["station"])
        if data["cause"]:
            outages = outages.filter(cause=data["cause"])
        classification = data["classification"]
        if classification == "unclassified":
            outages = outages.filter(classified_at__isnull=True)
        elif classification == "excluded":
            outages = outages.filter(is_excluded=True)
        elif classification == "counted":
            outages = outages.filter(classified_at__isnull=False, is_excluded=False)
        zone = timezone.get_current_timezone()  # the user's zone, named on the page
        if data["date_from"]:
            start = datetime.combine(data["date_from"], time(0), zone)
            outages = outages.filter(Q(ended_at__isnull=True) | Q(ended_at__gt=start))
        if data["date_to"]:
            end = datetime.combine(data["date_to"] + timedelta(days=1), time(0), zone)
            outages = outages.filter(started_at__lt=end)
    return outages, form


@login_required
def outage_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    outages, form = _filtered(request)
    page = Paginator(outages, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "stations/reliability/outage_list.html",
        {
            "form": form,
            "page": page,
            "rows": [outage_row(outage) for outage in page.object_list],
            "query": query.urlencode(),
            "can_classify": request.user.has_perm(CLASSIFY_OUTAGE),
            "classify_form": OutageClassifyForm(),
        },
    )


@require_POST
@login_required
def outage_classify_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    outage = outage_get_for_user(user=request.user, pk=pk, perm=CLASSIFY_OUTAGE)
    form = OutageClassifyForm(request.POST)
    status = 200
    if form.is_valid():
        data = form.cleaned_data
        outage = outage_classify(
            outage=outage,
            actor=request.user,
            is_excluded=data["is_excluded"],
            exclusion_reason=data["exclusion_reason"],
            note=data["note"],
            evidence=data["evidence"],
        )
    else:
        status = 400
    if request.headers.get("HX-Request") != "true":
        if status == 200:
            messages.success(request, "Outage classified.")
        else:
            messages.error(
                request, "; ".join(f"{k}: {v[0]}" for k, v in form.errors.items())
            )
        return redirect("reliability:outage_list")
    return render(
        request,
        "stations/reliability/outage_list.html#outage-row",
        {
            "row": outage_row(outage),
            "can_classify": True,
            "classify_form": form if status == 400 else OutageClassifyForm(),
            "errors": form.errors if status == 400 else None,
        },
        status=status,
    )


@login_required
def outage_event(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Exclude a known event's window (a grid outage) for the ports of many stations."""
    outages_require(user=request.user, perm=CLASSIFY_OUTAGE)
    stations = station_list_for_user(user=request.user).order_by("name")
    form = OutageEventForm(request.POST or None, stations=stations)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        ports = list(
            Connector.objects.filter(charge_point__station__in=data["stations"])
        )
        try:
            result = outages_classify_event(
                connectors=ports,
                actor=request.user,
                window_start=data["window_start"],
                window_end=data["window_end"],
                exclusion_reason=data["exclusion_reason"],
                event_label=data["event_label"],
                note=data["note"],
                evidence=data["evidence"],
            )
        except InputError as error:
            form.add_error(error.field or None, str(error))
        else:
            messages.success(
                request,
                f"{result.outages} outages on {result.ports} ports excluded for "
                f"{data['event_label']}.",
            )
            return redirect("reliability:outage_list")
    return render(
        request,
        "stations/reliability/outage_event.html",
        {"form": form},
        status=400 if request.method == "POST" else 200,
    )


__all__ = ["outage_classify_view", "outage_event", "outage_list"]
