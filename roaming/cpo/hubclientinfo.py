"""Hub Client Info module, Receiver interface (OCPI 2.2.1 mod_hub_client_info).

A hub tells the parties connected through it which other parties are
reachable: it PUTs and PATCHes ClientInfo objects at
.../hubclientinfo/{country_code}/{party_id} and may GET them back to check.
Only a connection that registered a HUB role sends them. A party the hub
reports OFFLINE, PLANNED or SUSPENDED is not called ("Another Party goes
OFFLINE": no requests can be sent): real-time authorization of its tokens
takes the documented fallback at once instead of making the charger wait.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.http import HttpRequest

from roaming.models import ConnectionStatus, HubClientInfo, Partner
from roaming.transport import (
    CLIENT_ERROR,
    INVALID_PARAMETERS,
    NotFound,
    OcpiError,
    OcpiResult,
    OcpiView,
    ocpi_datetime_parse,
    ocpi_timestamp,
    request_json,
    require_object,
    require_string,
)

# types "Role enum".
_ROLES = {"CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP"}


def client_info_object(info: HubClientInfo) -> dict[str, Any]:
    """mod_hub_client_info "ClientInfo Object"."""
    return {
        "party_id": info.party_id,
        "country_code": info.country_code,
        "role": info.role,
        "status": info.status,
        "last_updated": ocpi_timestamp(info.last_updated),
    }


def _parse(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for name, length in (("country_code", 2), ("party_id", 3)):
        if not partial or name in data:
            fields[name] = require_string(data, name, max_length=length).upper()
    if not partial or "role" in data:
        role = require_string(data, "role", max_length=5)
        if role not in _ROLES:
            raise OcpiError(INVALID_PARAMETERS, f"role: unknown role {role!r}")
        fields["role"] = role
    if not partial or "status" in data:
        status = require_string(data, "status", max_length=10)
        if status not in ConnectionStatus.values:
            raise OcpiError(INVALID_PARAMETERS, f"status: unknown status {status!r}")
        fields["status"] = status
    # last_updated is required in PUT and PATCH alike (transport_and_format
    # "Client Owned Object Push": PATCH carries last_updated).
    raw = require_string(data, "last_updated", max_length=40)
    fields["last_updated"] = ocpi_datetime_parse(raw, field="last_updated")
    return fields


def party_is_unreachable(country_code: str, party_id: str) -> bool:
    """Whether a hub reported this party as not reachable now."""
    return (
        HubClientInfo.objects.filter(
            country_code=country_code.upper(), party_id=party_id.upper()
        )
        .exclude(status=ConnectionStatus.CONNECTED)
        .exists()
    )


class ClientInfoView(OcpiView):
    """GET/PUT/PATCH .../hubclientinfo/{country_code}/{party_id}."""

    module = "hubclientinfo"

    def _hub(self) -> Partner:
        partner = self.caller.partner
        if not any(role.get("role") == "HUB" for role in partner.roles):
            raise OcpiError(
                CLIENT_ERROR,
                "Only a hub sends ClientInfo; this connection has no HUB role",
                http_status=403,
            )
        return partner

    def _stored(self, country_code: str, party_id: str) -> HubClientInfo | None:
        return HubClientInfo.objects.filter(
            hub=self._hub(),
            country_code=country_code.upper(),
            party_id=party_id.upper(),
        ).first()

    def get(self, request: HttpRequest, country_code: str, party_id: str) -> OcpiResult:
        info = self._stored(country_code, party_id)
        if info is None:
            raise NotFound(f"Unknown client {country_code}*{party_id}")
        return OcpiResult(data=client_info_object(info))

    def put(self, request: HttpRequest, country_code: str, party_id: str) -> OcpiResult:
        hub = self._hub()
        fields = _parse(require_object(request_json(request)), partial=False)
        for name, expected in (("country_code", country_code), ("party_id", party_id)):
            if fields[name] != expected.upper():
                raise OcpiError(
                    INVALID_PARAMETERS, f"{name}: {fields[name]!r} differs from the URL"
                )
        with transaction.atomic():
            _info, created = HubClientInfo.objects.update_or_create(
                hub=hub,
                country_code=fields["country_code"],
                party_id=fields["party_id"],
                defaults={
                    "role": fields["role"],
                    "status": fields["status"],
                    "last_updated": fields["last_updated"],
                },
            )
        return OcpiResult(http_status=201 if created else 200)

    def patch(
        self, request: HttpRequest, country_code: str, party_id: str
    ) -> OcpiResult:
        changes = _parse(require_object(request_json(request)), partial=True)
        for name in ("country_code", "party_id"):
            if name in changes:
                raise OcpiError(INVALID_PARAMETERS, f"{name}: cannot be changed")
        with transaction.atomic():
            info = self._stored(country_code, party_id)
            if info is None:
                # mod_hub_client_info "PATCH": only updates of known objects.
                raise NotFound(f"Unknown client {country_code}*{party_id}")
            for name, value in changes.items():
                setattr(info, name, value)
            info.save()
        return OcpiResult()
