"""Live-view probe: portal browsers watching the board while chargers load the CMS.

Opens ``viewers`` authenticated portal WebSockets (``/ws/live/?view=board``,
the live status board of the bench network, session cookie of a bench operator)
spread over the CMS processes, each showing one page of 50 connector rows (as
the board does; viewer N watches page N), and measures for every ``connector.status``
event the time from the charger's StatusNotification timestamp (the load
generator stamps each one when it sends it) to the moment the board update
reaches the browser (the rows of events arriving together are rendered
together and sent after them). Same machine, same clock.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import datetime
from typing import Any

from bench.loadgen import latency_summary


def board_pages(prefix: str, page_size: int = 50) -> list[list[int]]:
    """Connector pks of the bench chargers, in pages of the board's size."""
    from stations.models import Connector

    pks = list(
        Connector.objects.filter(charge_point__ocpp_id__startswith=prefix)
        .order_by("charge_point__ocpp_id", "connector_id")
        .values_list("pk", flat=True)
    )
    return [pks[start : start + page_size] for start in range(0, len(pks), page_size)]


def live_session_cookie(network_name: str) -> tuple[str, int]:
    """A logged-in operations user of the bench network: (session key, network id)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from accounts.roles import Role
    from accounts.services import network_grant, user_set_roles
    from stations.models import Network

    network = Network.objects.get(name=network_name)
    user, _ = get_user_model().objects.get_or_create(username="bench-live-viewer")
    user_set_roles(actor=None, user=user, roles=[Role.OPERATIONS])
    network_grant(actor=None, user=user, network=network)
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value, network.pk


class LiveProbe:
    def __init__(
        self,
        http_urls: list[str],
        session_key: str,
        network_id: int,
        viewers: int,
        pages: list[list[int]] | None = None,
    ) -> None:
        self.urls = [
            url.replace("http://", "ws://").rstrip("/")
            + f"/ws/live/?view=board&network={network_id}"
            for url in http_urls
        ]
        self.pages = pages or []
        self.session_key = session_key
        self.viewers = viewers
        self.latencies_ms: list[float] = []
        self.events = 0
        self.connected = 0
        self.refused = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    def start(self) -> None:
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()))
        self._thread.start()
        self._ready.wait(30)

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        return {
            "viewers": self.viewers,
            "connected": self.connected,
            "refused": self.refused,
            "errors": sorted(set(self.errors))[:5],
            "status_events": self.events,
            "latency_ms": latency_summary(self.latencies_ms),
        }

    async def _main(self) -> None:
        tasks = [
            asyncio.create_task(self._viewer(self._url(index)))
            for index in range(self.viewers)
        ]
        await asyncio.sleep(1.0)
        self._ready.set()
        await asyncio.to_thread(self._stop.wait)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _url(self, index: int) -> str:
        url = self.urls[index % len(self.urls)]
        if not self.pages:
            return url
        page = self.pages[index % len(self.pages)]
        return url + "&rows=" + ",".join(map(str, page))

    async def _viewer(self, url: str) -> None:
        import websockets

        headers = {
            "Cookie": f"sessionid={self.session_key}",
            "Origin": "http://127.0.0.1",
        }
        try:
            async with websockets.connect(
                url, additional_headers=headers, max_size=None, open_timeout=20
            ) as socket:
                self.connected += 1
                async for raw in socket:
                    received = time.time()
                    message = json.loads(raw)
                    event = message.get("event") or {}
                    if event.get("kind") != "connector.status" or not event.get("at"):
                        continue
                    sent = datetime.fromisoformat(event["at"]).timestamp()
                    self.events += 1
                    self.latencies_ms.append(max(0.0, (received - sent) * 1000))
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self.refused += 1
            self.errors.append(repr(error)[:200])
