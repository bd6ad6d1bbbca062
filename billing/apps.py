from __future__ import annotations

from django.apps import AppConfig

from cms.events import (
    ConnectorStatusChanged,
    EventKind,
    SessionStopped,
    TaskCalls,
    subscribe,
)


def rate_session_on_stop(event: SessionStopped) -> TaskCalls:
    """Rate the session in Celery once the stop commits."""
    from billing.tasks import session_rate_task

    return [session_rate_task.si(session_id=event.session_id)]


def finalize_idle_on_unplug(event: ConnectorStatusChanged) -> TaskCalls:
    """A connector back to Available ends the idle time of its last session."""
    if event.status != "Available":
        return None
    from billing.services import session_awaiting_unplug_id
    from billing.tasks import session_idle_finalize_task

    session_id = session_awaiting_unplug_id(
        charge_point_id=event.charge_point_pk,
        connector_number=event.connector_number,
    )
    if session_id is None:
        return None
    return [session_idle_finalize_task.si(session_id=session_id)]


class BillingConfig(AppConfig):
    name = "billing"
    verbose_name = "Tariffs and billing"

    def ready(self) -> None:
        from billing import reports  # noqa: F401  (registers the revenue report)
        from billing.selectors import (
            session_list_prices_for_user,
            session_price_for_user,
        )
        from billing.services import session_cost_estimate_or_none
        from sessions_app.pricing import session_price_readers_register

        session_price_readers_register(
            estimate=session_cost_estimate_or_none,
            panel=session_price_for_user,
            list_prices=session_list_prices_for_user,
        )

        subscribe(EventKind.SESSION_STOPPED, rate_session_on_stop)
        subscribe(EventKind.CONNECTOR_STATUS, finalize_idle_on_unplug)

        from billing.demo import billing_demo_load
        from cms.demo import demo_loader_register

        demo_loader_register("billing", billing_demo_load)
        # After revenue: the index lists the reports in registration order.
        from billing import nevi  # noqa: F401  (the NEVI quarterly data set)
