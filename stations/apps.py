from __future__ import annotations

from django.apps import AppConfig

from cms.events import SessionStarted, TaskCalls


def remote_start_resolve_on_start(event: SessionStarted) -> TaskCalls:
    """A pending remote-start handle gets its transaction id."""
    from stations.remote.services import remote_start_resolve

    remote_start_resolve(session_id=event.session_id)
    return None


class StationsConfig(AppConfig):
    name = "stations"
    verbose_name = "Networks, stations and charge points"

    def ready(self) -> None:
        from cms.events import EventKind, subscribe, subscribe_live
        from stations.live import bus as livebus

        # Browsers get the live events of sync code (views, tasks) over the bus.
        subscribe_live(livebus.publish_sync)
        # Celery autodiscovery loads only ``tasks.py``; register the remote ones too.
        from stations.fleet import tasks as tasks_fleet  # noqa: F401
        from stations.remote import tasks as tasks_remote  # noqa: F401

        subscribe(EventKind.SESSION_STARTED, remote_start_resolve_on_start)
        from stations.streams import status_stream_register

        status_stream_register()
        # Smart charging: re-plan a site on session, connection and answer events.
        from stations.smart.tasks import register_hooks

        register_hooks()
        # Report roll-up maintenance (not in tasks.py, so register it here) and
        # the reports of this app.
        from stations.reliability import tasks as outage_tasks  # noqa: F401
        from stations.reports import tasks as report_tasks  # noqa: F401
        from stations.reports.registry import stations_reports_load

        stations_reports_load()
        from cms.demo import demo_loader_register
        from stations.demo import stations_demo_load

        demo_loader_register("stations", stations_demo_load)
        from stations.reliability.demo import reliability_demo_load

        demo_loader_register("outages", reliability_demo_load)
        from stations.fleet.demo import fleet_demo_load

        demo_loader_register("fleet", fleet_demo_load)
        from stations.security.demo import security_demo_load

        demo_loader_register("charger security", security_demo_load)
        # Network-wide lists default to the zone of the user's first network.
        from accounts.timezones import default_time_zone_register
        from stations.selectors import network_time_zone_for_user

        default_time_zone_register(network_time_zone_for_user)
