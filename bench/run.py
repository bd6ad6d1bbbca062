"""Run the benchmark scenarios against the CMS and both baselines, in one go.

    python bench/run.py --scenario all --quick      # ~5 minutes
    python bench/run.py --scenario throughput       # one scenario, full size

Starts PostgreSQL + Redis (``.ci/services.sh start``), a dedicated database
``cms_bench`` (migrated, seeded with the bench chargers and their id tags), the
CMS as N uvicorn processes (``--server daphne`` to compare), the hand-rolled
``ocpp``+``websockets`` baseline and the canned-reply ceiling, then drives them
with ``bench.loadgen`` and writes the figures into ``docs/benchmarks.md``
(between the result markers) and ``var/bench/results-<time>.json``.
Every server binds 127.0.0.1 and is stopped at the end; every load is bounded.

    BENCH_PROFILE_DIR=var/prof python bench/run.py --scenario storm --no-doc

runs each CMS process under ``py-spy record`` (raw collapsed stacks per process).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.liveprobe import (  # noqa: E402
    LiveProbe,
    board_pages,
    live_session_cookie,
)
from bench.loadgen import (  # noqa: E402
    LoadConfig,
    LoadResult,
    LoadRun,
    charger_id,
    id_tag,
    latency_summary,
    mid_session_share,
)

DOC = ROOT / "docs" / "benchmarks.md"
# The report rendered into DOC, kept so that ``--merge`` can re-run some scenarios.
DOC_DATA = ROOT / "docs" / "benchmarks.json"
START_MARK = "<!-- bench:results:start -->"
END_MARK = "<!-- bench:results:end -->"
BENCH_DB = "cms_bench"
REDIS_DB = 10
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- process metrics from /proc ------------------------------------------------


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_kb(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_KB
    except OSError:
        return 0


class Sampler:
    """CPU seconds over a window and peak RSS of a set of processes."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.peak_rss_kb = 0
        self._stop = threading.Event()
        self._cpu0 = sum(cpu_seconds(pid) for pid in pids)
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            self.peak_rss_kb = max(
                self.peak_rss_kb, sum(rss_kb(pid) for pid in self.pids)
            )

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        wall = time.monotonic() - self._t0
        cpu = sum(cpu_seconds(pid) for pid in self.pids) - self._cpu0
        return {
            "cpu_percent": round(100 * cpu / wall, 1),
            "peak_rss_mb": round(self.peak_rss_kb / 1024, 1),
        }


# --- services and servers ------------------------------------------------------


def start_services() -> tuple[str, str]:
    output = subprocess.run(  # noqa: S603  (our own script)
        ["/bin/bash", str(ROOT / ".ci" / "services.sh"), "start"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = dict(re.findall(r"export (\w+)=(\S+)", output))
    base_db, base_redis = found["DATABASE_URL"], found["REDIS_URL"]
    database_url = base_db.rsplit("/", 1)[0] + f"/{BENCH_DB}"
    redis_url = base_redis.rsplit("/", 1)[0] + f"/{REDIS_DB}"
    import psycopg

    with psycopg.connect(
        base_db.rsplit("/", 1)[0] + "/postgres", autocommit=True
    ) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,)
        ).fetchone()
        if not exists:
            connection.execute(f"CREATE DATABASE {BENCH_DB}")
    return database_url, redis_url


def server_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "cms.settings",
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DEBUG": "false",
            "DEMO_MODE": "false",
            "SECRET_KEY": "bench-only-" + uuid.uuid4().hex * 2,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "OCPP_UNKNOWN_CHARGERS": "reject",
            # Every simulated charger connects from this one loopback address.
            "OCPP_UNBOOTED_PER_ADDRESS": "1000000",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


@dataclass
class Servers:
    kind: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    profiled: bool = False

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                if self.profiled:
                    process.send_signal(signal.SIGINT)
                else:
                    process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


def _wait_port(port: int, timeout_s: float, http: bool) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if http:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/healthz", timeout=2
                ) as response:
                    if response.status == 200:
                        return
            else:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"server on port {port} did not come up in {timeout_s} s")


def start_cms(env: dict[str, str], count: int, server: str, log_dir: Path) -> Servers:
    servers = Servers(f"cms-{server}")
    for _ in range(count):
        port = free_port()
        if server == "daphne":
            command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1"]
            command += ["-p", str(port), "--websocket_timeout", "-1"]
            command += ["cms.asgi:application"]
        else:
            command = [sys.executable, "-m", "uvicorn", "cms.asgi:application"]
            command += ["--host", "127.0.0.1", "--port", str(port), "--lifespan"]
            command += ["off", "--no-access-log", "--backlog", "8192"]
            command += ["--ws-ping-interval", "60", "--ws-ping-timeout", "60"]
        profile_dir = os.environ.get("BENCH_PROFILE_DIR")
        if profile_dir:
            # py-spy samples the whole run and writes when interrupted (stop()).
            # CPU and RSS figures of a profiled run are py-spy's: use --no-doc.
            servers.profiled = True
            output = Path(profile_dir) / f"{servers.kind}-{port}.txt"
            spy = str(Path(sys.executable).parent / "py-spy")
            command = [
                spy,
                "record",
                "--threads",
                "-r",
                "100",
                "-f",
                "raw",
                "-o",
                str(output),
                # BENCH_PROFILE_GIL=1: only the thread holding the GIL (CPU in Python).
                *(["--gil"] if os.environ.get("BENCH_PROFILE_GIL") else []),
                "--",
                *command,
            ]
        log = (log_dir / f"{servers.kind}-{port}.log").open("wb")
        servers.processes.append(
            subprocess.Popen(  # noqa: S603
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        )
        servers.urls.append(f"ws://127.0.0.1:{port}/ocpp/")
        _wait_port(port, 60, http=True)
    return servers


def start_baseline(kind: str, count: int, database_url: str, log_dir: Path) -> Servers:
    servers = Servers(kind)
    for _ in range(count):
        port = free_port()
        command = [sys.executable, "-m", "bench.baselines", kind, "--port", str(port)]
        if kind == "handrolled":
            command += ["--database-url", database_url]
        log = (log_dir / f"{kind}-{port}.log").open("wb")
        servers.processes.append(
            subprocess.Popen(  # noqa: S603
                command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        )
        servers.urls.append(f"ws://127.0.0.1:{port}/ocpp/")
        _wait_port(port, 30, http=False)
    return servers


# --- Django side (seed, checks, commands) -------------------------------------


def setup_django(env: dict[str, str]) -> None:
    for name in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REDIS_URL", "DEBUG"):
        os.environ[name] = env[name]
    for name in ("SECRET_KEY", "ALLOWED_HOSTS", "DEMO_MODE"):
        os.environ[name] = env[name]
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)


def seed(count: int, prefix: str = "BENCH-", tag_prefix: str = "BT") -> None:
    """Create the bench network, one station, ``count`` chargers and id tags."""
    from sessions_app.models import IdToken
    from stations.models import ChargePoint, Connector, Network, Station

    network, _ = Network.objects.get_or_create(name="Bench network")
    station, _ = Station.objects.get_or_create(network=network, name="Bench station")
    ChargePoint.objects.bulk_create(
        [
            ChargePoint(
                ocpp_id=f"{prefix}{index:05d}",
                station=station,
                registration_status="Accepted",
            )
            for index in range(1, count + 1)
        ],
        ignore_conflicts=True,
        batch_size=2000,
    )
    Connector.objects.bulk_create(
        [
            Connector(charge_point=charge_point, connector_id=1)
            for charge_point in ChargePoint.objects.filter(
                ocpp_id__startswith=prefix
            ).only("pk")
        ],
        ignore_conflicts=True,
        batch_size=2000,
    )
    IdToken.objects.bulk_create(
        [
            IdToken(token=f"{tag_prefix}{index:05d}", network=network)
            for index in range(1, count + 1)
        ],
        ignore_conflicts=True,
        batch_size=2000,
    )


def logged_calls(prefix: str, since: datetime) -> int:
    from stations.models import OcppMessage

    return OcppMessage.objects.filter(
        ocpp_id__startswith=prefix, direction="in", message_type=2, at__gte=since
    ).count()


def connected_count(prefix: str) -> int:
    from stations.models import ChargePoint

    return ChargePoint.objects.filter(
        ocpp_id__startswith=prefix, is_connected=True
    ).count()


# --- scenarios -----------------------------------------------------------------


def summarize(result: LoadResult, metrics: dict[str, float]) -> dict[str, Any]:
    stats = result.stats
    window = result.config.duration_s
    return {
        "chargers": result.config.count,
        "connected": stats.connected,
        "refused": stats.refused,
        "dropped": stats.dropped,
        "booted": stats.booted,
        "sent": stats.sent,
        "answered": stats.answered,
        "call_errors": stats.call_errors,
        "lost": stats.lost,
        "window_msgs_per_s": round(stats.window_answered / window, 1),
        "window_s": window,
        "latency_ms": latency_summary(stats.window_latencies_ms),
        "heartbeat_ms": latency_summary(stats.heartbeat_ms),
        "boot_all_s": round(max(stats.boot_done_s), 2) if stats.boot_done_s else None,
        "errors_by_code": stats.errors_by_code,
        "error_samples": stats.error_samples[:5],
        **metrics,
    }


def close_open_sessions(prefix: str) -> int:
    """Complete the sessions an earlier run left open on the bench chargers.

    A run ends with chargers mid-session (no artificial wave of stops at the
    deadline); the next run must not start on a fleet whose every connector has
    a stale open session to supersede, which a fleet in steady state has not.
    """
    from django.utils import timezone

    from sessions_app.models import ChargingSession, SessionStatus

    return ChargingSession.objects.filter(
        charge_point__ocpp_id__startswith=prefix, stopped_at__isnull=True
    ).update(
        stopped_at=timezone.now(),
        status=SessionStatus.COMPLETED,
        stop_reason="bench-reset",
        power_w=None,
    )


def open_sessions_seed(config: LoadConfig) -> tuple[tuple[int, int], ...]:
    """Open a session on the mid-session share of the run's chargers.

    A fleet is mostly mid-session at any moment; after a gateway restart its
    chargers carry on with MeterValues for transactions the CMS already holds.
    Returns (charger index, transaction id) for ``LoadConfig.open_transactions``.
    """
    from django.utils import timezone

    from sessions_app.models import ChargingSession, IdToken, SessionStatus
    from stations.models import ChargePoint

    rng = random.Random(20261123)
    share = mid_session_share(config.session_meter_values)
    chosen = [index for index in range(config.count) if rng.random() < share]
    charge_points = dict(
        ChargePoint.objects.filter(
            ocpp_id__in=[charger_id(config, index) for index in chosen]
        ).values_list("ocpp_id", "pk")
    )
    tokens = dict(
        IdToken.objects.filter(
            token__in=[id_tag(config, index) for index in chosen]
        ).values_list("token", "pk")
    )
    started = timezone.now() - timedelta(minutes=10)
    sessions = ChargingSession.objects.bulk_create(
        [
            ChargingSession(
                charge_point_id=charge_points[charger_id(config, index)],
                connector_number=1,
                id_token_id=tokens.get(id_tag(config, index)),
                id_tag=id_tag(config, index),
                status=SessionStatus.ACTIVE,
                meter_start_wh=0,
                started_at=started,
            )
            for index in chosen
        ],
        batch_size=2000,
    )
    return tuple(
        (index, session.pk) for index, session in zip(chosen, sessions, strict=True)
    )


def drive(
    servers: Servers,
    config_kwargs: dict[str, Any],
    *,
    check_log: bool = False,
    mid_session: bool = False,
) -> dict[str, Any]:
    config = LoadConfig(urls=tuple(servers.urls), **config_kwargs)
    if check_log or mid_session:  # the CMS database holds the sessions
        close_open_sessions(config.prefix)
    if mid_session:
        config = dataclasses.replace(
            config, open_transactions=open_sessions_seed(config)
        )
    since = datetime.now(UTC) - timedelta(seconds=1)
    baseline_rss = sum(rss_kb(pid) for pid in servers.pids)
    sampler = Sampler(servers.pids)
    result = LoadRun(config).result()
    metrics = sampler.stop()
    summary = summarize(result, metrics)
    summary["server"] = servers.kind
    summary["server_processes"] = len(servers.processes)
    summary["rss_before_mb"] = round(baseline_rss / 1024, 1)
    if check_log:
        time.sleep(1.0)  # the message log flushes every 0.1 s
        logged = logged_calls(config.prefix, since)
        summary["logged_calls"] = logged
        summary["unlogged_calls"] = max(0, result.stats.sent - logged)
    return summary


def scenario_throughput(ctx: Context) -> dict[str, Any]:
    size = {"count": 100 if ctx.quick else 200, "duration_s": 15 if ctx.quick else 30}
    config = {"mode": "throughput", "processes": 2, "connect_rate": 400, **size}
    out: dict[str, Any] = {}
    for name, servers in ctx.all_servers():
        out[name] = drive(servers, config, check_log=name == "cms")
    return out


def scenario_protocols(ctx: Context) -> dict[str, Any]:
    """The throughput load as a 1.6 fleet, then at once as a 2.0.1 fleet (CMS only).

    The same chargers, size and mix back to back on the same CMS processes, so
    the two figures share the machine's load; the baselines speak 1.6 only.
    """
    size = {"count": 100 if ctx.quick else 200, "duration_s": 15 if ctx.quick else 30}
    config = {"mode": "throughput", "processes": 2, "connect_rate": 400, **size}
    return {
        protocol: drive(ctx.cms, {**config, "protocol": protocol}, check_log=True)
        for protocol in ("ocpp1.6", "ocpp2.0.1")
    }


def scenario_steady(ctx: Context, *, churn: bool = False) -> dict[str, Any]:
    count = 1000 if ctx.quick else 2000
    config: dict[str, Any] = {
        "mode": "steady",
        "count": count,
        "rate": 1000.0,
        "processes": 2,
        "connect_rate": 500,
        "duration_s": 20 if ctx.quick else 40,
    }
    # A fleet in steady state is mostly mid-session: ~95 % of the chargers carry
    # on with sessions the CMS already holds, the others start theirs in the window.
    mid_session = not churn
    if churn:
        # Short sessions back to back: a start-heavy stress of the session path.
        config.update(session_meter_values=(3, 10), warm_sessions=False)
    out: dict[str, Any] = {}
    for name, servers in ctx.all_servers():
        probe = None
        viewers = int(os.environ.get("BENCH_LIVE_VIEWERS", "10"))
        if name == "cms" and viewers > 0:
            # Portal browsers on the live board while the chargers load the CMS.
            session_key, network_id = live_session_cookie("Bench network")
            bases = [url.split("/ocpp/")[0] for url in servers.urls]
            probe = LiveProbe(
                bases,
                session_key,
                network_id,
                viewers=viewers,
                pages=board_pages("BENCH-")[:viewers],
            )
            probe.start()
        out[name] = drive(
            servers, config, check_log=name == "cms", mid_session=mid_session
        )
        if probe is not None:
            out[name]["live_view"] = probe.stop()
    return out


def scenario_churn(ctx: Context) -> dict[str, Any]:
    return scenario_steady(ctx, churn=True)


def scenario_connections(ctx: Context) -> dict[str, Any]:
    """N idle heartbeating chargers on ONE server process of each kind.

    Connections are paced at what one CMS process absorbs while it answers the
    heartbeats of those already held (~150 handshakes + BootNotification +
    StatusNotification per second); the burst case is the storm scenario.
    Heartbeat latency counts the measuring window only (after the ramp).
    """
    count = 2000 if ctx.quick else 10_000
    config = {
        "mode": "idle",
        "count": count,
        "processes": 2,
        "connect_rate": 150,
        "heartbeat_s": 30.0,
        "duration_s": 30 if ctx.quick else 60,
    }
    out: dict[str, Any] = {}
    for name, servers in ctx.all_servers(single=True):
        summary = drive(servers, config)
        summary["rss_per_connection_kb"] = round(
            (summary["peak_rss_mb"] - summary["rss_before_mb"])
            * 1024
            / max(summary["connected"], 1),
            1,
        )
        out[name] = summary
    return out


def scenario_storm(ctx: Context) -> dict[str, Any]:
    count = 2000 if ctx.quick else 10_000
    config = {
        "mode": "storm",
        "count": count,
        "processes": 2,
        "duration_s": 60 if not ctx.quick else 40,
        "call_timeout_s": 60.0,
        "connect_timeout_s": 60.0,
    }
    return {"cms": drive(ctx.cms, config)}


def scenario_commands(ctx: Context) -> dict[str, Any]:
    """Commands from this process reach chargers held by the server processes."""
    from stations.models import ChargePoint, ChargePointCommand
    from stations.ocpp.commands import GetConfiguration
    from stations.remote.dispatch import command_send

    count = 1000
    duration = 60.0
    config = LoadConfig(
        urls=tuple(ctx.cms.urls),
        mode="idle",
        count=count,
        processes=2,
        connect_rate=500,
        heartbeat_s=30.0,
        duration_s=duration,
    )
    # The previous scenario's chargers (same identities) must be gone first, or
    # their sockets would be counted as this scenario's and then close under it.
    deadline = time.monotonic() + 60
    while connected_count(config.prefix) > 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    run = LoadRun(config)
    deadline = time.monotonic() + count / 500 + 30
    while connected_count(config.prefix) < count and time.monotonic() < deadline:
        time.sleep(0.5)
    chargers = list(
        ChargePoint.objects.filter(
            ocpp_id__startswith=config.prefix, is_connected=True
        ).select_related("station__network")[:count]
    )
    issued: dict[int, float] = {}
    for charge_point in random.sample(chargers, 200):  # one at a time
        started = time.time()
        command = command_send(
            charge_point=charge_point,
            command=GetConfiguration(),
            requested_by=None,
        )
        issued[command.pk] = started
        time.sleep(0.02)
    batch = uuid.uuid4()
    bulk_started = time.time()
    bulk_ids = []
    for charge_point in chargers:
        command = command_send(
            charge_point=charge_point,
            command=GetConfiguration(),
            requested_by=None,
            batch=batch,
        )
        bulk_ids.append(command.pk)
    bulk_issued_s = time.time() - bulk_started
    result = run.result()
    unique_ids = dict(
        ChargePointCommand.objects.filter(pk__in=[*issued, *bulk_ids]).values_list(
            "pk", "unique_id"
        )
    )
    received = result.stats.commands_received
    single = [
        (received[unique_ids[pk]] - started) * 1000
        for pk, started in issued.items()
        if unique_ids.get(pk) in received
    ]
    bulk_arrivals = [
        received[unique_ids[pk]] for pk in bulk_ids if unique_ids.get(pk) in received
    ]
    statuses: dict[str, int] = {}
    for status in ChargePointCommand.objects.filter(pk__in=bulk_ids).values_list(
        "status", flat=True
    ):
        statuses[status] = statuses.get(status, 0) + 1
    return {
        "cms": {
            "chargers_connected": result.stats.connected,
            "dropped": result.stats.dropped,
            "single_commands": len(issued),
            "single_received": len(single),
            "single_issue_to_charger_ms": latency_summary(single),
            "bulk_commands": len(bulk_ids),
            "bulk_received": len(bulk_arrivals),
            "bulk_issue_loop_s": round(bulk_issued_s, 2),
            "bulk_all_received_s": round(max(bulk_arrivals) - bulk_started, 2)
            if bulk_arrivals
            else None,
            "bulk_final_status": statuses,
        }
    }


SOAK_PROCESSES = 4


def scenario_soak(ctx: Context) -> dict[str, Any]:
    """50,000 chargers on this machine for 10 minutes: a call every 30-60 s each.

    Each charger idles with heartbeats, then charges: Authorize,
    StartTransaction, 40-120 MeterValues 30-60 s apart, StopTransaction and
    the status changes around it; most start mid-session (sessions already
    open in the CMS, as after a gateway restart). The CMS runs as
    ``SOAK_PROCESSES`` processes because one process may hold at most
    ``RLIMIT_NOFILE`` (20,000 here, not raisable without privileges) sockets;
    the load generator likewise uses one worker per 12,500 chargers.
    """
    count = int(os.environ.get("BENCH_SOAK_CHARGERS", 5000 if ctx.quick else 50_000))
    seed(count)
    mean_interval_s = 45.0
    config = {
        "mode": "steady",
        "count": count,
        "rate": count / mean_interval_s,
        "processes": SOAK_PROCESSES,
        # What 4 processes on 2 cores absorb beside the load generator's own
        # handshakes (the 03:02 run at 400/s timed 8,275 handshakes out).
        "connect_rate": 250,
        "duration_s": float(
            os.environ.get("BENCH_SOAK_SECONDS", 60 if ctx.quick else 600)
        ),
        "session_meter_values": (40, 120),
        "call_timeout_s": 60.0,
    }
    servers = ctx._start("cms", SOAK_PROCESSES)
    summary = drive(servers, config, check_log=True, mid_session=True)
    summary["offered_msgs_per_s"] = round(count / mean_interval_s, 1)
    return {"cms": summary}


SCENARIOS = {
    "throughput": scenario_throughput,
    "steady": scenario_steady,
    "churn": scenario_churn,
    "connections": scenario_connections,
    "storm": scenario_storm,
    "commands": scenario_commands,
    "soak": scenario_soak,
    "protocols": scenario_protocols,
}


@dataclass
class Context:
    quick: bool
    env: dict[str, str]
    database_url: str
    log_dir: Path
    server: str
    processes: int
    cms: Servers = field(default_factory=lambda: Servers("none"))
    started: list[Servers] = field(default_factory=list)
    baselines: bool = True

    def _start(self, name: str, count: int) -> Servers:
        if name == "cms":
            servers = start_cms(self.env, count, self.server, self.log_dir)
        else:
            servers = start_baseline(name, count, self.database_url, self.log_dir)
        self.started.append(servers)
        return servers

    def all_servers(self, single: bool = False) -> list[tuple[str, Servers]]:
        """Fresh server sets (one process each when ``single``), CMS first."""
        names = ["cms", "handrolled", "canned"] if self.baselines else ["cms"]
        out = []
        for name in names:
            if name == "cms" and not single:
                out.append((name, self.cms))
                continue
            out.append((name, self._start(name, 1 if single else self.processes)))
        return out

    def stop_extra(self) -> None:
        for servers in self.started:
            if servers is not self.cms:
                servers.stop()
        self.started = [self.cms]


def machine() -> dict[str, str]:
    cpu = "unknown"
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory_kb = 0
    with suppress(OSError):
        memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpu": f"{cpu} x {os.cpu_count()}",
        "memory_gib": f"{memory_kb / 1024 / 1024:.1f}",
        "python": platform.python_version(),
        "os": platform.platform(),
    }


# --- report --------------------------------------------------------------------


def _ratio(value: float, other: float) -> str:
    return f"{value / other:.2f}x" if other else "n/a"


def _row(name: str, item: dict[str, Any]) -> str:
    latency = item["latency_ms"]
    return (
        f"| {name} | {item['server_processes']} | {item['window_msgs_per_s']} | "
        f"{latency['p50']} / {latency['p95']} / {latency['p99']} / {latency['max']} | "
        f"{item['call_errors']} | {item['lost']} | {item['dropped']} | "
        f"{item['cpu_percent']} | {item['peak_rss_mb']} |"
    )


HEADER = (
    "| server | processes | msgs/s (window) | latency ms p50 / p95 / p99 / max | "
    "CALLERRORs | lost | dropped | server CPU % | server RSS MB |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def render(report: dict[str, Any]) -> str:
    lines = [
        START_MARK,
        f"### Run of {report['finished_at']} ({'quick' if report['quick'] else 'full'})",
        "",
        f"Command: `{report['command']}`  ",
        f"Machine: {report['machine']['cpu']}, {report['machine']['memory_gib']} GiB, "
        f"Python {report['machine']['python']}; load generator, PostgreSQL and Redis "
        "on the same machine.  ",
        f"CMS: {report['processes']} x {report['server']} processes, "
        "PostgreSQL 15 + Redis channel layer, DEBUG off.",
        "",
    ]
    runs = report.get("scenario_runs") or {}
    if len(set(runs.values())) > 1:
        lines += [
            "Scenarios by run: "
            + ", ".join(f"{name} {at}" for name, at in runs.items())
            + ".",
            "",
        ]
    results = report["results"]
    for name in ("throughput", "steady", "churn"):
        if name not in results:
            continue
        data = results[name]
        lines += [f"#### {name}", "", HEADER]
        lines += [_row(kind, item) for kind, item in data.items()]
        cms = data["cms"]["window_msgs_per_s"]
        if "handrolled" in data:
            lines.append("")
            lines.append(
                f"CMS / hand-rolled: **{_ratio(cms, data['handrolled']['window_msgs_per_s'])}**"
                f", CMS / canned ceiling: **{_ratio(cms, data['canned']['window_msgs_per_s'])}**."
                f" Calls sent {data['cms']['sent']}, found in the CMS message log "
                f"{data['cms'].get('logged_calls')} (unlogged: {data['cms'].get('unlogged_calls')})."
            )
        live = data["cms"].get("live_view")
        if live:
            lat = live["latency_ms"]
            lines.append("")
            lines.append(
                f"Live view: {live['connected']}/{live['viewers']} portal browsers on the "
                f"live board received {live['status_events']} rendered status updates; "
                "StatusNotification (charger timestamp) -> row in the browser ms "
                f"p50/p95/p99/max **{lat['p50']}/{lat['p95']}/{lat['p99']}/{lat['max']}**."
            )
        lines.append("")
    if "protocols" in results:
        data = results["protocols"]
        lines += [
            "#### protocols (the throughput load from a 1.6 fleet, then a 2.0.1 fleet)",
            "",
            HEADER.replace("| server |", "| fleet |", 1),
        ]
        lines += [_row(protocol, item) for protocol, item in data.items()]
        old, new = data["ocpp1.6"], data["ocpp2.0.1"]
        lines += [
            "",
            f"2.0.1 / 1.6: **{_ratio(new['window_msgs_per_s'], old['window_msgs_per_s'])}**"
            f" msg/s. Calls sent / in the message log: 1.6 {old['sent']} / "
            f"{old.get('logged_calls')}, 2.0.1 {new['sent']} / {new.get('logged_calls')}.",
            "",
        ]
    if "connections" in results:
        lines += [
            "#### connections (one server process each, idle chargers heartbeating every 30 s)",
            "",
            "| server | connected | refused | dropped | heartbeat ms p50 / p95 / p99 / max | "
            "CPU % | RSS before -> peak MB | KB per connection |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for kind, item in results["connections"].items():
            hb = item["heartbeat_ms"]
            lines.append(
                f"| {kind} | {item['connected']} | {item['refused']} | {item['dropped']} | "
                f"{hb['p50']} / {hb['p95']} / {hb['p99']} / {hb['max']} | {item['cpu_percent']} | "
                f"{item['rss_before_mb']} -> {item['peak_rss_mb']} | {item['rss_per_connection_kb']} |"
            )
        lines.append("")
    if "storm" in results:
        item = results["storm"]["cms"]
        latency = item["latency_ms"]
        lines += [
            "#### reconnect storm (all chargers connect and boot at once)",
            "",
            f"{item['chargers']} chargers: connected {item['connected']}, booted "
            f"{item['booted']}, refused {item['refused']}, lost calls {item['lost']}, "
            f"CALLERRORs {item['call_errors']}; last boot answered after "
            f"**{item['boot_all_s']} s**; call latency p50/p99/max "
            f"{latency['p50']}/{latency['p99']}/{latency['max']} ms; server CPU "
            f"{item['cpu_percent']} %, peak RSS {item['peak_rss_mb']} MB.",
            "",
        ]
    if "soak" in results:
        item = results["soak"]["cms"]
        latency = item["latency_ms"]
        lines += [
            "#### soak (every charger a call every 30-60 s, sessions with meter values)",
            "",
            f"{item['chargers']} chargers on {item['server_processes']} CMS processes "
            f"for {item['window_s']} s: connected {item['connected']}, refused "
            f"{item['refused']}, **dropped by the server {item['dropped']}**, lost calls "
            f"{item['lost']}, CALLERRORs {item['call_errors']}; "
            f"{item['window_msgs_per_s']} msg/s answered (offered "
            f"{item['offered_msgs_per_s']}); latency p50/p95/p99/max "
            f"**{latency['p50']}/{latency['p95']}/{latency['p99']}/{latency['max']} ms**; "
            f"calls sent {item['sent']}, in the message log {item.get('logged_calls')} "
            f"(unlogged {item.get('unlogged_calls')}); server CPU {item['cpu_percent']} %, "
            f"peak RSS {item['peak_rss_mb']} MB.",
            "",
        ]
    if "commands" in results:
        item = results["commands"]["cms"]
        single = item["single_issue_to_charger_ms"]
        lines += [
            "#### commands (issued in the bench process, chargers held by the server processes)",
            "",
            f"Single commands: {item['single_received']}/{item['single_commands']} "
            f"arrived; issue -> CALL at the charger p50/p95/p99/max "
            f"{single['p50']}/{single['p95']}/{single['p99']}/{single['max']} ms.  ",
            f"Bulk: {item['bulk_received']}/{item['bulk_commands']} arrived, issuing took "
            f"{item['bulk_issue_loop_s']} s, all at the chargers after "
            f"{item['bulk_all_received_s']} s; final statuses {item['bulk_final_status']}; "
            f"chargers dropped {item['dropped']}.",
            "",
        ]
    errors = {
        f"{scenario}/{kind}": item.get("error_samples")
        for scenario, data in results.items()
        for kind, item in data.items()
        if item.get("error_samples")
    }
    if errors:
        lines += ["Error samples (first few per run):", "", "```"]
        for key, samples in errors.items():
            lines += [f"{key}: {sample}" for sample in samples[:3]]
        lines += ["```", ""]
    for failure in report.get("failed", []):
        lines += [f"Scenario failed in this run: `{failure}`", ""]
    lines.append(END_MARK)
    return "\n".join(lines)


def merged(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` on top of the documented run's other scenarios (same size only)."""
    if not DOC_DATA.exists():
        return report
    previous = json.loads(DOC_DATA.read_text())
    if previous.get("quick") != report["quick"]:
        return report
    runs = previous.get("scenario_runs") or dict.fromkeys(
        previous["results"], previous["finished_at"]
    )
    return {
        **report,
        "command": f"{previous['command']}; then {report['command']}",
        "results": {**previous["results"], **report["results"]},
        "scenario_runs": {**runs, **report["scenario_runs"]},
    }


def write_doc(report: dict[str, Any]) -> None:
    DOC_DATA.write_text(json.dumps(report, indent=1) + "\n")
    text = (
        DOC.read_text()
        if DOC.exists()
        else f"# Benchmarks\n\n{START_MARK}\n{END_MARK}\n"
    )
    block = render(report)
    if START_MARK in text and END_MARK in text:
        before = text.split(START_MARK, 1)[0]
        after = text.split(END_MARK, 1)[1]
        text = before + block + after
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the CMS benchmark scenarios.")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=[*SCENARIOS, "all"],
        help="repeatable; default all",
    )
    parser.add_argument("--quick", action="store_true", help="smaller, shorter runs")
    parser.add_argument("--server", choices=["uvicorn", "daphne"], default="uvicorn")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--no-doc", action="store_true", help="do not touch docs/")
    parser.add_argument(
        "--merge",
        action="store_true",
        help="keep the other scenarios of the documented run (same size) in docs/",
    )
    args = parser.parse_args()
    chosen = args.scenario or ["all"]
    names = list(SCENARIOS) if "all" in chosen else chosen
    database_url, redis_url = start_services()
    env = server_env(database_url, redis_url)
    setup_django(env)
    seed(10_000)
    log_dir = ROOT / "var" / "bench"
    log_dir.mkdir(parents=True, exist_ok=True)
    ctx = Context(
        quick=args.quick,
        env=env,
        database_url=database_url,
        log_dir=log_dir,
        server=args.server,
        processes=args.processes,
        baselines=not args.no_baselines,
    )
    results: dict[str, Any] = {}
    failed: list[str] = []
    try:
        ctx.cms = start_cms(env, args.processes, args.server, log_dir)
        ctx.started.append(ctx.cms)
        for name in names:
            sys.stderr.write(f"[bench] {name} ...\n")
            try:
                results[name] = SCENARIOS[name](ctx)
            except Exception as error:  # the other scenarios' figures still count
                sys.stderr.write(f"[bench] {name} FAILED: {error!r}\n")
                failed.append(f"{name}: {error!r}")
            ctx.stop_extra()
            sys.stderr.write(f"[bench] {name}: {json.dumps(results[name])[:2000]}\n")
    finally:
        for servers in ctx.started:
            servers.stop()
    report = {
        "finished_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": args.quick,
        "server": args.server,
        "processes": args.processes,
        "command": "python bench/run.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "results": results,
        "failed": failed,
    }
    report["scenario_runs"] = dict.fromkeys(results, report["finished_at"])
    if args.merge:
        report = merged(report)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    (log_dir / f"results-{stamp}.json").write_text(json.dumps(report, indent=2))
    if not args.no_doc:
        write_doc(report)
    print(json.dumps(report, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
