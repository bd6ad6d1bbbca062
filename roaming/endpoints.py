"""The configuration modules every OCPI platform serves: versions, version
details and credentials (OCPI 2.2.1 version_information_endpoint, credentials).

Functional modules list themselves in ``MODULES`` so the version details show
exactly what is served.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt

from roaming.credentials import (
    credentials_register,
    credentials_update,
    our_credentials,
    partner_unregister,
)
from roaming.transport import (
    CLIENT_ERROR,
    OCPI_VERSION,
    OcpiResult,
    OcpiView,
    envelope,
    request_json,
)

# (ModuleID, InterfaceRole, URL name): version_information_endpoint "Endpoint
# class". credentials is listed as SENDER, as its NOTE advises.
MODULES: list[tuple[str, str, str]] = [
    ("credentials", "SENDER", "roaming:ocpi_credentials"),
    ("locations", "SENDER", "roaming:ocpi_cpo_locations"),
    ("tariffs", "SENDER", "roaming:ocpi_cpo_tariffs"),
    ("tokens", "RECEIVER", "roaming:ocpi_cpo_tokens"),
    ("commands", "RECEIVER", "roaming:ocpi_cpo_commands"),
    ("sessions", "SENDER", "roaming:ocpi_cpo_sessions"),
    ("cdrs", "SENDER", "roaming:ocpi_cpo_cdrs"),
    ("chargingprofiles", "RECEIVER", "roaming:ocpi_cpo_chargingprofiles"),
    ("hubclientinfo", "RECEIVER", "roaming:ocpi_cpo_hubclientinfo"),
    # eMSP side: our drivers' tokens for CPOs, our commands to them, their
    # sessions, CDRs, locations and tariffs to us.
    ("tokens", "SENDER", "roaming:ocpi_emsp_tokens"),
    ("commands", "SENDER", "roaming:ocpi_emsp_commands"),
    ("sessions", "RECEIVER", "roaming:ocpi_emsp_sessions"),
    ("cdrs", "RECEIVER", "roaming:ocpi_emsp_cdrs"),
    ("locations", "RECEIVER", "roaming:ocpi_emsp_locations"),
    ("tariffs", "RECEIVER", "roaming:ocpi_emsp_tariffs"),
]


def _absolute(request: HttpRequest, url_name: str) -> str:
    return request.build_absolute_uri(reverse(url_name))


@csrf_exempt
def unknown_endpoint(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        envelope(status_code=CLIENT_ERROR, message=f"No endpoint at {request.path}"),
        status=404,
    )


class VersionsView(OcpiView):
    module = "versions"
    configuration = True

    def get(self, request: HttpRequest) -> OcpiResult:
        return OcpiResult(
            data=[
                {
                    "version": OCPI_VERSION,
                    "url": _absolute(request, "roaming:ocpi_version_details"),
                }
            ]
        )


class VersionDetailsView(OcpiView):
    module = "versions"
    configuration = True

    def get(self, request: HttpRequest) -> OcpiResult:
        return OcpiResult(
            data={
                "version": OCPI_VERSION,
                "endpoints": [
                    {
                        "identifier": identifier,
                        "role": role,
                        "url": _absolute(request, url_name),
                    }
                    for identifier, role, url_name in MODULES
                ],
            }
        )


class CredentialsView(OcpiView):
    module = "credentials"
    configuration = True

    def _versions_url(self, request: HttpRequest) -> str:
        return _absolute(request, "roaming:ocpi_versions")

    def get(self, request: HttpRequest) -> OcpiResult:
        # credentials "GET Method": our credentials for the caller; the token
        # is the one it authenticated with (we keep only its hash).
        return OcpiResult(
            data=our_credentials(
                token=self.caller.token, url=self._versions_url(request)
            )
        )

    def post(self, request: HttpRequest) -> OcpiResult:
        payload: Any = request_json(request)
        data = credentials_register(
            partner=self.caller.partner,
            payload=payload,
            our_versions_url=self._versions_url(request),
        )
        return OcpiResult(data=data)

    def put(self, request: HttpRequest) -> OcpiResult:
        payload: Any = request_json(request)
        data = credentials_update(
            partner=self.caller.partner,
            payload=payload,
            our_versions_url=self._versions_url(request),
        )
        return OcpiResult(data=data)

    def delete(self, request: HttpRequest) -> OcpiResult:
        partner_unregister(partner=self.caller.partner)
        return OcpiResult()
