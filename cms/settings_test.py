"""Test settings: the production settings with fast hashing and test services.

``make test`` exports ``DATABASE_URL`` and ``REDIS_URL`` for the throwaway
PostgreSQL and Redis it starts; without them the tests run on SQLite with the
in-memory channel layer (handy for a quick local run).
"""

import os

os.environ.setdefault("DEBUG", "false")
os.environ.setdefault(
    "SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdef"
)
os.environ.setdefault("OCPP_UNKNOWN_CHARGERS", "reject")

from cms.settings import *  # noqa: F403
from cms.settings import DATABASES, REDIS_URL, VAR_DIR

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
EMBEDDED_SCHEDULER = False
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
# Unit tests talk to consumers in-process; tests that need cross-process delivery
# start real servers with REDIS_URL and use the Redis layer there.
TEST_REDIS_URL = REDIS_URL
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
SILENCED_SYSTEM_CHECKS = ["cms.W001", "cms.W002"]

# A server subprocess for an outage test may queue its tasks on a real broker
# (a Redis the test starts and stops) instead of running them eagerly.
if os.environ.get("CMS_TEST_CELERY_BROKER"):
    CELERY_TASK_ALWAYS_EAGER = False
    CELERY_BROKER_URL = os.environ["CMS_TEST_CELERY_BROKER"]

# SQLite test databases live in a file so that a server subprocess started by the
# tests (real WebSocket clients, the browser) reads the same data.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {
        "NAME": str(VAR_DIR / f"test_{os.getpid()}.sqlite3")
    }

# A server subprocess started by the tests points at the test database, and at
# Redis (when the suite has one) so that the test process reaches its consumers.
if os.environ.get("CMS_LIVE_SERVER_DB"):
    DATABASES["default"]["NAME"] = os.environ["CMS_LIVE_SERVER_DB"]
    DATABASES["default"].pop("TEST", None)
    # Each test's flush recreates content types under new ids; a long-running
    # server must not keep the old ones cached (guardian's scope queries use them).
    CLEAR_CONTENT_TYPE_CACHE_PER_REQUEST = True
if os.environ.get("CMS_TEST_CHANNEL_LAYER") == "redis" and REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [
                    {"address": REDIS_URL, "max_connections": 200, "socket_timeout": 30}
                ],
                "expiry": 30,
            },
        }
    }
