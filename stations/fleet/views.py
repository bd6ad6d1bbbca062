"""Portal pages of firmware campaigns: list, create, live progress, pause/resume/abort.

Every view goes through ``stations.fleet.selectors`` (404 outside the user's
networks, 403 without ``stations.manage_firmware``) before anything is stored.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from accounts.http import AuthenticatedHttpRequest
from stations.fleet.configuration import (
    DesiredInputError,
    desired_declare,
    desired_remove,
)
from stations.fleet.forms import (
    CampaignForm,
    DesiredConfigurationForm,
    VendorProfileForm,
)
from stations.fleet.models import (
    CampaignTarget,
    DriftState,
    FirmwareCampaign,
    TargetState,
    VendorProfile,
)
from stations.fleet.profiles import (
    VendorProfileInputError,
    vendor_profile_delete,
    vendor_profile_save,
    vendor_profiles_require_admin,
)
from stations.fleet.selectors import (
    campaign_get_for_user,
    campaign_list_for_user,
    desired_get_for_user,
    desired_list_for_user,
    drift_list_for_user,
    last_frames,
)
from stations.fleet.services import (
    CAMPAIGN_ACTIONS,
    CampaignInputError,
    campaign_create,
    campaign_progress,
)

FAILURES_SHOWN = 20


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


@login_required
@require_GET
def campaign_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    campaigns = list(campaign_list_for_user(user=request.user)[:100])
    rows = [(campaign, campaign_progress(campaign)) for campaign in campaigns]
    return render(request, "stations/fleet/campaign_list.html", {"rows": rows})


@login_required
def campaign_new(request: AuthenticatedHttpRequest) -> HttpResponse:
    campaign_list_for_user(user=request.user)  # the role check, before the form
    form = CampaignForm(request.POST or None, user=request.user)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                campaign = campaign_create(
                    network=data["network"],
                    name=data["name"],
                    location=data["location"],
                    version=data["version"],
                    checksum=data["checksum"],
                    signing_certificate=data["signing_certificate"],
                    signature=data["signature"],
                    target=form.target_filter(),
                    created_by=request.user,
                    **form.plan(),
                )
            except CampaignInputError as error:
                field = error.field if error.field in form.fields else None
                form.add_error(field, str(error))
            else:
                return redirect("fleet:campaign_detail", pk=campaign.pk)
        status = 400
    return render(
        request, "stations/fleet/campaign_form.html", {"form": form}, status=status
    )


def _failures(campaign: FirmwareCampaign) -> list[dict[str, Any]]:
    failed = campaign.targets.filter(state=TargetState.FAILED).select_related(
        "charge_point"
    )[:FAILURES_SHOWN]
    return [
        {
            "target": target,
            "frames": last_frames(charge_point_id=target.charge_point_id),
        }
        for target in failed
    ]


@login_required
@require_GET
def campaign_detail(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    campaign = campaign_get_for_user(user=request.user, pk=pk)
    targets = CampaignTarget.objects.filter(campaign=campaign).select_related(
        "charge_point", "charge_point__station", "firmware_update"
    )
    progress = campaign_progress(campaign)
    context = {
        "campaign": campaign,
        "progress": progress,
        "counts": [
            (state.label, progress[state.value])
            for state in TargetState
            if progress[state.value]
        ],
        "targets": targets,
        "failures": _failures(campaign),
        "refresh_url": reverse("fleet:campaign_detail", kwargs={"pk": campaign.pk}),
    }
    template = "stations/fleet/campaign_detail.html"
    if _is_htmx(request):
        template += "#campaign-progress"
    return render(request, template, context)


@login_required
@require_POST
def campaign_action(
    request: AuthenticatedHttpRequest, pk: int, verb: str
) -> HttpResponse:
    campaign = campaign_get_for_user(user=request.user, pk=pk)
    action = CAMPAIGN_ACTIONS.get(verb)
    if action is None:
        return HttpResponse(f"Unknown action “{verb}”.", status=404)
    try:
        action(campaign=campaign, actor=request.user)
    except CampaignInputError as error:
        return HttpResponse(str(error), status=409)
    return redirect("fleet:campaign_detail", pk=campaign.pk)


@login_required
def desired_configuration(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Declared keys per scope (precedence shown) and the form to declare one."""
    declarations = desired_list_for_user(user=request.user).order_by(
        "network__name", "key", "id"
    )
    form = DesiredConfigurationForm(request.POST or None, user=request.user)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = form.cleaned_data
            try:
                desired_declare(
                    network=data["network"],
                    key=data["key"],
                    value=data["value"],
                    station=data.get("station"),
                    tag=data.get("tag"),
                    vendor=data.get("vendor") or "",
                    model=data.get("model") or "",
                    actor=request.user,
                )
            except DesiredInputError as error:
                form.add_error(
                    error.field if error.field in form.fields else None, str(error)
                )
            else:
                return redirect("fleet:desired_configuration")
        status = 400
    rows = sorted(
        declarations, key=lambda d: (d.network.name, d.key, -d.precedence, d.pk)
    )
    return render(
        request,
        "stations/fleet/desired_configuration.html",
        {"declarations": rows, "form": form},
        status=status,
    )


@login_required
@require_POST
def desired_configuration_remove(
    request: AuthenticatedHttpRequest, pk: int
) -> HttpResponse:
    desired = desired_get_for_user(user=request.user, pk=pk)
    desired_remove(desired=desired, actor=request.user)
    return redirect("fleet:desired_configuration")


@login_required
@require_GET
def configuration_drift(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Drift per charger and key, with counts per key and state."""
    drifts = drift_list_for_user(user=request.user).order_by(
        "charge_point__ocpp_id", "key"
    )
    state = request.GET.get("state", "")
    if state in DriftState.values:
        drifts = drifts.filter(state=state)
    rows = list(drifts[:500])
    per_key: dict[str, dict[str, int]] = {}
    for drift in rows:
        per_key.setdefault(drift.key, {})
        per_key[drift.key][drift.get_state_display()] = (
            per_key[drift.key].get(drift.get_state_display(), 0) + 1
        )
    return render(
        request,
        "stations/fleet/configuration_drift.html",
        {
            "drifts": rows,
            "per_key": sorted(per_key.items()),
            "states": DriftState.choices,
            "state": state,
        },
    )


@login_required
def vendor_profiles(
    request: AuthenticatedHttpRequest, pk: int | None = None
) -> HttpResponse:
    """The vendor profiles (administrators only) and the form to add or edit one."""
    vendor_profiles_require_admin(request.user)
    profile = get_object_or_404(VendorProfile, pk=pk) if pk is not None else None
    form = VendorProfileForm(request.POST or None, instance=profile)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                vendor_profile_save(
                    actor=request.user, values=form.cleaned_data, profile=profile
                )
            except VendorProfileInputError as error:
                form.add_error(
                    error.field if error.field in form.fields else None, str(error)
                )
            else:
                return redirect("fleet:vendor_profiles")
        status = 400
    return render(
        request,
        "stations/fleet/vendor_profiles.html",
        {
            "profiles": VendorProfile.objects.select_related("updated_by"),
            "form": form,
            "editing": profile,
        },
        status=status,
    )


@login_required
@require_POST
def vendor_profile_remove(request: AuthenticatedHttpRequest, pk: int) -> HttpResponse:
    vendor_profiles_require_admin(request.user)
    profile = get_object_or_404(VendorProfile, pk=pk)
    vendor_profile_delete(actor=request.user, profile=profile)
    return redirect("fleet:vendor_profiles")
