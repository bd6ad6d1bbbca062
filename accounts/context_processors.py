"""Role-aware navigation: the portal shows only links the user may follow."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from accounts.middleware import TIME_ZONE_META
from accounts.scope import is_administrator

# (label, url name, permission needed or None, administrators only)
NAVIGATION: list[tuple[str, str, str | None, bool]] = [
    ("Overview", "stations:overview", "stations.view_network", False),
    ("Networks", "stations:network_list", "stations.view_network", False),
    ("Stations", "stations:station_list", "stations.view_station", False),
    ("Map", "stations:station_map", "stations.view_station", False),
    ("Charge points", "stations:charge_point_list", "stations.view_chargepoint", False),
    ("Unassigned", "stations:unassigned_list", "stations.manage_unassigned", False),
    ("Bulk commands", "commands:bulk", "stations.reset_chargepoint", False),
    ("Firmware campaigns", "fleet:campaign_list", "stations.manage_firmware", False),
    (
        "Desired configuration",
        "fleet:desired_configuration",
        "stations.configure_chargepoint",
        False,
    ),
    ("Sessions", "charging:session_list", "charging.view_chargingsession", False),
    ("Id tokens", "charging:token_list", "charging.view_idtoken", False),
    (
        "Unmatched stops",
        "charging:unmatched_stop_list",
        "charging.view_unmatchedstop",
        False,
    ),
    ("Alerts", "alerts:alert_list", "alerts.view_alert", False),
    ("Tickets", "alerts:ticket_list", "alerts.view_maintenanceticket", False),
    ("Alert rules", "alerts:rule_config_list", "alerts.view_alertruleconfig", False),
    ("Webhooks", "alerts:webhook_list", "alerts.view_webhookendpoint", False),
    ("Users", "accounts:user_list", "accounts.view_user", True),
    ("Roaming partners", "roaming:partner_list", None, True),
    ("Roaming publication", "roaming:publication", "roaming.publish_location", False),
    ("Roaming settlement", "roaming:settlement", "billing.view_cdr", False),
    ("Tariffs", "billing:tariff_list", "billing.view_tariff", False),
    ("CDRs", "billing:cdr_list", "billing.view_cdr", False),
    ("Revenue / exports", "billing:revenue", "billing.export_cdr", False),
    ("Statements", "billing:statement", "billing.view_cdr", False),
    ("Audit log", "accounts:audit_log", "accounts.view_audit_log", False),
    ("Reports", "reports:index", "stations.view_station", False),
    ("Outages", "reliability:outage_list", "stations.view_outage", False),
]


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or getattr(user, "is_driver", False):
        return {"nav_items": []}
    items = []
    for label, url_name, perm, admin_only in NAVIGATION:
        if admin_only and not is_administrator(user):
            continue
        if perm is not None and not user.has_perm(perm):
            continue
        try:
            url = reverse(url_name)
        except NoReverseMatch:  # the screen is not installed in this build
            continue
        items.append(
            {
                "label": label,
                "url": url,
                "active": request.path.startswith(url) and url != "/",
            }
        )
    return {"nav_items": items}


def time_zone(request: HttpRequest) -> dict[str, Any]:
    """``user_time_zone``: the zone network-wide lists are shown in (activated by
    ``UserTimeZoneMiddleware``), to be named next to their times."""
    name = request.META.get(TIME_ZONE_META) or timezone.get_current_timezone_name()
    return {"user_time_zone": name}
