"""The role table of DESIGN.md as Django groups and permissions.

``sync_roles`` runs after every ``migrate`` so the groups always match this
table; a permission of an app not yet migrated is skipped until it exists.
Apps add their permissions here, next to the roles that hold them.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth.models import Group, Permission

from accounts.models import Role

logger = logging.getLogger(__name__)

_VIEW_NETWORK = [
    "stations.view_network",
    "stations.view_station",
    "stations.view_chargepoint",
    "stations.view_connector",
    "charging.view_chargingsession",
    "charging.view_metervalue",
]
_SUPPORT_COMMANDS = [
    "stations.reset_chargepoint",
    "stations.unlock_connector",
    "stations.remote_start_stop",
    "stations.trigger_message",
    "stations.clear_cache",
]
_ALL_COMMANDS = [
    *_SUPPORT_COMMANDS,
    "stations.configure_chargepoint",
    "stations.manage_firmware",
    "stations.change_availability",
    "stations.manage_reservations",
    "stations.manage_local_list",
    "stations.manage_charging_profiles",
    "stations.data_transfer",
]
_TOKENS = ["charging.view_idtoken", "charging.add_idtoken", "charging.change_idtoken"]
_BILLING_MANAGE = [
    "billing.view_tariff",
    "billing.add_tariff",
    "billing.change_tariff",
    "billing.view_cdr",
    "billing.export_cdr",
    "billing.view_creditnote",
    "billing.add_creditnote",
    "billing.view_payment",
    "billing.change_payment",
]
_ALERTS_MANAGE = [
    "alerts.view_alert",
    "alerts.acknowledge_alert",
    "alerts.resolve_alert",
    "alerts.view_alertruleconfig",
    "alerts.change_alertruleconfig",
    "alerts.view_maintenanceticket",
    "alerts.add_maintenanceticket",
    "alerts.change_maintenanceticket",
    "alerts.view_webhookendpoint",
    "alerts.add_webhookendpoint",
    "alerts.change_webhookendpoint",
    "alerts.delete_webhookendpoint",
    "alerts.view_webhookdelivery",
]

# Outage records and the uptime reports built on them (stations.reliability).
_OUTAGES_MANAGE = ["stations.view_outage", "stations.classify_outage"]

ROLE_PERMISSIONS: dict[str, list[str]] = {
    Role.OPERATIONS: [
        "billing.view_tariff",
        *_ALERTS_MANAGE,
        *_VIEW_NETWORK,
        *_ALL_COMMANDS,
        *_TOKENS,
        "stations.add_station",
        "stations.change_station",
        "stations.add_chargepoint",
        "stations.change_chargepoint",
        "stations.add_connector",
        "stations.change_connector",
        "stations.delete_connector",
        "stations.manage_unassigned",
        "stations.view_connectionattempt",
        "charging.view_unmatchedstop",
        "charging.change_unmatchedstop",
        "accounts.view_audit_log",
        *_OUTAGES_MANAGE,
        "roaming.publish_location",
        "roaming.view_partner_location",
    ],
    Role.SUPPORT: [
        "billing.view_tariff",
        "alerts.view_alert",
        "alerts.acknowledge_alert",
        *_VIEW_NETWORK,
        *_SUPPORT_COMMANDS,
        *_TOKENS,
    ],
    Role.FINANCE: [
        *_BILLING_MANAGE,
        *_VIEW_NETWORK,
        "stations.view_outage",  # the uptime reports; classifying is operations'
    ],
    Role.ADMINISTRATOR: [
        *_BILLING_MANAGE,
        *_ALERTS_MANAGE,
        *_VIEW_NETWORK,
        *_ALL_COMMANDS,
        *_TOKENS,
        "stations.add_network",
        "stations.change_network",
        "stations.add_station",
        "stations.change_station",
        "stations.add_chargepoint",
        "stations.change_chargepoint",
        "stations.add_connector",
        "stations.change_connector",
        "stations.delete_connector",
        "stations.manage_unassigned",
        "stations.view_connectionattempt",
        "charging.view_unmatchedstop",
        "charging.change_unmatchedstop",
        "accounts.view_user",
        "accounts.add_user",
        "accounts.change_user",
        "accounts.view_audit_log",
        *_OUTAGES_MANAGE,
        "roaming.publish_location",
        "roaming.view_partner_location",
    ],
}


def _permission(label: str) -> Permission | None:
    app_label, codename = label.split(".", 1)
    return Permission.objects.filter(
        content_type__app_label=app_label, codename=codename
    ).first()


def sync_roles(**_: Any) -> None:
    """Create the role groups and set exactly the permissions of the table."""
    for role, labels in ROLE_PERMISSIONS.items():
        group, _created = Group.objects.get_or_create(name=str(role))
        permissions = [
            p for p in (_permission(label) for label in labels) if p is not None
        ]
        group.permissions.set(permissions)
