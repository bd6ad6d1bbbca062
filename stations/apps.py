from django.apps import AppConfig


def remote_start_resolve_on_start(session_id: int) -> None:
    """Session-started hook: a pending remote-start handle gets its transaction id."""
    from stations.remote.services import remote_start_resolve

    remote_start_resolve(session_id=session_id)


class StationsConfig(AppConfig):
    name = "stations"
    verbose_name = "Networks, stations and charge points"

    def ready(self) -> None:
        # Celery autodiscovery loads only ``tasks.py``; register the remote ones too.
        from sessions_app.events import SESSION_STARTED_HANDLERS
        from stations.remote import tasks as tasks_remote  # noqa: F401

        if remote_start_resolve_on_start not in SESSION_STARTED_HANDLERS:
            SESSION_STARTED_HANDLERS.append(remote_start_resolve_on_start)
        # Smart charging: re-plan a site on session, connection and answer events.
        from stations.smart.tasks import register_hooks

        register_hooks()
        # Report roll-up maintenance (not in tasks.py, so register it here) and
        # the reports of this app.
        from stations.reports import tasks as report_tasks  # noqa: F401
        from stations.reports.registry import stations_reports_load

        stations_reports_load()
