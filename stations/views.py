"""Portal pages for the charging network: overview, live board, CRUD, search.

Thin views: parse input, read through the scoped selectors (404 outside the
user's networks, 403 without the role permission), write through
``stations.inventory`` and render.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet
from django.forms import BaseForm
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template import TemplateDoesNotExist
from django.template.defaultfilters import pluralize
from django.template.loader import select_template
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods, require_POST

from cms.forms import TIME_ZONES
from stations import inventory as services
from stations.charger_import import ChargerImportError, charge_points_import
from stations.forms import (
    ChargePointAssignForm,
    ChargePointEditForm,
    ChargePointRegisterForm,
    ChargerImportForm,
    ConnectorForm,
    MessageSearchForm,
    NetworkForm,
    StationForm,
    UnassignedOnboardForm,
)
from stations.live.selectors import (
    STATUS_CHOICES,
    connector_rows,
    network_overview,
    session_chart_points,
    station_utilization_today,
    with_effective_status,
)
from stations.models import (
    ChargePoint,
    ConnectionAttempt,
    ConnectionEvent,
    Connector,
    ConnectorType,
    OcppMessage,
    RegistrationStatus,
)
from stations.search import search_results, search_sections
from stations.selectors import (
    can_register_unknown,
    can_see_unassigned,
    charge_point_get_for_user,
    charge_point_list_for_user,
    connection_attempt_list_for_user,
    connector_get_for_user,
    connector_list_for_user,
    network_get_for_user,
    network_ids_for_user,
    network_list_for_user,
    station_get_for_user,
    station_list_for_user,
)

PAGE_SIZE = 50
TIMELINE_PAGE_SIZE = 25  # a charge point's OCPP messages, newest first
# The remote-command console (built with the command views) is included on the
# charge point page when one of these templates exists.
COMMAND_CONSOLE_TEMPLATES = (
    "stations/commands/console.html",
    "stations/command_console.html",
)


def _require(request: HttpRequest, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied(f"Your role does not allow this ({perm}).")


def _page(
    request: HttpRequest, items: Any, param: str = "page", size: int = PAGE_SIZE
) -> Page:
    return Paginator(items, size).get_page(request.GET.get(param))


def _int_param(request: HttpRequest, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() else None


def _form_page(
    request: HttpRequest,
    *,
    form: BaseForm,
    title: str,
    cancel_url: str,
    status: int = 200,
    **extra: Any,
) -> HttpResponse:
    context = {"form": form, "title": title, "cancel_url": cancel_url, **extra}
    return render(request, "stations/form.html", context, status=status)


def _save_or_errors(form: BaseForm, save: Any) -> Any:
    """Run ``save``; a service-level ValidationError lands on the form's fields."""
    try:
        return save()
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            for field, errors in error.error_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.add_error(None, error)
        return None


def _live_path(
    view: str, *, rows: Iterable[int] | None = None, **params: int | None
) -> str:
    """The live socket of a page; ``rows``: the connector rows the page shows.

    A paginated board lists 50 of possibly thousands of connectors: the socket
    then renders and sends only those rows, not every row of the network.
    """
    pairs = [f"{k}={v}" for k, v in params.items() if v is not None]
    if rows is not None:
        pairs.append("rows=" + ",".join(str(pk) for pk in rows))
    query = "&".join(pairs)
    return f"/ws/live/?view={view}" + (f"&{query}" if query else "")


# --- overview and live board ---------------------------------------------------


@login_required
def overview(request: HttpRequest) -> HttpResponse:
    _require(request, "stations.view_network")
    networks = list(network_list_for_user(user=request.user))
    selected_id = _int_param(request, "network")
    selected = [n for n in networks if n.pk == selected_id] if selected_id else networks
    if selected_id and not selected:
        raise Http404("No such network.")
    figures = network_overview(
        networks=selected, include_alerts=request.user.has_perm("alerts.view_alert")
    )
    return render(
        request,
        "stations/overview.html",
        {
            "networks": networks,
            "selected_network_id": selected_id,
            "figures": figures,
            "live_path": _live_path("overview", network=selected_id),
        },
    )


def _board_connectors(
    request: HttpRequest,
) -> tuple[QuerySet[Connector], dict[str, Any]]:
    connectors = with_effective_status(
        connector_list_for_user(user=request.user).filter(
            charge_point__station__isnull=False
        )
    )
    filters: dict[str, Any] = {
        "network": _int_param(request, "network"),
        "station": _int_param(request, "station"),
        "status": request.GET.get("status", ""),
        "type": request.GET.get("type", ""),
    }
    if filters["network"]:
        network_get_for_user(user=request.user, pk=filters["network"])
        connectors = connectors.filter(
            charge_point__station__network_id=filters["network"]
        )
    if filters["station"]:
        station_get_for_user(user=request.user, pk=filters["station"])
        connectors = connectors.filter(charge_point__station_id=filters["station"])
    if filters["status"] in STATUS_CHOICES:
        # with_effective_status()'s annotation, unseen by the ORM plugin.
        connectors = connectors.filter(effective_status=filters["status"])  # type: ignore[misc]
    else:
        filters["status"] = ""
    if filters["type"] in ConnectorType.values:
        connectors = connectors.filter(connector_type=filters["type"])
    else:
        filters["type"] = ""
    connectors = connectors.order_by(
        "charge_point__station__name", "charge_point__ocpp_id", "connector_id"
    )
    return connectors, filters


@login_required
def live_board(request: HttpRequest) -> HttpResponse:
    _require(request, "stations.view_connector")
    connectors, filters = _board_connectors(request)
    page = _page(request, connectors)
    stations = station_list_for_user(user=request.user)
    if filters["network"]:
        stations = stations.filter(network_id=filters["network"])
    return render(
        request,
        "stations/live_board.html",
        {
            "page": page,
            "rows": connector_rows(page.object_list),
            "filters": filters,
            "networks": network_list_for_user(user=request.user),
            "stations": stations,
            "statuses": STATUS_CHOICES,
            "connector_types": ConnectorType.choices,
            "board_columns": True,
            "live_path": _live_path(
                "board",
                network=filters["network"],
                station=filters["station"],
                rows=[connector.pk for connector in page.object_list],
            ),
        },
    )


# --- networks -------------------------------------------------------------------


@login_required
def network_list(request: HttpRequest) -> HttpResponse:
    _require(request, "stations.view_network")
    networks = (
        network_list_for_user(user=request.user)
        .annotate(
            station_count=Count("stations", distinct=True),
            charge_point_count=Count("stations__charge_points", distinct=True),
        )
        .order_by("name")
    )
    return render(
        request, "stations/network_list.html", {"page": _page(request, networks)}
    )


@login_required
def network_detail(request: HttpRequest, pk: int) -> HttpResponse:
    network = network_get_for_user(
        user=request.user, pk=pk, perm="stations.view_network"
    )
    stations = network.stations.annotate(
        charge_point_count=Count("charge_points", distinct=True),
        connector_count=Count("charge_points__connectors", distinct=True),
    ).order_by("name")
    return render(
        request,
        "stations/network_detail.html",
        {
            "network": network,
            "figures": network_overview(
                networks=[network],
                include_alerts=request.user.has_perm("alerts.view_alert"),
            ),
            "page": _page(request, stations),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def network_create(request: HttpRequest) -> HttpResponse:
    _require(request, "stations.add_network")
    form = NetworkForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        network = _save_or_errors(
            form,
            lambda: services.network_create(
                actor=request.user, fields=form.cleaned_data
            ),
        )
        if network is not None:
            messages.success(request, f"Network “{network}” created.")
            return redirect("stations:network_detail", pk=network.pk)
    return _form_page(
        request,
        form=form,
        title="New network",
        cancel_url=reverse("stations:network_list"),
        time_zones=TIME_ZONES,
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def network_edit(request: HttpRequest, pk: int) -> HttpResponse:
    network = network_get_for_user(
        user=request.user, pk=pk, perm="stations.change_network"
    )
    form = NetworkForm(request.POST or None, instance=network)
    if request.method == "POST" and form.is_valid():
        saved = _save_or_errors(
            form,
            lambda: services.network_update(
                actor=request.user, network=network, fields=form.cleaned_data
            ),
        )
        if saved is not None:
            messages.success(request, "Network saved.")
            return redirect("stations:network_detail", pk=network.pk)
    return _form_page(
        request,
        form=form,
        title=f"Edit network {network}",
        cancel_url=reverse("stations:network_detail", args=[pk]),
        time_zones=TIME_ZONES,
        status=400 if form.errors else 200,
    )


# --- stations -------------------------------------------------------------------


@login_required
def station_list(request: HttpRequest) -> HttpResponse:
    _require(request, "stations.view_station")
    stations = station_list_for_user(user=request.user).annotate(
        charge_point_count=Count("charge_points", distinct=True),
        connector_count=Count("charge_points__connectors", distinct=True),
    )
    network_id = _int_param(request, "network")
    if network_id:
        stations = stations.filter(network_id=network_id)
    query = request.GET.get("q", "").strip()
    if query:
        stations = stations.filter(
            Q(name__icontains=query)
            | Q(city__icontains=query)
            | Q(address__icontains=query)
        )
    return render(
        request,
        "stations/station_list.html",
        {
            "page": _page(request, stations.order_by("network__name", "name")),
            "networks": network_list_for_user(user=request.user),
            "network_id": network_id,
            "query": query,
        },
    )


@login_required
def station_detail(request: HttpRequest, pk: int) -> HttpResponse:
    station = station_get_for_user(
        user=request.user, pk=pk, perm="stations.view_station"
    )
    charge_points = list(station.charge_points.order_by("ocpp_id"))
    connectors = with_effective_status(
        Connector.objects.filter(charge_point__station=station).select_related(
            "charge_point", "charge_point__station"
        )
    ).order_by("charge_point__ocpp_id", "connector_id")
    rows = connector_rows(connectors)
    rows_by_charge_point: dict[int, list[Any]] = {}
    for row in rows:
        rows_by_charge_point.setdefault(row.connector.charge_point_id, []).append(row)
    return render(
        request,
        "stations/station_detail.html",
        {
            "station": station,
            "groups": [
                (cp, rows_by_charge_point.get(cp.pk, [])) for cp in charge_points
            ],
            "utilization": station_utilization_today(station=station),
            "board_columns": False,
            "live_path": _live_path("station", station=station.pk),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def station_create(request: HttpRequest) -> HttpResponse:
    _require(request, "stations.add_station")
    networks = network_list_for_user(user=request.user)
    initial: dict[str, object] = {}
    network_id = _int_param(request, "network")
    if network_id:
        initial["network"] = network_id
        network = networks.filter(pk=network_id).first()
        if network is not None:
            initial["time_zone"] = network.time_zone
    form = StationForm(request.POST or None, networks=networks, initial=initial)
    if request.method == "POST" and form.is_valid():
        station = _save_or_errors(
            form,
            lambda: services.station_create(
                actor=request.user, fields=form.cleaned_data
            ),
        )
        if station is not None:
            messages.success(request, f"Station “{station}” created.")
            return redirect("stations:station_detail", pk=station.pk)
    return _form_page(
        request,
        form=form,
        title="New station",
        cancel_url=reverse("stations:station_list"),
        time_zones=TIME_ZONES,
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def station_edit(request: HttpRequest, pk: int) -> HttpResponse:
    station = station_get_for_user(
        user=request.user, pk=pk, perm="stations.change_station"
    )
    form = StationForm(
        request.POST or None,
        instance=station,
        networks=network_list_for_user(user=request.user),
    )
    if request.method == "POST" and form.is_valid():
        saved = _save_or_errors(
            form,
            lambda: services.station_update(
                actor=request.user, station=station, fields=form.cleaned_data
            ),
        )
        if saved is not None:
            messages.success(request, "Station saved.")
            return redirect("stations:station_detail", pk=station.pk)
    return _form_page(
        request,
        form=form,
        title=f"Edit station {station}",
        cancel_url=reverse("stations:station_detail", args=[pk]),
        time_zones=TIME_ZONES,
        status=400 if form.errors else 200,
    )


# --- charge points --------------------------------------------------------------


@login_required
def charge_point_list(request: HttpRequest) -> HttpResponse:
    _require(request, "stations.view_chargepoint")
    charge_points = charge_point_list_for_user(
        user=request.user, include_unassigned=False
    ).annotate(connector_count=Count("connectors"))
    network_id = _int_param(request, "network")
    station_id = _int_param(request, "station")
    if network_id:
        charge_points = charge_points.filter(station__network_id=network_id)
    if station_id:
        charge_points = charge_points.filter(station_id=station_id)
    online = request.GET.get("online", "")
    if online == "yes":
        charge_points = charge_points.filter(is_online=True)
    elif online == "no":
        charge_points = charge_points.filter(is_online=False)
    query = request.GET.get("q", "").strip()
    if query:
        charge_points = charge_points.filter(
            Q(ocpp_id__icontains=query)
            | Q(display_name__icontains=query)
            | Q(serial_number__icontains=query)
        )
    return render(
        request,
        "stations/charge_point_list.html",
        {
            "page": _page(request, charge_points.order_by("ocpp_id")),
            "networks": network_list_for_user(user=request.user),
            "network_id": network_id,
            "station_id": station_id,
            "online": online,
            "query": query,
        },
    )


def _command_console_template() -> str | None:
    try:
        return select_template(COMMAND_CONSOLE_TEMPLATES).template.name
    except TemplateDoesNotExist:
        return None


def charge_point_sessions_context(charge_point: ChargePoint) -> dict[str, Any]:
    """Context of the charge point page's connector and session fragments."""
    connectors = with_effective_status(
        charge_point.connectors.select_related("charge_point", "charge_point__station")
    ).order_by("connector_id")
    rows = connector_rows(connectors)
    active_sessions = [row.session for row in rows if row.session is not None]
    station = charge_point.station
    return {
        "charge_point": charge_point,
        "rows": rows,
        "active_sessions": active_sessions,
        "time_zone": station.time_zone if station else "UTC",
        "board_columns": False,
    }


@login_required
def charge_point_detail(request: HttpRequest, pk: int) -> HttpResponse:
    charge_point = charge_point_get_for_user(
        user=request.user, pk=pk, perm="stations.view_chargepoint"
    )
    context = charge_point_sessions_context(charge_point)
    active = context["active_sessions"]
    search = MessageSearchForm(request.GET or None)
    ocpp_messages = OcppMessage.objects.filter(charge_point=charge_point)
    query = search.cleaned_data["q"].strip() if search.is_valid() else ""
    if query:
        ocpp_messages = ocpp_messages.filter(
            Q(action__icontains=query) | Q(unique_id=query)
        )
    context.update(
        {
            "connection_events": ConnectionEvent.objects.filter(
                charge_point=charge_point
            )[:20],
            "chart_session": active[0] if active else None,
            "chart_points": session_chart_points(session=active[0]) if active else [],
            "message_search": search,
            "message_query": query,
            "message_page": _page(
                request,
                ocpp_messages.order_by("-at", "-id"),
                "mpage",
                TIMELINE_PAGE_SIZE,
            ),
            "command_console_template": _command_console_template(),
            "live_path": _live_path("charge_point", charge_point=charge_point.pk),
            "can_change": request.user.has_perm("stations.change_chargepoint"),
            "can_edit_connectors": request.user.has_perm("stations.change_connector"),
            "can_add_connector": request.user.has_perm("stations.add_connector"),
            "can_delete_connector": request.user.has_perm("stations.delete_connector"),
        }
    )
    return render(request, "stations/charge_point_detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def charge_point_create(request: HttpRequest) -> HttpResponse:
    _require(request, "stations.add_chargepoint")
    stations = station_list_for_user(user=request.user)
    station_id = _int_param(request, "station")
    initial: dict[str, Any] = {"station": station_id} if station_id else {}
    if request.GET.get("ocpp_id"):
        # "Register this charger" from a refused connection attempt.
        initial["ocpp_id"] = request.GET["ocpp_id"][:255]
    form = ChargePointRegisterForm(
        request.POST or None, stations=stations, initial=initial or None
    )
    form.fields["station"].required = True
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        charge_point = _save_or_errors(
            form,
            lambda: services.charge_point_register(
                actor=request.user,
                ocpp_id=data["ocpp_id"],
                station=data["station"],
                display_name=data["display_name"],
                password=data["password"] or None,
                heartbeat_interval_s=data["heartbeat_interval_s"],
                ocpp_protocol_max=data["ocpp_protocol_max"],
            ),
        )
        if charge_point is not None:
            messages.success(
                request, f"Charge point {charge_point.ocpp_id} registered."
            )
            return redirect("stations:charge_point_detail", pk=charge_point.pk)
    return _form_page(
        request,
        form=form,
        title="Register a charge point",
        cancel_url=reverse("stations:charge_point_list"),
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def charge_point_edit(request: HttpRequest, pk: int) -> HttpResponse:
    charge_point = charge_point_get_for_user(
        user=request.user, pk=pk, perm="stations.change_chargepoint"
    )
    form = ChargePointEditForm(
        request.POST or None,
        instance=charge_point,
        stations=station_list_for_user(user=request.user),
    )
    form.fields["station"].required = True
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        saved = _save_or_errors(
            form,
            lambda: services.charge_point_update(
                actor=request.user,
                charge_point=charge_point,
                fields={k: data[k] for k in services.CHARGE_POINT_FIELDS},
                password=data["password"] or None,
                clear_password=data["clear_password"],
            ),
        )
        if saved is not None:
            messages.success(request, "Charge point saved.")
            return redirect("stations:charge_point_detail", pk=charge_point.pk)
    return _form_page(
        request,
        form=form,
        title=f"Edit charge point {charge_point.ocpp_id}",
        cancel_url=reverse("stations:charge_point_detail", args=[pk]),
        has_password=bool(charge_point.password_hash),
        status=400 if form.errors else 200,
    )


def _back(request: HttpRequest, fallback: str) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback)


@login_required
@require_POST
def charge_point_approve(request: HttpRequest, pk: int) -> HttpResponse:
    charge_point = charge_point_get_for_user(
        user=request.user, pk=pk, perm="stations.change_chargepoint"
    )
    services.charge_point_approve(actor=request.user, charge_point=charge_point)
    messages.success(
        request, f"{charge_point.ocpp_id} accepted; its next boot is accepted."
    )
    return _back(request, reverse("stations:charge_point_detail", args=[pk]))


@login_required
@require_POST
def charge_point_reject(request: HttpRequest, pk: int) -> HttpResponse:
    charge_point = charge_point_get_for_user(
        user=request.user, pk=pk, perm="stations.change_chargepoint"
    )
    services.charge_point_reject(actor=request.user, charge_point=charge_point)
    messages.success(request, f"{charge_point.ocpp_id} rejected.")
    return _back(request, reverse("stations:charge_point_detail", args=[pk]))


@login_required
@require_http_methods(["GET", "POST"])
def charge_point_assign(request: HttpRequest, pk: int) -> HttpResponse:
    charge_point = charge_point_get_for_user(
        user=request.user, pk=pk, perm="stations.change_chargepoint"
    )
    form = ChargePointAssignForm(
        request.POST or None, stations=station_list_for_user(user=request.user)
    )
    if request.method == "POST" and form.is_valid():
        station = form.cleaned_data["station"]
        services.charge_point_assign(
            actor=request.user, charge_point=charge_point, station=station
        )
        messages.success(request, f"{charge_point.ocpp_id} assigned to {station}.")
        return redirect("stations:charge_point_detail", pk=charge_point.pk)
    return _form_page(
        request,
        form=form,
        title=f"Assign {charge_point.ocpp_id} to a station",
        cancel_url=reverse("stations:unassigned_list"),
        status=400 if form.errors else 200,
    )


def _unassigned(request: HttpRequest) -> tuple[Any, str]:
    charge_points = ChargePoint.objects.filter(station__isnull=True).order_by(
        "-created_at", "ocpp_id"
    )
    status = request.GET.get("registration", "")
    if status in RegistrationStatus.values:
        return charge_points.filter(registration_status=status), status
    return charge_points, ""


def _onboard_form(request: HttpRequest, data: Any = None) -> UnassignedOnboardForm:
    return UnassignedOnboardForm(
        data,
        charge_points=_unassigned(request)[0],
        stations=station_list_for_user(user=request.user).order_by("name"),
    )


@login_required
def unassigned_list(
    request: HttpRequest, form: UnassignedOnboardForm | None = None, status: int = 200
) -> HttpResponse:
    _require(request, "stations.manage_unassigned")
    charge_points, registration = _unassigned(request)
    return render(
        request,
        "stations/unassigned_list.html",
        {
            "page": _page(request, charge_points),
            "total": charge_points.count(),
            "registration": registration,
            "registration_choices": RegistrationStatus.choices,
            "can_change": request.user.has_perm("stations.change_chargepoint"),
            "onboard_form": form or _onboard_form(request),
            "query": request.GET.urlencode(),
        },
        status=status,
    )


@login_required
def connection_attempts(request: HttpRequest) -> HttpResponse:
    """Refused handshakes, one row per id, address, reason and window."""
    _require(request, "stations.view_connectionattempt")
    attempts = connection_attempt_list_for_user(user=request.user)
    reason = request.GET.get("reason", "")
    if reason in ConnectionAttempt.Reason.values:
        attempts = attempts.filter(reason=reason)
    else:
        reason = ""
    ocpp_id = request.GET.get("ocpp_id", "").strip()
    if ocpp_id:
        attempts = attempts.filter(ocpp_id__icontains=ocpp_id)
    address = request.GET.get("address", "").strip()
    if address:
        attempts = attempts.filter(remote_address__startswith=address)
    return render(
        request,
        "stations/connection_attempts.html",
        {
            "page": _page(request, attempts),
            "reason": reason,
            "reason_choices": ConnectionAttempt.Reason.choices,
            "ocpp_id": ocpp_id,
            "address": address,
            "can_register": can_register_unknown(request.user),
            "query": request.GET.urlencode(),
        },
    )


@login_required
@require_POST
def unassigned_onboard(request: HttpRequest) -> HttpResponse:
    """Assign the chosen (or every filtered) unassigned charger to one station."""
    _require(request, "stations.manage_unassigned")
    _require(request, "stations.change_chargepoint")
    form = _onboard_form(request, request.POST)
    if not form.is_valid():
        return unassigned_list(request, form=form, status=400)
    station = form.cleaned_data["station"]
    count = services.charge_points_onboard(
        actor=request.user,
        charge_points=form.cleaned_data["targets"],
        station=station,
        accept=form.cleaned_data["accept"],
    )
    accepted = " and accepted" if form.cleaned_data["accept"] else ""
    messages.success(
        request, f"{count} charger{pluralize(count)} assigned to {station}{accepted}."
    )
    return redirect(f"{reverse('stations:unassigned_list')}?{request.GET.urlencode()}")


@login_required
@require_http_methods(["GET", "POST"])
def charger_import(request: HttpRequest) -> HttpResponse:
    _require(request, "stations.add_chargepoint")
    _require(request, "stations.change_chargepoint")
    form = ChargerImportForm(
        request.POST or None,
        request.FILES or None,
        networks=network_list_for_user(user=request.user),
    )
    line_errors: list[Any] = []
    if request.method == "POST" and form.is_valid():
        try:
            summary = charge_points_import(
                actor=request.user,
                csv_text=form.cleaned_data["file"],
                stations=station_list_for_user(user=request.user).filter(
                    network=form.cleaned_data["network"]
                ),
            )
        except ChargerImportError as error:
            line_errors = error.errors
        else:
            messages.success(
                request,
                f"Imported: {summary.registered} registered, {summary.assigned} "
                f"placed from Unassigned, {summary.connectors} connectors added.",
            )
            return redirect("stations:charge_point_list")
    return render(
        request,
        "stations/charger_import.html",
        {"form": form, "line_errors": line_errors},
        status=400 if line_errors or form.errors else 200,
    )


# --- connectors -----------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def connector_create(request: HttpRequest, pk: int) -> HttpResponse:
    charge_point = charge_point_get_for_user(
        user=request.user, pk=pk, perm="stations.add_connector"
    )
    next_number = (
        max(charge_point.connectors.values_list("connector_id", flat=True), default=0)
        + 1
    )
    form = ConnectorForm(
        request.POST or None,
        charge_point=charge_point,
        initial={"connector_id": next_number},
    )
    if request.method == "POST" and form.is_valid():
        connector = _save_or_errors(
            form,
            lambda: services.connector_create(
                actor=request.user, charge_point=charge_point, fields=form.cleaned_data
            ),
        )
        if connector is not None:
            messages.success(request, f"Connector {connector.connector_id} added.")
            return redirect("stations:charge_point_detail", pk=charge_point.pk)
    return _form_page(
        request,
        form=form,
        title=f"Add a connector to {charge_point.ocpp_id}",
        cancel_url=reverse("stations:charge_point_detail", args=[pk]),
        status=400 if form.errors else 200,
    )


@login_required
@require_http_methods(["GET", "POST"])
def connector_edit(request: HttpRequest, pk: int) -> HttpResponse:
    connector = connector_get_for_user(
        user=request.user, pk=pk, perm="stations.change_connector"
    )
    form = ConnectorForm(
        request.POST or None, instance=connector, charge_point=connector.charge_point
    )
    if request.method == "POST" and form.is_valid():
        saved = _save_or_errors(
            form,
            lambda: services.connector_update(
                actor=request.user, connector=connector, fields=form.cleaned_data
            ),
        )
        if saved is not None:
            messages.success(request, "Connector saved.")
            return redirect(
                "stations:charge_point_detail", pk=connector.charge_point_id
            )
    return _form_page(
        request,
        form=form,
        title=f"Edit connector {connector}",
        cancel_url=reverse(
            "stations:charge_point_detail", args=[connector.charge_point_id]
        ),
        status=400 if form.errors else 200,
    )


@login_required
@require_POST
def connector_delete(request: HttpRequest, pk: int) -> HttpResponse:
    connector = connector_get_for_user(
        user=request.user, pk=pk, perm="stations.delete_connector"
    )
    charge_point_pk = connector.charge_point_id
    label = str(connector)
    services.connector_delete(actor=request.user, connector=connector)
    messages.success(request, f"Connector {label} deleted.")
    return redirect("stations:charge_point_detail", pk=charge_point_pk)


# --- search ---------------------------------------------------------------------


@login_required
def search(request: HttpRequest) -> HttpResponse:
    """Charger ids, token ids, session ids and station names within the user's scope."""
    _require(request, "stations.view_network")
    query = request.GET.get("q", "").strip()[:100]
    user = request.user
    results = search_results(
        user=user,
        query=query,
        network_ids=network_ids_for_user(user=user) if query else [],
    )
    return render(
        request,
        "stations/search.html",
        {
            "query": query,
            "results": results,
            "sections": [
                {"template": section.template, "items": results[section.key]}
                for section in search_sections()
            ],
            "total": sum(len(v) for v in results.values()),
            "can_see_unassigned": can_see_unassigned(user),
        },
    )
