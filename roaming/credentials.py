"""Partners and the OCPI 2.2.1 credentials handshake, in both directions.

Either we are the Receiver of the credentials module (an administrator issues a
Token A, the partner POSTs its Token B, we answer with our Token C), or we are
its Sender (we fetch the partner's versions with the Token A it gave us, POST
our Token B and keep the Token C it answers). OCPI 2.2.1 credentials
"Registration".
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import audit_record, model_snapshot
from cms.errors import InputError
from roaming.client import PartnerCallError, ocpi_call
from roaming.models import Partner, PartnerStatus, TokenEncoding, token_hash
from roaming.transport import (
    CLIENT_API_UNUSABLE,
    INVALID_PARAMETERS,
    NO_MATCHING_ENDPOINTS,
    OCPI_VERSION,
    UNSUPPORTED_VERSION,
    MethodNotAllowed,
    OcpiError,
    require_object,
    require_string,
)

ROLES = {"CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP"}  # types "Role"
OUR_ROLES = ("CPO", "EMSP")
# credentials "Credentials object": printable non-whitespace ASCII, at most 64.
_TOKEN_PATTERN = re.compile(r"^[\x21-\x7e]{1,64}$")


def token_new() -> str:
    """A new credentials token: 43 URL-safe characters (256 bits)."""
    return secrets.token_urlsafe(32)


def public_versions_url() -> str:
    """Our versions URL as partners reach it (``OCPI_BASE_URL``)."""
    return f"{settings.OCPI_BASE_URL}/ocpi/versions"


def our_credentials(*, token: str, url: str) -> dict[str, Any]:
    """Our Credentials object: the token for the partner, our versions URL, our roles.

    One party holds both roles here (credentials "CredentialsRole class": a
    platform lists a role object per role it plays): CPO for our stations, EMSP
    for our drivers.
    """
    country_code, party_id = settings.OCPI_COUNTRY_CODE, settings.OCPI_PARTY_ID
    return {
        "token": token,
        "url": url,
        "roles": [
            {
                "role": role,
                "business_details": {"name": settings.OCPI_BUSINESS_NAME},
                "party_id": party_id,
                "country_code": country_code,
            }
            for role in OUR_ROLES
        ],
    }


# --- Issuing Token A -----------------------------------------------------------------


def _party(country_code: str, party_id: str) -> tuple[str, str]:
    country_code, party_id = country_code.strip().upper(), party_id.strip().upper()
    if not re.fullmatch(r"[A-Z]{2}", country_code):
        raise InputError(
            field="country_code", message="Two letters (ISO 3166-1 alpha-2)."
        )
    if not re.fullmatch(r"[A-Z0-9]{1,3}", party_id):
        raise InputError(field="party_id", message="One to three letters or digits.")
    return country_code, party_id


@transaction.atomic
def partner_invite(
    *,
    country_code: str,
    party_id: str,
    name: str = "",
    actor: User | None = None,
) -> tuple[Partner, str]:
    """Issue a Token A for a partner who will register with us; return it once."""
    country_code, party_id = _party(country_code, party_id)
    partner = (
        Partner.objects.select_for_update()
        .filter(country_code=country_code, party_id=party_id)
        .first()
    )
    if partner is not None and partner.is_registered:
        raise InputError(
            field="party_id",
            message=f"{country_code}*{party_id} is registered; unregister it before "
            "issuing a new Token A.",
        )
    token_a = token_new()
    before = model_snapshot(partner) if partner is not None else None
    if partner is None:
        partner = Partner(country_code=country_code, party_id=party_id)
    partner.name = name or partner.name or f"{country_code}*{party_id}"
    partner.status = PartnerStatus.PENDING
    partner.token_a_hash = token_hash(token_a)
    partner.token_hash = ""
    partner.outgoing_token = ""
    partner.save()
    audit_record(
        actor=actor,
        action="ocpi.partner.token_a",
        target=partner,
        before=before,
        after=model_snapshot(partner, exclude=("outgoing_token",)),
        detail="Token A issued",
    )
    return partner, token_a


# --- The partner's versions and endpoints --------------------------------------------


@dataclass(frozen=True)
class PartnerVersion:
    version: str
    endpoints: list[dict[str, str]]


def _fetch_version(
    url: str, *, token: str, encoding: str, partner: Partner | None
) -> PartnerVersion:
    """GET the partner's versions, pick 2.2.1 and GET its details."""
    answer = ocpi_call(url, token=token, encoding=encoding, partner=partner)
    versions = answer.data
    if not isinstance(versions, list):
        raise PartnerCallError(f"{url}: the versions data is not a list")
    details_url = next(
        (
            str(item.get("url"))
            for item in versions
            if isinstance(item, dict) and item.get("version") == OCPI_VERSION
        ),
        None,
    )
    if details_url is None:
        raise OcpiError(
            UNSUPPORTED_VERSION, f"The partner's versions at {url} do not offer 2.2.1"
        )
    details = ocpi_call(details_url, token=token, encoding=encoding, partner=partner)
    data = details.data if isinstance(details.data, dict) else {}
    endpoints = [
        {
            "identifier": str(item.get("identifier", "")),
            "role": str(item.get("role", "")),
            "url": str(item.get("url", "")),
        }
        for item in data.get("endpoints") or []
        if isinstance(item, dict) and item.get("identifier") and item.get("url")
    ]
    if not any(item["identifier"] != "credentials" for item in endpoints):
        # credentials "Required endpoints not available".
        raise OcpiError(
            NO_MATCHING_ENDPOINTS,
            f"The partner's 2.2.1 details at {details_url} list no module endpoints",
        )
    return PartnerVersion(version=OCPI_VERSION, endpoints=endpoints)


def credentials_parse(value: Any) -> dict[str, Any]:
    """Check a Credentials object (credentials "Credentials object"); 2001 names the field."""
    data = require_object(value)
    token = require_string(data, "token", max_length=64)
    if not _TOKEN_PATTERN.match(token):
        raise OcpiError(
            INVALID_PARAMETERS,
            "token: only printable non-whitespace ASCII characters are allowed",
        )
    url = require_string(data, "url", max_length=255)
    if not url.startswith(("http://", "https://")):
        raise OcpiError(INVALID_PARAMETERS, "url: an http(s) URL is required")
    roles = data.get("roles")
    if not isinstance(roles, list) or not roles:
        raise OcpiError(INVALID_PARAMETERS, "roles: at least one CredentialsRole")
    parsed_roles = []
    for index, role in enumerate(roles):
        prefix = f"roles[{index}]."
        role = require_object(role, field=f"roles[{index}]")
        kind = require_string(role, "role", max_length=5, prefix=prefix)
        if kind not in ROLES:
            raise OcpiError(INVALID_PARAMETERS, f"{prefix}role: unknown role {kind!r}")
        details = require_object(
            role.get("business_details"), field=f"{prefix}business_details"
        )
        require_string(
            details, "name", max_length=100, prefix=f"{prefix}business_details."
        )
        country_code = require_string(role, "country_code", max_length=2, prefix=prefix)
        party_id = require_string(role, "party_id", max_length=3, prefix=prefix)
        parsed_roles.append(
            {
                "role": kind,
                "business_details": details,
                "country_code": country_code.upper(),
                "party_id": party_id.upper(),
            }
        )
    return {"token": token, "url": url, "roles": parsed_roles}


def _save_registration(
    partner: Partner,
    *,
    credentials: dict[str, Any],
    version: PartnerVersion,
    incoming_token: str,
    action: str,
    detail: str,
    actor: User | None = None,
    first_time: bool = False,
) -> Partner:
    """Store what the handshake exchanged, and the token the partner uses now."""
    with transaction.atomic():
        locked = Partner.objects.select_for_update().get(pk=partner.pk)
        if first_time and locked.is_registered:  # a second POST raced this one
            raise MethodNotAllowed("Already registered: use PUT to update credentials")
        before = model_snapshot(locked, exclude=("outgoing_token",))
        locked.outgoing_token = credentials["token"]
        locked.versions_url = credentials["url"]
        locked.roles = credentials["roles"]
        locked.version = version.version
        locked.endpoints = version.endpoints
        locked.token_hash = token_hash(incoming_token)
        locked.token_a_hash = ""  # credentials "Registration": Token A is dead now
        locked.status = PartnerStatus.REGISTERED
        locked.registered_at = locked.registered_at or timezone.now()
        name = credentials["roles"][0]["business_details"].get("name")
        if name and locked.name == f"{locked.country_code}*{locked.party_id}":
            locked.name = str(name)[:100]
        locked.save()
        audit_record(
            actor=actor,
            action=action,
            target=locked,
            before=before,
            after=model_snapshot(locked, exclude=("outgoing_token",)),
            detail=detail,
        )
    return locked


# --- We are the Receiver: POST / PUT / DELETE credentials -------------------------------


def credentials_register(
    *, partner: Partner, payload: Any, our_versions_url: str
) -> dict[str, Any]:
    """A partner's POST credentials: fetch its endpoints, answer with Token C."""
    if partner.is_registered:
        # credentials "POST Method": 405 when already registered.
        raise MethodNotAllowed("Already registered: use PUT to update credentials")
    credentials = credentials_parse(payload)
    if not any(
        role["country_code"] == partner.country_code
        and role["party_id"] == partner.party_id
        for role in credentials["roles"]
    ):
        raise OcpiError(
            INVALID_PARAMETERS,
            f"roles: the Token A was issued to {partner.country_code}*"
            f"{partner.party_id}, which is not among the roles",
        )
    version = _fetch_partner_version(partner, credentials)
    token_c = token_new()
    _save_registration(
        partner,
        credentials=credentials,
        version=version,
        incoming_token=token_c,
        action="ocpi.partner.registered",
        detail="Partner registered with us (credentials POST)",
        first_time=True,
    )
    return our_credentials(token=token_c, url=our_versions_url)


def _fetch_partner_version(
    partner: Partner, credentials: dict[str, Any]
) -> PartnerVersion:
    try:
        return _fetch_version(
            credentials["url"],
            token=credentials["token"],
            encoding=partner.token_encoding,
            partner=partner,
        )
    except PartnerCallError as error:
        # credentials "Errors during registration": 3001.
        raise OcpiError(
            CLIENT_API_UNUSABLE, f"Could not use the partner's API: {error.message}"
        ) from None


def credentials_update(
    *, partner: Partner, payload: Any, our_versions_url: str
) -> dict[str, Any]:
    """A partner's PUT credentials: refetch its endpoints, answer with a new token."""
    if not partner.is_registered:
        # credentials "PUT Method": 405 when not registered yet.
        raise MethodNotAllowed("Not registered: use POST to register")
    credentials = credentials_parse(payload)
    version = _fetch_partner_version(partner, credentials)
    token = token_new()
    _save_registration(
        partner,
        credentials=credentials,
        version=version,
        incoming_token=token,
        action="ocpi.partner.updated",
        detail="Partner updated its credentials (credentials PUT)",
    )
    return our_credentials(token=token, url=our_versions_url)


@transaction.atomic
def partner_unregister(*, partner: Partner, actor: User | None = None) -> Partner:
    """End the connection: neither side's token works any more."""
    locked = Partner.objects.select_for_update().get(pk=partner.pk)
    if not locked.is_registered:
        # credentials "DELETE Method": 405 when not registered.
        raise MethodNotAllowed("Not registered")
    before = model_snapshot(locked, exclude=("outgoing_token",))
    locked.status = PartnerStatus.UNREGISTERED
    locked.token_hash = ""
    locked.token_a_hash = ""
    locked.outgoing_token = ""
    locked.save()
    audit_record(
        actor=actor,
        action="ocpi.partner.unregistered",
        target=locked,
        before=before,
        after=model_snapshot(locked, exclude=("outgoing_token",)),
    )
    return locked


# --- We are the Sender: register with a partner's versions URL ---------------------------


def partner_register_with(
    *,
    versions_url: str,
    token_a: str,
    country_code: str,
    party_id: str,
    name: str = "",
    token_encoding: str = TokenEncoding.BASE64,
    actor: User | None = None,
) -> Partner:
    """Register with a partner that gave us its versions URL and a Token A."""
    country_code, party_id = _party(country_code, party_id)
    if not versions_url.startswith(("http://", "https://")):
        raise InputError(field="versions_url", message="An http(s) URL is required.")
    token_b = token_new()
    with transaction.atomic():
        partner = (
            Partner.objects.select_for_update()
            .filter(country_code=country_code, party_id=party_id)
            .first()
        )
        if partner is not None and partner.is_registered:
            raise InputError(
                field="party_id",
                message=f"{country_code}*{party_id} is registered already.",
            )
        partner = partner or Partner(country_code=country_code, party_id=party_id)
        partner.name = name or partner.name or f"{country_code}*{party_id}"
        partner.token_encoding = token_encoding
        # The partner fetches our versions with Token B during our POST: it
        # must be known (and committed) before the call.
        partner.status = PartnerStatus.PENDING
        partner.token_a_hash = ""
        partner.token_hash = token_hash(token_b)
        partner.versions_url = versions_url
        partner.save()
    try:
        version = _fetch_version(
            versions_url, token=token_a, encoding=token_encoding, partner=partner
        )
        credentials_url = next(
            (e["url"] for e in version.endpoints if e["identifier"] == "credentials"),
            None,
        )
        if credentials_url is None:
            raise PartnerCallError("The partner's 2.2.1 details have no credentials")
        answer = ocpi_call(
            credentials_url,
            token=token_a,
            method="POST",
            body=our_credentials(token=token_b, url=public_versions_url()),
            encoding=token_encoding,
            partner=partner,
        )
        credentials = credentials_parse(answer.data)
    except OcpiError as error:
        raise InputError(field="versions_url", message=error.message) from None
    except PartnerCallError as error:
        raise InputError(field="versions_url", message=error.message) from None
    return _save_registration(
        partner,
        credentials=credentials,
        version=version,
        incoming_token=token_b,
        action="ocpi.partner.registered",
        detail=f"Registered with the partner at {versions_url}",
        actor=actor,
    )
