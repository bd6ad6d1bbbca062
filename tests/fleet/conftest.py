"""Campaign commands travel like the portal's: see ``shared_channel_layer``."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _shared_channel_layer(shared_channel_layer: None) -> None:
    """Every test here uses the servers' channel layer (tests/live_server.py)."""
