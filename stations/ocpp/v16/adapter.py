"""The OCPP 1.6J version adapter, registered in ``settings.OCPP_VERSION_ADAPTERS``."""

from __future__ import annotations

from django.db.models import Q

from stations.ocpp.v16 import commands
from stations.ocpp.v16.handlers import CentralSystem
from stations.ocpp.versions import ModuleAdapter


class Ocpp16Adapter(ModuleAdapter):
    subprotocol = "ocpp1.6"  # OCPP-J 1.6 §3.1.2
    version = (1, 6)
    commands = commands
    central_system_class = CentralSystem

    def transaction_frames(self, *, transaction_id: int, charger_key: str) -> Q:
        # MeterValues, StopTransaction, StartTransaction's CALLRESULT and
        # RemoteStopTransaction carry transactionId (OCPP 1.6 §6.49, §6.62,
        # §6.60, §6.45), the id the CMS gave.
        return Q(payload__transactionId=transaction_id)
