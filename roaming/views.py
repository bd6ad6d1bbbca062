"""Portal pages for roaming partners (administrators only)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from accounts.http import AuthenticatedHttpRequest
from accounts.models import AuditLog
from cms.errors import InputError
from roaming.credentials import (
    partner_invite,
    partner_register_with,
    partner_unregister,
    public_versions_url,
)
from roaming.forms import PartnerPartyForm, PartnerRegisterForm
from roaming.models import Partner
from roaming.push import partner_health
from roaming.selectors import (
    partner_get_for_user,
    partner_list_for_user,
    require_partner_administration,
)
from roaming.transport import OcpiError


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
        {"partner": partner, "calls": calls, "health": partner_health(partner)},
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
