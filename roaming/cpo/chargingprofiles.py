"""Charging Profiles module, Receiver interface (OCPI 2.2.1 mod_charging_profiles).

An eMSP or SCSP limits one of its drivers' sessions: PUT
.../chargingprofiles/{session_id} with a SetChargingProfile, DELETE to clear it,
GET for the ActiveChargingProfile. Each is answered at once with a
ChargingProfileResponse; the result follows as a POST to the request's
response_url ("Flow").

A profile does not go to the charger as it is: it caps the session in our load
manager (``stations.smart``), which already sends every session's TxProfile
within the site limit. Two TxProfiles of one session would override each other
by stack level (OCPP 1.6 §3.13.2), not combine, so the partner's limit becomes
the session's maximum in the plan and the charger gets one profile honouring
both. Hence the module works at load-managed sites only; elsewhere the answer
is NOT_SUPPORTED ("ChargingProfileResponseType enum"). The result is ACCEPTED
once the charger accepted a TxProfile at or below the partner's limit,
REJECTED when it refused it.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from cms.events import SmartProfileAnswered, TaskCalls
from roaming.models import ProfileRequest, RoamingChargingProfile, RoamingSession
from roaming.transport import (
    INVALID_PARAMETERS,
    OcpiError,
    OcpiResult,
    OcpiView,
    ocpi_datetime_parse,
    ocpi_timestamp,
    request_json,
    require_object,
    require_string,
)
from sessions_app.models import ChargingSession, SessionStatus
from stations.smart.models import SmartProfileState, SmartProfileStatus
from stations.smart.services import site_is_load_managed, site_replan_request

# mod_charging_profiles "ChargingRateUnit enum" W: phase current = power /
# (line-to-neutral voltage x phases), 3 phases when numberPhases is absent.
_LINE_TO_NEUTRAL_V = 230
_PHASES = 3


def _timeout_s() -> int:
    return int(max(settings.OCPP_COMMAND_TIMEOUT, 1)) + 30


def _response(result: str) -> OcpiResult:
    # mod_charging_profiles "ChargingProfileResponse Object".
    return OcpiResult(data={"result": result, "timeout": _timeout_s()})


def _number(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise OcpiError(INVALID_PARAMETERS, f"{field}: a number is required")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise OcpiError(INVALID_PARAMETERS, f"{field}: a number is required") from None
    if not number.is_finite() or number < 0:
        raise OcpiError(INVALID_PARAMETERS, f"{field}: a non-negative number")
    return number


def profile_parse(data: dict[str, Any]) -> dict[str, Any]:
    """Check a ChargingProfile class ("ChargingProfile class"); return it as sent."""
    prefix = "charging_profile."
    unit = require_string(data, "charging_rate_unit", max_length=1, prefix=prefix)
    if unit not in {"W", "A"}:
        raise OcpiError(
            INVALID_PARAMETERS, f"{prefix}charging_rate_unit: W or A, got {unit!r}"
        )
    periods = data.get("charging_profile_period")
    if not isinstance(periods, list) or not periods:
        raise OcpiError(
            INVALID_PARAMETERS,
            f"{prefix}charging_profile_period: at least one period is required",
        )
    starts = []
    for index, period in enumerate(periods):
        name = f"{prefix}charging_profile_period[{index}]"
        if not isinstance(period, dict):
            raise OcpiError(INVALID_PARAMETERS, f"{name}: an object is required")
        start = period.get("start_period")
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise OcpiError(
                INVALID_PARAMETERS, f"{name}.start_period: seconds, an integer >= 0"
            )
        if "limit" not in period:
            raise OcpiError(INVALID_PARAMETERS, f"Missing required field: {name}.limit")
        _number(period["limit"], f"{name}.limit")
        starts.append(start)
    if starts[0] != 0 or starts != sorted(set(starts)):
        raise OcpiError(
            INVALID_PARAMETERS,
            f"{prefix}charging_profile_period: start_period from 0, increasing",
        )
    if data.get("start_date_time") is not None:
        ocpi_datetime_parse(
            str(data["start_date_time"]), field=f"{prefix}start_date_time"
        )
    duration = data.get("duration")
    if duration is not None and (
        isinstance(duration, bool) or not isinstance(duration, int) or duration < 0
    ):
        raise OcpiError(INVALID_PARAMETERS, f"{prefix}duration: seconds, an integer")
    return data


def profile_limit_w(
    profile: dict[str, Any], *, session_start: datetime, now: datetime
) -> int | None:
    """The profile's limit in force at ``now`` in W; None outside its duration.

    "ChargingProfile class": periods count from start_date_time, or from the
    start of charging when it is absent; the last period lasts until the
    duration ends (or the session does).
    """
    raw_start = profile.get("start_date_time")
    start = (
        ocpi_datetime_parse(str(raw_start), field="start_date_time")
        if raw_start
        else session_start
    )
    elapsed_s = (now - start).total_seconds()
    duration = profile.get("duration")
    if elapsed_s < 0 or (duration is not None and elapsed_s >= duration):
        return None
    limit: Decimal | None = None
    for period in profile["charging_profile_period"]:
        if period["start_period"] <= elapsed_s:
            limit = Decimal(str(period["limit"]))
    if limit is None:
        return None
    if profile["charging_rate_unit"] == "A":
        return math.floor(limit * _LINE_TO_NEUTRAL_V * _PHASES)
    return math.floor(limit)


def partner_session_caps(session_ids: list[int], now: datetime) -> dict[int, int]:
    """The current partner limits of these sessions (for the load manager)."""
    caps: dict[int, int] = {}
    rows = RoamingChargingProfile.objects.filter(
        session_id__in=session_ids, request=ProfileRequest.SET, is_current=True
    ).select_related("session")
    for row in rows:
        if row.profile is None:
            continue
        cap = profile_limit_w(
            row.profile, session_start=row.session.started_at, now=now
        )
        if cap is not None:
            caps[row.session_id] = cap
    return caps


def _tx_state(session: ChargingSession) -> SmartProfileState | None:
    return SmartProfileState.objects.filter(
        purpose=SmartProfileState.Purpose.TX, transaction_id=session.pk
    ).first()


def result_of(row: RoamingChargingProfile, *, now: datetime) -> dict[str, Any] | None:
    """The result to POST for ``row``, or None while the charger has not answered."""
    session = row.session
    state = _tx_state(session)
    if row.request == ProfileRequest.ACTIVE:
        # "ActiveChargingProfileResult Object": the session's limit as planned.
        if state is None or state.status != SmartProfileStatus.ACTIVE:
            return {"result": "UNKNOWN"}
        return {
            "result": "ACCEPTED",
            "profile": {
                "start_date_time": ocpi_timestamp(now),
                "charging_profile": {
                    "charging_rate_unit": "W",
                    "charging_profile_period": [
                        {"start_period": 0, "limit": float(state.limit_w)}
                    ],
                },
            },
        }
    if session.status != SessionStatus.ACTIVE and state is None:
        return {"result": "UNKNOWN"}  # ended before the charger was told
    if state is None or state.status in {
        SmartProfileStatus.PENDING,
        SmartProfileStatus.FAILED,  # not delivered yet: the load manager retries
    }:
        return None
    if state.status == SmartProfileStatus.REJECTED:
        return {"result": "REJECTED"}
    if row.request == ProfileRequest.CLEAR:
        return {"result": "ACCEPTED"}
    cap = (
        profile_limit_w(row.profile, session_start=session.started_at, now=now)
        if row.profile is not None
        else None
    )
    if cap is not None and state.limit_w > cap:
        return None  # the new plan has not reached the charger yet
    return {"result": "ACCEPTED"}


class ChargingProfileView(OcpiView):
    """GET/PUT/DELETE .../chargingprofiles/{session_id}."""

    module = "chargingprofiles"
    partner_role = "EMSP"

    def _session(self, session_id: str) -> ChargingSession | None:
        # A session of another partner is as unknown as none (scope).
        link = (
            RoamingSession.objects.select_related("session__charge_point__station")
            .filter(partner=self.caller.partner, session__pk=int(session_id))
            .first()
            if session_id.isdigit()
            else None
        )
        return link.session if link is not None else None

    def _refusal(self, session: ChargingSession | None) -> OcpiResult | None:
        if session is None:
            return _response("UNKNOWN_SESSION")
        if session.status != SessionStatus.ACTIVE:
            return _response("REJECTED")
        station = session.charge_point.station
        if station is None or not site_is_load_managed(
            station=station, now=timezone.now()
        ):
            return _response("NOT_SUPPORTED")
        return None

    def _response_url(self, value: Any) -> str:
        if not isinstance(value, str) or not value.startswith(("http://", "https://")):
            raise OcpiError(
                INVALID_PARAMETERS, "response_url: an http(s) URL is required"
            )
        if len(value) > 255:
            raise OcpiError(INVALID_PARAMETERS, "response_url: at most 255 characters")
        return value

    def put(self, request: HttpRequest, session_id: str) -> OcpiResult:
        body = require_object(request_json(request))
        response_url = self._response_url(body.get("response_url"))
        profile = profile_parse(
            require_object(body.get("charging_profile"), field="charging_profile")
        )
        session = self._session(session_id)
        refusal = self._refusal(session)
        if refusal is not None or session is None:
            return refusal or _response("UNKNOWN_SESSION")
        self._record(session, ProfileRequest.SET, response_url, profile=profile)
        return _response("ACCEPTED")

    def delete(self, request: HttpRequest, session_id: str) -> OcpiResult:
        response_url = self._response_url(request.GET.get("response_url"))
        session = self._session(session_id)
        refusal = self._refusal(session)
        if refusal is not None or session is None:
            return refusal or _response("UNKNOWN_SESSION")
        self._record(session, ProfileRequest.CLEAR, response_url)
        return _response("ACCEPTED")

    def get(self, request: HttpRequest, session_id: str) -> OcpiResult:
        response_url = self._response_url(request.GET.get("response_url"))
        raw = request.GET.get("duration", "")
        if not raw.isdigit():
            raise OcpiError(INVALID_PARAMETERS, "duration: seconds, an integer")
        session = self._session(session_id)
        refusal = self._refusal(session)
        if refusal is not None or session is None:
            return refusal or _response("UNKNOWN_SESSION")
        self._record(session, ProfileRequest.ACTIVE, response_url)
        return _response("ACCEPTED")

    def _record(
        self,
        session: ChargingSession,
        kind: str,
        response_url: str,
        *,
        profile: dict[str, Any] | None = None,
    ) -> None:
        from cms.tasks import enqueue_on_commit
        from roaming.tasks import charging_profile_results_deliver_task

        with transaction.atomic():
            if kind != ProfileRequest.ACTIVE:
                # A new SET replaces the current one; a CLEAR ends it.
                RoamingChargingProfile.objects.filter(
                    session=session, request=ProfileRequest.SET, is_current=True
                ).update(is_current=False)
            RoamingChargingProfile.objects.create(
                partner=self.caller.partner,
                session=session,
                request=kind,
                profile=profile,
                response_url=response_url,
                is_current=kind == ProfileRequest.SET,
            )
            station = session.charge_point.station
            if kind != ProfileRequest.ACTIVE and station is not None:
                site_replan_request(station_id=station.pk, trigger="roaming_profile")
            enqueue_on_commit(charging_profile_results_deliver_task)


def profile_results_on_answer(event: SmartProfileAnswered) -> TaskCalls:
    """A charger answered a load-manager profile: results may be due."""
    from roaming.tasks import charging_profile_results_deliver_task

    if event.purpose != SmartProfileState.Purpose.TX:
        return None
    waiting = RoamingChargingProfile.objects.filter(
        result_delivered_at__isnull=True,
        session__connector_id=event.connector_pk,
    ).exists()
    return [charging_profile_results_deliver_task.si()] if waiting else None


def profile_results_pending(*, now: datetime) -> list[int]:
    """Rows whose result is not delivered, due now, newer than their timeout."""
    since = now - timedelta(seconds=_timeout_s() * 4)
    return list(
        RoamingChargingProfile.objects.filter(
            result_delivered_at__isnull=True, created_at__gte=since
        )
        .exclude(result_retry_at__gt=now)
        .order_by("pk")
        .values_list("pk", flat=True)[:100]
    )
