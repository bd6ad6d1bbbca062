"""2.0.1 gateway tests share the OCPP tests' live-server settling and the API client."""

from tests.api.conftest import api
from tests.ocpp.conftest import _gateway_settled, _shared_channel_layer

__all__ = ["_gateway_settled", "_shared_channel_layer", "api"]
