"""Settings for the charging management system, read from the environment.

With nothing set the product runs embedded: SQLite in ``var/``, an in-memory
channel layer, Celery tasks run eagerly and periodic jobs by an in-process
scheduler. ``DATABASE_URL`` and ``REDIS_URL`` switch to the distributed layout.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from cms.env import (
    EMBEDDED_ENV_FILE_NAME,
    embedded_env_apply,
    env_bool,
    env_choice,
    env_float,
    env_int,
    env_list,
    env_secret,
    env_str,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("CMS_VAR_DIR", str(BASE_DIR / "var")) or BASE_DIR / "var")
# `manage.py import_id_tokens ...` beside a running `make run`: with none of DEBUG,
# DEMO_MODE, SECRET_KEY or DATABASE_URL set, the embedded run's values apply.
EMBEDDED_ENV_APPLIED = embedded_env_apply(VAR_DIR / EMBEDDED_ENV_FILE_NAME)

DEBUG = env_bool("DEBUG", False)
DEMO_MODE = env_bool("DEMO_MODE", False)

_INSECURE_DEV_KEY = (
    "insecure-development-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz"
)
SECRET_KEY = env_secret("SECRET_KEY") or ""
if not SECRET_KEY:
    if DEBUG or DEMO_MODE:
        SECRET_KEY = _INSECURE_DEV_KEY
    else:
        raise ImproperlyConfigured(
            "SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is off"
        )

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",
    "guardian",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "template_partials",
    "cms",
    "accounts",
    "stations",
    "sessions_app",
    "billing",
    "alerts",
    "roaming",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy, Permissions-Policy (cms/security.py).
    "cms.security.SecurityHeadersMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "accounts.middleware.UserLanguageMiddleware",
    "accounts.middleware.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.twofactor_views.TwoFactorRequiredMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "cms.urls"
ASGI_APPLICATION = "cms.asgi.application"
# A stopping ASGI process (SIGTERM: a rolling restart) closes its sockets, lets
# their handlers finish, and cancels whatever still runs after this many seconds.
ASGI_SHUTDOWN_TIMEOUT_S = env_int("ASGI_SHUTDOWN_TIMEOUT_S", 20, minimum=1)
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.navigation",
                "accounts.context_processors.time_zone",
                "alerts.context_processors.alert_badge",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
CONN_MAX_AGE = env_int("CONN_MAX_AGE", 600, minimum=0)
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL, conn_max_age=CONN_MAX_AGE, conn_health_checks=True
        )
    }
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "cms.sqlite3"),
            # Many OCPP handlers write concurrently from the ORM thread and Celery's
            # eager tasks; WAL lets readers go on while one writer commits.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
            "CONN_MAX_AGE": CONN_MAX_AGE,
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis, channel layer, cache, Celery -------------------------------------
REDIS_URL = env_str("REDIS_URL")
CHANNEL_LAYER_POOL_SIZE = env_int("CHANNEL_LAYER_POOL_SIZE", 1000, minimum=10)
# Must exceed channels-redis' 5 s blocking receive (see CHANNEL_LAYERS).
CHANNEL_LAYER_SOCKET_TIMEOUT = env_float("CHANNEL_LAYER_SOCKET_TIMEOUT", 30.0)
if REDIS_URL:
    CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                # redis-py 8 times a read out after 5 s by default: exactly the
                # 5 s BZPOPMIN of the layer's receive, so an idle receive raised
                # "Timeout reading" and a message popped at that instant was lost
                # (a command never reaching its charger). Reads wait longer here.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "max_connections": CHANNEL_LAYER_POOL_SIZE,
                        "socket_timeout": CHANNEL_LAYER_SOCKET_TIMEOUT,
                    }
                ],
                "capacity": 1500,
                "expiry": 30,
                "group_expiry": 86400,
            },
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL) or "memory://localhost/"
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = env_bool("CELERY_TASK_EAGER_PROPAGATES", False)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 300, minimum=1)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 240, minimum=1)
CELERY_TASK_ACKS_LATE = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 4
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
# In embedded mode these run in-process (cms.scheduler); with Redis, Celery beat runs them.
PERIODIC_TASKS: dict[str, dict[str, object]] = {
    "billing-sweep": {
        "task": "billing.tasks.billing_sweep_task",
        "every_seconds": env_int("BILLING_SWEEP_SECONDS", 60, minimum=5),
    },
    "charge-points-offline-sweep": {
        "task": "stations.tasks.charge_points_offline_sweep_task",
        "every_seconds": env_int("OFFLINE_SWEEP_SECONDS", 15, minimum=1),
    },
    "ocpp-message-log-retention": {
        "task": "stations.tasks.ocpp_messages_purge_task",
        "every_seconds": 3600,
    },
    "connection-attempt-retention": {
        "task": "stations.tasks.connection_attempts_purge_task",
        "every_seconds": 3600,
    },
    "alerts-sweep": {
        "task": "alerts.tasks.alerts_sweep_task",
        "every_seconds": env_int("ALERT_SWEEP_SECONDS", 30, minimum=5),
    },
    "alerts-uptime-sweep": {
        # Ports trending below the uptime target this month (alerts.services).
        "task": "alerts.tasks.alerts_uptime_sweep_task",
        "every_seconds": env_int("ALERT_UPTIME_SWEEP_SECONDS", 300, minimum=30),
    },
    "alerts-escalation-sweep": {
        "task": "alerts.tasks.alerts_escalation_sweep_task",
        "every_seconds": env_int("ALERT_ESCALATION_SWEEP_SECONDS", 60, minimum=5),
    },
}
PERIODIC_TASKS["remote-operations-sweep"] = {
    # Command results, remote start handles, reservations, firmware progress and
    # configuration reads after boot (stations.remote.services).
    "task": "stations.remote.tasks.remote_operations_sweep_task",
    "every_seconds": env_int("REMOTE_OPERATIONS_SWEEP_SECONDS", 2, minimum=1),
}
PERIODIC_TASKS["fleet-sweep"] = {
    # Firmware campaigns: follow sent updates, send the next ones
    # (stations.fleet.services); declared configuration: converge, re-read
    # (stations.fleet.configuration).
    "task": "stations.fleet.tasks.fleet_sweep_task",
    "every_seconds": env_int("FLEET_SWEEP_SECONDS", 5, minimum=1),
}
DESIRED_CONFIGURATION_READ_SECONDS = env_int(
    "DESIRED_CONFIGURATION_READ_SECONDS", 3600, minimum=60
)
DESIRED_CONFIGURATION_REVERT_ALERT = env_int(
    "DESIRED_CONFIGURATION_REVERT_ALERT", 2, minimum=1
)
# A process keeps a charger model's resolved vendor profile this long
# (stations.fleet.profiles); an edit takes at most this long to reach others.
VENDOR_PROFILE_CACHE_SECONDS = env_int("VENDOR_PROFILE_CACHE_SECONDS", 60, minimum=0)
# Quirks seen in traffic are counted in memory and written at most this often,
# with the group commit (stations.fleet.quirkcounts).
QUIRK_COUNT_FLUSH_SECONDS = env_int("QUIRK_COUNT_FLUSH_SECONDS", 30, minimum=0)
PERIODIC_TASKS["smart-charging-sweep"] = {
    # Re-plan load-managed sites: signals expiring, schedules, retries, EVs drawing
    # less than allocated (stations.smart.services).
    "task": "stations.smart.tasks.smart_charging_sweep_task",
    "every_seconds": env_int("SMART_CHARGING_SWEEP_SECONDS", 10, minimum=1),
}
PERIODIC_TASKS["smart-charging-history-purge"] = {
    "task": "stations.smart.tasks.allocation_history_purge_task",
    "every_seconds": 3600,
}
SMART_CHARGING_HISTORY_DAYS = env_int("SMART_CHARGING_HISTORY_DAYS", 7, minimum=1)
PERIODIC_TASKS["report-rollups"] = {
    # Hourly per-connector roll-ups behind the reports (stations.reports.tasks).
    "task": "stations.reports.tasks.report_rollups_update_task",
    "every_seconds": env_int("REPORT_ROLLUP_SECONDS", 300, minimum=30),
}
PERIODIC_TASKS["outage-records"] = {
    # Outage records per port from the status and connection history
    # (stations.reliability.outages); each run rewrites the lookback window.
    "task": "stations.reliability.tasks.outages_refresh_task",
    "every_seconds": env_int("OUTAGE_REFRESH_SECONDS", 300, minimum=30),
}
OUTAGE_REFRESH_LOOKBACK_HOURS = env_int("OUTAGE_REFRESH_LOOKBACK_HOURS", 48, minimum=1)
REPORT_ROLLUP_BACKFILL_DAYS = env_int("REPORT_ROLLUP_BACKFILL_DAYS", 400, minimum=1)
PERIODIC_TASKS["meter-value-retention"] = {
    # Raw meter values past METER_VALUE_RETENTION_DAYS (stations.reports.tasks).
    "task": "stations.reports.tasks.meter_values_purge_task",
    "every_seconds": 3600,
}
# Sessions left open after their connector went Available (sessions_app.services).
PERIODIC_TASKS["zombie-sessions-sweep"] = {
    "task": "sessions_app.tasks.zombie_sessions_sweep_task",
    "every_seconds": env_int("ZOMBIE_SESSION_SWEEP_SECONDS", 60, minimum=5),
}
ZOMBIE_SESSION_CLOSE_MINUTES = env_int("ZOMBIE_SESSION_CLOSE_MINUTES", 15, minimum=1)
# The running cost told to 2.0.1 stations during a session (sessions_app.costs).
PERIODIC_TASKS["session-cost-updates"] = {
    "task": "sessions_app.tasks.session_cost_updates_sweep_task",
    "every_seconds": env_int("COST_UPDATED_SECONDS", 60, minimum=10),
}
COST_UPDATED_BATCH = env_int("COST_UPDATED_BATCH", 500, minimum=1)
# The outbox relay (cms.outbox): nudged after each commit that wrote outbox rows;
# this period is the safety net for a nudge lost in a crash.
PERIODIC_TASKS["outbox-relay"] = {
    "task": "cms.tasks.outbox_relay_task",
    "every_seconds": env_int("OUTBOX_RELAY_SECONDS", 10, minimum=1),
}
PERIODIC_TASKS["outbox-purge"] = {
    "task": "cms.tasks.outbox_purge_task",
    "every_seconds": 3600,
}
OUTBOX_RETENTION_HOURS = env_int("OUTBOX_RETENTION_HOURS", 72, minimum=1)
OUTBOX_MAX_ATTEMPTS = env_int("OUTBOX_MAX_ATTEMPTS", 20, minimum=1)
# The canonical event stream (cms.streams, docs/event-stream.md): the kinds relayed
# from the outbox to Redis Streams (status, meter_values, transactions, alerts; none
# by default: each kind adds an outbox row to its events), bounded per stream.
EVENT_STREAM_KINDS = env_str("EVENT_STREAM_KINDS", "") or ""
EVENT_STREAM_REDIS_URL = env_str("EVENT_STREAM_REDIS_URL", REDIS_URL) or ""
EVENT_STREAM_PREFIX = env_str("EVENT_STREAM_PREFIX", "cms.events.") or "cms.events."
EVENT_STREAM_MAXLEN = env_int("EVENT_STREAM_MAXLEN", 1_000_000, minimum=1)
EVENT_STREAM_RETENTION_HOURS = env_int("EVENT_STREAM_RETENTION_HOURS", 72, minimum=0)
EVENT_STREAM_ID_TAG = env_str("EVENT_STREAM_ID_TAG", "pseudonym") or "pseudonym"
if EVENT_STREAM_ID_TAG not in {"pseudonym", "clear", "omit"}:
    raise ImproperlyConfigured(
        "EVENT_STREAM_ID_TAG must be pseudonym, clear or omit, "
        f"not {EVENT_STREAM_ID_TAG!r}"
    )
EMBEDDED_SCHEDULER = env_bool("EMBEDDED_SCHEDULER", not REDIS_URL)

# --- Alerts -------------------------------------------------------------------
# Base URL put in front of portal links in alert emails and webhooks.
ALERT_PORTAL_BASE_URL = env_str("ALERT_PORTAL_BASE_URL", "") or ""
ALERT_WEBHOOK_TIMEOUT_SECONDS = env_float("ALERT_WEBHOOK_TIMEOUT_SECONDS", 10.0)
ALERT_WEBHOOK_MAX_ATTEMPTS = env_int("ALERT_WEBHOOK_MAX_ATTEMPTS", 6, minimum=1)
ALERT_WEBHOOK_BACKOFF_SECONDS = env_int("ALERT_WEBHOOK_BACKOFF_SECONDS", 10, minimum=1)
ALERT_WEBHOOK_BACKOFF_MAX_SECONDS = env_int(
    "ALERT_WEBHOOK_BACKOFF_MAX_SECONDS", 3600, minimum=1
)

# --- Roaming (OCPI 2.2.1) --------------------------------------------------------
# Our party on the OCPI networks (CredentialsRole: ISO-3166 alpha-2 country code
# and a 3-character party id) and the public base URL partners reach us at.
OCPI_COUNTRY_CODE = (env_str("OCPI_COUNTRY_CODE", "NL") or "NL").upper()
OCPI_PARTY_ID = (env_str("OCPI_PARTY_ID", "CMS") or "CMS").upper()
OCPI_BUSINESS_NAME = env_str("OCPI_BUSINESS_NAME", "CMS") or "CMS"
# Default: this machine at the port `manage.py serve` listens on (PORT, and https
# when it terminates TLS), so `PORT=9000 make run` tells partners port 9000.
_OCPI_LOCAL_BASE_URL = "{}://127.0.0.1:{}".format(
    "https" if env_bool("TLS", False) else "http", env_int("PORT", 8000, minimum=1)
)
OCPI_BASE_URL = (env_str("OCPI_BASE_URL", _OCPI_LOCAL_BASE_URL) or "").rstrip("/")
OCPI_TIMEOUT_SECONDS = env_float("OCPI_TIMEOUT_SECONDS", 10.0)
OCPI_PAGE_LIMIT = env_int("OCPI_PAGE_LIMIT", 100, minimum=1)
OCPI_PUSH_MAX_ATTEMPTS = env_int("OCPI_PUSH_MAX_ATTEMPTS", 8, minimum=1)
# Pushes to a partner failing this long raise an alert.
OCPI_PUSH_ALERT_MINUTES = env_int("OCPI_PUSH_ALERT_MINUTES", 30, minimum=1)
PERIODIC_TASKS["roaming-retry-sweep"] = {
    # Partner calls that failed and are due again (roaming.tasks).
    "task": "roaming.tasks.roaming_retry_sweep_task",
    "every_seconds": env_int("OCPI_RETRY_SWEEP_SECONDS", 5, minimum=1),
}
# eMSP side: our uplift on partners' CDRs (percent of their total incl. VAT,
# shown to the driver as its own line) and how far a CDR may differ from the
# session pushes before it is flagged as disputed.
OCPI_EMSP_UPLIFT_PERCENT = env_float("OCPI_EMSP_UPLIFT_PERCENT", 0.0)
OCPI_CDR_TOLERANCE_KWH = env_float("OCPI_CDR_TOLERANCE_KWH", 0.1)
OCPI_CDR_TOLERANCE_COST = env_float("OCPI_CDR_TOLERANCE_COST", 0.10)
OCPI_CDR_TOLERANCE_MINUTES = env_int("OCPI_CDR_TOLERANCE_MINUTES", 15, minimum=0)
# eMSP side: partner CPOs' Locations and Tariffs pulled (roaming.emsp.sync); the
# first pull reads all, later ones what changed since the last complete one.
OCPI_PULL_PAGE_LIMIT = env_int("OCPI_PULL_PAGE_LIMIT", 100, minimum=1)
PERIODIC_TASKS["roaming-pull-sync"] = {
    "task": "roaming.tasks.roaming_pull_sync_task",
    "every_seconds": env_int("OCPI_PULL_SYNC_SECONDS", 900, minimum=1),
}
# A charger waits for a real-time authorization: keep it well inside its timeout.
OCPI_AUTHORIZE_TIMEOUT_SECONDS = env_float("OCPI_AUTHORIZE_TIMEOUT_SECONDS", 5.0)
if len(OCPI_COUNTRY_CODE) != 2 or not 1 <= len(OCPI_PARTY_ID) <= 3:
    raise ImproperlyConfigured(
        "OCPI_COUNTRY_CODE must have 2 characters and OCPI_PARTY_ID 1 to 3"
    )

# --- Auth ---------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "stations:overview"
LOGOUT_REDIRECT_URL = "accounts:login"
ANONYMOUS_USER_NAME = None  # guardian: no anonymous object permissions
GUARDIAN_RAISE_403 = False
# Portal log-in throttling (accounts/throttle.py): failures counted per account and
# per source address over the window; at the limit, log-in there is locked.
LOGIN_FAILURES_PER_USER = env_int("LOGIN_FAILURES_PER_USER", 5, minimum=1)
LOGIN_FAILURES_PER_ADDRESS = env_int("LOGIN_FAILURES_PER_ADDRESS", 20, minimum=1)
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900, minimum=1)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900, minimum=1)
# Two-factor log-in (TOTP, accounts/twofactor.py): optional for everyone, required
# for these roles (e.g. "Administrator"; superusers count as administrators).
TWO_FACTOR_REQUIRED_ROLES = env_list("TWO_FACTOR_REQUIRED_ROLES", [])
TWO_FACTOR_ISSUER = env_str("TWO_FACTOR_ISSUER", "CMS") or "CMS"
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# --- I18N / time ----------------------------------------------------------------
# The portal speaks the languages below (catalogues in locale/, compiled .mo files
# shipped); a user's own choice (preferences) wins over the browser's
# Accept-Language (accounts.middleware.UserLanguageMiddleware). Dates and numbers
# follow the language: cms/formats/<language>/formats.py.
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
FORMAT_MODULE_PATH = ["cms.formats"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static -------------------------------------------------------------------
STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Files come from the finders until `collectstatic` fills STATIC_ROOT (production);
# the directory must exist for WhiteNoise either way.
with contextlib.suppress(OSError):
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)

# --- Security (production) ------------------------------------------------------
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG and not DEMO_MODE)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG and not DEMO_MODE)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
)
SILENCED_SYSTEM_CHECKS = env_list("SILENCED_SYSTEM_CHECKS", [])
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# --- Email --------------------------------------------------------------------
EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if (DEBUG or DEMO_MODE)
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "") or ""
EMAIL_HOST_PASSWORD = env_secret("EMAIL_HOST_PASSWORD", "") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "cms@localhost")

# --- REST framework ---------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Charging management system API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
}
# REST API v1 (cms/api.py): one error body shape, rate limits on the driver app's
# endpoints, and the docs page served from vendored assets (no CDN).
REST_FRAMEWORK["EXCEPTION_HANDLER"] = "cms.api.api_exception_handler"
# JSON bodies: at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes (413) and this deep (400).
REST_FRAMEWORK["DEFAULT_PARSER_CLASSES"] = [
    "cms.parsers.JSONParser",
    "rest_framework.parsers.FormParser",
    "rest_framework.parsers.MultiPartParser",
]
API_JSON_MAX_DEPTH = env_int("API_JSON_MAX_DEPTH", 32, minimum=2)
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "driver": env_str("API_DRIVER_RATE", "120/min"),
    "driver_start": env_str("API_DRIVER_START_RATE", "10/min"),
}
INSTALLED_APPS.append("drf_spectacular_sidecar")
SPECTACULAR_SETTINGS.update(
    {
        "DESCRIPTION": (
            "Driver app and partner integration API. Authenticate with "
            "`Authorization: Token <key>` (tokens are issued by administrators in "
            "the portal or with `manage.py create_api_token`). Errors are "
            '`{"errors": [{"field": ..., "message": ...}]}`.'
        ),
        # The schema and docs are public so partners can integrate from them.
        "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
        "COMPONENT_SPLIT_REQUEST": True,
        "ENUM_NAME_OVERRIDES": {
            "SessionStatusEnum": "sessions_app.models.SessionStatus",
            "TokenStatusEnum": "sessions_app.models.TokenStatus",
            "CommandStatusEnum": "stations.models.CommandStatus",
            "RegistrationStatusEnum": "stations.models.RegistrationStatus",
            "ConnectorStatusEnum": "stations.models.ConnectorStatus",
            "AlertStatusEnum": "alerts.models.AlertStatus",
            "RemoteStartStatusEnum": "stations.remote.models.RemoteStartStatus",
        },
    }
)

# --- OCPP ---------------------------------------------------------------------
OCPP_UNKNOWN_CHARGERS = env_choice(
    "OCPP_UNKNOWN_CHARGERS",
    "accept" if DEMO_MODE else "reject",
    ("reject", "pending", "accept"),
)
# Charger Basic-auth checks (stations/ocpp/auth.py): hashing threads of their own;
# after this many failures per charger id / source address, handshakes there are
# refused without hashing for a back-off that doubles per further failure.
OCPP_PASSWORD_CHECK_WORKERS = env_int("OCPP_PASSWORD_CHECK_WORKERS", 2, minimum=1)
OCPP_AUTH_FAILURES_PER_ID = env_int("OCPP_AUTH_FAILURES_PER_ID", 5, minimum=1)
OCPP_AUTH_FAILURES_PER_ADDRESS = env_int(
    "OCPP_AUTH_FAILURES_PER_ADDRESS", 20, minimum=1
)
OCPP_AUTH_BACKOFF_SECONDS = env_float("OCPP_AUTH_BACKOFF_SECONDS", 5.0)
OCPP_AUTH_BACKOFF_MAX_SECONDS = env_float("OCPP_AUTH_BACKOFF_MAX_SECONDS", 300.0)
OCPP_HEARTBEAT_INTERVAL = env_int("OCPP_HEARTBEAT_INTERVAL", 300, minimum=10)
OCPP_OFFLINE_GRACE_SECONDS = env_int("OCPP_OFFLINE_GRACE_SECONDS", 60, minimum=0)
OCPP_COMMAND_TIMEOUT = env_float("OCPP_COMMAND_TIMEOUT", 30.0)
# Sockets of chargers never accepted before must have a BootNotification answered
# (Accepted/Pending) this many seconds after connecting, or they are closed; at
# most OCPP_UNBOOTED_PER_ADDRESS such sockets per source address and process
# (stations/ocpp/bootdeadline.py).
OCPP_BOOT_DEADLINE_S = env_float("OCPP_BOOT_DEADLINE_S", 60.0)
OCPP_UNBOOTED_PER_ADDRESS = env_int("OCPP_UNBOOTED_PER_ADDRESS", 100, minimum=1)
# A charger CALL answered later than this is counted and logged as late (the
# charger has likely given up and will resend; stations/ocpp/runtime.py LateCalls).
OCPP_CALL_LATE_SECONDS = env_float("OCPP_CALL_LATE_SECONDS", 30.0)
# Database threads per process for chargers' session messages (PostgreSQL;
# stations/ocpp/runtime.py charger_service): a charger's work always on the
# same one, different chargers' work on several connections at once. 1 = all
# on the ORM thread, as SQLite always does.
OCPP_DB_WORKERS = env_int("OCPP_DB_WORKERS", 4, minimum=1)
# The largest frame a charger may send (a charge point's max_frame_bytes overrides
# it); a larger one is answered with a CALLERROR GenericError, the socket stays up.
# 1 MiB holds an offline queue's replay (a 400-sample MeterValues is ~123 KB),
# vendor DataTransfer and large GetConfiguration answers.
OCPP_MAX_FRAME_BYTES = env_int("OCPP_MAX_FRAME_BYTES", 1024 * 1024, minimum=1024)
# The WebSocket server's absolute cap (uvicorn --ws-max-size in manage.py serve):
# a frame above it closes the socket (1009) before the gateway sees it, so it must
# exceed every limit above (system check cms.E001).
OCPP_TRANSPORT_MAX_FRAME_BYTES = env_int(
    "OCPP_TRANSPORT_MAX_FRAME_BYTES", 16 * 1024 * 1024, minimum=1024
)
# Connectors a charger may report while its NumberOfConnectors is not yet read
# (configuration is read after boot); higher numbers are quarantined, not created.
OCPP_MAX_CONNECTORS = env_int("OCPP_MAX_CONNECTORS", 10, minimum=1)
OCPP_MESSAGE_LOG_RETENTION_DAYS = env_int(
    "OCPP_MESSAGE_LOG_RETENTION_DAYS", 30, minimum=1
)
# Refused handshakes (stations/ocpp/refusals.py): counted in memory, written
# this long after the first refusal since the last write, one row per charger id,
# address and reason per window, kept this many days.
OCPP_CONNECTION_ATTEMPT_FLUSH_SECONDS = env_float(
    "OCPP_CONNECTION_ATTEMPT_FLUSH_SECONDS", 2.0
)
OCPP_CONNECTION_ATTEMPT_WINDOW_MINUTES = env_int(
    "OCPP_CONNECTION_ATTEMPT_WINDOW_MINUTES", 60, minimum=1
)
OCPP_CONNECTION_ATTEMPT_RETENTION_DAYS = env_int(
    "OCPP_CONNECTION_ATTEMPT_RETENTION_DAYS", 30, minimum=1
)
# Sessions one id token may have open at once where neither the token nor its
# network says (OCPP 1.6 ConcurrentTx); 0 = no limit.
SESSIONS_MAX_CONCURRENT_PER_TOKEN = env_int(
    "SESSIONS_MAX_CONCURRENT_PER_TOKEN", 1, minimum=0
)
# Raw meter values older than this are purged hourly (0 = keep forever); roll-ups stay.
METER_VALUE_RETENTION_DAYS = env_int("METER_VALUE_RETENTION_DAYS", 400, minimum=0)
# DataTransfer vendors the CMS accepts (others get UnknownVendorId); all are kept.
OCPP_DATA_TRANSFER_VENDOR_IDS = env_list("OCPP_DATA_TRANSFER_VENDOR_IDS", [])
# With the in-memory channel layer (embedded) another process cannot reach a
# consumer, so consumers also pick up pending commands from the database.
OCPP_COMMAND_POLL_SECONDS = env_float("OCPP_COMMAND_POLL_SECONDS", 0.5)
# Security profiles 2 and 3 (stations/ocpp/tls.py, cms/pki.py).
# The CMS's own CA (key + certificate, made on first use) signs charger
# certificates (SignCertificate) and the server certificate of `serve --tls`.
OCPP_CA_DIR = Path(env_str("OCPP_CA_DIR", str(VAR_DIR / "ca")) or VAR_DIR / "ca")
# Further CAs (PEM file) whose charger certificates are trusted as well.
OCPP_TLS_EXTRA_CLIENT_CA_FILE = env_str("OCPP_TLS_EXTRA_CLIENT_CA_FILE", "") or ""
# `serve --tls`: the server certificate and key (empty = made by the CMS CA for
# OCPP_TLS_SERVER_NAMES into OCPP_CA_DIR on first start).
OCPP_TLS_CERT_FILE = env_str("OCPP_TLS_CERT_FILE", "") or ""
OCPP_TLS_KEY_FILE = env_str("OCPP_TLS_KEY_FILE", "") or ""
OCPP_TLS_SERVER_NAMES = env_list("OCPP_TLS_SERVER_NAMES", ["localhost", "127.0.0.1"])
# Addresses of TLS proxies whose X-Forwarded-Proto (and so the client certificate
# they pass, stations/ocpp/tls.py) is trusted; `serve` gives them to uvicorn as
# --forwarded-allow-ips. Empty = no proxy is trusted.
OCPP_TLS_TRUSTED_PROXIES = env_list("OCPP_TLS_TRUSTED_PROXIES", ["127.0.0.1", "::1"])
# Charger certificates signed through SignCertificate are valid this long; an
# alert is raised this many days before one expires.
OCPP_CHARGER_CERT_VALID_DAYS = env_int("OCPP_CHARGER_CERT_VALID_DAYS", 365, minimum=1)
OCPP_CHARGER_CERT_ALERT_DAYS = env_int("OCPP_CHARGER_CERT_ALERT_DAYS", 30, minimum=1)
# OCPP version adapters (stations.ocpp.versions): one class per subprotocol; a
# charger gets the newest one it offers.
OCPP_VERSION_ADAPTERS = [
    "stations.ocpp.v16.adapter.Ocpp16Adapter",
    "stations.ocpp.v201.adapter.Ocpp201Adapter",
]
# A remote start whose charger accepted but sent no StartTransaction this long
# after the answer is reported as failed ("no StartTransaction in time").
REMOTE_START_TIMEOUT_SECONDS = env_int("REMOTE_START_TIMEOUT_SECONDS", 60, minimum=1)

# --- Billing --------------------------------------------------------------------
# Charging counts as complete once power stays below the threshold this long.
BILLING_IDLE_POWER_THRESHOLD_W = env_int(
    "BILLING_IDLE_POWER_THRESHOLD_W", 100, minimum=0
)
BILLING_IDLE_POWER_WINDOW_SECONDS = env_int(
    "BILLING_IDLE_POWER_WINDOW_SECONDS", 300, minimum=1
)
# A session whose connector never reports Available is issued this long after
# its stop, with idle time counted up to then.
BILLING_IDLE_MAX_HOURS = env_int("BILLING_IDLE_MAX_HOURS", 24, minimum=1)
BILLING_RATING_MAX_ATTEMPTS = env_int("BILLING_RATING_MAX_ATTEMPTS", 5, minimum=1)
BILLING_RATING_RETRY_MINUTES = env_int("BILLING_RATING_RETRY_MINUTES", 15, minimum=1)
BILLING_PAYMENT_PROVIDER = (
    env_str("BILLING_PAYMENT_PROVIDER", "billing.payments.InvoiceLaterProvider")
    or "billing.payments.InvoiceLaterProvider"
)
BILLING_RECEIPT_EMAILS = env_bool("BILLING_RECEIPT_EMAILS", True)

# --- Demo -----------------------------------------------------------------------
DEMO_PASSWORD = env_secret("DEMO_PASSWORD", "demo-charge-2026")

# The station map's background: an XYZ tile URL on one host, e.g.
# https://tiles.example.org/{z}/{x}/{y}.png (the Content-Security-Policy admits
# that host for images), and its attribution. Empty: markers on a plain
# background, and no request leaves the portal's origin.
MAP_TILE_URL = env_str("MAP_TILE_URL", "") or ""
MAP_TILE_ATTRIBUTION = env_str("MAP_TILE_ATTRIBUTION", "") or ""

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.channels.server": {"level": "WARNING"},
        "daphne": {"level": "WARNING"},
        "ocpp": {"level": "WARNING"},
        # One line per task run drowns the server log (sweeps run every few seconds).
        "celery.app.trace": {"level": "WARNING"},
    },
}
