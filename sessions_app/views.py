"""Portal pages: id tokens, the token CSV import, sessions and unmatched stops."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, time, timedelta
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Q, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.http import AnyUser, AuthenticatedHttpRequest
from sessions_app.exports import sessions_csv_response
from sessions_app.forms import (
    FLAGGED,
    SESSION_SORTS,
    IdTokenForm,
    IdTokenImportForm,
    SessionFilterForm,
    UnmatchedStopResolveForm,
)
from sessions_app.models import ChargingSession, SessionStatus, TokenStatus
from sessions_app.origins import session_origin_q
from sessions_app.pricing import session_list_prices, session_price_panel
from sessions_app.selectors import (
    id_token_get_for_user,
    id_token_list_for_user,
    session_chart_series,
    session_get_for_user,
    session_list_for_user,
    session_meter_values,
    session_ocpp_frames,
    unmatched_stop_get_for_user,
    unmatched_stop_list_for_user,
)
from sessions_app.services import (
    id_token_create,
    id_token_update,
    unmatched_stop_resolve,
)
from sessions_app.templatetags.charging_tags import duration, kw, kwh
from sessions_app.token_import import IdTokenImportError, id_tokens_import
from stations.models import OcppMessage
from stations.ocpp import commands as ocpp
from stations.remote.services import ACTION_PERMISSIONS, command_submit
from stations.selectors import charge_point_get_for_user

PAGE_SIZE = 50
CHARGER_FRAMES = 10  # the charger's latest frames on a session page
METER_VALUES_PAGE_SIZE = 100


def _require(request: HttpRequest, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied(f"Your role does not allow this ({perm}).")


def _page(
    request: HttpRequest,
    queryset: QuerySet,
    *,
    size: int = PAGE_SIZE,
    param: str = "page",
) -> Page:
    return Paginator(queryset, size).get_page(request.GET.get(param))


def _query_without(request: HttpRequest, param: str) -> str:
    """The current query string minus ``param``, for pagination links."""
    query = request.GET.copy()
    query.pop(param, None)
    return query.urlencode()


# --- Id tokens ------------------------------------------------------------------


@login_required
def token_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require(request, "charging.view_idtoken")
    tokens = id_token_list_for_user(user=request.user)
    search = request.GET.get("q", "").strip()
    status = request.GET.get("status", "")
    if search:
        tokens = tokens.filter(
            Q(token__icontains=search)
            | Q(label__icontains=search)
            | Q(owner__email__icontains=search)
        )
    if status in TokenStatus.values:
        tokens = tokens.filter(status=status)
    return render(
        request,
        "charging/token_list.html",
        {
            "page": _page(request, tokens.order_by("token")),
            "search": search,
            "status": status,
            "statuses": TokenStatus.choices,
            "query": _query_without(request, "page"),
            "can_add": request.user.has_perm("charging.add_idtoken"),
            "can_change": request.user.has_perm("charging.change_idtoken"),
        },
    )


@login_required
def token_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require(request, "charging.add_idtoken")
    form = IdTokenForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            id_token = id_token_create(actor=request.user, **form.service_kwargs())
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, f"Token {id_token.token} created.")
            return redirect("charging:token_list")
    return render(
        request, "charging/token_form.html", {"form": form, "title": "New id token"}
    )


@login_required
def token_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    id_token = id_token_get_for_user(
        user=request.user, pk=pk, perm="charging.change_idtoken"
    )
    form = IdTokenForm(request.POST or None, user=request.user, instance=id_token)
    if request.method == "POST" and form.is_valid():
        try:
            id_token = id_token_update(
                actor=request.user, id_token=id_token, **form.service_kwargs()
            )
        except ValidationError as error:
            form.add_service_errors(error)
        else:
            messages.success(request, f"Token {id_token.token} saved.")
            return redirect("charging:token_list")
    return render(
        request,
        "charging/token_form.html",
        {"form": form, "title": f"Edit token {id_token.token}", "id_token": id_token},
    )


@login_required
def token_import(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require(request, "charging.add_idtoken")
    _require(request, "charging.change_idtoken")
    form = IdTokenImportForm(
        request.POST or None, request.FILES or None, user=request.user
    )
    line_errors = []
    if request.method == "POST" and form.is_valid():
        try:
            summary = id_tokens_import(
                actor=request.user,
                csv_text=form.cleaned_data["file"],
                network=form.cleaned_data.get("network"),
            )
        except IdTokenImportError as error:
            line_errors = error.errors
        else:
            messages.success(
                request,
                f"Imported: {summary.created} created, {summary.updated} updated, "
                f"{summary.unchanged} unchanged.",
            )
            return redirect("charging:token_list")
    return render(
        request,
        "charging/token_import.html",
        {"form": form, "line_errors": line_errors},
        status=400 if line_errors else 200,
    )


# --- Sessions -------------------------------------------------------------------


def _day_start(day: Any, zone: zoneinfo.ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


@login_required
def session_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require(request, "charging.view_chargingsession")
    form, sessions = _filtered_sessions(request)
    page = _page(request, sessions)
    now = timezone.now()
    for session in page:
        session.elapsed_seconds = (
            (session.stopped_at or now) - session.started_at
        ).total_seconds()
    prices = session_list_prices(
        session_ids=[session.pk for session in page], user=request.user
    )
    for session in page:
        session.list_price = (prices or {}).get(session.pk)
    return render(
        request,
        "charging/session_list.html",
        {
            "form": form,
            "page": page,
            "query": _query_without(request, "page"),
            "export_query": _query_without(request, "page"),
            "can_view_unmatched": request.user.has_perm("charging.view_unmatchedstop"),
            "show_prices": prices is not None,
        },
        status=400 if form.is_bound and not form.is_valid() else 200,
    )


def _filtered_sessions(
    request: AuthenticatedHttpRequest,
) -> tuple[SessionFilterForm, QuerySet[ChargingSession]]:
    """The session list's filter form and the sessions it selects, in its order."""
    form = SessionFilterForm(request.GET or None, user=request.user)
    sessions = session_list_for_user(user=request.user)
    order = SESSION_SORTS["-started_at"][1]
    if form.is_bound and not form.is_valid():
        return form, sessions.none()
    if form.is_valid():
        data = form.cleaned_data
        if data["network"]:
            sessions = sessions.filter(charge_point__station__network=data["network"])
        if data["station"]:
            sessions = sessions.filter(charge_point__station=data["station"])
        if data["charger"]:
            sessions = sessions.filter(
                charge_point__ocpp_id__icontains=data["charger"].strip()
            )
        if data["token"]:
            sessions = sessions.filter(id_tag__iexact=data["token"].strip())
        if data["status"] == FLAGGED:
            sessions = sessions.filter(has_register_regression=True)
        elif data["status"]:
            sessions = sessions.filter(status=data["status"])
        # Dates are read in the chosen network's zone (UTC without one).
        zone = zoneinfo.ZoneInfo(
            data["network"].time_zone if data["network"] else "UTC"
        )
        if data["date_from"]:
            sessions = sessions.filter(
                started_at__gte=_day_start(data["date_from"], zone)
            )
        if data["date_to"]:
            sessions = sessions.filter(
                started_at__lt=_day_start(data["date_to"] + timedelta(days=1), zone)
            )
        if data.get("origin"):
            sessions = sessions.filter(session_origin_q(data["origin"]))
        if data["sort"]:
            order = SESSION_SORTS[data["sort"]][1]
    return form, sessions.order_by(*order)


@login_required
def session_export_csv(
    request: AuthenticatedHttpRequest,
) -> HttpResponse | StreamingHttpResponse:
    """The filtered session list as CSV (prices for roles that may see them)."""
    _require(request, "charging.view_chargingsession")
    form, sessions = _filtered_sessions(request)
    if form.is_bound and not form.is_valid():
        return HttpResponse(
            "; ".join(
                f"{name}: {' '.join(str(error) for error in errors)}"
                for name, errors in form.errors.items()
            ),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    return sessions_csv_response(sessions=sessions, user=request.user)


@login_required
def session_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    session = session_get_for_user(
        user=request.user, pk=pk, perm="charging.view_chargingsession"
    )
    station = session.charge_point.station
    tz_name = station.time_zone if station else "UTC"
    end = session.stopped_at or timezone.now()
    chart = session_chart_series(session=session)
    zone = zoneinfo.ZoneInfo(tz_name)
    local_instants = [datetime.fromisoformat(t).astimezone(zone) for t in chart["t"]]
    spans_days = len({instant.date() for instant in local_instants}) > 1
    label_format = "%d.%m. %H:%M" if spans_days else "%H:%M:%S"
    chart["labels"] = [instant.strftime(label_format) for instant in local_instants]
    price = session_price_panel(session=session, user=request.user)
    return render(
        request,
        "charging/session_detail.html",
        {
            "session": session,
            "tz_name": tz_name,
            "elapsed_seconds": (end - session.started_at).total_seconds(),
            "is_open": session.stopped_at is None,
            "chart": chart,
            "meter_values": _page(
                request,
                session_meter_values(session=session),
                size=METER_VALUES_PAGE_SIZE,
                param="mv_page",
            ),
            "mv_query": _query_without(request, "mv_page"),
            "frames": session_ocpp_frames(session=session),
            "SessionStatus": SessionStatus,
            "price": price,
            "actions": session_actions_for_user(user=request.user, session=session),
            "charger_frames": OcppMessage.objects.filter(
                charge_point=session.charge_point
            ).order_by("-at", "-id")[:CHARGER_FRAMES],
            "live_path": "/ws/live/?view=charge_point"
            f"&charge_point={session.charge_point_id}",
        },
    )


# --- Unmatched stops ----------------------------------------------------------------


def _render_unmatched_list(
    request: HttpRequest,
    *,
    resolve_form: UnmatchedStopResolveForm,
    failed_pk: int | None = None,
    status: int = 200,
) -> HttpResponse:
    state = request.GET.get("state", "open")
    stops = unmatched_stop_list_for_user(user=request.user)
    if state == "open":
        stops = stops.filter(resolved_at__isnull=True)
    elif state == "resolved":
        stops = stops.filter(resolved_at__isnull=False)
    return render(
        request,
        "charging/unmatched_stop_list.html",
        {
            "page": _page(request, stops.order_by("-received_at", "-id")),
            "state": state,
            "query": _query_without(request, "page"),
            "can_resolve": request.user.has_perm("charging.change_unmatchedstop"),
            "resolve_form": resolve_form,
            "failed_pk": failed_pk,
        },
        status=status,
    )


@login_required
def unmatched_stop_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    _require(request, "charging.view_unmatchedstop")
    return _render_unmatched_list(request, resolve_form=UnmatchedStopResolveForm())


@require_POST
@login_required
def unmatched_stop_resolve_view(
    request: AuthenticatedHttpRequest, pk: int
) -> HttpResponse:
    unmatched = unmatched_stop_get_for_user(
        user=request.user, pk=pk, perm="charging.change_unmatchedstop"
    )
    form = UnmatchedStopResolveForm(request.POST)
    if not form.is_valid():
        return _render_unmatched_list(
            request, resolve_form=form, failed_pk=unmatched.pk, status=400
        )
    unmatched_stop_resolve(
        actor=request.user, unmatched_stop=unmatched, note=form.cleaned_data["note"]
    )
    messages.success(request, f"Stop {unmatched.transaction_id} marked resolved.")
    return redirect("charging:unmatched_stop_list")


# Support's actions on a session page: (command, permission, what the user sees).
SESSION_ACTIONS: dict[str, tuple[str, str]] = {
    "stop": ("RemoteStopTransaction", "Remote stop"),
    "unlock": ("UnlockConnector", "Unlock connector"),
    "reset": ("Reset", "Soft reset of the charger"),
}


def _session_command(action: str, session: ChargingSession) -> ocpp.Command:
    if action == "stop":
        # The transaction id the CMS answered StartTransaction with is the
        # session's own number (OCPP 1.6 §6.46 RemoteStopTransaction.req).
        return ocpp.RemoteStop(transaction_id=session.pk)
    if action == "unlock":
        return ocpp.UnlockConnector(connector=session.connector_number)
    return ocpp.Reset(kind=ocpp.ResetKind.SOFT)


def session_actions_for_user(
    *, user: AnyUser, session: ChargingSession
) -> list[dict[str, str]]:
    """The actions the user's role may take on this session's charger now."""
    actions = []
    for key, (command, label) in SESSION_ACTIONS.items():
        if key == "stop" and session.stopped_at is not None:
            continue
        if user.has_perm(ACTION_PERMISSIONS[command]):
            actions.append({"key": key, "label": label})
    return actions


@login_required
@require_POST
def session_action(
    request: AuthenticatedHttpRequest, pk: int, action: str
) -> HttpResponse:
    """Remote stop, unlock or reset from the session page, by role."""
    if action not in SESSION_ACTIONS:
        raise Http404("No such action.")
    session = session_get_for_user(
        user=request.user, pk=pk, perm="charging.view_chargingsession"
    )
    command_name, label = SESSION_ACTIONS[action]
    charge_point = charge_point_get_for_user(
        user=request.user,
        pk=session.charge_point_id,
        perm=ACTION_PERMISSIONS[command_name],
    )
    if action == "stop" and session.stopped_at is not None:
        messages.error(request, "This session has already stopped.")
        return redirect("charging:session_detail", pk=session.pk)
    command = command_submit(
        charge_point=charge_point,
        command=_session_command(action, session),
        requested_by=request.user,
    )
    messages.success(
        request,
        f"{label} sent to {charge_point.ocpp_id}: {command.get_status_display()}.",
    )
    return redirect("charging:session_detail", pk=session.pk)


@login_required
def session_live(request: AuthenticatedHttpRequest, pk: int) -> JsonResponse:
    """The session page's ticking figures (energy, power, cost so far, status)."""
    session = session_get_for_user(
        user=request.user, pk=pk, perm="charging.view_chargingsession"
    )
    end = session.stopped_at or timezone.now()
    price = session_price_panel(session=session, user=request.user)
    cost = str(price.get("text", "")) if price is not None else ""
    return JsonResponse(
        {
            "status": session.status,
            "status_display": session.get_status_display(),
            "energy": f"{kwh(session.energy_wh)} kWh",
            "power": f"{kw(session.power_w)} kW" if session.stopped_at is None else "—",
            "soc": f"{session.soc_percent:.0f} %"
            if session.soc_percent is not None
            else "—",
            "duration": duration((end - session.started_at).total_seconds()),
            "cost": cost,
            "is_open": session.stopped_at is None,
        }
    )
