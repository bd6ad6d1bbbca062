"""Portal views of remote operations: console, history, configuration, reservations,
local list, firmware, charging profiles, remote start handles and bulk commands.

Every view resolves the charger through ``charge_point_get_for_user`` with the
action's permission from ``ACTION_PERMISSIONS`` (404 outside scope, 403 without
the role permission) before anything is stored.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.http import AnyUser, AuthenticatedHttpRequest
from sessions_app.models import IdToken, TokenStatus
from stations.models import (
    ChargePoint,
    ChargePointCommand,
    DeviceVariable,
    OcppProtocol,
)
from stations.ocpp import commands as ocpp
from stations.remote.dispatch import CommandPayloadError, answer_of
from stations.remote.forms import (
    ACTION_FORMS,
    AdvancedForm,
    BulkCommandForm,
    ChargingProfileForm,
    CommandForm,
    PeriodFormSet,
    SendLocalListForm,
    periods_from_formset,
)
from stations.remote.models import (
    ChargingProfile,
    CommandBatch,
    ConfigurationKey,
    CustomerInformationReport,
    DiagnosticsRequest,
    FirmwareUpdate,
    LocalAuthList,
    ProfileStatus,
    RemoteStartRequest,
    Reservation,
)
from stations.remote.services import (
    ACTION_PERMISSIONS,
    allowed_actions,
    batch_progress,
    charging_profile_clear,
    charging_profile_send,
    command_batch_send,
    command_request,
    command_submit,
    configuration_change,
    configuration_fetch,
    local_list_send,
    reservation_cancel,
)
from stations.selectors import (
    charge_point_get_for_user,
    charge_point_list_for_user,
    device_variable_names,
    device_variables_across,
)
from stations.selectors import station_list_for_user as _stations

HISTORY_PAGE_SIZE = 25
CONSOLE_RECENT = 10
VIEW = "stations.view_chargepoint"
# Where a plain (non-htmx) form post lands afterwards.
_PAGE_AFTER = {
    "ReserveNow": "commands:reservations",
    "UpdateFirmware": "commands:firmware",
    "GetDiagnostics": "commands:firmware",
    "SendLocalList": "commands:local_list",
    "GetLocalListVersion": "commands:local_list",
    "GetCompositeSchedule": "commands:profiles",
    "GetConfiguration": "commands:configuration",
    "ChangeConfiguration": "commands:configuration",
}


def _schedule_chart(schedule: ocpp.CompositeSchedule) -> dict[str, Any]:
    """The composite schedule as the profile page's chart reads it."""
    return {
        "rate_unit": schedule.rate_unit,
        "duration_s": schedule.duration_s,
        "periods": [
            {"start_s": period.start_s, "limit": period.limit}
            for period in schedule.periods
        ],
    }


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _tz(charge_point: ChargePoint) -> str:
    return charge_point.station.time_zone if charge_point.station else "UTC"


def _charge_point(request: HttpRequest, pk: int, perm: str = VIEW) -> ChargePoint:
    return charge_point_get_for_user(user=request.user, pk=pk, perm=perm)


def _console_actions(user: AnyUser) -> list[str]:
    return [a for a in allowed_actions(user) if a in ACTION_FORMS]


def _forms_for(user: AnyUser, charge_point: ChargePoint) -> list[CommandForm]:
    time_zone = _tz(charge_point)
    forms: list[CommandForm] = [
        ACTION_FORMS[action](time_zone=time_zone) for action in _console_actions(user)
    ]
    # The raw payload is for operations: those who may change configuration.
    if user.has_perm("stations.configure_chargepoint"):
        forms.append(AdvancedForm(time_zone=time_zone, actions=allowed_actions(user)))
    return forms


def _row_context(command: ChargePointCommand) -> dict[str, Any]:
    return {"command": command, "time_zone": _tz(command.charge_point)}


def _commands(charge_point: ChargePoint) -> QuerySet[ChargePointCommand]:
    return charge_point.commands.select_related(
        "requested_by", "charge_point__station"
    ).order_by("-requested_at", "-id")


@login_required
@require_GET
def console(request: HttpRequest, pk: int) -> HttpResponse:
    """The command console fragment the charge point page loads."""
    charge_point = _charge_point(request, pk)
    return render(
        request,
        "stations/commands/console_body.html",
        {
            "charge_point": charge_point,
            "forms": _forms_for(request.user, charge_point),
            "commands": _commands(charge_point)[:CONSOLE_RECENT],
            "time_zone": _tz(charge_point),
        },
    )


@login_required
@require_POST
def send(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """Validate one action's form, send it, return the new history row."""
    form_class = ACTION_FORMS.get(action)
    if form_class is None:
        raise Http404("No such command.")
    chosen = request.POST.get("advanced-command", "") if action == "advanced" else ""
    if action == "advanced":
        perm = "stations.configure_chargepoint"
    else:
        perm = ACTION_PERMISSIONS[action]
    charge_point = _charge_point(request, pk, perm)
    if chosen and chosen in ACTION_PERMISSIONS:
        charge_point_get_for_user(
            user=request.user, pk=pk, perm=ACTION_PERMISSIONS[chosen]
        )
    kwargs: dict[str, Any] = {"time_zone": _tz(charge_point)}
    if action == "advanced":
        kwargs["actions"] = allowed_actions(request.user)
    form = form_class(request.POST, **kwargs)
    command: ChargePointCommand | None = None
    if form.is_valid():
        try:
            if isinstance(form, SendLocalListForm):
                command = _send_local_list(request, charge_point, form)
            elif isinstance(form, AdvancedForm):
                command = command_request(
                    charge_point=charge_point,
                    action=form.cleaned_data["command"],
                    payload=form.payload(),
                    requested_by=request.user,
                )
            else:
                command = command_submit(
                    charge_point=charge_point,
                    command=form.command(),
                    requested_by=request.user,
                )
        except CommandPayloadError as error:
            form.add_error(form.field_for(error.field), str(error))
    if command is None:
        if not _is_htmx(request):
            return render(
                request,
                "stations/commands/action_form_page.html",
                {"form": form, "charge_point": charge_point},
                status=400,
            )
        response = render(
            request,
            "stations/commands/action_form.html",
            {"form": form, "charge_point": charge_point},
            status=422,
        )
        response["HX-Retarget"] = f"#command-form-{form.action}"
        response["HX-Reswap"] = "outerHTML"
        return response
    if not _is_htmx(request):
        return redirect(_PAGE_AFTER.get(action, "commands:history"), pk=charge_point.pk)
    return render(request, "stations/commands/command_row.html", _row_context(command))


def _send_local_list(
    request: HttpRequest, charge_point: ChargePoint, form: SendLocalListForm
) -> ChargePointCommand | None:
    # An unassigned charger (no station, so no network) lists network-less tokens.
    tokens = (
        IdToken.objects.filter(network_id=charge_point.station.network_id)
        if charge_point.station is not None
        else IdToken.objects.filter(network__isnull=True)
    ).select_related("parent")
    wanted = [t.strip() for t in form.cleaned_data["tokens"].split(",") if t.strip()]
    if wanted:
        selected = [t for t in tokens if t.token.upper() in {w.upper() for w in wanted}]
        missing = {w.upper() for w in wanted} - {t.token.upper() for t in selected}
        if missing:
            form.add_error(
                "tokens", f"Not tokens of this network: {', '.join(sorted(missing))}."
            )
            return None
    else:
        selected = list(tokens.filter(status=TokenStatus.ACCEPTED))
    removed = [t.strip() for t in form.cleaned_data["remove"].split(",") if t.strip()]
    return local_list_send(
        charge_point=charge_point,
        update_type=form.cleaned_data["update_type"],
        id_tokens=selected,
        removed_id_tags=removed,
        requested_by=request.user,
    )


@login_required
@require_GET
def command_row(request: HttpRequest, command_pk: int) -> HttpResponse:
    command = get_object_or_404(
        ChargePointCommand.objects.select_related("requested_by"), pk=command_pk
    )
    charge_point = _charge_point(request, command.charge_point_id)
    command.charge_point = charge_point
    return render(request, "stations/commands/command_row.html", _row_context(command))


@login_required
@require_GET
def history(request: HttpRequest, pk: int) -> HttpResponse:
    charge_point = _charge_point(request, pk)
    page = Paginator(_commands(charge_point), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "stations/commands/history.html",
        {
            "charge_point": charge_point,
            "page": page,
            "time_zone": _tz(charge_point),
            "live_path": f"/ws/live/?view=charge_point&charge_point={charge_point.pk}",
        },
    )


# --- configuration ------------------------------------------------------------------


@login_required
@require_GET
def configuration(request: HttpRequest, pk: int) -> HttpResponse:
    charge_point = _charge_point(request, pk, "stations.configure_chargepoint")
    return render(
        request,
        "stations/commands/configuration.html",
        {
            "charge_point": charge_point,
            "keys": ConfigurationKey.objects.filter(charge_point=charge_point),
            # 2.0.1: the device model (NotifyReport, GetVariables, SetVariables).
            "variables": DeviceVariable.objects.filter(charge_point=charge_point),
            "is_device_model": charge_point.ocpp_protocol == OcppProtocol.OCPP201,
            "fetch": getattr(charge_point, "configuration_fetch", None),
            "time_zone": _tz(charge_point),
            "commands": _commands(charge_point).filter(
                action__in=["GetConfiguration", "ChangeConfiguration"]
            )[:10],
        },
    )


@login_required
@require_POST
def configuration_read(request: HttpRequest, pk: int) -> HttpResponse:
    charge_point = _charge_point(request, pk, "stations.configure_chargepoint")
    configuration_fetch(charge_point=charge_point, requested_by=request.user)
    return redirect("commands:configuration", pk=charge_point.pk)


@login_required
@require_POST
def configuration_edit(request: HttpRequest, pk: int) -> HttpResponse:
    charge_point = _charge_point(request, pk, "stations.configure_chargepoint")
    key = request.POST.get("key", "").strip()
    stored = ConfigurationKey.objects.filter(charge_point=charge_point, key=key).first()
    error = ""
    if not key or len(key) > 120:
        error = "key: give the configuration key (at most 120 characters)."
    elif (stored is not None and stored.is_readonly) or _is_read_only_variable(
        charge_point, key
    ):
        error = f"key: “{key}” is read-only on this charger."
    if error:
        return HttpResponse(error, status=400, content_type="text/plain")
    try:
        command = configuration_change(
            charge_point=charge_point,
            key=key,
            value=request.POST.get("value", ""),
            requested_by=request.user,
        )
    except CommandPayloadError as exc:
        return HttpResponse(
            f"{exc.field}: {exc}", status=400, content_type="text/plain"
        )
    if _is_htmx(request):
        return render(
            request, "stations/commands/command_row.html", _row_context(command)
        )
    return redirect("commands:configuration", pk=charge_point.pk)


def _is_read_only_variable(charge_point: ChargePoint, key: str) -> bool:
    """Whether the stored 2.0.1 device model says ``key`` is ReadOnly (B05)."""
    name = key.rsplit(".", 1)[-1].split("[", 1)[0]
    return any(
        variable.key == key and not variable.is_writable
        for variable in DeviceVariable.objects.filter(
            charge_point=charge_point, variable=name, attribute_type="Actual"
        )
    )


@login_required
@require_GET
def device_variable_fleet(request: HttpRequest) -> HttpResponse:
    """One device model variable across the 2.0.1 chargers the user may configure."""
    if not request.user.has_perm("stations.configure_chargepoint"):
        raise PermissionDenied(
            "Your role does not allow reading charger configuration."
        )
    component = request.GET.get("component", "").strip()[:50]
    variable = request.GET.get("variable", "").strip()[:50]
    scope = charge_point_list_for_user(user=request.user)
    rows = device_variables_across(
        charge_points=scope, component=component, variable=variable
    )
    return render(
        request,
        "stations/commands/device_variable_fleet.html",
        {
            "component": component,
            "variable": variable,
            "rows": rows,
            "choices": device_variable_names(charge_points=scope),
        },
    )


# --- reservations, local list, firmware ----------------------------------------------


@login_required
@require_GET
def reservations(request: HttpRequest, pk: int) -> HttpResponse:
    charge_point = _charge_point(request, pk, "stations.manage_reservations")
    return render(
        request,
        "stations/commands/reservations.html",
        {
            "charge_point": charge_point,
            "reservations": Reservation.objects.filter(charge_point=charge_point)[:50],
            "form": ACTION_FORMS["ReserveNow"](time_zone=_tz(charge_point)),
            "time_zone": _tz(charge_point),
        },
    )


@login_required
@require_GET
def customer_information(request: HttpRequest, pk: int) -> HttpResponse:
    """What 2.0.1 stations reported of customers (N09/N10): privacy data, operations."""
    charge_point = _charge_point(request, pk, "stations.configure_chargepoint")
    return render(
        request,
        "stations/commands/customer_information.html",
        {
            "charge_point": charge_point,
            "reports": CustomerInformationReport.objects.filter(
                charge_point=charge_point
            ).order_by("-updated_at")[:50],
            "time_zone": _tz(charge_point),
        },
    )


@login_required
@require_POST
def reservation_cancel_view(request: HttpRequest, reservation_pk: int) -> HttpResponse:
    reservation = get_object_or_404(Reservation, pk=reservation_pk)
    _charge_point(request, reservation.charge_point_id, "stations.manage_reservations")
    if reservation.is_open:
        reservation_cancel(reservation=reservation, requested_by=request.user)
    return redirect("commands:reservations", pk=reservation.charge_point_id)


@login_required
@require_GET
def local_list(request: HttpRequest, pk: int) -> HttpResponse:
    charge_point = _charge_point(request, pk, "stations.manage_local_list")
    local, _ = LocalAuthList.objects.get_or_create(charge_point=charge_point)
    return render(
        request,
        "stations/commands/local_list.html",
        {
            "charge_point": charge_point,
            "local_list": local,
            "entries": local.entries.all(),
            "form": SendLocalListForm(time_zone=_tz(charge_point)),
            "version_form": ACTION_FORMS["GetLocalListVersion"](),
            "time_zone": _tz(charge_point),
        },
    )


@login_required
@require_GET
def firmware(request: HttpRequest, pk: int) -> HttpResponse:
    charge_point = _charge_point(request, pk, "stations.manage_firmware")
    time_zone = _tz(charge_point)
    return render(
        request,
        "stations/commands/firmware.html",
        {
            "charge_point": charge_point,
            "updates": FirmwareUpdate.objects.filter(charge_point=charge_point)[:20],
            "diagnostics": DiagnosticsRequest.objects.filter(charge_point=charge_point)[
                :20
            ],
            "firmware_form": ACTION_FORMS["UpdateFirmware"](time_zone=time_zone),
            "diagnostics_form": ACTION_FORMS["GetDiagnostics"](time_zone=time_zone),
            "time_zone": time_zone,
        },
    )


# --- charging profiles ------------------------------------------------------------------


@login_required
def profiles(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    """List profiles; POST creates one from the editor and sends it."""
    charge_point = _charge_point(request, pk, "stations.manage_charging_profiles")
    time_zone = _tz(charge_point)
    form = ChargingProfileForm(request.POST or None, time_zone=time_zone)
    periods = PeriodFormSet(request.POST or None, prefix="periods")
    status = 200
    if request.method == "POST":
        if form.is_valid() & periods.is_valid():
            schedule = periods_from_formset(periods)
            if schedule is not None:
                data = form.cleaned_data
                profile = ChargingProfile.objects.create(
                    charge_point=charge_point,
                    connector_number=data["connector_number"],
                    name=data["name"],
                    purpose=data["purpose"],
                    stack_level=data["stack_level"],
                    kind=data["kind"],
                    recurrency_kind=data["recurrency_kind"],
                    rate_unit=data["rate_unit"],
                    transaction_id=data["transaction_id"],
                    start_schedule=data["start_schedule"],
                    duration_s=data["duration_s"],
                    min_charging_rate=data["min_charging_rate"],
                    valid_from=data["valid_from"],
                    valid_to=data["valid_to"],
                    periods=schedule,
                    created_by=request.user,
                    created_at=timezone.now(),
                )
                charging_profile_send(profile=profile, requested_by=request.user)
                return redirect("commands:profiles", pk=charge_point.pk)
        status = 400
    composite = (
        charge_point.commands.filter(action="GetCompositeSchedule", status="accepted")
        .select_related("charge_point")
        .order_by("-requested_at")
        .first()
    )
    answered = answer_of(composite).fact if composite is not None else None
    return render(
        request,
        "stations/commands/profiles.html",
        {
            "charge_point": charge_point,
            "profiles": ChargingProfile.objects.filter(charge_point=charge_point)[:50],
            "form": form,
            "periods": periods,
            "composite": composite,
            "schedule": answered
            if isinstance(answered, ocpp.CompositeSchedule)
            else None,
            "schedule_chart": _schedule_chart(answered)
            if isinstance(answered, ocpp.CompositeSchedule)
            else None,
            "composite_form": ACTION_FORMS["GetCompositeSchedule"](time_zone=time_zone),
            "time_zone": time_zone,
        },
        status=status,
    )


@login_required
@require_POST
def profile_action(request: HttpRequest, profile_pk: int, verb: str) -> HttpResponse:
    profile = get_object_or_404(ChargingProfile, pk=profile_pk)
    _charge_point(request, profile.charge_point_id, "stations.manage_charging_profiles")
    if verb == "send":
        charging_profile_send(profile=profile, requested_by=request.user)
    elif verb == "clear" and profile.status != ProfileStatus.CLEARED:
        charging_profile_clear(profile=profile, requested_by=request.user)
    elif verb not in ("send", "clear"):
        raise Http404("No such action.")
    return redirect("commands:profiles", pk=profile.charge_point_id)


# --- remote start handle ----------------------------------------------------------------


@login_required
@require_GET
def remote_start(request: HttpRequest, handle_pk: int) -> HttpResponse:
    handle = get_object_or_404(
        RemoteStartRequest.objects.select_related("command"), pk=handle_pk
    )
    charge_point = _charge_point(request, handle.charge_point_id)
    return render(
        request,
        "stations/commands/remote_start.html",
        {
            "handle": handle,
            "charge_point": charge_point,
            "time_zone": _tz(charge_point),
        },
    )


# --- bulk ---------------------------------------------------------------------------------


def _bulk_form(request: HttpRequest, data: Any = None) -> BulkCommandForm:
    return BulkCommandForm(
        data,
        actions=allowed_actions(request.user),
        charge_points=charge_point_list_for_user(user=request.user).order_by("ocpp_id"),
        stations=_stations(user=request.user),
    )


@login_required
def bulk(request: AuthenticatedHttpRequest) -> HttpResponse:
    actions = allowed_actions(request.user)
    if not actions:
        raise PermissionDenied("Your role may not send charger commands.")
    form = _bulk_form(request, request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            action = form.cleaned_data["command"]
            try:
                batch = command_batch_send(
                    charge_points=form.cleaned_data["targets"],
                    action=action,
                    payload=form.cleaned_data["payload_json"],
                    requested_by=request.user,
                    description=form.cleaned_data["description"],
                )
            except CommandPayloadError as error:
                form.add_error(
                    "command" if error.field == "action" else "payload_json",
                    str(error),
                )
            else:
                return redirect("commands:batch", batch_uuid=batch.uuid)
        status = 400
    recent = CommandBatch.objects.filter(requested_by=request.user)[:10]
    return render(
        request,
        "stations/commands/bulk.html",
        {"form": form, "recent": recent},
        status=status,
    )


def _batch_commands(request: HttpRequest, batch: CommandBatch) -> Any:
    visible = charge_point_list_for_user(user=request.user).values("pk")
    return (
        ChargePointCommand.objects.filter(batch=batch.uuid, charge_point__in=visible)
        .select_related("charge_point", "charge_point__station", "requested_by")
        .order_by("charge_point__ocpp_id")
    )


@login_required
@require_GET
def batch_detail(request: HttpRequest, batch_uuid: str) -> HttpResponse:
    batch = get_object_or_404(CommandBatch, uuid=batch_uuid)
    commands = _batch_commands(request, batch)
    if batch.requested_by_id != request.user.pk and not commands.exists():
        raise Http404("No such batch.")
    progress = batch_progress(batch)
    template = (
        "stations/commands/batch.html#batch-progress"
        if _is_htmx(request)
        else "stations/commands/batch.html"
    )
    return render(
        request,
        template,
        {
            "batch": batch,
            "commands": commands,
            "progress": progress,
            "is_running": progress["done"] < progress["total"],
            "refresh_url": reverse("commands:batch", kwargs={"batch_uuid": batch.uuid}),
        },
    )
