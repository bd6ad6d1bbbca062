"""Role-aware navigation: the portal shows only links the user may follow."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_noop

from accounts.middleware import TIME_ZONE_META
from accounts.scope import is_administrator

# (label, url name, permission needed or None, administrators only)
NAVIGATION: list[tuple[str, str, str | None, bool]] = [
    (gettext_noop("Overview"), "stations:overview", "stations.view_network", False),
    (gettext_noop("Networks"), "stations:network_list", "stations.view_network", False),
    (gettext_noop("Stations"), "stations:station_list", "stations.view_station", False),
    (gettext_noop("Map"), "stations:station_map", "stations.view_station", False),
    (
        gettext_noop("Charge points"),
        "stations:charge_point_list",
        "stations.view_chargepoint",
        False,
    ),
    (
        gettext_noop("Unassigned"),
        "stations:unassigned_list",
        "stations.manage_unassigned",
        False,
    ),
    (
        gettext_noop("Connection attempts"),
        "stations:connection_attempts",
        "stations.view_connectionattempt",
        False,
    ),
    (
        gettext_noop("Bulk commands"),
        "commands:bulk",
        "stations.reset_chargepoint",
        False,
    ),
    (
        gettext_noop("Firmware campaigns"),
        "fleet:campaign_list",
        "stations.manage_firmware",
        False,
    ),
    (
        gettext_noop("Desired configuration"),
        "fleet:desired_configuration",
        "stations.configure_chargepoint",
        False,
    ),
    (gettext_noop("Vendor profiles"), "fleet:vendor_profiles", None, True),
    (
        gettext_noop("Sessions"),
        "charging:session_list",
        "charging.view_chargingsession",
        False,
    ),
    (gettext_noop("Id tokens"), "charging:token_list", "charging.view_idtoken", False),
    (
        gettext_noop("Unmatched stops"),
        "charging:unmatched_stop_list",
        "charging.view_unmatchedstop",
        False,
    ),
    (gettext_noop("Alerts"), "alerts:alert_list", "alerts.view_alert", False),
    (
        gettext_noop("Tickets"),
        "alerts:ticket_list",
        "alerts.view_maintenanceticket",
        False,
    ),
    (
        gettext_noop("Alert rules"),
        "alerts:rule_config_list",
        "alerts.view_alertruleconfig",
        False,
    ),
    (
        gettext_noop("Webhooks"),
        "alerts:webhook_list",
        "alerts.view_webhookendpoint",
        False,
    ),
    (gettext_noop("Users"), "accounts:user_list", "accounts.view_user", True),
    (gettext_noop("Roaming partners"), "roaming:partner_list", None, True),
    (
        gettext_noop("Roaming publication"),
        "roaming:publication",
        "roaming.publish_location",
        False,
    ),
    (
        gettext_noop("Partner locations"),
        "roaming:partner_location_list",
        "roaming.view_partner_location",
        False,
    ),
    (
        gettext_noop("Roaming settlement"),
        "roaming:settlement",
        "billing.view_cdr",
        False,
    ),
    (gettext_noop("Tariffs"), "billing:tariff_list", "billing.view_tariff", False),
    (gettext_noop("CDRs"), "billing:cdr_list", "billing.view_cdr", False),
    (gettext_noop("Revenue / exports"), "billing:revenue", "billing.export_cdr", False),
    (gettext_noop("Statements"), "billing:statement", "billing.view_cdr", False),
    (gettext_noop("Audit log"), "accounts:audit_log", "accounts.view_audit_log", False),
    (gettext_noop("Reports"), "reports:index", "stations.view_station", False),
    (gettext_noop("Outages"), "reliability:outage_list", "stations.view_outage", False),
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
                "label": gettext(label),
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
