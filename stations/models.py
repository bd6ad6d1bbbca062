from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from guardian.models import GroupObjectPermissionBase, UserObjectPermissionBase

from cms.validators import validate_time_zone
from stations.facts import device_variable_key


def max_frame_bytes_validator(value: int) -> None:
    """A charger's frame limit stays under the transport's absolute cap."""
    cap = settings.OCPP_TRANSPORT_MAX_FRAME_BYTES
    if value is not None and value > cap:
        raise ValidationError(
            f"At most {cap} bytes (OCPP_TRANSPORT_MAX_FRAME_BYTES).",
            code="max_value",
        )


currency_validator = RegexValidator(
    r"^[A-Z]{3}$", "Use a three-letter ISO 4217 code, e.g. EUR."
)
country_validator = RegexValidator(
    r"^[A-Z]{2}$", "Use a two-letter ISO 3166 code, e.g. DE."
)
# OCPP 1.6 chargeBoxIdentity is CiString(48); URL-safe printable characters only.
ocpp_id_validator = RegexValidator(
    r"^[^\s/?#]{1,48}$", "1 to 48 characters, without spaces, '/', '?' or '#'."
)


class Network(models.Model):
    """An operator (tenant): the unit of scope for users."""

    name = models.CharField(max_length=120, unique=True)
    currency = models.CharField(
        max_length=3, default="EUR", validators=[currency_validator]
    )
    time_zone = models.CharField(
        max_length=64, default="UTC", validators=[validate_time_zone]
    )
    # The seller named on receipts (EU VAT Directive 2006/112/EC art. 226: the
    # supplier's full name, address and VAT identification number). Defaults in the
    # database too: rows are also inserted by raw SQL (bench/reports.py).
    legal_name = models.CharField(max_length=200, blank=True, default="", db_default="")
    legal_address = models.TextField(blank=True, default="", db_default="")
    vat_id = models.CharField(
        "VAT id", max_length=32, blank=True, default="", db_default=""
    )
    # OCPP 1.6 §7.2 AuthorizationStatus ConcurrentTx (2.0.1 AuthorizationStatusEnumType
    # too): how many sessions one id token may have open at once on this network.
    max_concurrent_sessions_per_token = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text="Sessions one id token may have open at once; a token's own "
        "limit overrides it. Empty = SESSIONS_MAX_CONCURRENT_PER_TOKEN (1); "
        "0 = no limit.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        permissions = [("access_network", "Can access the network (scope grant)")]

    def __str__(self) -> str:
        return self.name


class Station(models.Model):
    """A site: a place with one or more charge points sharing a grid connection."""

    network = models.ForeignKey(
        Network, on_delete=models.PROTECT, related_name="stations"
    )
    name = models.CharField(max_length=120)
    address = models.CharField(max_length=255, blank=True)
    city = models.CharField(max_length=120, blank=True)
    postal_code = models.CharField(max_length=20, blank=True)
    country = models.CharField(
        max_length=2, default="DE", validators=[country_validator]
    )
    region = models.CharField(
        max_length=80, blank=True, help_text="Reporting region (SLA roll-ups)."
    )
    latitude = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[
            MinValueValidator(Decimal("-90")),
            MaxValueValidator(Decimal("90")),
        ],
    )
    longitude = models.DecimalField(
        max_digits=9,
        decimal_places=6,
        null=True,
        blank=True,
        validators=[
            MinValueValidator(Decimal("-180")),
            MaxValueValidator(Decimal("180")),
        ],
    )
    time_zone = models.CharField(
        max_length=64, default="UTC", validators=[validate_time_zone]
    )
    power_limit_kw = models.DecimalField(
        max_digits=9,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text="Site grid limit shared by its charge points (kW).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["network__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["network", "name"], name="station_unique_name_per_network"
            ),
            models.CheckConstraint(
                condition=Q(latitude__isnull=True)
                | Q(latitude__gte=-90, latitude__lte=90),
                name="station_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(longitude__isnull=True)
                | Q(longitude__gte=-180, longitude__lte=180),
                name="station_longitude_range",
            ),
            models.CheckConstraint(
                condition=Q(power_limit_kw__isnull=True) | Q(power_limit_kw__gt=0),
                name="station_power_limit_positive",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class RegistrationStatus(models.TextChoices):
    ACCEPTED = "Accepted", "Accepted"
    PENDING = "Pending", "Pending"
    REJECTED = "Rejected", "Rejected"


class OcppProtocol(models.TextChoices):
    OCPP16 = "ocpp1.6", "OCPP 1.6J"
    OCPP201 = "ocpp2.0.1", "OCPP 2.0.1"


class SecurityProfile(models.IntegerChoices):
    """OCPP security profiles (1.6 Security Whitepaper §2; 2.0.1 Part 2 §A00)."""

    BASIC = 1, "1: Basic auth"
    TLS_BASIC = 2, "2: TLS + Basic auth"
    TLS_CLIENT_CERT = 3, "3: TLS + client certificate"


class ChargePoint(models.Model):
    """A charger, identified by its OCPP charge box identity.

    ``station`` is empty for a charger that connected before anyone registered it
    (the "unassigned" place in the portal).
    """

    ocpp_id = models.CharField(
        "OCPP identity", max_length=48, unique=True, validators=[ocpp_id_validator]
    )
    station = models.ForeignKey(
        Station,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="charge_points",
    )
    display_name = models.CharField(max_length=120, blank=True)
    vendor = models.CharField(max_length=50, blank=True)
    model = models.CharField(max_length=50, blank=True)
    serial_number = models.CharField(max_length=50, blank=True)
    charge_box_serial_number = models.CharField(max_length=50, blank=True)
    firmware_version = models.CharField(max_length=50, blank=True)
    iccid = models.CharField("ICCID", max_length=20, blank=True)
    imsi = models.CharField("IMSI", max_length=20, blank=True)
    meter_type = models.CharField(max_length=25, blank=True)
    meter_serial_number = models.CharField(max_length=25, blank=True)
    ocpp_protocol = models.CharField(
        max_length=16, choices=OcppProtocol.choices, default=OcppProtocol.OCPP16
    )
    # The newest protocol this charger may negotiate: a charger offering several
    # gets the newest of them up to this one (OCPP-J §3.1.2, OCPP 2.0.1 Part 4 §3.1).
    ocpp_protocol_max = models.CharField(
        "newest OCPP protocol allowed",
        max_length=16,
        choices=OcppProtocol.choices,
        default=OcppProtocol.OCPP201,
    )
    registration_status = models.CharField(
        max_length=10,
        choices=RegistrationStatus.choices,
        default=RegistrationStatus.ACCEPTED,
    )
    password_hash = models.CharField(
        max_length=256,
        blank=True,
        help_text="Hashed OCPP basic-auth password; empty = none set.",
    )
    # The least the charger's connection must offer; a weaker one is refused as a
    # downgrade (stations/ocpp/tls.py).
    security_profile = models.PositiveSmallIntegerField(
        choices=SecurityProfile.choices,
        default=SecurityProfile.BASIC,
        db_default=SecurityProfile.BASIC,
        help_text="1: Basic auth (password if one is set); 2: TLS and the password; "
        "3: TLS and a client certificate issued to this charger. A connection "
        "below the profile is refused.",
    )
    heartbeat_interval_s = models.PositiveIntegerField(default=300)
    max_frame_bytes = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1024), max_frame_bytes_validator],
        help_text="Largest OCPP frame accepted from this charger, in bytes; empty = "
        "OCPP_MAX_FRAME_BYTES. Larger frames are answered with a CALLERROR.",
    )
    strict_payloads = models.BooleanField(
        default=False,
        db_default=False,
        help_text="Refuse a whole MeterValues or StopTransaction (FormationViolation) "
        "for one sampledValue of unknown unit or measurand, instead of storing the "
        "others and keeping that one flagged.",
    )
    # Connection state. The database is the source of truth across processes;
    # ``connection_channel`` names the consumer that holds the socket now.
    is_connected = models.BooleanField(default=False)
    is_online = models.BooleanField(
        default=False, help_text="Connected and heard from recently."
    )
    connection_channel = models.CharField(max_length=200, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    disconnected_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_boot_at = models.DateTimeField(null=True, blank=True)
    # Connector 0 (the whole charger) status, OCPP 1.6 §4.9.
    status = models.CharField(max_length=20, blank=True)
    error_code = models.CharField(max_length=30, blank=True)
    status_at = models.DateTimeField(null=True, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    status_info = models.CharField(max_length=50, blank=True)
    # Latest FirmwareStatusNotification / DiagnosticsStatusNotification (§4.4, §4.5).
    firmware_status = models.CharField(max_length=30, blank=True)
    firmware_status_at = models.DateTimeField(null=True, blank=True)
    diagnostics_status = models.CharField(max_length=30, blank=True)
    diagnostics_status_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["ocpp_id"]
        permissions = [
            (
                "manage_unassigned",
                "Can see and assign chargers not yet registered to a station",
            ),
            ("reset_chargepoint", "Can reset a charger"),
            ("unlock_connector", "Can unlock a connector"),
            ("remote_start_stop", "Can start and stop sessions remotely"),
            ("trigger_message", "Can ask a charger to send a message"),
            ("clear_cache", "Can clear a charger's authorization cache"),
            ("configure_chargepoint", "Can read and change charger configuration"),
            ("manage_firmware", "Can update firmware and request diagnostics"),
            ("change_availability", "Can change charger availability"),
            ("manage_reservations", "Can reserve connectors"),
            ("manage_local_list", "Can send local authorization lists"),
            ("manage_charging_profiles", "Can set and clear charging profiles"),
            ("data_transfer", "Can send vendor data transfers"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.ocpp_id

    def set_password(self, raw_password: str | None) -> None:
        self.password_hash = make_password(raw_password) if raw_password else ""

    def check_password(self, raw_password: str) -> bool:
        return bool(self.password_hash) and check_password(
            raw_password, self.password_hash
        )

    @property
    def network_id_or_none(self) -> int | None:
        return self.station.network_id if self.station_id else None  # type: ignore[union-attr]


class DeviceVariable(models.Model):
    """One attribute of a variable of a 2.0.1 charger's device model, as it last reported.

    OCPP 2.0.1 Part 1 §4: a charger is components (with an optional instance and
    EVSE/connector) holding variables (with an optional instance), each with up
    to four attributes (Actual, Target, MinSet, MaxSet) and characteristics.
    ``evse``/``connector`` 0 = the station as a whole.
    """

    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="device_variables"
    )
    component = models.CharField(max_length=50)
    component_instance = models.CharField(max_length=50, blank=True)
    evse = models.PositiveIntegerField(default=0)
    connector = models.PositiveIntegerField(default=0)
    variable = models.CharField(max_length=50)
    variable_instance = models.CharField(max_length=50, blank=True)
    attribute_type = models.CharField(max_length=10, default="Actual")
    value = models.CharField(max_length=2500, blank=True)
    mutability = models.CharField(max_length=10, blank=True)
    data_type = models.CharField(max_length=20, blank=True)
    unit = models.CharField(max_length=16, blank=True)
    values_list = models.CharField(max_length=1000, blank=True)
    reported_at = models.DateTimeField()
    # The charger's answer to the last SetVariables of this attribute (B05).
    last_set_status = models.CharField(max_length=30, blank=True)
    set_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["component", "evse", "connector", "variable", "attribute_type"]
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "charge_point",
                    "component",
                    "component_instance",
                    "evse",
                    "connector",
                    "variable",
                    "variable_instance",
                    "attribute_type",
                ],
                name="device_variable_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.component}.{self.variable} ({self.attribute_type})"

    @property
    def key(self) -> str:
        """The configuration key the portal and API write this variable with."""
        return device_variable_key(
            component=self.component,
            component_instance=self.component_instance,
            evse=self.evse,
            variable=self.variable,
            variable_instance=self.variable_instance,
        )

    @property
    def is_writable(self) -> bool:
        return self.mutability != "ReadOnly"


class ConnectorType(models.TextChoices):
    CCS2 = "CCS2", "CCS2"
    CCS1 = "CCS1", "CCS1"
    CHADEMO = "CHAdeMO", "CHAdeMO"
    TYPE2 = "Type2", "Type 2"
    TYPE1 = "Type1", "Type 1"
    GBT = "GBT", "GB/T"
    NACS = "NACS", "NACS"
    SCHUKO = "Schuko", "Schuko"


class ConnectorStatus(models.TextChoices):
    """OCPP 1.6 ChargePointStatus, plus Offline (derived from the connection)."""

    AVAILABLE = "Available", "Available"
    PREPARING = "Preparing", "Preparing"
    CHARGING = "Charging", "Charging"
    SUSPENDED_EV = "SuspendedEV", "Suspended (EV)"
    SUSPENDED_EVSE = "SuspendedEVSE", "Suspended (EVSE)"
    FINISHING = "Finishing", "Finishing"
    RESERVED = "Reserved", "Reserved"
    UNAVAILABLE = "Unavailable", "Unavailable"
    FAULTED = "Faulted", "Faulted"
    UNKNOWN = "Unknown", "Unknown"


class Connector(models.Model):
    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="connectors"
    )
    connector_id = models.PositiveSmallIntegerField(
        "connector number", validators=[MinValueValidator(1)]
    )
    connector_type = models.CharField(
        max_length=10, choices=ConnectorType.choices, default=ConnectorType.TYPE2
    )
    max_power_kw = models.DecimalField(
        max_digits=7,
        decimal_places=2,
        default=Decimal("22"),
        validators=[MinValueValidator(Decimal("0.01"))],
    )
    status = models.CharField(
        max_length=20, choices=ConnectorStatus.choices, default=ConnectorStatus.UNKNOWN
    )
    error_code = models.CharField(max_length=30, blank=True, default="NoError")
    vendor_error_code = models.CharField(max_length=50, blank=True)
    vendor_id = models.CharField(max_length=255, blank=True)
    info = models.CharField(max_length=50, blank=True)
    status_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="The charger's timestamp of the current status.",
    )
    status_received_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["charge_point__ocpp_id", "connector_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["charge_point", "connector_id"],
                name="connector_unique_number_per_charge_point",
            ),
            models.CheckConstraint(
                condition=Q(connector_id__gte=1), name="connector_number_positive"
            ),
            models.CheckConstraint(
                condition=Q(max_power_kw__gt=0), name="connector_max_power_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.charge_point.ocpp_id} #{self.connector_id}"


def quirk_note_field(max_length: int = 120) -> models.CharField[str, str]:
    """Where a vendor-profile quirk applied to a charger's fact is noted."""
    return models.CharField(
        max_length=max_length,
        blank=True,
        default="",
        db_default="",
        help_text="The vendor-profile quirks that changed how it was read.",
    )


class StatusChange(models.Model):
    """History of connector statuses, ordered by the charger's timestamps.

    ``connector`` is empty for connector 0, the charger as a whole.
    """

    charge_point = models.ForeignKey(
        ChargePoint,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="status_changes",
    )
    connector = models.ForeignKey(
        Connector,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="status_changes",
    )
    status = models.CharField(max_length=20, choices=ConnectorStatus.choices)
    error_code = models.CharField(max_length=30, blank=True)
    vendor_error_code = models.CharField(max_length=50, blank=True)
    info = models.CharField(max_length=50, blank=True)
    at = models.DateTimeField(
        help_text="Charger timestamp (or receive time when absent)."
    )
    received_at = models.DateTimeField()
    is_applied = models.BooleanField(
        default=True, help_text="False when older than the connector's current state."
    )
    quirk = quirk_note_field()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["connector", "at"]),
            models.Index(fields=["charge_point", "at"]),
            # Fault-rate report: the moves into Faulted only (stations.reports.faults).
            models.Index(
                fields=["connector", "at"],
                condition=Q(status="Faulted", is_applied=True),
                name="statuschange_faulted",
            ),
        ]


class ConnectionEvent(models.Model):
    """Connection history of a charger: connects, disconnects, silent-offline sweeps."""

    class Kind(models.TextChoices):
        CONNECTED = "connected", "Connected"
        DISCONNECTED = "disconnected", "Disconnected"
        TAKEN_OVER = "taken_over", "Replaced by a new connection"
        WENT_SILENT = "went_silent", "Offline (silent past heartbeat)"
        BACK_ONLINE = "back_online", "Back online (heard from again)"
        REJECTED = "rejected", "Connection refused"

    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="connection_events"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices)
    at = models.DateTimeField(db_index=True)
    detail = models.CharField(max_length=255, blank=True)
    remote_address = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-at", "-id"]


class ConnectionAttempt(models.Model):
    """Refused WebSocket handshakes, known charger ids or not, counted per window.

    One row per charger id as offered, source address, reason and window
    (``OCPP_CONNECTION_ATTEMPT_WINDOW_MINUTES``): a storm of refusals adds to
    ``count`` and moves ``last_seen_at`` (stations/ocpp/refusals.py buffers them
    and upserts in batches). ``ocpp_id`` is ``*`` for refusals of ids beyond the
    recorder's bound within one flush (many ids from one address).
    """

    class Reason(models.TextChoices):
        UNKNOWN_ID = "unknown_id", "Unknown charger id"
        INVALID_ID = "invalid_id", "Not a valid OCPP identity"
        WRONG_PASSWORD = "wrong_password", "Wrong or missing password"
        AUTH_BACKOFF = "auth_backoff", "Too many failed passwords (back-off)"
        SUBPROTOCOL = "subprotocol", "No supported subprotocol"
        CERTIFICATE = "certificate", "Client certificate refused"
        DOWNGRADE = "downgrade", "Below the charger's security profile"
        ADDRESS_CAP = "address_cap", "Too many unbooted sockets from the address"
        BOOT_DEADLINE = "boot_deadline", "No boot before the deadline"

    ocpp_id = models.CharField(max_length=255)
    remote_address = models.CharField(max_length=64, blank=True)
    reason = models.CharField(max_length=20, choices=Reason.choices)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=1)
    first_seen_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)
    # The latest refusal's own words and the subprotocols it offered.
    detail = models.CharField(max_length=255, blank=True)
    subprotocols = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-last_seen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["ocpp_id", "remote_address", "reason", "window_start"],
                name="connection_attempt_one_row_per_window",
            )
        ]


class OcppMessage(models.Model):
    """Every OCPP-J frame in and out, for the charger's message timeline."""

    class Direction(models.TextChoices):
        IN = "in", "Charger → CMS"
        OUT = "out", "CMS → charger"

    class MessageType(models.IntegerChoices):
        CALL = 2, "CALL"
        CALLRESULT = 3, "CALLRESULT"
        CALLERROR = 4, "CALLERROR"
        INVALID = 0, "Invalid frame"

    charge_point = models.ForeignKey(
        ChargePoint,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="messages",
    )
    ocpp_id = models.CharField(max_length=48, db_index=True)
    direction = models.CharField(max_length=3, choices=Direction.choices)
    message_type = models.PositiveSmallIntegerField(choices=MessageType.choices)
    unique_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64, blank=True, db_index=True)
    payload = models.JSONField(null=True, blank=True)
    raw = models.TextField(
        blank=True, help_text="The frame as received when it was not valid JSON."
    )
    error_code = models.CharField(max_length=40, blank=True)
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["charge_point", "-at"]),
            models.Index(fields=["charge_point", "unique_id"]),
        ]


class DataTransferMessage(models.Model):
    """A vendor-specific DataTransfer a charger sent (OCPP 1.6 §4.3)."""

    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="data_transfers"
    )
    vendor_id = models.CharField(max_length=255)
    message_id = models.CharField(max_length=50, blank=True)
    data = models.TextField(blank=True)
    answer_status = models.CharField(max_length=20)
    received_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-received_at", "-id"]


class CommandStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    ERROR = "error", "Charger error"
    TIMEOUT = "timeout", "Timed out"
    OFFLINE = "offline", "Charger offline"
    OTHER = "other", "Other answer"


class ChargePointCommand(models.Model):
    """One CMS-initiated OCPP call and its outcome (the command audit row)."""

    charge_point = models.ForeignKey(
        ChargePoint, on_delete=models.CASCADE, related_name="commands"
    )
    connector_number = models.PositiveSmallIntegerField(null=True, blank=True)
    action = models.CharField(max_length=40)
    payload = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="charge_point_commands",
    )
    requested_at = models.DateTimeField(db_index=True)
    batch = models.UUIDField(
        null=True, blank=True, db_index=True, help_text="Bulk command correlation."
    )
    status = models.CharField(
        max_length=10,
        choices=CommandStatus.choices,
        default=CommandStatus.PENDING,
        db_index=True,
    )
    sent_at = models.DateTimeField(
        null=True, blank=True, help_text="When a consumer claimed and sent it."
    )
    unique_id = models.CharField(max_length=64, blank=True)
    error_code = models.CharField(max_length=40, blank=True)
    error_description = models.CharField(max_length=255, blank=True)
    response_payload = models.JSONField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["charge_point", "-requested_at"]),
            models.Index(fields=["status", "requested_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.action} → {self.charge_point_id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status != CommandStatus.PENDING

    @property
    def charger_status(self) -> str:
        """The ``status`` field of the charger's answer, when it has one."""
        if isinstance(self.response_payload, dict):
            return str(self.response_payload.get("status", ""))
        return ""


class NetworkUserObjectPermission(UserObjectPermissionBase):
    """Direct-FK guardian table: a user's scope grants on networks."""

    content_object = models.ForeignKey(Network, on_delete=models.CASCADE)


class NetworkGroupObjectPermission(GroupObjectPermissionBase):
    content_object = models.ForeignKey(Network, on_delete=models.CASCADE)


from stations.fleet.models import *  # noqa: E402,F403  (firmware campaigns, tags)
from stations.reliability.models import *  # noqa: E402,F403  (outage records)
from stations.remote.models import *  # noqa: E402,F403  (remote-operation models)
from stations.reports.models import *  # noqa: E402,F403  (report roll-ups)
from stations.security.models import *  # noqa: E402,F403  (certificates, security events, password rotations)
from stations.smart.models import *  # noqa: E402,F403  (smart-charging models)
