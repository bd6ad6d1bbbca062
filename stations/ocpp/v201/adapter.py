"""The OCPP 2.0.1 version adapter, registered in ``settings.OCPP_VERSION_ADAPTERS``."""

from __future__ import annotations

from django.db.models import Q

from stations.ocpp.v201 import commands
from stations.ocpp.v201.handlers import CentralSystem
from stations.ocpp.versions import ModuleAdapter


class Ocpp201Adapter(ModuleAdapter):
    subprotocol = "ocpp2.0.1"  # OCPP 2.0.1 Part 4 §3.1.2
    version = (2, 0, 1)
    commands = commands
    central_system_class = CentralSystem

    def transaction_frames(self, *, transaction_id: int, charger_key: str) -> Q:
        # TransactionEvent (E01-E15) names the charger's own transaction id in
        # transactionInfo; RequestStopTransaction and GetTransactionStatus name
        # it as transactionId (F03, E14).
        if not charger_key:
            return Q(pk__in=[])
        return Q(payload__transactionInfo__transactionId=charger_key) | Q(
            payload__transactionId=charger_key
        )
