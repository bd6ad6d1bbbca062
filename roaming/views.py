"""Portal pages for roaming: partners (administrators only), what is published to
them (operations and administrators, within their networks), settlement (finance),
and partner CPOs' locations and tariffs (read-only, ``roaming.view_partner_location``)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from accounts.http import AuthenticatedHttpRequest
from accounts.models import AuditLog
from billing.models import Tariff
from cms.errors import InputError
from roaming.credentials import (
    partner_invite,
    partner_register_with,
    partner_unregister,
    public_versions_url,
)
from roaming.forms import PartnerPartyForm, PartnerRegisterForm
from roaming.models import Partner, PartnerStatus
from roaming.publication import (
    evse_publication_set,
    location_publication_set,
    station_publication_inherit,
    tariff_publication_set,
)
from roaming.push import partner_health
from roaming.selectors import (
    PUBLISH,
    network_publication_for_user,
    partner_get_for_user,
    partner_list_for_user,
    partner_location_get_for_user,
    partner_location_list_for_user,
    publication_overview_for_user,
    require_partner_administration,
)
from roaming.settlement import (
    month_parse,
    owed_settlement_csv,
    owed_settlement_for_user,
    settlement_csv,
    settlement_for_user,
)
from roaming.transport import OcpiError
from stations.models import Network
from stations.selectors import (
    connector_get_for_user,
    network_get_for_user,
    station_get_for_user,
)


@login_required
def partner_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    partners = partner_list_for_user(user=request.user)
    return render(
        request,
        "roaming/partner_list.html",
        {"partners": partners, "versions_url": public_versions_url()},
    )


@login_required
def partner_invite_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_partner_administration(user=request.user)
    form = PartnerPartyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            partner, token_a = partner_invite(
                country_code=form.cleaned_data["country_code"],
                party_id=form.cleaned_data["party_id"],
                name=form.cleaned_data["name"],
                actor=request.user,
            )
        except InputError as error:
            form.add_error(error.field or None, str(error))
        else:
            # Token A is shown in this response only; it must not be cached.
            response = render(
                request,
                "roaming/token_a.html",
                {
                    "partner": partner,
                    "token_a": token_a,
                    "versions_url": public_versions_url(),
                },
            )
            response["Cache-Control"] = "no-store"
            return response
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "roaming/partner_form.html",
        {"form": form, "title": "Invite a partner (issue Token A)"},
        status=status,
    )


@login_required
def partner_register_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    require_partner_administration(user=request.user)
    form = PartnerRegisterForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            partner = partner_register_with(
                versions_url=form.cleaned_data["versions_url"],
                token_a=form.cleaned_data["token_a"],
                country_code=form.cleaned_data["country_code"],
                party_id=form.cleaned_data["party_id"],
                name=form.cleaned_data["name"],
                token_encoding=form.cleaned_data["token_encoding"],
                actor=request.user,
            )
        except (InputError, OcpiError) as error:
            field = getattr(error, "field", "") or None
            form.add_error(field, str(error))
        else:
            messages.success(request, f"Registered with {partner}.")
            return redirect("roaming:partner_detail", pk=partner.pk)
    status = 400 if request.method == "POST" else 200
    return render(
        request,
        "roaming/partner_form.html",
        {"form": form, "title": "Register with a partner's versions URL"},
        status=status,
    )


@login_required
def partner_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    partner = partner_get_for_user(user=request.user, pk=pk)
    calls = AuditLog.objects.filter(
        object_type=Partner._meta.label, object_id=str(partner.pk)
    )[:50]
    return render(
        request,
        "roaming/partner_detail.html",
        {
            "partner": partner,
            "calls": calls,
            "health": partner_health(partner),
            "client_infos": partner.client_infos.all(),
            "syncs": partner.syncs.all(),
        },
    )


@login_required
@require_POST
def partner_unregister_view(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    partner = partner_get_for_user(user=request.user, pk=pk)
    try:
        partner_unregister(partner=partner, actor=request.user)
    except OcpiError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{partner} unregistered.")
    return redirect("roaming:partner_detail", pk=partner.pk)


@login_required
def settlement_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A partner's month: CDRs, energy, amounts; CSV with ?format=csv."""
    # Finance's view: billing.view_cdr (checked by the CDR selector), and the
    # export needs billing.export_cdr like the other CDR exports.
    if not request.user.has_perm("billing.view_cdr"):
        raise PermissionDenied("Your role does not allow this (billing.view_cdr).")
    partners = Partner.objects.all()
    month_text = request.GET.get("month") or timezone.now().strftime("%Y-%m")
    partner_id = request.GET.get("partner", "")
    error = ""
    settlement = None
    owed = None
    if partner_id:
        partner = partners.filter(
            pk=int(partner_id) if partner_id.isdigit() else 0
        ).first()
        if partner is None:
            raise Http404("No such partner")
        try:
            month = month_parse(month_text)
        except InputError as problem:
            error = str(problem)
        else:
            settlement = settlement_for_user(
                user=request.user, partner=partner, month=month
            )
            # What we owe a CPO partner for our drivers' sessions at its stations.
            if partner.has_role("CPO"):
                owed = owed_settlement_for_user(
                    user=request.user, partner=partner, month=month
                )
    if settlement is not None and request.GET.get("format") == "csv":
        if not request.user.has_perm("billing.export_cdr"):
            raise PermissionDenied(
                "Your role does not allow this (billing.export_cdr)."
            )
        party = f"{settlement.partner.country_code}-{settlement.partner.party_id}"
        if request.GET.get("direction") == "owed":
            if owed is None:
                raise Http404("This partner is not a CPO")
            body, name = owed_settlement_csv(owed), f"owed-{party}-{month_text}.csv"
        else:
            body, name = (
                settlement_csv(settlement),
                f"settlement-{party}-{month_text}.csv",
            )
        response = HttpResponse(body, content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    return render(
        request,
        "roaming/settlement.html",
        {
            "partners": partners,
            "partner_id": partner_id,
            "month": month_text,
            "settlement": settlement,
            "owed": owed,
            "error": error,
        },
        status=400 if error else 200,
    )


# --- Publication: what partners see and pay -------------------------------------


def _network_card(
    request: AuthenticatedHttpRequest, network: Network, *, status: int = 200
) -> HttpResponse:
    publication = network_publication_for_user(user=request.user, network=network)
    if request.headers.get("HX-Request") == "true":
        return render(
            request,
            "roaming/publication.html#network-card",
            {"item": publication},
            status=status,
        )
    if status >= 400:
        return HttpResponse(status=status)
    return redirect(f"{reverse('roaming:publication')}#network-{network.pk}")


@login_required
def publication_view(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Networks in the user's scope: locations, EVSEs and partner tariffs published."""
    overview = publication_overview_for_user(user=request.user)
    return render(request, "roaming/publication.html", {"overview": overview})


def _flag(request: AuthenticatedHttpRequest) -> bool:
    value = request.POST.get("is_published", "")
    if value not in {"true", "false"}:
        raise InputError("is_published: true or false", field="is_published")
    return value == "true"


@login_required
@require_POST
def network_publication_set_view(
    request: AuthenticatedHttpRequest, pk: int
) -> HttpResponse:
    network = network_get_for_user(user=request.user, pk=pk, perm=PUBLISH)
    try:
        location_publication_set(
            network=network, is_published=_flag(request), actor=request.user
        )
    except InputError as error:
        return HttpResponse(str(error), status=400)
    return _network_card(request, network)


@login_required
@require_POST
def station_publication_set_view(
    request: AuthenticatedHttpRequest, pk: int
) -> HttpResponse:
    station = station_get_for_user(user=request.user, pk=pk, perm=PUBLISH)
    choice = request.POST.get("choice", "")
    if choice == "inherit":
        station_publication_inherit(station=station, actor=request.user)
    elif choice in {"publish", "withdraw"}:
        location_publication_set(
            station=station, is_published=choice == "publish", actor=request.user
        )
    else:
        return HttpResponse("choice: inherit, publish or withdraw", status=400)
    return _network_card(request, station.network)


@login_required
@require_POST
def evse_publication_set_view(
    request: AuthenticatedHttpRequest, pk: int
) -> HttpResponse:
    connector = connector_get_for_user(user=request.user, pk=pk, perm=PUBLISH)
    station = connector.charge_point.station
    if station is None:
        raise Http404("This connector is at no station.")
    try:
        evse_publication_set(
            connector=connector, is_published=_flag(request), actor=request.user
        )
    except InputError as error:
        return HttpResponse(str(error), status=400)
    return _network_card(request, station.network)


@login_required
@require_POST
def tariff_publication_set_view(
    request: AuthenticatedHttpRequest, pk: int
) -> HttpResponse:
    network = network_get_for_user(user=request.user, pk=pk, perm=PUBLISH)
    partner_id = request.POST.get("partner", "")
    partner = (
        Partner.objects.exclude(status=PartnerStatus.UNREGISTERED)
        .filter(pk=int(partner_id))
        .first()
        if partner_id.isdigit()
        else None
    )
    if partner is None:
        return HttpResponse("partner: unknown partner", status=400)
    tariff_id = request.POST.get("tariff", "")
    tariff = None
    if tariff_id:
        # Only this network's tariffs: a tariff of a network outside the scope
        # is as unknown as none.
        tariff = (
            Tariff.objects.filter(network=network, pk=int(tariff_id)).first()
            if tariff_id.isdigit()
            else None
        )
        if tariff is None:
            return HttpResponse("tariff: unknown tariff of this network", status=400)
    try:
        tariff_publication_set(
            partner=partner, network=network, tariff=tariff, actor=request.user
        )
    except InputError as error:
        return HttpResponse(str(error), status=400)
    return _network_card(request, network)


@login_required
def partner_location_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Partner CPOs' locations: read-only, apart from our own stations."""
    rows = partner_location_list_for_user(user=request.user)
    return render(request, "roaming/partner_locations.html", {"rows": rows})


@login_required
def partner_location_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    location, tariffs = partner_location_get_for_user(user=request.user, pk=pk)
    return render(
        request,
        "roaming/partner_location_detail.html",
        {"location": location, "tariffs": tariffs},
    )
