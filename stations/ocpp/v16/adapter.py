"""The OCPP 1.6J version adapter, registered in ``settings.OCPP_VERSION_ADAPTERS``."""

from __future__ import annotations

from typing import Any

from django.db.models import Q

from stations.ocpp import commands as neutral
from stations.ocpp.v16 import commands
from stations.ocpp.v16.handlers import CentralSystem
from stations.ocpp.versions import WireCall


class Ocpp16Adapter:
    subprotocol = "ocpp1.6"
    version = (1, 6)
    command_actions = commands.CMS_ACTIONS

    def central_system(
        self, ocpp_id: str, connection: Any, **options: Any
    ) -> CentralSystem:
        # Keyword options as ``VersionAdapter.central_system`` names them.
        return CentralSystem(ocpp_id, connection, **options)

    def action_name(self, action: str) -> str:
        return commands.action_name(action)

    def call_for(self, command: neutral.Command) -> WireCall:
        return commands.call_for(command)

    def raw_call(
        self, action: str, payload: Any, *, connector: int | None = None
    ) -> WireCall:
        return commands.raw_call(action, payload, connector=connector)

    def command_of(self, call: WireCall) -> neutral.Command:
        return commands.command_of(call.action, call.payload)

    def answer_of(self, action: str, payload: Any) -> neutral.Answer:
        return commands.answer_of(action, payload)

    def answer_error(self, action: str, payload: Any) -> Exception | None:
        return commands.answer_error(action, payload)

    def transaction_frames(self, *, transaction_id: int, charger_key: str) -> Q:
        # MeterValues, StopTransaction, StartTransaction's CALLRESULT and
        # RemoteStopTransaction carry transactionId (OCPP 1.6 §6.49, §6.62,
        # §6.60, §6.45), the id the CMS gave.
        return Q(payload__transactionId=transaction_id)

    def request_for(self, call: WireCall) -> Any:
        return commands.request_for(call)
