"""Portal screens: alert inbox and detail, tickets, rule configuration, webhooks."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.http import AuthenticatedHttpRequest
from alerts import services
from alerts.forms import (
    AlertActionForm,
    AlertFilterForm,
    AlertRuleConfigForm,
    TicketForm,
    TicketNoteForm,
    WebhookEndpointForm,
)
from alerts.models import AlertEvent, AlertStatus, Rule, TicketStatus, WebhookEndpoint
from alerts.selectors import (
    alert_badge_count_for_user,
    alert_get_for_user,
    alert_list_for_user,
    require_perm,
    ticket_get_for_user,
    ticket_list_for_user,
    webhook_delivery_list_for_endpoint,
    webhook_endpoint_get_for_user,
    webhook_endpoint_list_for_user,
)
from sessions_app.models import ChargingSession
from stations.selectors import (
    charge_point_get_for_user,
    charge_point_list_for_user,
    network_get_for_user,
    network_list_for_user,
)

PAGE_SIZE = 50


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


# --- Alerts -----------------------------------------------------------------------


def _filtered_alerts(request: HttpRequest) -> tuple[Any, AlertFilterForm]:
    form = AlertFilterForm(
        request.GET or None, networks=network_list_for_user(user=request.user)
    )
    alerts = alert_list_for_user(user=request.user).filter(parent__isnull=True)
    status = "active"
    if form.is_valid():
        data = form.cleaned_data
        status = data["status"] or "active"
        if data["network"] is not None:
            alerts = alerts.filter(network=data["network"])
        if data["severity"]:
            alerts = alerts.filter(severity=data["severity"])
        if data["rule"]:
            alerts = alerts.filter(rule=data["rule"])
    if status == "active":
        alerts = alerts.filter(status__in=[AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED])
    elif status != "all":
        alerts = alerts.filter(status=status)
    alerts = alerts.annotate(
        open_children=Count("children", filter=Q(children__resolved_at__isnull=True))
    ).order_by("-opened_at", "-id")
    return alerts, form


@login_required
def alert_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_perm(request.user, "alerts.view_alert")
    alerts, form = _filtered_alerts(request)
    page = Paginator(alerts, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "form": form,
        "page": page,
        "badge_count": alert_badge_count_for_user(user=request.user),
        "query": request.GET.urlencode(),
    }
    if _is_htmx(request):
        return render(request, "alerts/alert_list.html#alert-table", context)
    return render(request, "alerts/alert_list.html", context)


@login_required
def alert_badge(request: AuthenticatedHttpRequest) -> JsonResponse:
    require_perm(request.user, "alerts.view_alert")
    return JsonResponse({"count": alert_badge_count_for_user(user=request.user)})


@login_required
def alert_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    alert = alert_get_for_user(user=request.user, pk=pk, perm="alerts.view_alert")
    tz_name = _alert_time_zone(alert)
    history = (
        alert_list_for_user(user=request.user)
        .filter(charge_point_id=alert.charge_point_id)
        .exclude(pk=alert.pk)[:10]
        if alert.charge_point_id
        else []
    )
    context = {
        "alert": alert,
        "events": alert.events.select_related("actor"),
        "children": alert.children.select_related("charge_point")[:200],
        "tickets": alert.tickets.all(),
        "history": history,
        "tz_name": tz_name,
        "can_acknowledge": request.user.has_perm("alerts.acknowledge_alert"),
        "can_resolve": request.user.has_perm("alerts.resolve_alert"),
        "can_ticket": request.user.has_perm("alerts.add_maintenanceticket"),
        "can_zombie_act": alert.rule == Rule.ZOMBIE_SESSION
        and alert.session_id is not None
        and alert.is_active
        and request.user.has_perm("stations.remote_start_stop")
        and request.user.has_perm("stations.trigger_message"),
    }
    with timezone.override(zoneinfo.ZoneInfo(tz_name)):
        return render(request, "alerts/alert_detail.html", context)


def _alert_time_zone(alert: Any) -> str:
    if alert.station is not None:
        return str(alert.station.time_zone)
    if alert.network is not None:
        return str(alert.network.time_zone)
    return "UTC"


@require_POST
@login_required
def alert_acknowledge(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    alert = alert_get_for_user(
        user=request.user, pk=pk, perm="alerts.acknowledge_alert"
    )
    form = AlertActionForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    if services.alert_acknowledge(alert=alert, user=request.user, note=note):
        messages.success(request, "Alert acknowledged.")
    else:
        messages.info(request, "The alert was no longer open.")
    if request.POST.get("next") == "list":
        return redirect("alerts:alert_list")
    return redirect("alerts:alert_detail", pk=alert.pk)


@require_POST
@login_required
def alert_resolve(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    alert = alert_get_for_user(user=request.user, pk=pk, perm="alerts.resolve_alert")
    form = AlertActionForm(request.POST)
    note = form.cleaned_data["note"] if form.is_valid() else ""
    if services.alert_resolve(alert=alert, user=request.user, note=note):
        messages.success(request, "Alert resolved.")
    else:
        messages.info(request, "The alert was already resolved.")
    return redirect("alerts:alert_detail", pk=alert.pk)


@require_POST
@login_required
def alert_zombie_action(
    request: AuthenticatedHttpRequest, pk: int, action: str
) -> HttpResponse:
    alert = alert_get_for_user(user=request.user, pk=pk, perm="alerts.resolve_alert")
    require_perm(request.user, "stations.trigger_message")
    require_perm(request.user, "stations.remote_start_stop")
    session = (
        ChargingSession.objects.filter(pk=alert.session_id)
        .select_related("charge_point")
        .first()
        if alert.session_id is not None
        else None
    )
    if alert.rule != Rule.ZOMBIE_SESSION or session is None or not alert.is_active:
        messages.error(request, "This alert has no open zombie session to act on.")
        return redirect("alerts:alert_detail", pk=alert.pk)
    if action == "probe":
        event = services.zombie_probe(alert=alert, session=session, actor=request.user)
    else:
        event = services.zombie_stop(
            alert=alert,
            session=session,
            actor=request.user,
            reason=f"Requested by {request.user.get_username()} from the alert",
        )
    level = (
        messages.ERROR
        if event.kind == AlertEvent.Kind.ACTION_UNAVAILABLE
        else messages.SUCCESS
    )
    messages.add_message(request, level, event.message)
    return redirect("alerts:alert_detail", pk=alert.pk)


@login_required
def charge_point_alert_history(
    request: AuthenticatedHttpRequest, pk: int
) -> HttpResponse:
    require_perm(request.user, "alerts.view_alert")
    charge_point = charge_point_get_for_user(user=request.user, pk=pk)
    alerts = alert_list_for_user(user=request.user).filter(charge_point=charge_point)
    page = Paginator(alerts, PAGE_SIZE).get_page(request.GET.get("page"))
    events = (
        AlertEvent.objects.filter(alert__charge_point=charge_point)
        .select_related("alert", "actor")
        .order_by("-at", "-id")[:200]
    )
    tz_name = charge_point.station.time_zone if charge_point.station else "UTC"
    with timezone.override(zoneinfo.ZoneInfo(tz_name)):
        return render(
            request,
            "alerts/charge_point_history.html",
            {
                "charge_point": charge_point,
                "page": page,
                "events": events,
                "tz_name": tz_name,
            },
        )


# --- Tickets ----------------------------------------------------------------------


@login_required
def ticket_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_perm(request.user, "alerts.view_maintenanceticket")
    tickets = ticket_list_for_user(user=request.user)
    status = request.GET.get("status", "active")
    if status == "active":
        tickets = tickets.exclude(status=TicketStatus.DONE)
    elif status in TicketStatus.values:
        tickets = tickets.filter(status=status)
    if request.GET.get("mine"):
        tickets = tickets.filter(assignee=request.user)
    page = Paginator(tickets, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "alerts/ticket_list.html",
        {"page": page, "status": status, "statuses": TicketStatus.choices},
    )


def _ticket_tz(charge_point: Any) -> zoneinfo.ZoneInfo:
    station = getattr(charge_point, "station", None)
    return zoneinfo.ZoneInfo(station.time_zone if station else "UTC")


@login_required
def ticket_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_perm(request.user, "alerts.add_maintenanceticket")
    charge_points = charge_point_list_for_user(user=request.user)
    alert = None
    if request.GET.get("alert") or request.POST.get("alert"):
        raw = request.GET.get("alert") or request.POST.get("alert") or ""
        alert = alert_get_for_user(
            user=request.user,
            pk=int(raw) if raw.isdigit() else 0,
            perm="alerts.view_alert",
        )
    initial: dict[str, Any] = {}
    if alert is not None:
        initial = {
            "charge_point": alert.charge_point_id,
            "title": alert.title,
            "description": alert.detail,
        }
    chosen = None
    if request.method == "POST":
        # A garbled id is the form's "select a valid choice" on the field, not a 500.
        raw_choice = request.POST.get("charge_point") or ""
        if raw_choice.isdigit() and int(raw_choice) < 2**63:
            chosen = charge_points.filter(pk=int(raw_choice)).first()
    elif alert is not None and alert.charge_point_id:
        chosen = alert.charge_point
    network_id = chosen.station.network_id if chosen and chosen.station else None
    with timezone.override(_ticket_tz(chosen)):
        form = TicketForm(
            request.POST or None,
            initial=initial,
            charge_points=charge_points,
            network_id=network_id,
        )
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            ticket = services.ticket_create(
                charge_point=data["charge_point"],
                title=data["title"],
                description=data["description"],
                assignee=data["assignee"],
                due_at=data["due_at"],
                resolve_alerts_on_close=data["resolve_alerts_on_close"],
                alerts=[alert] if alert is not None else [],
                user=request.user,
            )
            messages.success(request, f"Ticket #{ticket.pk} created.")
            return redirect("alerts:ticket_detail", pk=ticket.pk)
        return render(
            request,
            "alerts/ticket_form.html",
            {"form": form, "alert": alert, "ticket": None},
            status=400 if request.method == "POST" else 200,
        )


@login_required
def ticket_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    ticket = ticket_get_for_user(
        user=request.user, pk=pk, perm="alerts.view_maintenanceticket"
    )
    note_form = TicketNoteForm(request.POST or None)
    if request.method == "POST":
        require_perm(request.user, "alerts.change_maintenanceticket")
        if note_form.is_valid():
            services.ticket_note_add(
                ticket=ticket, body=note_form.cleaned_data["body"], user=request.user
            )
            messages.success(request, "Note added.")
            return redirect("alerts:ticket_detail", pk=ticket.pk)
    tz = _ticket_tz(ticket.charge_point)
    with timezone.override(tz):
        return render(
            request,
            "alerts/ticket_detail.html",
            {
                "ticket": ticket,
                "notes": ticket.notes.select_related("author"),
                "alerts": ticket.alerts.all(),
                "note_form": note_form,
                "tz_name": tz.key,
                "can_change": request.user.has_perm("alerts.change_maintenanceticket"),
            },
            status=400 if request.method == "POST" else 200,
        )


@login_required
def ticket_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    ticket = ticket_get_for_user(
        user=request.user, pk=pk, perm="alerts.change_maintenanceticket"
    )
    with timezone.override(_ticket_tz(ticket.charge_point)):
        form = TicketForm(
            request.POST or None,
            instance=ticket,
            charge_points=charge_point_list_for_user(user=request.user),
            network_id=ticket.network_id,
        )
        if request.method == "POST" and form.is_valid():
            data = {
                name: form.cleaned_data[name]
                for name in (
                    "title",
                    "description",
                    "status",
                    "assignee",
                    "due_at",
                    "resolve_alerts_on_close",
                )
            }
            # The form wrote into the instance; reload so the service sees the old state.
            ticket.refresh_from_db()
            services.ticket_update(ticket=ticket, data=data, user=request.user)
            messages.success(request, "Ticket saved.")
            return redirect("alerts:ticket_detail", pk=ticket.pk)
        return render(
            request,
            "alerts/ticket_form.html",
            {"form": form, "ticket": ticket, "alert": None},
            status=400 if request.method == "POST" else 200,
        )


# --- Rule configuration -------------------------------------------------------------


@login_required
def rule_config_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_perm(request.user, "alerts.view_alertruleconfig")
    networks = network_list_for_user(user=request.user).select_related("alert_config")
    return render(
        request,
        "alerts/rule_config_list.html",
        {"networks": networks, "rules": Rule.choices},
    )


@login_required
def rule_config_edit(
    request: AuthenticatedHttpRequest, network_pk: int
) -> HttpResponse:
    network = network_get_for_user(
        user=request.user, pk=network_pk, perm="alerts.change_alertruleconfig"
    )
    config = services.alert_config_for(network.pk)
    form = AlertRuleConfigForm(request.POST or None, instance=config)
    if request.method == "POST" and form.is_valid():
        services.alert_config_update(
            network=network,
            data={name: form.cleaned_data[name] for name in form.fields},
            user=request.user,
        )
        messages.success(request, f"Alert rules of {network.name} saved.")
        return redirect("alerts:rule_config_list")
    return render(
        request,
        "alerts/rule_config_form.html",
        {"form": form, "network": network},
        status=400 if request.method == "POST" else 200,
    )


# --- Webhooks -------------------------------------------------------------------------


@login_required
def webhook_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_perm(request.user, "alerts.view_webhookendpoint")
    endpoints = webhook_endpoint_list_for_user(user=request.user).annotate(
        failed=Count("deliveries", filter=Q(deliveries__status="failed"))
    )
    return render(request, "alerts/webhook_list.html", {"endpoints": endpoints})


def _webhook_form_view(
    request: AuthenticatedHttpRequest, endpoint: WebhookEndpoint | None
) -> HttpResponse:
    networks = network_list_for_user(user=request.user)
    form = WebhookEndpointForm(
        request.POST or None, instance=endpoint, networks=networks
    )
    if request.method == "POST" and form.is_valid():
        saved = services.webhook_endpoint_save(
            endpoint=form.save(commit=False), user=request.user
        )
        messages.success(request, f"Webhook “{saved.name}” saved.")
        return redirect("alerts:webhook_deliveries", pk=saved.pk)
    return render(
        request,
        "alerts/webhook_form.html",
        {"form": form, "endpoint": endpoint},
        status=400 if request.method == "POST" else 200,
    )


@login_required
def webhook_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_perm(request.user, "alerts.add_webhookendpoint")
    return _webhook_form_view(request, None)


@login_required
def webhook_edit(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    endpoint = webhook_endpoint_get_for_user(
        user=request.user, pk=pk, perm="alerts.change_webhookendpoint"
    )
    return _webhook_form_view(request, endpoint)


@require_POST
@login_required
def webhook_delete(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    endpoint = webhook_endpoint_get_for_user(
        user=request.user, pk=pk, perm="alerts.delete_webhookendpoint"
    )
    services.webhook_endpoint_delete(endpoint=endpoint, user=request.user)
    messages.success(request, "Webhook endpoint deleted.")
    return redirect("alerts:webhook_list")


@login_required
def webhook_deliveries(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    endpoint = webhook_endpoint_get_for_user(
        user=request.user, pk=pk, perm="alerts.view_webhookdelivery"
    )
    page = Paginator(
        webhook_delivery_list_for_endpoint(endpoint=endpoint), PAGE_SIZE
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "alerts/webhook_deliveries.html",
        {
            "endpoint": endpoint,
            "page": page,
            "can_change": request.user.has_perm("alerts.change_webhookendpoint"),
        },
    )
