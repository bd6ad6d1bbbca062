"""A charger's security page: its certificates, security events, password rotation."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from stations.models import CommandStatus
from stations.security.models import (
    CertificateDelivery,
    ChargerCertificate,
    PasswordRotation,
    SecurityEvent,
)
from stations.security.services import (
    RotationRefused,
    charge_point_password_rotate,
    charger_certificate_renew,
)
from stations.selectors import charge_point_get_for_user


@login_required
@require_GET
def charge_point_security(request: HttpRequest, pk: int) -> HttpResponse:
    charge_point = charge_point_get_for_user(
        user=request.user, pk=pk, perm="stations.view_chargepoint"
    )
    now = timezone.now()
    rows, current_types = [], set()
    for certificate in ChargerCertificate.objects.filter(charge_point=charge_point):
        is_current = (
            certificate.delivery == CertificateDelivery.INSTALLED
            and certificate.certificate_type not in current_types
        )
        if is_current:
            current_types.add(certificate.certificate_type)
        rows.append(
            {
                "certificate": certificate,
                "days_left": (certificate.not_after - now).days,
                "is_current": is_current,
            }
        )
    return render(
        request,
        "stations/charge_point_security.html",
        {
            "charge_point": charge_point,
            "time_zone": charge_point.station.time_zone
            if charge_point.station
            else None,
            "certificates": rows,
            "events": SecurityEvent.objects.filter(charge_point=charge_point)[:50],
            "rotations": PasswordRotation.objects.filter(
                charge_point=charge_point
            ).select_related("requested_by")[:20],
            "can_rotate": request.user.has_perm("stations.change_chargepoint"),
        },
    )


@login_required
@require_POST
def charge_point_certificate_renew_view(request: HttpRequest, pk: int) -> HttpResponse:
    charge_point = charge_point_get_for_user(
        user=request.user, pk=pk, perm="stations.change_chargepoint"
    )
    command = charger_certificate_renew(
        charge_point=charge_point, requested_by=request.user
    )
    if command.status == CommandStatus.OFFLINE:
        messages.error(request, "The charger is not connected.")
    else:
        messages.success(
            request,
            "The charger was asked for a new certificate signing request; the new "
            "certificate appears here once it is signed and installed.",
        )
    return redirect("stations:charge_point_security", pk=pk)


@login_required
@require_POST
def charge_point_password_rotate_view(request: HttpRequest, pk: int) -> HttpResponse:
    charge_point = charge_point_get_for_user(
        user=request.user, pk=pk, perm="stations.change_chargepoint"
    )
    try:
        charge_point_password_rotate(
            charge_point=charge_point, requested_by=request.user
        )
    except RotationRefused as error:
        messages.error(request, str(error))
        return redirect("stations:charge_point_security", pk=pk)
    messages.success(
        request,
        "A new password was sent to the charger; it takes over once the charger "
        "accepts it.",
    )
    return redirect("stations:charge_point_security", pk=pk)
