"""Roaming partners: the other platforms we speak OCPI 2.2.1 with.

A partner is one OCPI connection (OCPI 2.2.1 credentials: one credentials token
per platform, identifying the platform in every request). A platform may hold
several roles (CPO, EMSP, ...), each with its own country code and party id;
the first one registered is the partner's identity in our portal.
"""

from __future__ import annotations

import hashlib

from django.db import models


def token_hash(token: str) -> str:
    """SHA-256 of a credentials token: tokens we only verify are stored this way.

    Credentials tokens are random strings of at least 256 bits that we issue, so
    an unsalted digest keeps them safe at rest and lets a request find its
    partner by an indexed lookup.
    """
    return hashlib.sha256(token.encode()).hexdigest()


class PartnerStatus(models.TextChoices):
    # Token A issued, waiting for the partner's POST credentials.
    PENDING = "PENDING", "Waiting for registration"
    REGISTERED = "REGISTERED", "Registered"
    UNREGISTERED = "UNREGISTERED", "Unregistered"


class TokenEncoding(models.TextChoices):
    # OCPI 2.2.1 transport_and_format "Authorization header": the token is
    # Base64-encoded; many 2.1.1/2.2 peers send it raw, so this is per partner.
    BASE64 = "BASE64", "Base64 (OCPI 2.2.1)"
    RAW = "RAW", "Raw token (accepted too; sent raw)"


class Partner(models.Model):
    """One OCPI connection with another platform."""

    name = models.CharField(max_length=100)
    country_code = models.CharField(max_length=2)
    party_id = models.CharField(max_length=3)
    status = models.CharField(
        max_length=12, choices=PartnerStatus.choices, default=PartnerStatus.PENDING
    )
    token_encoding = models.CharField(
        max_length=6, choices=TokenEncoding.choices, default=TokenEncoding.BASE64
    )
    # CREDENTIALS_TOKEN_A we issued: valid for versions and credentials only,
    # dead once the handshake is done (OCPI 2.2.1 credentials "Registration").
    token_a_hash = models.CharField(max_length=64, blank=True, db_index=True)
    # The token the partner uses for us after registration (C when they
    # registered with us, B when we registered with them): we only verify it.
    token_hash = models.CharField(max_length=64, blank=True, db_index=True)
    # The token we send to the partner: we need it in clear to send it.
    outgoing_token = models.CharField(max_length=64, blank=True)
    versions_url = models.URLField(max_length=255, blank=True)
    version = models.CharField(max_length=10, blank=True)
    # [{"identifier": "locations", "role": "RECEIVER", "url": ...}, ...]
    endpoints = models.JSONField(default=list, blank=True)
    # The partner's CredentialsRole objects as they sent them.
    roles = models.JSONField(default=list, blank=True)
    registered_at = models.DateTimeField(null=True, blank=True)
    # EVSE statuses received up to here are queued for this partner already.
    evse_pushed_until = models.DateTimeField(null=True, blank=True)
    # Changes of our drivers' tokens up to here are queued for this CPO already.
    tokens_pushed_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["country_code", "party_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["country_code", "party_id"], name="partner_unique_party"
            )
        ]

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id} {self.name}".strip()

    @property
    def is_registered(self) -> bool:
        return self.status == PartnerStatus.REGISTERED

    def endpoint_url(self, identifier: str, role: str) -> str | None:
        """The URL of the partner's module ``identifier`` in interface ``role``."""
        for endpoint in self.endpoints:
            if endpoint.get("identifier") == identifier and (
                identifier == "credentials" or endpoint.get("role") == role
            ):
                return str(endpoint.get("url"))
        return None

    def has_role(self, role: str) -> bool:
        """Whether the partner platform plays ``role`` (a hub stands for its parties).

        A partner's roles decide which of our modules talk to it: our CPO
        modules to an EMSP, our eMSP modules to a CPO (credentials
        "CredentialsRole class").
        """
        return any(
            str(item.get("role", "")) in {role, "HUB"}
            for item in self.roles
            if isinstance(item, dict)
        )

    def has_party(self, country_code: str, party_id: str) -> bool:
        """Whether the partner platform holds a role with this country code and party id."""
        parties = {(self.country_code.upper(), self.party_id.upper())}
        parties.update(
            (
                str(role.get("country_code", "")).upper(),
                str(role.get("party_id", "")).upper(),
            )
            for role in self.roles
        )
        return (country_code.upper(), party_id.upper()) in parties


class LocationPublication(models.Model):
    """What roaming partners see of a network or a station: the operator's choice.

    A station row overrides its network's row; a station with neither is not
    published. ``opening_times`` is an OCPI Hours object (mod_locations "Hours
    class"); without one the location is open around the clock.
    """

    network = models.OneToOneField(
        "stations.Network",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="roaming_publication",
    )
    station = models.OneToOneField(
        "stations.Station",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="roaming_publication",
    )
    is_published = models.BooleanField(default=True)
    opening_times = models.JSONField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [
            ("publish_location", "Can choose what roaming partners see and pay")
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(network__isnull=True, station__isnull=False)
                | models.Q(network__isnull=False, station__isnull=True),
                name="publication_network_xor_station",
            )
        ]

    def __str__(self) -> str:
        target = self.station if self.station_id else self.network
        return f"{target}: {'published' if self.is_published else 'not published'}"


class EvsePublication(models.Model):
    """One EVSE (a connector of ours) withdrawn from, or back in, its Location."""

    connector = models.OneToOneField(
        "stations.Connector",
        on_delete=models.CASCADE,
        related_name="roaming_publication",
    )
    is_published = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"EVSE {self.connector_id}: {'published' if self.is_published else 'withdrawn'}"


class TariffPublication(models.Model):
    """The tariff a partner's drivers pay at a network, as published to that partner.

    OCPI 2.2.1 lets a CPO publish different tariffs to different eMSPs
    (mod_tariffs "Introduction"; mod_locations "Connector object" tariff_ids:
    "can be eMSP specific"). The partner pulls only this tariff for the
    network, every connector names it, and its sessions are rated with it.
    Without a row the partner sees the network's own tariffs.
    """

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="tariff_publications"
    )
    network = models.ForeignKey(
        "stations.Network", on_delete=models.CASCADE, related_name="+"
    )
    tariff = models.ForeignKey(
        "billing.Tariff", on_delete=models.PROTECT, related_name="roaming_publications"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "network"], name="tariff_publication_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.tariff} for {self.partner}"


class TokenType(models.TextChoices):
    # mod_tokens "TokenType enum".
    AD_HOC_USER = "AD_HOC_USER", "Ad hoc user"
    APP_USER = "APP_USER", "App user"
    OTHER = "OTHER", "Other"
    RFID = "RFID", "RFID"


class WhitelistType(models.TextChoices):
    # mod_tokens "WhitelistType enum".
    ALWAYS = "ALWAYS", "Always whitelisted"
    ALLOWED = "ALLOWED", "Whitelisting allowed"
    ALLOWED_OFFLINE = "ALLOWED_OFFLINE", "Real-time, allowed when the eMSP is offline"
    NEVER = "NEVER", "Real-time only"


class PartnerToken(models.Model):
    """A driver token an eMSP pushed to us; kept apart from our own IdTokens."""

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="tokens"
    )
    country_code = models.CharField(max_length=2)
    party_id = models.CharField(max_length=3)
    uid = models.CharField(max_length=36)
    type = models.CharField(max_length=12, choices=TokenType.choices)
    contract_id = models.CharField(max_length=36)
    issuer = models.CharField(max_length=64)
    group_id = models.CharField(max_length=36, blank=True)
    is_valid = models.BooleanField()
    whitelist = models.CharField(max_length=16, choices=WhitelistType.choices)
    # The Token object as last pushed (optional fields included), served on GET.
    data = models.JSONField()
    last_updated = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            # mod_tokens "Token object": uid and type identify a token of an eMSP.
            models.UniqueConstraint(
                fields=["country_code", "party_id", "uid", "type"],
                name="partner_token_unique_uid_type",
            )
        ]
        indexes = [models.Index(fields=["uid"])]

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id} {self.type} {self.uid}"


class RoamingSession(models.Model):
    """A charging session started with a partner's token: the partner it belongs to."""

    session = models.OneToOneField(
        "charging.ChargingSession",
        on_delete=models.CASCADE,
        related_name="roaming",
    )
    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="sessions"
    )
    token = models.ForeignKey(
        PartnerToken, null=True, on_delete=models.SET_NULL, related_name="sessions"
    )
    authorization_reference = models.CharField(max_length=36, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"session {self.session_id} of {self.partner}"


class CommandType(models.TextChoices):
    # mod_commands "CommandType enum".
    CANCEL_RESERVATION = "CANCEL_RESERVATION", "Cancel reservation"
    RESERVE_NOW = "RESERVE_NOW", "Reserve now"
    START_SESSION = "START_SESSION", "Start session"
    STOP_SESSION = "STOP_SESSION", "Stop session"
    UNLOCK_CONNECTOR = "UNLOCK_CONNECTOR", "Unlock connector"


class RoamingCommand(models.Model):
    """A partner's command, the charger command it became, and its CommandResult."""

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="commands"
    )
    type = models.CharField(max_length=20, choices=CommandType.choices)
    response_url = models.URLField(max_length=255)
    request = models.JSONField()
    command = models.ForeignKey(
        "stations.ChargePointCommand",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # RESERVE_NOW / CANCEL_RESERVATION: the partner's reservation id and ours.
    reservation_ref = models.CharField(max_length=36, blank=True)
    reservation = models.ForeignKey(
        "stations.Reservation",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    token_uid = models.CharField(max_length=36, blank=True)
    authorization_reference = models.CharField(max_length=36, blank=True)
    result = models.CharField(max_length=24, blank=True)
    result_delivered_at = models.DateTimeField(null=True, blank=True)
    result_attempts = models.PositiveIntegerField(default=0)
    result_error = models.TextField(blank=True)
    # When a failed CommandResult POST is tried again (null: not waiting).
    result_retry_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["partner", "type", "reservation_ref"])]

    def __str__(self) -> str:
        return f"{self.type} from {self.partner}"


class RoamingPush(models.Model):
    """One call to a partner that carries our change (OCPI push), queued.

    Pushes of one object (``object_key``: an EVSE, a session, a CDR) go out in
    the order they were made; a failed one is retried with back-off and holds
    back the later ones of its object, never those of other objects.
    """

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="pushes"
    )
    object_key = models.CharField(max_length=80)
    method = models.CharField(max_length=6)
    url = models.URLField(max_length=500)
    body = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["pk"]
        indexes = [
            models.Index(
                fields=["partner", "object_key", "delivered_at"],
                name="push_pending_per_object",
            )
        ]

    def __str__(self) -> str:
        return f"{self.method} {self.object_key} to {self.partner}"


class ConnectionStatus(models.TextChoices):
    # mod_hub_client_info "ConnectionStatus enum".
    CONNECTED = "CONNECTED", "Connected"
    OFFLINE = "OFFLINE", "Offline"
    PLANNED = "PLANNED", "Planned"
    SUSPENDED = "SUSPENDED", "Suspended"


class HubClientInfo(models.Model):
    """A party reachable through a hub, and whether it is now (hub's ClientInfo)."""

    hub = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="client_infos"
    )
    country_code = models.CharField(max_length=2)
    party_id = models.CharField(max_length=3)
    role = models.CharField(max_length=5)
    status = models.CharField(max_length=10, choices=ConnectionStatus.choices)
    last_updated = models.DateTimeField()

    class Meta:
        ordering = ["country_code", "party_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["hub", "country_code", "party_id"],
                name="hub_client_info_unique_party",
            )
        ]
        indexes = [models.Index(fields=["country_code", "party_id"])]

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id} {self.role}: {self.status}"


class ProfileRequest(models.TextChoices):
    # mod_charging_profiles Receiver interface methods.
    SET = "SET", "Set (PUT)"
    CLEAR = "CLEAR", "Clear (DELETE)"
    ACTIVE = "ACTIVE", "Active profile (GET)"


class RoamingChargingProfile(models.Model):
    """A partner's charging profile request on one of its sessions, and its result.

    A SET row that is not cleared caps the session in our load manager
    (``roaming.cpo.chargingprofiles.partner_session_caps``).
    """

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="charging_profiles"
    )
    session = models.ForeignKey(
        "charging.ChargingSession", on_delete=models.CASCADE, related_name="+"
    )
    request = models.CharField(max_length=6, choices=ProfileRequest.choices)
    # The ChargingProfile object as sent (SET only).
    profile = models.JSONField(null=True, blank=True)
    response_url = models.URLField(max_length=255)
    # A SET replaced by a later SET or a CLEAR no longer caps the session.
    is_current = models.BooleanField(default=False)
    result = models.CharField(max_length=10, blank=True)
    result_body = models.JSONField(null=True, blank=True)
    result_delivered_at = models.DateTimeField(null=True, blank=True)
    result_attempts = models.PositiveIntegerField(default=0)
    result_error = models.TextField(blank=True)
    result_retry_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["pk"]
        indexes = [
            models.Index(
                fields=["session", "is_current"], name="charging_profile_current"
            )
        ]

    def __str__(self) -> str:
        return f"{self.request} profile of session {self.session_id} by {self.partner}"


class CommandResponseType(models.TextChoices):
    # mod_commands "CommandResponseType enum".
    NOT_SUPPORTED = "NOT_SUPPORTED", "Not supported"
    REJECTED = "REJECTED", "Rejected"
    ACCEPTED = "ACCEPTED", "Accepted"
    UNKNOWN_SESSION = "UNKNOWN_SESSION", "Unknown session"


class CommandResultType(models.TextChoices):
    # mod_commands "CommandResultType enum".
    ACCEPTED = "ACCEPTED", "Accepted"
    CANCELED_RESERVATION = "CANCELED_RESERVATION", "Reservation canceled"
    EVSE_OCCUPIED = "EVSE_OCCUPIED", "EVSE occupied"
    EVSE_INOPERATIVE = "EVSE_INOPERATIVE", "EVSE inoperative"
    FAILED = "FAILED", "Failed"
    NOT_SUPPORTED = "NOT_SUPPORTED", "Not supported"
    REJECTED = "REJECTED", "Rejected"
    TIMEOUT = "TIMEOUT", "Timeout"
    UNKNOWN_RESERVATION = "UNKNOWN_RESERVATION", "Unknown reservation"


class EmspCommand(models.Model):
    """A command we sent to a CPO partner for one of our drivers, and its outcome.

    The CPO answers at once with a CommandResponse (``response``, and the
    seconds to wait for the result, ``timeout_s``), then POSTs the
    CommandResult to our response_url, which names ``reference``
    (mod_commands "Sender Interface"). The partner's location and EVSE are
    addressed by their OCPI ids.
    """

    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="emsp_commands"
    )
    type = models.CharField(max_length=20, choices=CommandType.choices)
    reference = models.CharField(max_length=36, unique=True)
    requested_by = models.ForeignKey(
        "accounts.User",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    id_token = models.ForeignKey(
        "charging.IdToken",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    location_id = models.CharField(max_length=36, blank=True)
    evse_uid = models.CharField(max_length=36, blank=True)
    connector_id = models.CharField(max_length=36, blank=True)
    session_id = models.CharField(max_length=36, blank=True)
    reservation_id = models.CharField(max_length=36, blank=True)
    # The request as POSTed to the CPO.
    request = models.JSONField()
    response = models.CharField(
        max_length=16, choices=CommandResponseType.choices, blank=True
    )
    response_message = models.TextField(blank=True)
    timeout_s = models.PositiveIntegerField(null=True, blank=True)
    # Why the command did not reach the CPO (unreachable, timed out, refused).
    error = models.TextField(blank=True)
    result = models.CharField(
        max_length=20, choices=CommandResultType.choices, blank=True
    )
    result_message = models.TextField(blank=True)
    result_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-pk"]
        indexes = [
            models.Index(fields=["result", "response"], name="emsp_command_waiting")
        ]

    def __str__(self) -> str:
        return f"{self.type} to {self.partner}"


class PartnerSession(models.Model):
    """A CPO partner's session of one of our drivers, as it pushes it (mod_sessions).

    The Session object is kept as sent (``data``); the figures a driver and
    finance look at are read out of it: energy in Wh, the live cost in the
    session's currency.
    """

    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="partner_sessions"
    )
    country_code = models.CharField(max_length=2)
    party_id = models.CharField(max_length=3)
    session_id = models.CharField(max_length=36)
    status = models.CharField(max_length=12)
    id_token = models.ForeignKey(
        "charging.IdToken",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    token_uid = models.CharField(max_length=36)
    authorization_reference = models.CharField(max_length=36, blank=True)
    location_id = models.CharField(max_length=36)
    evse_uid = models.CharField(max_length=36)
    connector_id = models.CharField(max_length=36)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    energy_wh = models.PositiveBigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    cost_excl_vat = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True
    )
    cost_incl_vat = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True
    )
    data = models.JSONField()
    last_updated = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["country_code", "party_id", "session_id"],
                name="partner_session_unique_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id} session {self.session_id}"


class PartnerCdr(models.Model):
    """A CPO partner's CDR of one of our drivers (mod_cdrs), and the driver's charge.

    The driver pays the CDR's total cost in its currency, plus our uplift
    (``OCPI_EMSP_UPLIFT_PERCENT``) as a line of its own; a CDR that does not
    match the session pushes beyond the tolerances is ``disputed``.
    """

    partner = models.ForeignKey(
        Partner, on_delete=models.PROTECT, related_name="partner_cdrs"
    )
    country_code = models.CharField(max_length=2)
    party_id = models.CharField(max_length=3)
    cdr_id = models.CharField(max_length=39)
    # The Session.id the CDR names (mod_cdrs "CDR object" session_id).
    ocpi_session_id = models.CharField(max_length=36, blank=True)
    partner_session = models.ForeignKey(
        PartnerSession,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cdrs",
    )
    id_token = models.ForeignKey(
        "charging.IdToken",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    token_uid = models.CharField(max_length=36)
    location_id = models.CharField(max_length=36)
    evse_uid = models.CharField(max_length=36)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField()
    energy_wh = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    cost_excl_vat = models.DecimalField(max_digits=12, decimal_places=4)
    cost_incl_vat = models.DecimalField(max_digits=12, decimal_places=4)
    uplift = models.DecimalField(max_digits=12, decimal_places=2)
    disputed = models.BooleanField(default=False)
    dispute_reason = models.TextField(blank=True)
    data = models.JSONField()
    last_updated = models.DateTimeField()
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-ended_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["country_code", "party_id", "cdr_id"],
                name="partner_cdr_unique_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id} CDR {self.cdr_id}"

    @property
    def driver_total(self) -> object:
        """What the driver pays: the CPO's total incl. VAT plus our uplift."""
        return self.cost_incl_vat.quantize(self.uplift) + self.uplift


# --- eMSP side: what partner CPOs publish to us --------------------------------------


class PartnerLocation(models.Model):
    """A partner CPO's Location as pushed or pulled (mod_locations "Location object").

    ``data`` is the object as received without its EVSEs (they are rows of their
    own); the columns are the fields we query. ``notes`` lists what was odd but
    usable (an unknown time zone, a connector standard we do not know, ...).
    """

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="partner_locations"
    )
    country_code = models.CharField(max_length=2)
    party_id = models.CharField(max_length=3)
    location_id = models.CharField(max_length=36)
    name = models.CharField(max_length=255, blank=True)
    address = models.CharField(max_length=45)
    city = models.CharField(max_length=45)
    postal_code = models.CharField(max_length=10, blank=True)
    country = models.CharField(max_length=3)
    latitude = models.DecimalField(max_digits=9, decimal_places=6, db_index=True)
    longitude = models.DecimalField(max_digits=9, decimal_places=6)
    time_zone = models.CharField(max_length=255)
    operator_name = models.CharField(max_length=100, blank=True)
    publish = models.BooleanField(default=True)
    data = models.JSONField()
    notes = models.JSONField(default=list, blank=True)
    last_updated = models.DateTimeField()
    received_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["country_code", "party_id", "location_id"]
        permissions = [
            ("view_partner_location", "Can see partner CPOs' locations and tariffs")
        ]
        constraints = [
            # mod_locations "Location object": id is unique per CPO party.
            models.UniqueConstraint(
                fields=["country_code", "party_id", "location_id"],
                name="partner_location_unique_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id} {self.location_id} {self.name}"


class PartnerEvse(models.Model):
    """An EVSE of a partner Location; a REMOVED one is kept with that status."""

    location = models.ForeignKey(
        PartnerLocation, on_delete=models.CASCADE, related_name="evses"
    )
    uid = models.CharField(max_length=36)
    evse_id = models.CharField(max_length=48, blank=True)
    # mod_locations "Status enum": the live status the CPO pushes.
    status = models.CharField(max_length=12)
    data = models.JSONField()
    notes = models.JSONField(default=list, blank=True)
    last_updated = models.DateTimeField()

    class Meta:
        ordering = ["location", "uid"]
        constraints = [
            models.UniqueConstraint(
                fields=["location", "uid"], name="partner_evse_unique_uid"
            )
        ]

    def __str__(self) -> str:
        return f"{self.evse_id or self.uid}: {self.status}"


class PartnerConnector(models.Model):
    """A Connector of a partner EVSE (mod_locations "Connector object")."""

    evse = models.ForeignKey(
        PartnerEvse, on_delete=models.CASCADE, related_name="connectors"
    )
    connector_id = models.CharField(max_length=36)
    standard = models.CharField(max_length=40)
    format = models.CharField(max_length=6)
    power_type = models.CharField(max_length=20)
    max_voltage = models.PositiveIntegerField()
    max_amperage = models.PositiveIntegerField()
    # max_electric_power when given, else voltage x amperage (x 3 phases).
    max_power_kw = models.DecimalField(max_digits=8, decimal_places=2)
    tariff_ids = models.JSONField(default=list, blank=True)
    data = models.JSONField()
    last_updated = models.DateTimeField()

    class Meta:
        ordering = ["evse", "connector_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["evse", "connector_id"], name="partner_connector_unique_id"
            )
        ]

    def __str__(self) -> str:
        return f"{self.connector_id} {self.standard} {self.max_power_kw} kW"


class PartnerTariff(models.Model):
    """A partner CPO's Tariff as pushed or pulled (mod_tariffs "Tariff object")."""

    partner = models.ForeignKey(
        Partner, on_delete=models.CASCADE, related_name="partner_tariffs"
    )
    country_code = models.CharField(max_length=2)
    party_id = models.CharField(max_length=3)
    tariff_id = models.CharField(max_length=36)
    currency = models.CharField(max_length=3)
    data = models.JSONField()
    notes = models.JSONField(default=list, blank=True)
    last_updated = models.DateTimeField()
    received_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["country_code", "party_id", "tariff_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["country_code", "party_id", "tariff_id"],
                name="partner_tariff_unique_id",
            )
        ]

    def __str__(self) -> str:
        return f"{self.country_code}*{self.party_id} tariff {self.tariff_id}"


class PartnerSync(models.Model):
    """How pulling one module from a partner's Sender goes (sync health)."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="syncs")
    module = models.CharField(max_length=20)
    # Start of the last pull that completed: the next one asks date_from it.
    synced_from = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # The last completed pull: objects received, stored, refused as invalid.
    objects_received = models.PositiveIntegerField(default=0)
    objects_stored = models.PositiveIntegerField(default=0)
    objects_rejected = models.PositiveIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["partner", "module"]
        constraints = [
            models.UniqueConstraint(
                fields=["partner", "module"], name="partner_sync_unique_module"
            )
        ]

    def __str__(self) -> str:
        return f"{self.module} from {self.partner}"
