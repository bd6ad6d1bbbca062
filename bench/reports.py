"""Reports at fleet scale (issue 8): generate a year of fleet history, roll it up, time every report.

    python bench/reports.py                 # 1,000,000 sessions, 50,000,000 meter values
    python bench/reports.py --quick         # 1/50 of that
    python bench/reports.py --sessions 200 --meter-values 10000 --chargers 20 --no-doc
    python bench/reports.py --reliability   # outage records, NEVI uptime, 15-minute
                                            # records, quarterly data set only

Runs against its own database ``cms_reports_bench`` (``_quick`` for ``--quick``) on the test PostgreSQL
(``.ci/services.sh start``; port 55432). The fleet is generated in SQL
(``INSERT ... SELECT generate_series``), never through the ORM: networks,
stations, chargers with two connectors each, charging sessions over the last
12 months with an hour-of-day shape (morning and evening peaks), their meter
values (five measurands per sample), status history (Preparing, Charging,
SuspendedEV, Finishing, Available per session; faults; charger-wide Unavailable
periods), connection events (disconnects, silent periods) and one billing CDR
per session. Data already there with the same sizes is reused.

It then builds the roll-ups with the production service
(``stations.reports.tasks.report_rollups_update``; timed: the first backfill)
and times every report the portal and API serve, as the functions the views
call, for one whole network over the last 30 days and the last 12 months.
Figures go to ``docs/benchmarks.md`` between ``bench:reports`` markers.

``--reliability`` skips the roll-ups and times the regulatory reliability reports
instead (``stations.reliability``, ``billing.nevi``) on the same fleet: the outage
records' first build over 12 months and a refresh, NEVI uptime per port over the
trailing 12 months, 15-minute records for one day and 31 days, and the quarterly
session and outage data set; between ``bench:reliability`` markers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BENCH_DB = "cms_reports_bench"
DOC = ROOT / "docs" / "benchmarks.md"
START_MARK = "<!-- bench:reports:start -->"
END_MARK = "<!-- bench:reports:end -->"
SESSIONS = 1_000_000
METER_VALUES = 50_000_000
CHARGERS = 2_000
NETWORKS = 4
STATIONS_PER_NETWORK = 50
DAYS = 365
MEASURANDS = (
    ("Energy.Active.Import.Register", "Wh"),
    ("Power.Active.Import", "W"),
    ("Current.Import", "A"),
    ("Voltage", "V"),
    ("SoC", "Percent"),
)
ZONES = ("Europe/Berlin", "Europe/Paris", "Europe/London", "Europe/Amsterdam")
# Relative weight of each hour of day (UTC-ish local) for session starts.
HOUR_WEIGHTS = (
    1,
    1,
    1,
    1,
    1,
    2,
    4,
    8,
    10,
    8,
    6,
    6,
    7,
    6,
    6,
    7,
    9,
    12,
    13,
    11,
    8,
    5,
    3,
    2,
)
BENCH_TABLES = (
    "stations_connectorhourlyrollup",
    "stations_connectordailyrollup",
    "stations_reportrollupstate",
    "billing_cdr",
    "charging_metervalue",
    "stations_statuschange",
    "stations_connectionevent",
    "charging_chargingsession",
    "stations_connector",
    "stations_chargepoint",
    "stations_station",
    "stations_network",
)


def log(message: str) -> None:
    print(f"[{datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def database_url(name: str = BENCH_DB) -> str:
    """Start (idempotently) the test services and make sure the bench DB exists."""
    output = subprocess.run(  # noqa: S603  (our own script)
        ["/bin/bash", str(ROOT / ".ci" / "services.sh"), "start"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = dict(re.findall(r"export (\w+)=(\S+)", output))
    base = found["DATABASE_URL"].rsplit("/", 1)[0]
    import psycopg

    with psycopg.connect(base + "/postgres", autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
        if not exists:
            connection.execute(f"CREATE DATABASE {name}")
    return f"{base}/{name}"


def setup_django(url: str) -> None:
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "cms.settings",
            "DATABASE_URL": url,
            "DEBUG": "true",
            "DEMO_MODE": "false",
        }
    )
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", "--noinput", verbosity=0)


# --- generation -------------------------------------------------------------------


def _sizes(args: argparse.Namespace) -> dict[str, int]:
    return {
        "sessions": args.sessions,
        "meter_values": args.meter_values,
        "chargers": args.chargers,
        "networks": NETWORKS,
        "stations_per_network": STATIONS_PER_NETWORK,
        "days": DAYS,
        "version": 1,
    }


def _meta(cursor: Any) -> dict[str, Any] | None:
    cursor.execute(
        "CREATE TABLE IF NOT EXISTS bench_reports_meta (key text PRIMARY KEY, value text)"
    )
    cursor.execute("SELECT value FROM bench_reports_meta WHERE key = 'fleet'")
    row = cursor.fetchone()
    return json.loads(row[0]) if row else None


def generate(cursor: Any, sizes: dict[str, int], *, end: datetime) -> dict[str, Any]:
    """Write the fleet in SQL; returns row counts and timings."""
    timings: dict[str, float] = {}
    sessions, chargers = sizes["sessions"], sizes["chargers"]
    connectors = chargers * 2
    per_session = max(len(MEASURANDS), sizes["meter_values"] // sessions)
    samples = per_session // len(MEASURANDS)
    start = end - timedelta(days=sizes["days"])
    stations = NETWORKS * STATIONS_PER_NETWORK

    def step(name: str, sql: str, params: Any = None) -> None:
        began = time.monotonic()
        cursor.execute(sql, params if params is not None else ())
        timings[name] = timings.get(name, 0.0) + time.monotonic() - began

    # Immediate FK checks: the meter-value indexes are rebuilt in the same
    # transaction when the caller runs one (the smoke test does).
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    cursor.execute("DROP TABLE IF EXISTS bench_conn, bench_sess")
    log("clearing previous bench data")
    tables = ", ".join(_existing(cursor, BENCH_TABLES))
    cursor.execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    cursor.execute("SELECT setseed(0.42)")
    step(
        "networks",
        """INSERT INTO stations_network (name, currency, time_zone, created_at)
           SELECT 'Bench reports ' || n, 'EUR', (%s::text[])[n], %s
           FROM generate_series(1, %s) n""",
        (list(ZONES), start, NETWORKS),
    )
    step(
        "stations",
        """INSERT INTO stations_station (network_id, name, address, city, postal_code,
               country, region, time_zone, created_at)
           SELECT n.id, n.name || ' station ' || s, '', 'City ' || (s %% 5), '',
               'DE', 'Region ' || n.id || '-' || (s %% 5), n.time_zone, %s
           FROM stations_network n CROSS JOIN generate_series(1, %s) s""",
        (start, STATIONS_PER_NETWORK),
    )
    step(
        "chargers",
        """INSERT INTO stations_chargepoint (ocpp_id, station_id, display_name, vendor,
               model, serial_number, charge_box_serial_number, firmware_version,
               iccid, imsi, meter_type, meter_serial_number, ocpp_protocol,
               ocpp_protocol_max, registration_status, password_hash, heartbeat_interval_s,
               is_connected, is_online, connection_channel, status, error_code,
               created_at, diagnostics_status, firmware_status, status_info,
               vendor_error_code)
           SELECT 'RB-' || lpad(c::text, 6, '0'),
               (SELECT id FROM stations_station ORDER BY id OFFSET (c %% %s) LIMIT 1),
               '', (ARRAY['Alfen','ABB','Wallbox'])[1 + c %% 3],
               (ARRAY['Eve','Terra','Pulsar','Eve Pro'])[1 + c %% 4], '', '',
               (ARRAY['4.1.0','4.2.3','5.0.1'])[1 + (c / 3) %% 3], '', '', '', '',
               'ocpp1.6', 'ocpp2.0.1', 'Accepted', '', 300, false, false, '', 'Available',
               'NoError', %s, '', '', '', ''
           FROM generate_series(0, %s - 1) c""",
        (stations, start, chargers),
    )
    step(
        "connectors",
        """INSERT INTO stations_connector (charge_point_id, connector_id, connector_type,
               max_power_kw, status, error_code, vendor_error_code, vendor_id, info)
           SELECT cp.id, k, 'Type2', 22, 'Available', 'NoError', '', '', ''
           FROM stations_chargepoint cp CROSS JOIN generate_series(1, 2) k""",
    )
    cursor.execute(
        """CREATE TEMP TABLE bench_conn AS
           SELECT row_number() OVER (ORDER BY c.id) - 1 AS rn, c.id, c.charge_point_id,
                  c.connector_id AS num, cp.station_id, s.network_id
           FROM stations_connector c
           JOIN stations_chargepoint cp ON cp.id = c.charge_point_id
           JOIN stations_station s ON s.id = cp.station_id"""
    )
    cursor.execute("CREATE UNIQUE INDEX ON bench_conn (rn)")
    hours = [hour for hour, weight in enumerate(HOUR_WEIGHTS) for _ in range(weight)]
    per_connector = -(-sessions // connectors)
    log(f"sessions: {sessions:,}")
    # Session k of a connector falls on its own day; start hour from HOUR_WEIGHTS.
    step(
        "sessions",
        """CREATE TEMP TABLE bench_sess AS
           SELECT g + 1 AS id, c.id AS connector_pk, c.charge_point_id, c.num,
               c.station_id, c.network_id,
               %(start)s::timestamptz
                 + make_interval(days => ((g / %(nconn)s) * %(days)s / %(per)s)::int)
                 + make_interval(hours => (%(hours)s::int[])[1 + floor(random()
                       * %(nhours)s)::int])
                 + make_interval(secs => floor(random() * 3600)) AS started_at,
               (900 + floor(random() * random() * 6 * 3600))::int AS charge_s,
               (CASE WHEN random() < 0.35 THEN 0
                     ELSE floor(random() * 2400) END)::int AS idle_s,
               (3700 + floor(random() * 18300))::int AS power_w,
               (1000000 + floor(random() * 50000000))::bigint AS meter_start
           FROM generate_series(0, %(n)s - 1) g
           JOIN bench_conn c ON c.rn = g %% %(nconn)s""",
        {
            "start": start,
            "nconn": connectors,
            "days": sizes["days"],
            "per": per_connector,
            "hours": hours,
            "nhours": len(hours),
            "n": sessions,
        },
    )
    step(
        "sessions",
        """INSERT INTO charging_chargingsession (id, charge_point_id, connector_id,
               connector_number, id_tag, auth_status, status, meter_start_wh,
               meter_stop_wh, meter_last_wh, started_at, stopped_at, stop_reason,
               stop_id_tag, energy_wh, power_w, last_meter_at,
               has_register_regression, created_at, updated_at,
               charger_transaction_id, trigger_reason, seq_no_missing)
           SELECT id, charge_point_id, connector_pk, num, 'BR' || id, 'Accepted',
               'completed', meter_start,
               meter_start + (power_w::bigint * charge_s / 3600),
               meter_start + (power_w::bigint * charge_s / 3600),
               started_at, started_at + make_interval(secs => charge_s + idle_s),
               'Local', 'BR' || id, power_w::bigint * charge_s / 3600, 0,
               started_at + make_interval(secs => charge_s + idle_s), false,
               started_at, started_at + make_interval(secs => charge_s + idle_s),
               '', '', '[]'::jsonb
           FROM bench_sess""",
    )
    cursor.execute(
        "SELECT setval(pg_get_serial_sequence('charging_chargingsession', 'id'), %s)",
        (sessions,),
    )
    log("status history and connection events")
    step(
        "status history",
        """INSERT INTO stations_statuschange (charge_point_id, connector_id, status,
               error_code, vendor_error_code, info, at, received_at, is_applied)
           SELECT NULL, c.id, 'Available', 'NoError', '', '', %s, %s, true
           FROM bench_conn c""",
        (start - timedelta(days=1), start - timedelta(days=1)),
    )
    step(
        "status history",
        """INSERT INTO stations_statuschange (charge_point_id, connector_id, status,
               error_code, vendor_error_code, info, at, received_at, is_applied)
           SELECT NULL, s.connector_pk, v.status, 'NoError', '', '', v.at, v.at, true
           FROM bench_sess s CROSS JOIN LATERAL (VALUES
               ('Preparing', s.started_at),
               ('Charging', s.started_at + interval '60 seconds'),
               (CASE WHEN s.idle_s > 0 THEN 'SuspendedEV' END,
                s.started_at + make_interval(secs => s.charge_s)),
               ('Finishing', s.started_at + make_interval(secs => s.charge_s + s.idle_s)),
               ('Available', s.started_at
                   + make_interval(secs => s.charge_s + s.idle_s + 60))
           ) AS v(status, at)
           WHERE v.status IS NOT NULL""",
    )
    # Faults: six per connector and year, 1-8 h each, then Available again.
    step(
        "status history",
        """INSERT INTO stations_statuschange (charge_point_id, connector_id, status,
               error_code, vendor_error_code, info, at, received_at, is_applied)
           SELECT NULL, f.id, v.status, v.code, '', '', v.at, v.at, true
           FROM (SELECT c.id, %(start)s::timestamptz
                        + make_interval(secs => floor(random() * %(span)s)) AS at,
                        (3600 + floor(random() * 7 * 3600))::int AS dur
                 FROM bench_conn c CROSS JOIN generate_series(1, 6)) f
           CROSS JOIN LATERAL (VALUES ('Faulted', 'GroundFailure', f.at),
               ('Available', 'NoError', f.at + make_interval(secs => f.dur))
           ) AS v(status, code, at)""",
        {"start": start, "span": sizes["days"] * 86400},
    )
    # Charger-wide (connector 0) Unavailable: twice a year, 2 h.
    step(
        "status history",
        """INSERT INTO stations_statuschange (charge_point_id, connector_id, status,
               error_code, vendor_error_code, info, at, received_at, is_applied)
           SELECT u.cp, NULL, v.status, 'NoError', '', '', v.at, v.at, true
           FROM (SELECT cp.id AS cp, %(start)s::timestamptz
                        + make_interval(secs => floor(random() * %(span)s)) AS at
                 FROM stations_chargepoint cp CROSS JOIN generate_series(1, 2)) u
           CROSS JOIN LATERAL (VALUES ('Unavailable', u.at),
               ('Available', u.at + interval '2 hours')) AS v(status, at)""",
        {"start": start, "span": sizes["days"] * 86400},
    )
    # Connected from the start; 12 disconnects a year (5 min - 3 h) and 4 silent spells.
    step(
        "connection events",
        """INSERT INTO stations_connectionevent (charge_point_id, kind, at, detail,
               remote_address)
           SELECT cp.id, 'connected', %s, '', '127.0.0.1' FROM stations_chargepoint cp""",
        (start - timedelta(days=1),),
    )
    step(
        "connection events",
        """INSERT INTO stations_connectionevent (charge_point_id, kind, at, detail,
               remote_address)
           SELECT o.cp, v.kind, v.at, '', '127.0.0.1'
           FROM (SELECT cp.id AS cp, n,
                        %(start)s::timestamptz
                        + make_interval(secs => floor(random() * %(span)s)) AS at,
                        (300 + floor(random() * 3 * 3600))::int AS dur
                 FROM stations_chargepoint cp CROSS JOIN generate_series(1, 16) n) o
           CROSS JOIN LATERAL (VALUES
               (CASE WHEN o.n <= 12 THEN 'disconnected' ELSE 'went_silent' END, o.at),
               (CASE WHEN o.n <= 12 THEN 'connected' ELSE 'back_online' END,
                o.at + make_interval(secs => o.dur))) AS v(kind, at)""",
        {"start": start, "span": sizes["days"] * 86400},
    )
    log("CDRs")
    step(
        "cdrs",
        """INSERT INTO billing_cdr (session_id, network_id, station_id, number, sequence,
               currency, id_tag, started_at, stopped_at, charging_completed_at,
               idle_ended_at, energy_wh, charging_seconds, idle_seconds,
               billed_idle_seconds, vat_percent, net_amount, tax_amount,
               total_amount, line_items, tariff_snapshot, issued_at,
               receipt_emailed_to)
           SELECT x.id, x.network_id, x.station_id, 'BRC-' || x.id, x.id, 'EUR',
               'BR' || x.id, x.started_at, x.stop, x.started_at
                   + make_interval(secs => x.charge_s),
               x.stop, x.energy, x.charge_s, x.idle_s, x.billed_idle, 19.00,
               x.net, round(x.net * 0.19, 4), x.net + round(x.net * 0.19, 4),
               '[]'::jsonb,
               jsonb_build_object('tariff_id', 1 + x.station_id %% 3,
                   'name', (ARRAY['AC standard','AC night','AC member'])
                       [1 + x.station_id %% 3]),
               x.stop + interval '1 minute', ''
           FROM (SELECT s.*, s.started_at
                        + make_interval(secs => s.charge_s + s.idle_s) AS stop,
                        s.power_w::bigint * s.charge_s / 3600 AS energy,
                        greatest(s.idle_s - 600, 0) AS billed_idle,
                        round((s.power_w::bigint * s.charge_s / 3600) * 0.00039
                              + greatest(s.idle_s - 600, 0) / 60.0 * 0.10, 4) AS net
                 FROM bench_sess s) x""",
    )
    log(f"meter values: {sessions * per_session:,} ({samples} samples x 5 measurands)")
    measurands = [name for name, _ in MEASURANDS]
    units = [unit for _, unit in MEASURANDS]
    cursor.execute(
        # Plain indexes only: the ones behind a constraint (the primary key, the
        # unique reading that drops resent samples) stay while rows are loaded.
        """SELECT i.indexname, i.indexdef FROM pg_indexes i
           WHERE i.tablename = 'charging_metervalue'
             AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                             WHERE c.conindid = (quote_ident(i.schemaname) || '.'
                                                 || quote_ident(i.indexname))::regclass)"""
    )
    indexes = cursor.fetchall()
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    chunk = max(1, sessions // 20)
    try:
        for first in range(1, sessions + 1, chunk):
            step(
                "meter values",
                """INSERT INTO charging_metervalue (charge_point_id, session_id,
                       connector_number, timestamp, measurand, phase, location, unit,
                       context, value_format, raw_value, value, received_at)
                   SELECT s.charge_point_id, s.id, s.num, v.ts,
                       (%(measurands)s::text[])[1 + j %% 5], '', 'Outlet',
                       (%(units)s::text[])[1 + j %% 5], 'Sample.Periodic', 'Raw',
                       v.value::text, v.value, v.ts
                   FROM bench_sess s
                   CROSS JOIN generate_series(0, %(per)s - 1) j
                   CROSS JOIN LATERAL (SELECT
                       s.started_at + make_interval(secs => 60 + ((j / 5) + 1)
                           * (s.charge_s - 60)::float / (%(samples)s + 1)) AS ts,
                       CASE j %% 5
                         WHEN 0 THEN round(s.meter_start + s.power_w::float
                             * (60 + ((j / 5) + 1) * (s.charge_s - 60)::float
                                / (%(samples)s + 1)) / 3600)
                         WHEN 1 THEN s.power_w::float
                         WHEN 2 THEN round(s.power_w / 690.0, 1)
                         WHEN 3 THEN 230.0
                         ELSE least(100, 20 + (j / 5) * 5)::float
                       END AS value) v
                   WHERE s.id >= %(first)s AND s.id < %(last)s""",
                {
                    "measurands": measurands,
                    "units": units,
                    "per": per_session,
                    "samples": samples,
                    "first": first,
                    "last": first + chunk,
                },
            )
            log(f"  meter values up to session {min(first + chunk - 1, sessions):,}")
    finally:
        for _, definition in indexes:
            began = time.monotonic()
            cursor.execute(definition)
            timings["meter values"] += time.monotonic() - began
    for table in (
        "charging_metervalue",
        "charging_chargingsession",
        "stations_statuschange",
        "billing_cdr",
    ):
        cursor.execute(f"ANALYZE {table}")
    counts = {}
    for table in (
        "stations_network",
        "stations_station",
        "stations_chargepoint",
        "stations_connector",
        "charging_chargingsession",
        "charging_metervalue",
        "stations_statuschange",
        "stations_connectionevent",
        "billing_cdr",
    ):
        cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608  (fixed names)
        counts[table] = cursor.fetchone()[0]
    return {
        "sizes": sizes,
        "end": end.isoformat(),
        "counts": counts,
        "timings": {name: round(value, 1) for name, value in timings.items()},
    }


def ensure_fleet(url: str, sizes: dict[str, int]) -> tuple[dict[str, Any], bool]:
    """The fleet of these sizes: reused when present, else generated."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        cursor = connection.cursor()
        meta = _meta(cursor)
        if meta and meta["sizes"] == sizes:
            return meta, False
        cursor.execute("SET work_mem = '256MB'")
        cursor.execute("SET maintenance_work_mem = '1GB'")
        end = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), UTC)
        began = time.monotonic()
        # Autocommit: the meta row is written last, so an interrupted run regenerates.
        cursor.execute("DELETE FROM bench_reports_meta WHERE key = 'fleet'")
        meta = generate(cursor, sizes, end=end)
        meta["generation_s"] = round(time.monotonic() - began, 1)
        cursor.execute(
            """INSERT INTO bench_reports_meta (key, value) VALUES ('fleet', %s)
                   ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value""",
            (json.dumps(meta),),
        )
        return meta, True


def _existing(cursor: Any, tables: tuple[str, ...]) -> list[str]:
    cursor.execute(
        "SELECT tablename FROM pg_tables WHERE tablename = ANY(%s)", (list(tables),)
    )
    return [row[0] for row in cursor.fetchall()]


# --- roll-ups and report timings -------------------------------------------------------


def bench_user(network_name: str) -> Any:
    """An operations + finance user of one network (the scope of a planner)."""
    from django.contrib.auth.models import Group
    from guardian.shortcuts import assign_perm

    from accounts.models import Role, User
    from stations.models import Network

    user, _ = User.objects.get_or_create(
        username="bench-reports", defaults={"email": "bench@example.org"}
    )
    user.groups.set(Group.objects.filter(name__in=[Role.OPERATIONS, Role.FINANCE]))
    assign_perm("stations.access_network", user, Network.objects.get(name=network_name))
    return User.objects.get(pk=user.pk)  # fresh permission caches


def backfill(*, rebuild: bool) -> dict[str, Any]:
    """The first build with the production service; timed."""
    from stations.models import Connector
    from stations.reports.models import (
        ConnectorDailyRollup,
        ConnectorHourlyRollup,
        ReportRollupState,
    )
    from stations.reports.tasks import report_rollups_update

    state = ReportRollupState.objects.filter(key="hourly").first()
    if state and state.complete_until and not rebuild:
        log("roll-ups already built (--rebuild to time the backfill again)")
        began = time.monotonic()
        report_rollups_update()  # catches up (and builds new day rows after an upgrade)
        catch_up = time.monotonic() - began
        began = time.monotonic()
        report_rollups_update()
        figures = _saved("rollups") or {}
        figures["catch_up_s"] = round(catch_up, 2)
        figures["incremental_s"] = round(time.monotonic() - began, 2)
        figures["reused"] = True
        return figures
    ConnectorHourlyRollup.objects.all()._raw_delete(ConnectorHourlyRollup.objects.db)
    ConnectorDailyRollup.objects.all()._raw_delete(ConnectorDailyRollup.objects.db)
    ReportRollupState.objects.all().delete()
    log(f"backfilling the roll-ups of {Connector.objects.count():,} connectors")
    began = time.monotonic()
    written = report_rollups_update()
    first = time.monotonic() - began
    log(f"backfill: {written:,} hourly rows in {first:.1f} s")
    began = time.monotonic()
    report_rollups_update()
    incremental = time.monotonic() - began
    figures = {
        "backfill_s": round(first, 1),
        "hourly_rows": ConnectorHourlyRollup.objects.count(),
        "daily_rows": ConnectorDailyRollup.objects.count(),
        "incremental_s": round(incremental, 2),
        "measured": f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
    }
    _save("rollups", figures)
    return figures


def _saved(key: str) -> dict[str, Any] | None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_reports_meta (key text PRIMARY KEY, value text)"
        )
        cursor.execute("SELECT value FROM bench_reports_meta WHERE key = %s", [key])
        row = cursor.fetchone()
    return json.loads(row[0]) if row else None


def _save(key: str, value: dict[str, Any]) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE IF NOT EXISTS bench_reports_meta (key text PRIMARY KEY, value text)"
        )
        cursor.execute(
            """INSERT INTO bench_reports_meta (key, value) VALUES (%s, %s)
               ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value""",
            [key, json.dumps(value)],
        )


def report_calls(module: Any) -> dict[str, Any]:
    return {
        "availability SLA (connector/station/region/month)": module.availability_report,
        "utilization": module.utilization_report,
        "peak hours heatmap": module.peak_hours_report,
        "energy per station/day": module.energy_report,
        "fault rates + top chargers": module.faults_report,
        "distributions + idle": module.sessions_distribution_report,
        "revenue network/station/day/tariff": module.revenue_report,
    }


def current_reports() -> Any:
    """The report functions of this checkout, under the names ``report_calls`` uses."""
    from billing.reports import revenue_report
    from sessions_app.reports import sessions_distribution_report
    from stations.reports.availability import availability_report, availability_windows
    from stations.reports.energy import energy_report
    from stations.reports.faults import faults_report
    from stations.reports.filters import ReportFilters
    from stations.reports.peak_hours import peak_hours_report
    from stations.reports.utilization import utilization_report

    return SimpleNamespace(
        ReportFilters=ReportFilters,
        availability_report=availability_report,
        availability_windows=availability_windows,
        utilization_report=utilization_report,
        peak_hours_report=peak_hours_report,
        energy_report=energy_report,
        faults_report=faults_report,
        sessions_distribution_report=sessions_distribution_report,
        revenue_report=revenue_report,
    )


class _Timeout(Exception):
    pass


def time_reports(
    *,
    module: Any,
    user: Any,
    network_id: int,
    station_id: int,
    today: date,
    repeat: int,
    limit_s: float | None = None,
) -> list[dict[str, Any]]:
    """p50/max of every report for the network over 30 days and 12 months."""
    import signal

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ranges = {
        "30 days": (today - timedelta(days=29), today),
        "12 months": (today - timedelta(days=364), today),
    }
    results = []

    def alarm(*_: Any) -> None:
        raise _Timeout

    for label, (first, last) in ranges.items():
        filters = module.ReportFilters(first, last, network_id, None)
        for name, call in report_calls(module).items():
            times: list[float] = []
            queries: Any = None
            for _ in range(repeat):
                if limit_s:
                    signal.signal(signal.SIGALRM, alarm)
                    signal.setitimer(signal.ITIMER_REAL, limit_s)
                began = time.monotonic()
                try:
                    with CaptureQueriesContext(connection) as captured:
                        rows = call(user=user, filters=filters)
                except _Timeout:
                    times.append(float("inf"))
                    # The cut may land inside a query: start a fresh connection.
                    connection.close()
                    break
                finally:
                    if limit_s:
                        signal.setitimer(signal.ITIMER_REAL, 0)
                times.append(time.monotonic() - began)
                queries = captured
            finite = [t for t in times if t != float("inf")]
            p50_s = statistics.median(times) if finite else None
            max_s = max(times)
            entry: dict[str, Any] = {
                "range": label,
                "report": name,
                "p50_s": p50_s,
                "max_s": max_s,
                "runs": len(times),
                "timed_out": len(finite) < len(times),
            }
            if queries is not None and queries.captured_queries:
                entry["rows"] = len(rows)
                entry["queries"] = len(queries.captured_queries)
                slowest = max(queries.captured_queries, key=lambda q: float(q["time"]))
                entry["slowest_sql"] = slowest["sql"]
                entry["slowest_s"] = float(slowest["time"])
            results.append(entry)
            log(
                f"{label:9} {name:52} p50 {_fmt(p50_s)} max "
                f"{_fmt(max_s)} ({entry.get('queries', '?')} queries)"
            )
    # The 5-minute SLA windows of one station-local day (always raw history).
    times = []
    for _ in range(repeat):
        began = time.monotonic()
        module.availability_windows(
            user=user, station_id=station_id, day=today - timedelta(days=1)
        )
        times.append(time.monotonic() - began)
    results.append(
        {
            "range": "1 day",
            "report": "availability 5-minute windows (one station)",
            "p50_s": statistics.median(times),
            "max_s": max(times),
            "runs": repeat,
            "timed_out": False,
        }
    )
    log(f"1 day     5-minute windows p50 {_fmt(statistics.median(times))}")
    return results


def _fmt(seconds: float | None) -> str:
    if seconds is None or seconds == float("inf"):
        return "timeout"
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def explain(sql: str) -> str:
    """The top lines of EXPLAIN ANALYZE of a captured query."""
    from django.db import connection

    if not sql.lstrip().upper().startswith("SELECT"):
        return ""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS OFF, COSTS OFF) " + sql)
        lines = [row[0] for row in cursor.fetchall()]
    scans = [line.strip() for line in lines if "Scan" in line or "Aggregate" in line]
    total = next((line for line in lines if line.startswith("Execution Time")), "")
    return "; ".join(scans[:3]) + (f"; {total}" if total else "")


def load_before() -> tuple[Any, Any] | None:
    """The report modules as committed before this change (``git show HEAD:``)."""
    import importlib
    import tempfile

    target = Path(tempfile.mkdtemp(prefix="reports_before_")) / "stations_before"
    target.mkdir()
    (target / "__init__.py").write_text("")
    for name in ("reports", "report_more"):
        try:
            source = subprocess.run(  # noqa: S603  (read-only git)
                ["git", "show", f"HEAD:stations/{name}.py"],  # noqa: S607
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        except (subprocess.CalledProcessError, FileNotFoundError):
            return None
        source = source.replace(
            "from stations.reports.core import", "from stations_before.reports import"
        )
        (target / f"{name}.py").write_text(source)
    sys.path.insert(0, str(target.parent))
    return (
        importlib.import_module("stations_before.reports"),
        importlib.import_module("stations_before.report_more"),
    )


def write_doc(
    text: str, *, start_mark: str = START_MARK, end_mark: str = END_MARK
) -> None:
    body = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    block = f"{start_mark}\n{text.rstrip()}\n{end_mark}"
    if start_mark in body and end_mark in body:
        head, rest = body.split(start_mark, 1)
        _, tail = rest.split(end_mark, 1)
        body = head + block + tail
    else:
        title = (
            "Reports at fleet scale"
            if start_mark == START_MARK
            else "Reliability reports at fleet scale"
        )
        body = body.rstrip() + f"\n\n## {title}\n\n" + block + "\n"
    DOC.write_text(body)


RELIABILITY_START = "<!-- bench:reliability:start -->"
RELIABILITY_END = "<!-- bench:reliability:end -->"


def _timed(repeat: int, call: Any) -> tuple[list[float], Any]:
    times = []
    result = None
    for _ in range(repeat):
        began = time.monotonic()
        result = call()
        times.append(time.monotonic() - began)
    return times, result


def time_reliability(
    *, user: Any, network_id: int, today: date, repeat: int
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The reliability reports of one network as the views call them; p50/max."""
    from django.utils import timezone

    from billing.nevi import nevi_quarterly_report
    from stations.models import Connector
    from stations.reliability.models import Outage
    from stations.reliability.outages import outages_refresh
    from stations.reliability.reports import (
        nevi_uptime_report,
        reliability_intervals_report,
    )
    from stations.reports.filters import ReportFilters

    connectors = list(
        Connector.objects.filter(charge_point__station__network_id=network_id)
        .select_related("charge_point__station")
        .order_by("pk")
    )
    Outage.objects.filter(connector__in=connectors).delete()
    now = timezone.now()
    began = time.monotonic()
    written = outages_refresh(
        connectors=connectors, now=now, lookback=timedelta(days=DAYS)
    )
    first_build = time.monotonic() - began
    log(f"outage records, first build: {written:,} in {first_build:.1f} s")
    began = time.monotonic()
    outages_refresh(
        connectors=connectors, now=timezone.now(), lookback=timedelta(days=2)
    )
    refresh = time.monotonic() - began
    log(f"outage records, a 2-day refresh: {refresh:.2f} s")
    build = {
        "connectors": len(connectors),
        "outages": written,
        "first_build_s": round(first_build, 1),
        "refresh_s": round(refresh, 2),
    }
    cases = [
        (
            "12 months",
            "NEVI uptime per port (trailing 12 months, month by month)",
            lambda: nevi_uptime_report(
                user=user, filters=ReportFilters(today, today, network_id, None)
            ),
        ),
        (
            "1 day",
            "15-minute reliability records",
            lambda: reliability_intervals_report(
                user=user,
                filters=ReportFilters(
                    today - timedelta(days=1), today - timedelta(days=1), network_id
                ),
            ),
        ),
        (
            "31 days",
            "15-minute reliability records",
            lambda: reliability_intervals_report(
                user=user,
                filters=ReportFilters(
                    today - timedelta(days=31), today - timedelta(days=1), network_id
                ),
            ),
        ),
        (
            "quarter",
            "quarterly session and outage data set",
            lambda: nevi_quarterly_report(
                user=user,
                filters=ReportFilters(
                    today - timedelta(days=95), today - timedelta(days=95), network_id
                ),
            ),
        ),
    ]
    results = []
    for label, name, call in cases:
        times, rows = _timed(repeat, call)
        p50 = statistics.median(times)
        results.append(
            {
                "range": label,
                "report": name,
                "p50_s": p50,
                "max_s": max(times),
                "rows": len(rows),
            }
        )
        log(f"{label:9} {name:60} p50 {_fmt(p50)} ({len(rows):,} rows)")
    return results, build


def render_reliability(
    *,
    args: argparse.Namespace,
    meta: dict[str, Any],
    build: dict[str, Any],
    results: list[dict[str, Any]],
) -> str:
    counts = meta["counts"]
    lines = [
        f"### Run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        "",
        f"Machine: {platform.node()}: {os.cpu_count()} CPUs, {platform.machine()}, "
        f"Python {platform.python_version()}, PostgreSQL (test instance).",
        "",
        f"Command: `python bench/reports.py {' '.join(sys.argv[1:])}`".rstrip() + ".",
        "",
        f"Data: the fleet of the reports bench ({counts['stations_chargepoint']:,} "
        f"chargers, {counts['stations_connector']:,} connectors, "
        f"{counts['charging_chargingsession']:,} sessions, "
        f"{counts['stations_statuschange']:,} status changes, "
        f"{counts['stations_connectionevent']:,} connection events over one year); "
        f"one network: {args.network_desc}, {build['connectors']:,} ports.",
        "",
        f"Outage records (`outages_refresh`, 12 months, the network's ports): first "
        f"build {build['first_build_s']} s -> {build['outages']:,} outages; the "
        f"periodic refresh (2 days back): {build['refresh_s']} s.",
        "",
        f"Reports as the views call them, {args.repeat} runs each:",
        "",
        "| Range | Report | p50 | max | rows |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {e['range']} | {e['report']} | {_fmt(e['p50_s'])} | {_fmt(e['max_s'])} "
        f"| {e['rows']:,} |"
        for e in results
    ]
    return "\n".join(lines) + "\n"


def render(
    *,
    args: argparse.Namespace,
    meta: dict[str, Any],
    generated: bool,
    rollups: dict[str, Any],
    after: list[dict[str, Any]],
    before: list[dict[str, Any]] | None,
    notes: list[str],
) -> str:
    counts = meta["counts"]
    machine = (
        f"{platform.node()}: {os.cpu_count()} CPUs, {platform.machine()}, "
        f"Python {platform.python_version()}, PostgreSQL (test instance, port 55432)"
    )
    lines = [
        f"### Run of {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        + (" (quick)" if args.quick else ""),
        "",
        f"Machine: {machine}.",
        "",
        f"Command: `python bench/reports.py {' '.join(sys.argv[1:])}`".rstrip() + ".",
        "",
        "Data (generated in SQL, one year ending "
        f"{meta['end'][:10]}): {counts['stations_network']} networks, "
        f"{counts['stations_station']} stations, {counts['stations_chargepoint']:,} "
        f"chargers, {counts['stations_connector']:,} connectors, "
        f"{counts['charging_chargingsession']:,} sessions, "
        f"{counts['charging_metervalue']:,} meter values, "
        f"{counts['stations_statuschange']:,} status changes, "
        f"{counts['stations_connectionevent']:,} connection events, "
        f"{counts['billing_cdr']:,} CDRs.",
        "",
        f"Generation: {meta['generation_s']} s"
        + ("" if generated else " (earlier run; data reused)")
        + f" ({', '.join(f'{k} {v} s' for k, v in meta['timings'].items())}).",
        "",
    ]
    if "backfill_s" in rollups:
        lines += [
            f"Roll-up backfill (`report_rollups_update`, first build, one process): "
            f"{rollups['backfill_s']} s -> {rollups['hourly_rows']:,} hourly and "
            f"{rollups['daily_rows']:,} daily rows"
            + (f" (measured {rollups['measured']})" if rollups.get("reused") else "")
            + (
                f"; this run's catch-up: {rollups['catch_up_s']} s"
                if "catch_up_s" in rollups
                else ""
            )
            + f"; an incremental run: {rollups['incremental_s']} s.",
            "",
        ]
    else:
        lines += [
            f"Roll-ups reused; an incremental run took {rollups['incremental_s']} s.",
            "",
        ]
    lines += [
        f"Reports for one whole network ({args.network_desc}) as the views call them, "
        f"{args.repeat} runs each (p50 / max):",
        "",
    ]
    old = {(r["range"], r["report"]): r for r in before or []}
    header = "| Range | Report | p50 | max | queries |"
    separator = "|---|---|---|---|---|"
    if before is not None:
        header += " before: HEAD code (one run, cut at 30 s) |"
        separator += "---|"
    lines += [header, separator]
    for entry in after:
        row = (
            f"| {entry['range']} | {entry['report']} | {_fmt(entry['p50_s'])} | "
            f"{_fmt(entry['max_s'])} | {entry.get('queries', '')} |"
        )
        if before is not None:
            previous = old.get((entry["range"], entry["report"]))
            if previous is None:
                row += " — |"
            elif previous["timed_out"]:
                row += " > 30 s (cut) |"
            else:
                row += f" {_fmt(previous['max_s'])} |"
        lines.append(row)
    lines += [
        "",
        "How the reports read: whole station-local days before the roll-ups' "
        "`complete_until` from `ConnectorDailyRollup` (one row per connector and "
        "local day, grouped in SQL by connector, station, day or month), further "
        "closed hours from `ConnectorHourlyRollup`, the current hour from the raw "
        "history loaded for all connectors in one batch of queries "
        "(`stations.reports.history.ConnectorsHistory`); the heatmap reads only "
        "the busy hours (partial index `rollup_busy_hours`); distributions and "
        "revenue aggregate sessions and CDRs in SQL. Raw meter values are never "
        "scanned by a report over closed hours.",
        "",
        "EXPLAIN notes (slowest statement of each report, 12 months):",
        "",
    ]
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--meter-values", type=int, default=METER_VALUES)
    parser.add_argument("--chargers", type=int, default=CHARGERS)
    parser.add_argument("--quick", action="store_true", help="1/50 of the sizes")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--rebuild", action="store_true", help="time the backfill again"
    )
    parser.add_argument(
        "--before",
        action="store_true",
        help="also time the report code of HEAD (git show), each run cut at 30 s",
    )
    parser.add_argument(
        "--reliability",
        action="store_true",
        help="time the reliability reports only (no roll-ups)",
    )
    parser.add_argument("--no-doc", action="store_true")
    parser.add_argument("--database-url", help="default: the test PostgreSQL")
    args = parser.parse_args()
    if args.quick:
        args.sessions //= 50
        args.meter_values //= 50
        args.chargers //= 50
    # The quick fleet has its own database: switching sizes would regenerate.
    url = args.database_url or database_url(
        BENCH_DB + "_quick" if args.quick else BENCH_DB
    )
    setup_django(url)
    sizes = _sizes(args)
    meta, generated = ensure_fleet(url, sizes)
    log(f"fleet: {json.dumps(meta['counts'])}")
    if args.reliability:
        return reliability_main(args, meta)
    rollups = backfill(rebuild=args.rebuild or generated)

    from django.utils import timezone

    network, station = _bench_network(args)
    user = bench_user(network.name)
    today = timezone.localdate()
    after = time_reports(
        module=current_reports(),
        user=user,
        network_id=network.pk,
        station_id=station.pk,
        today=today,
        repeat=args.repeat,
    )
    notes = []
    for entry in after:
        if entry["range"] == "12 months" and entry.get("slowest_sql"):
            notes.append(
                f"{entry['report']}: {entry['queries']} queries, slowest "
                f"{entry['slowest_s'] * 1000:.0f} ms: {explain(entry['slowest_sql'])}"
            )
    before = None
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    saved = _saved("before") if args.before else None
    if saved and saved.get("head") == head and saved.get("today") == str(today):
        log(f"reusing the timings of the code of HEAD {head[:10]} (same data, today)")
        before = saved["results"]
    elif args.before:
        modules = load_before()
        if modules is not None:
            log("timing the report code before this change (cut at 30 s a run)")
            before = time_reports(
                module=SimpleNamespace(**{**vars(modules[1]), **vars(modules[0])}),
                user=user,
                network_id=network.pk,
                station_id=station.pk,
                today=today,
                repeat=1,
                limit_s=30,
            )
            for entry in before:
                entry.pop("slowest_sql", None)
                if entry["max_s"] == float("inf"):
                    entry["max_s"] = entry["p50_s"] = None
            _save("before", {"head": head, "today": str(today), "results": before})
    text = render(
        args=args,
        meta=meta,
        generated=generated,
        rollups=rollups,
        after=after,
        before=before,
        notes=notes,
    )
    print(text)
    if not args.no_doc:
        write_doc(text)
        log(f"wrote {DOC.relative_to(ROOT)}")
    return 0


def _bench_network(args: argparse.Namespace) -> tuple[Any, Any]:
    from stations.models import Network, Station

    network = Network.objects.order_by("pk").first()
    station = Station.objects.filter(network=network).order_by("pk").first()
    if network is None or station is None:
        raise SystemExit("the bench fleet has no network with a station")
    args.network_desc = (
        f"{Station.objects.filter(network=network).count()} stations, "
        f"{network.time_zone}"
    )
    return network, station


def reliability_main(args: argparse.Namespace, meta: dict[str, Any]) -> int:
    from django.utils import timezone

    network, _station = _bench_network(args)
    results, build = time_reliability(
        user=bench_user(network.name),
        network_id=network.pk,
        today=timezone.localdate(),
        repeat=args.repeat,
    )
    text = render_reliability(args=args, meta=meta, build=build, results=results)
    print(text)
    if not args.no_doc:
        write_doc(text, start_mark=RELIABILITY_START, end_mark=RELIABILITY_END)
        log(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
