"""Independent implementations as chargers against a live server: they share the
OCPP tests' channel layer and their settling after each test."""

from tests.ocpp.conftest import _gateway_settled, _shared_channel_layer

__all__ = ["_gateway_settled", "_shared_channel_layer"]
