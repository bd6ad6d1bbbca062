"""Fault injection against the distributed layout (``make chaos``).

Starts the layout of ``make run-distributed`` on this machine (PostgreSQL and
Redis from ``.ci/services.sh``, database ``cms_chaos``; two ``manage.py serve``
ASGI processes behind nginx; a Celery worker and beat), connects a fleet of
password-protected simulated OCPP 1.6J chargers through nginx (sessions with
meter values every second, heartbeats, statuses; every command the CMS sends
is answered), polls the portal and the REST API (reads, and a command every
2 s) and runs the cases one after the other under that load:

``kill -9``        SIGKILL of one ASGI process (then started again)
``rolling``        SIGTERM to every ASGI process in turn, each started again
                   before the next; one that does not exit in time is killed
``redis``          Redis stopped for a few seconds, then started
``postgresql``     PostgreSQL restarted (``pg_ctl restart -m fast``)

Per case it prints what the chargers were answered for (acknowledged calls and
meter values), what the database holds of them (stored meter values, message
log rows), duplicates, server errors the poller saw (a 503 with
``Retry-After``, as a command gets while Redis is down and any request while
PostgreSQL restarts, is an answer, not an error), the SIGKILLs needed and how
long the chargers took to be all connected again. Exit status 1 on any
acknowledged meter value or frame missing, any duplicate, any 5xx or SIGKILL.

    make chaos                       # 4-8 minutes on a shared 2-core machine
    CHAOS_CHARGERS=300 make chaos

The chargers' stored password hashes are PBKDF2 with few iterations, so that a
few hundred first handshakes verify in seconds on a small machine; the
verification path (pool, cache, back-off) is the product's own.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402

from bench.distributed import _wait_http as wait_http  # noqa: E402
from bench.distributed import nginx_config  # noqa: E402
from bench.run import free_port, server_env, setup_django, start_services  # noqa: E402

RUN_DIR = ROOT / "var" / "chaos"
DATABASE = "cms_chaos"
REDIS_DB = 3
PREFIX = "CHAOS-"
PASSWORD = "chaos-charger-secret"  # noqa: S105  (simulated chargers)
NETWORK = "Bench network"  # bench.run.seed's
TAG_PREFIX = "CHAOS-TAG-"
CHARGERS = int(os.environ.get("CHAOS_CHARGERS", "200"))
LOAD_S = float(os.environ.get("CHAOS_LOAD_S", "6"))  # load before and after a fault
SHUTDOWN_TIMEOUT_S = 20  # ASGI_SHUTDOWN_TIMEOUT_S of the servers (the default)
# serve kills its server 5 s after that timeout; past this the harness SIGKILLs (counted).
STOP_GRACE_S = SHUTDOWN_TIMEOUT_S + 15
CALL_TIMEOUT_S = 30.0
METER_INTERVAL_S = 1.0
CASES = ("kill -9", "rolling", "redis", "postgresql")


# --- the layout ----------------------------------------------------------------


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    with contextlib.suppress(OSError):
        return [int(child) for child in path.read_text().split()]
    return []


def _alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped holds no socket: gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass
class Asgi:
    """One ``manage.py serve`` and the uvicorn process it runs (its child)."""

    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    servers: list[int] = field(default_factory=list)  # uvicorn's pid

    @property
    def log_path(self) -> Path:
        return RUN_DIR / f"asgi-{self.port}.log"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(  # noqa: S603  (our own server)
            [sys.executable, "manage.py", "serve", "--port", str(self.port)],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def wait_healthy(self, timeout_s: float = 150) -> None:
        assert self.process is not None
        if not wait_http(f"http://127.0.0.1:{self.port}/healthz", timeout_s):
            raise RuntimeError(f"ASGI process on {self.port} did not come up")
        if self.process.poll() is not None:
            raise RuntimeError(f"serve on {self.port} exited (port still taken?)")
        self.servers = _children(self.process.pid)

    def _gone(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while any(_alive(pid) for pid in self.servers):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def kill(self) -> None:
        """SIGKILL the ASGI server and its ``serve`` (a crash: nothing runs on)."""
        assert self.process is not None
        for pid in [*self.servers, self.process.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        if not self._gone(10):
            raise RuntimeError(f"the server on {self.port} survived SIGKILL")

    def terminate(self) -> bool:
        """SIGTERM to serve (it passes it on); False if SIGKILL was needed."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.kill()
                return False
        # serve has exited: nothing of it may outlive it (an orphaned uvicorn).
        if self._gone(2.0):
            return True
        self.kill()
        return False


@dataclass
class Layout:
    env: dict[str, str]
    database_url: str
    redis_port: int
    asgi: list[Asgi] = field(default_factory=list)
    others: list[subprocess.Popen[bytes]] = field(default_factory=list)
    front_port: int = 0

    def spawn(self, name: str, command: list[str]) -> None:
        log = (RUN_DIR / f"{name}.log").open("ab")
        self.others.append(
            subprocess.Popen(  # noqa: S603  (our own processes)
                command, cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        )

    def start(self) -> None:
        python = sys.executable
        self.asgi = [Asgi(free_port(), self.env) for _ in range(2)]
        for server in self.asgi:
            server.start()
        self.spawn(
            "celery-worker",
            [python, "-m", "celery", "-A", "cms", "worker", "-l", "warning",
             "-n", "chaos@%h", "--concurrency", "2"],
        )  # fmt: skip
        self.spawn(
            "celery-beat",
            [python, "-m", "celery", "-A", "cms", "beat", "-l", "warning",
             "--schedule", str(RUN_DIR / "celerybeat-schedule")],
        )  # fmt: skip
        for server in self.asgi:
            server.wait_healthy()
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(nginx).exists():
            raise RuntimeError("nginx is needed (apt-get install nginx-light)")
        self.front_port = free_port()
        conf = RUN_DIR / "nginx.conf"
        conf.write_text(
            nginx_config(
                run_dir=RUN_DIR,
                asgi_ports=[server.port for server in self.asgi],
                port=self.front_port,
            )
        )
        self.spawn(
            "nginx", [nginx, "-c", str(conf), "-p", str(RUN_DIR), "-g", "daemon off;"]
        )
        if not wait_http(f"{self.front}/healthz", 15):
            raise RuntimeError("nginx did not come up")

    @property
    def front(self) -> str:
        return f"http://127.0.0.1:{self.front_port}"

    def stop(self) -> int:
        """Stop everything; the number of ASGI processes that needed SIGKILL."""
        killed = 0
        for server in self.asgi:
            if server.process is not None and not server.terminate():
                killed += 1
        for process in reversed(self.others):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.others:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        return killed


# --- the faults ------------------------------------------------------------------


def services_env() -> dict[str, str]:
    return dict(os.environ)


def redis_stop(port: int) -> None:
    subprocess.run(  # noqa: S603
        ["redis-cli", "-p", str(port), "shutdown", "nosave"],  # noqa: S607
        capture_output=True,
        check=False,
    )


def services_start() -> None:
    subprocess.run(  # noqa: S603  (our own script; starts what is down)
        ["/bin/bash", str(ROOT / ".ci" / "services.sh"), "start"],
        check=True,
        capture_output=True,
        env=services_env(),
    )


def postgresql_restart() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW data_directory")
        row = cursor.fetchone()
    connection.close()
    assert row is not None
    pg_ctl = next(
        (
            str(path)
            for path in sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        ),
        "pg_ctl",
    )
    command = f"{pg_ctl} -D '{row[0]}' -m fast -w -t 60 restart >/dev/null"
    if os.getuid() == 0:  # PostgreSQL runs as its own user (.ci/services.sh)
        subprocess.run(["su", "postgres", "-s", "/bin/bash", "-c", command], check=True)  # noqa: S603,S607
    else:
        subprocess.run(["/bin/bash", "-c", command], check=True)  # noqa: S603


# --- the fleet -------------------------------------------------------------------


@dataclass
class Tally:
    """What the chargers were answered for in one case."""

    calls: set[tuple[str, str]] = field(default_factory=set)  # (ocpp id, unique id)
    meter_values: set[tuple[str, int]] = field(default_factory=set)  # (id, epoch s)
    call_errors: int = 0
    unanswered: int = 0
    commands_answered: int = 0


class Fleet:
    """The simulated chargers, on one asyncio loop in a thread of their own."""

    def __init__(self, url: str, count: int) -> None:
        self.url = url
        self.count = count
        self.label = "warmup"
        self.tallies: dict[str, Tally] = {"warmup": Tally()}
        self.connected = 0
        self.reconnects = 0
        self.last_error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=CALL_TIMEOUT_S + 10)

    def case(self, label: str) -> None:
        self.tallies[label] = Tally()
        self.label = label

    def _main(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        chargers = [_Charger(self, index) for index in range(1, self.count + 1)]
        tasks = []
        for charger in chargers:  # paced: about 100 handshakes a second
            tasks.append(asyncio.create_task(charger.run()))
            await asyncio.sleep(0.01)
        await asyncio.to_thread(self._stop.wait)
        for charger in chargers:
            charger.stopping = True
        await asyncio.wait(tasks, timeout=CALL_TIMEOUT_S)
        for task in tasks:
            task.cancel()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()


def _answer_for(action: str) -> dict[str, Any]:
    if action == "GetConfiguration":
        return {"configurationKey": [], "unknownKey": []}
    if action == "DataTransfer":
        return {"status": "Accepted"}
    return {"status": "Accepted"}


class _Charger:
    def __init__(self, fleet: Fleet, index: int) -> None:
        self.fleet = fleet
        self.index = index
        self.ocpp_id = f"{PREFIX}{index:05d}"
        self.tag = f"{TAG_PREFIX}{index:05d}"
        token = base64.b64encode(f"{self.ocpp_id}:{PASSWORD}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}"}
        self.numbers = iter(range(1, 100_000_000))
        self.meter_seconds = index * 100_000  # unique sample times per charger
        self.transaction_id: int | None = None
        self.pending: dict[str, asyncio.Future[list[Any]]] = {}
        self.stopping = False

    async def run(self) -> None:
        while not self.stopping:
            try:
                async with websockets.connect(
                    f"{self.fleet.url}/ocpp/{self.ocpp_id}",
                    subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                    additional_headers=self.headers,
                    open_timeout=15,
                    close_timeout=2,
                ) as ws:
                    self.fleet.connected += 1
                    reader = asyncio.create_task(self._read(ws))
                    try:
                        await self._session(ws)
                    finally:
                        self.fleet.connected -= 1
                        reader.cancel()
                        with contextlib.suppress(BaseException):
                            await reader
            except Exception as error:  # a charger just reconnects
                self.fleet.last_error = repr(error)
            for future in self.pending.values():
                if not future.done():
                    future.cancel()
            self.pending.clear()
            if self.stopping:
                return
            self.fleet.reconnects += 1
            await asyncio.sleep(random.uniform(0.3, 1.5))

    async def _read(self, ws: Any) -> None:
        async for text in ws:
            frame = json.loads(text)
            if frame[0] == 2:
                await ws.send(json.dumps([3, frame[1], _answer_for(frame[2])]))
                self.fleet.tallies[self.fleet.label].commands_answered += 1
            elif frame[0] in (3, 4):
                future = self.pending.pop(frame[1], None)
                if future is not None and not future.done():
                    future.set_result(frame)

    async def call(
        self, ws: Any, action: str, payload: dict[str, Any]
    ) -> dict[str, Any] | None:
        label = self.fleet.label
        tally = self.fleet.tallies[label]
        unique_id = f"{label[:6]}-{self.index}-{next(self.numbers)}"
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self.pending[unique_id] = future
        await ws.send(json.dumps([2, unique_id, action, payload]))
        try:
            frame = await asyncio.wait_for(future, CALL_TIMEOUT_S)
        except (TimeoutError, asyncio.CancelledError):
            self.pending.pop(unique_id, None)
            if self.stopping:
                raise
            tally.unanswered += 1
            raise ConnectionError("no answer") from None
        tally.calls.add((self.ocpp_id, unique_id))
        if frame[0] == 4:
            tally.call_errors += 1
            return None
        return dict(frame[2])

    async def _session(self, ws: Any) -> None:
        await self.call(
            ws,
            "BootNotification",
            {"chargePointVendor": "Chaos", "chargePointModel": "Monkey 1"},
        )
        beat = 0
        while not self.stopping:
            now = datetime.now(UTC).isoformat()
            if self.transaction_id is None:
                await self.call(
                    ws,
                    "StatusNotification",
                    {
                        "connectorId": 1,
                        "status": "Preparing",
                        "errorCode": "NoError",
                        "timestamp": now,
                    },
                )
                started = await self.call(
                    ws,
                    "StartTransaction",
                    {
                        "connectorId": 1,
                        "idTag": self.tag,
                        "meterStart": 0,
                        "timestamp": now,
                    },
                )
                if started is not None and started.get("transactionId"):
                    self.transaction_id = int(started["transactionId"])
                else:
                    await asyncio.sleep(METER_INTERVAL_S)
                    continue
            self.meter_seconds += 1
            at = self.fleet._base + timedelta(seconds=self.meter_seconds)
            label = self.fleet.label
            answer = await self.call(
                ws,
                "MeterValues",
                {
                    "connectorId": 1,
                    "transactionId": self.transaction_id,
                    "meterValue": [
                        {
                            "timestamp": at.isoformat(),
                            "sampledValue": [
                                {
                                    "value": str(self.meter_seconds % 100_000 * 10),
                                    "measurand": "Energy.Active.Import.Register",
                                    "unit": "Wh",
                                }
                            ],
                        }
                    ],
                },
            )
            if answer is not None:
                self.fleet.tallies[label].meter_values.add(
                    (self.ocpp_id, int(at.timestamp()))
                )
            beat += 1
            if beat % 5 == 0:
                await self.call(ws, "Heartbeat", {})
            await asyncio.sleep(METER_INTERVAL_S * random.uniform(0.7, 1.3))


# --- the poller (portal and API) ---------------------------------------------------


@dataclass
class Polled:
    requests: int = 0
    server_errors: int = 0
    unavailable_answered: int = 0  # 503 with Retry-After: try again shortly
    unreachable: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)


class Poller:
    def __init__(
        self, front: str, token: str, session_key: str, charge_point_pk: int
    ) -> None:
        self.front = front
        self.token = token
        self.session_key = session_key
        self.charge_point_pk = charge_point_pk
        self.label = "warmup"
        self.results: dict[str, Polled] = {"warmup": Polled()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def case(self, label: str) -> None:
        self.results[label] = Polled()
        self.label = label

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _request(self, method: str, path: str, body: Any = None) -> None:
        polled = self.results[self.label]
        headers = {"Accept": "application/json"}
        if path.startswith("/api/"):
            headers["Authorization"] = f"Token {self.token}"
        else:
            headers["Cookie"] = f"sessionid={self.session_key}"
            headers["Accept"] = "text/html"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310  (loopback)
            self.front + path, data=data, headers=headers, method=method
        )
        polled.requests += 1
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                status, text = response.status, response.read()
                retry_after = response.headers.get("Retry-After")
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read()
            retry_after = error.headers.get("Retry-After")
        except OSError as error:
            polled.unreachable += 1
            polled.samples.append(f"{method} {path}: {error}")
            return
        polled.statuses[status] += 1
        if status < 500:
            return
        if status == 503 and retry_after:
            # "Try again shortly" (a command while Redis is away, any request
            # while PostgreSQL is): an answer, not a failure.
            polled.unavailable_answered += 1
            return
        polled.server_errors += 1
        if len(polled.samples) < 5:
            polled.samples.append(f"{method} {path}: {status} {text[:200]!r}")

    def _run(self) -> None:
        turn = 0
        while not self._stop.is_set():
            turn += 1
            self._request("GET", "/api/v1/charge-points/?page_size=20")
            self._request("GET", "/")
            if turn % 6 == 0:
                self._request(
                    "POST",
                    f"/api/v1/charge-points/{self.charge_point_pk}/commands/",
                    {
                        "action": "TriggerMessage",
                        "payload": {"requestedMessage": "Heartbeat"},
                    },
                )
            self._stop.wait(0.3)


# --- seeding and counting ----------------------------------------------------------


def seed(count: int) -> tuple[str, str, int]:
    """Chargers with passwords and their tags, an operator: (token, session, pk)."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import PBKDF2PasswordHasher
    from rest_framework.authtoken.models import Token

    from bench.liveprobe import live_session_cookie
    from bench.run import seed as bench_seed
    from sessions_app.models import ChargingSession
    from stations.models import ChargePoint

    bench_seed(count, prefix=PREFIX, tag_prefix=TAG_PREFIX)
    ChargePoint.objects.filter(ocpp_id__startswith=PREFIX).update(
        password_hash=PBKDF2PasswordHasher().encode(
            PASSWORD, "chaossalt", iterations=2000
        )
    )
    # Sessions a previous run left open would hold the tags (one session each).
    ChargingSession.objects.filter(
        charge_point__ocpp_id__startswith=PREFIX, stopped_at__isnull=True
    ).update(stopped_at=datetime.now(UTC))
    # An operations user of the network (bench.liveprobe): the portal's cookie
    # and the API's token.
    session_key, _ = live_session_cookie(NETWORK)
    user = get_user_model().objects.get(username="bench-live-viewer")
    token, _ = Token.objects.get_or_create(user=user)
    first = ChargePoint.objects.get(ocpp_id=f"{PREFIX}00001")
    return token.key, session_key, first.pk


def stored_counts(
    since: datetime,
) -> tuple[Counter[tuple[str, int]], Counter[tuple[str, str]]]:
    """Meter values and logged CALLs of the chaos chargers since ``since``."""
    from django.db import connection

    connection.close()  # a connection from before a PostgreSQL restart is gone
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT cp.ocpp_id, extract(epoch FROM mv.timestamp)::bigint, count(*) "
            "FROM charging_metervalue mv JOIN stations_chargepoint cp "
            "ON cp.id = mv.charge_point_id WHERE cp.ocpp_id LIKE %s "
            "AND mv.measurand = 'Energy.Active.Import.Register' "
            "AND mv.received_at >= %s GROUP BY 1, 2",
            [PREFIX + "%", since],
        )
        meter = Counter({(ocpp_id, int(at)): n for ocpp_id, at, n in cursor.fetchall()})
        cursor.execute(
            "SELECT ocpp_id, unique_id, count(*) FROM stations_ocppmessage "
            "WHERE ocpp_id LIKE %s AND direction = 'in' AND message_type = 2 "
            "AND at >= %s GROUP BY 1, 2",
            [PREFIX + "%", since],
        )
        logged = Counter(
            {(ocpp_id, unique_id): n for ocpp_id, unique_id, n in cursor.fetchall()}
        )
    return meter, logged


@dataclass
class CaseReport:
    name: str
    seconds: float = 0.0
    reconnected_s: float | None = None
    sigkills: int = 0
    note: str = ""


def report(
    cases: list[CaseReport],
    fleet: Fleet,
    poller: Poller,
    meter: Counter[tuple[str, int]],
    logged: Counter[tuple[str, str]],
    teardown_sigkills: int,
) -> bool:
    ok = True
    header = (
        f"{'case':<11} {'acked MV':>8} {'stored':>7} {'lost':>5} {'dup':>4} "
        f"{'acked calls':>11} {'logged':>7} {'unlogged':>8} {'log dup':>7} "
        f"{'5xx':>4} {'503 ans':>7} {'polls':>6} {'SIGKILL':>7} {'back in':>8}"
    )
    print(header)
    print("-" * len(header))
    for case in cases:
        tally = fleet.tallies[case.name]
        polled = poller.results[case.name]
        stored = sum(1 for key in tally.meter_values if meter[key] > 0)
        lost = len(tally.meter_values) - stored
        duplicates = sum(meter[key] - 1 for key in tally.meter_values if meter[key] > 1)
        logged_calls = sum(1 for key in tally.calls if logged[key] > 0)
        unlogged = len(tally.calls) - logged_calls
        log_duplicates = sum(logged[key] - 1 for key in tally.calls if logged[key] > 1)
        back = f"{case.reconnected_s:.1f} s" if case.reconnected_s is not None else "-"
        print(
            f"{case.name:<11} {len(tally.meter_values):>8} {stored:>7} {lost:>5} "
            f"{duplicates:>4} {len(tally.calls):>11} {logged_calls:>7} {unlogged:>8} "
            f"{log_duplicates:>7} {polled.server_errors:>4} "
            f"{polled.unavailable_answered:>7} {polled.requests:>6} "
            f"{case.sigkills:>7} {back:>8}"
        )
        for sample in polled.samples[:3]:
            print(f"    poller: {sample}")
        if case.note:
            print(f"    {case.note}")
        if lost or duplicates or unlogged or log_duplicates:
            ok = False
        if polled.server_errors or case.sigkills or not tally.meter_values:
            ok = False
    print(
        f"chargers: {fleet.count}, reconnects: {fleet.reconnects}, "
        f"unanswered calls (charger gave up after {CALL_TIMEOUT_S:g} s): "
        f"{sum(t.unanswered for t in fleet.tallies.values())}, CALLERRORs: "
        f"{sum(t.call_errors for t in fleet.tallies.values())}, commands answered: "
        f"{sum(t.commands_answered for t in fleet.tallies.values())}; "
        f"SIGKILLs at teardown: {teardown_sigkills}"
    )
    if teardown_sigkills:
        ok = False
    return ok


# --- the run ---------------------------------------------------------------------


def wait_connected(fleet: Fleet, since: float, timeout_s: float = 60) -> float | None:
    """Seconds from ``since`` until every charger is connected again."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if fleet.connected >= fleet.count:
            return time.monotonic() - since
        time.sleep(0.1)
    return None


def wait_dropped(fleet: Fleet, timeout_s: float = 10) -> None:
    """Until the chargers have seen the fault (some socket closed), if they do."""
    deadline = time.monotonic() + timeout_s
    while fleet.connected >= fleet.count and time.monotonic() < deadline:
        time.sleep(0.02)


def run_case(name: str, layout: Layout, fleet: Fleet, poller: Poller) -> CaseReport:
    case = CaseReport(name)
    started = time.monotonic()
    fleet.case(name)
    poller.case(name)
    sys.stderr.write(f"[chaos] {name} ...\n")
    time.sleep(LOAD_S)
    if name == "kill -9":
        victim = layout.asgi[0]
        victim.kill()
        fault_over = time.monotonic()
        wait_dropped(fleet)
        # Its chargers come back through nginx to the other process; then the
        # orchestrator's restart (not counted in "back in").
        case.reconnected_s = wait_connected(fleet, fault_over)
        victim.start()
        victim.wait_healthy()
    elif name == "rolling":
        stops = []
        for server in layout.asgi:
            offset = server.log_path.stat().st_size
            signalled = time.monotonic()
            if not server.terminate():
                case.sigkills += 1
            took = time.monotonic() - signalled
            with server.log_path.open("rb") as log:
                log.seek(offset)
                cancelled = b"timeout graceful shutdown exceeded" in log.read()
            stops.append(
                f"{took:.1f} s"
                + (" (tasks cancelled at ASGI_SHUTDOWN_TIMEOUT_S)" if cancelled else "")
            )
            server.start()
            server.wait_healthy()
        fault_over = time.monotonic()
        case.note = "SIGTERM to exit: " + ", ".join(stops)
    elif name == "redis":
        redis_stop(layout.redis_port)
        time.sleep(4.0)
        services_start()
        fault_over = time.monotonic()
    elif name == "postgresql":
        postgresql_restart()
        fault_over = time.monotonic()
    else:
        raise ValueError(name)
    if case.reconnected_s is None:
        case.reconnected_s = wait_connected(fleet, fault_over)
    time.sleep(LOAD_S)
    case.seconds = time.monotonic() - started
    return case


def main() -> int:
    began = time.monotonic()
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    database_url, redis_url = start_services()
    database_url = database_url.rsplit("/", 1)[0] + f"/{DATABASE}"
    redis_url = redis_url.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    import psycopg

    with psycopg.connect(
        database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True
    ) as connection:
        if not connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone():
            connection.execute(f"CREATE DATABASE {DATABASE}")
    env = server_env(
        database_url,
        redis_url,
        ASGI_SHUTDOWN_TIMEOUT_S=str(SHUTDOWN_TIMEOUT_S),
        OCPP_CA_DIR=str(RUN_DIR / "ca"),
    )
    setup_django(env)
    token, session_key, charge_point_pk = seed(CHARGERS)
    since = datetime.now(UTC) - timedelta(seconds=5)
    redis_port = int(redis_url.rsplit(":", 1)[1].split("/", 1)[0])
    layout = Layout(env=env, database_url=database_url, redis_port=redis_port)
    cases: list[CaseReport] = []
    fleet = poller = None
    teardown_sigkills = 0
    try:
        layout.start()
        fleet = Fleet(f"ws://127.0.0.1:{layout.front_port}", CHARGERS)
        fleet.start()
        poller = Poller(layout.front, token, session_key, charge_point_pk)
        poller.start()
        if wait_connected(fleet, time.monotonic(), 120) is None:
            raise RuntimeError(
                f"only {fleet.connected} of {CHARGERS} chargers connected"
            )
        sys.stderr.write(f"[chaos] {CHARGERS} chargers connected\n")
        for name in CASES:
            cases.append(run_case(name, layout, fleet, poller))
        time.sleep(2.0)
    finally:
        if poller is not None:
            poller.stop()
        if fleet is not None:
            fleet.stop()
        teardown_sigkills = layout.stop()
    assert fleet is not None
    assert poller is not None
    meter, logged = stored_counts(since)
    print(
        f"Fault injection, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {CHARGERS} "
        f"password-protected chargers through nginx -> 2 ASGI processes, Celery, "
        f"PostgreSQL, Redis; {LOAD_S:g} s of load before and after each fault"
    )
    ok = report(cases, fleet, poller, meter, logged, teardown_sigkills)
    print(f"{'PASS' if ok else 'FAIL'} in {time.monotonic() - began:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
