"""With Redis in the suite, this test process sends commands through Redis too.

The live servers use the Redis layer when ``TEST_REDIS_URL`` is set (and then do
not poll the database for commands), so commands sent from a test must go
through the same Redis layer to reach their consumers.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from channels.layers import channel_layers


@pytest.fixture(autouse=True)
def _shared_channel_layer(settings) -> Iterator[None]:
    if not settings.TEST_REDIS_URL:
        yield
        return
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [settings.TEST_REDIS_URL], "expiry": 30},
        }
    }
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()
