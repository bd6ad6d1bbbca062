"""Run the distributed topology on this machine, in the foreground until Ctrl-C.

PostgreSQL + Redis (``.ci/services.sh start``, database ``cms_distributed``),
``ASGI_PROCESSES`` uvicorn processes on 127.0.0.1, nginx in front of them
(config generated into ``var/distributed/``; WebSocket upgrade, long read
timeouts for chargers), ``CELERY_WORKERS`` Celery workers and exactly one Celery
beat, all on the same code. Without nginx the ASGI processes are still started
and their ports printed (see docs/deployment.md for the alternatives).

    make run-distributed                   # 2 ASGI processes, 1 worker, port 8080
    ASGI_PROCESSES=4 PORT=9000 make run-distributed

nginx also terminates TLS on ``TLS_PORT`` (default 8443) for OCPP security
profiles 2 and 3: its server certificate is issued by the CMS CA
(``OCPP_CA_DIR``), client certificates are verified against that CA
(``ssl_verify_client optional``: profile-2 chargers have none) and passed to the
ASGI processes, which trust them from nginx's address only
(stations/ocpp/tls.py).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.run import free_port, start_services  # noqa: E402

RUN_DIR = ROOT / "var" / "distributed"

NGINX_CONF = """\
worker_processes 1;
pid {run}/nginx.pid;
error_log {run}/nginx-error.log warn;
events {{ worker_connections 65535; }}
worker_rlimit_nofile 140000;
http {{
    access_log off;
    client_body_temp_path {run}/body;
    proxy_temp_path {run}/proxy;
    fastcgi_temp_path {run}/fastcgi;
    uwsgi_temp_path {run}/uwsgi;
    scgi_temp_path {run}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
    upstream cms {{
        # No sticky sessions: a charger's single live connection is enforced
        # through the database and the channel layer, whichever process holds it.
        least_conn;
{servers}
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
{tls_listen}
        client_max_body_size 20m;
        location /ocpp/ {{
            proxy_pass http://cms;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header Authorization $http_authorization;
            # Set here, never passed on from a client: the ASGI processes take
            # TLS and the client certificate from these (stations/ocpp/tls.py).
            # An empty value (plain port, no certificate) sends no header.
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert;
            proxy_set_header X-SSL-Client-Verify $ssl_client_verify;
            # Chargers may stay quiet for a heartbeat interval (up to hours with
            # WebSocket pings); the servers ping every 60 s.
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
            proxy_connect_timeout 5s;
        }}
        location /ws/ {{
            proxy_pass http://cms;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 3600s;
        }}
        location / {{
            proxy_pass http://cms;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 60s;
        }}
    }}
}}
"""

TLS_LISTEN = """\
        listen 127.0.0.1:{tls_port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        # Security profile 3: charger certificates issued by the CMS CA.
        ssl_client_certificate {client_cas};
        ssl_verify_client optional;
        ssl_verify_depth 2;"""


def nginx_config(
    *,
    run_dir: Path,
    asgi_ports: list[int],
    port: int,
    tls: Any = None,
    tls_port: int = 0,
) -> str:
    """nginx in front of the ASGI processes; with ``tls`` (TlsServerFiles) also on ``tls_port``."""
    servers = "\n".join(
        f"        server 127.0.0.1:{asgi_port} max_fails=0;" for asgi_port in asgi_ports
    )
    tls_listen = (
        TLS_LISTEN.format(
            tls_port=tls_port,
            cert=tls.cert_file,
            key=tls.key_file,
            client_cas=tls.client_ca_file,
        )
        if tls is not None
        else ""
    )
    return NGINX_CONF.format(
        run=run_dir, servers=servers, port=port, tls_listen=tls_listen
    )


def _wait_http(url: str, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
                if response.status == 200:
                    return True
        except OSError:
            time.sleep(0.3)
    return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def main() -> int:
    asgi_count = int(os.environ.get("ASGI_PROCESSES", "2"))
    worker_count = int(os.environ.get("CELERY_WORKERS", "1"))
    port = int(os.environ.get("PORT", "8080"))
    tls_port = int(os.environ.get("TLS_PORT", "8443"))
    for wanted, name in ((port, "PORT"), (tls_port, "TLS_PORT")):
        if not _port_free(wanted):
            sys.stderr.write(f"port {wanted} is in use; set {name}=...\n")
            return 1
    database_url, redis_url = start_services()
    database_url = database_url.rsplit("/", 1)[0] + "/cms_distributed"
    import psycopg

    with psycopg.connect(
        database_url.rsplit("/", 1)[0] + "/postgres", autocommit=True
    ) as connection:
        if not connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = 'cms_distributed'"
        ).fetchone():
            connection.execute("CREATE DATABASE cms_distributed")
    redis_url = redis_url.rsplit("/", 1)[0] + "/1"
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DEBUG": env.get("DEBUG", "true"),
            "PYTHONUNBUFFERED": "1",
            "OCPP_CA_DIR": env.get("OCPP_CA_DIR", str(ROOT / "var" / "ca")),
            # nginx is the TLS proxy whose client-certificate headers count.
            "OCPP_TLS_TRUSTED_PROXIES": "127.0.0.1",
        }
    )
    from cms.pki import tls_server_files

    tls = tls_server_files(
        Path(env["OCPP_CA_DIR"]),
        names=["127.0.0.1", "localhost"],
        cert_file=env.get("OCPP_TLS_CERT_FILE", ""),
        key_file=env.get("OCPP_TLS_KEY_FILE", ""),
        extra_client_ca_file=env.get("OCPP_TLS_EXTRA_CLIENT_CA_FILE", ""),
    )
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    python = sys.executable
    subprocess.run(  # noqa: S603
        [python, "manage.py", "migrate", "--noinput"], cwd=ROOT, env=env, check=True
    )
    children: list[subprocess.Popen[bytes]] = []

    def spawn(name: str, command: list[str]) -> None:
        log = (RUN_DIR / f"{name}.log").open("ab")
        children.append(
            subprocess.Popen(  # noqa: S603
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        )

    ports = [free_port() for _ in range(asgi_count)]
    try:
        for index, asgi_port in enumerate(ports):
            spawn(
                f"asgi-{index}",
                [python, "manage.py", "serve", "--port", str(asgi_port)],
            )
        for index in range(worker_count):
            spawn(
                f"celery-worker-{index}",
                [python, "-m", "celery", "-A", "cms", "worker", "-l", "info",
                 "-n", f"worker{index}@%h", "--concurrency", "2"],
            )  # fmt: skip
        spawn(
            "celery-beat",
            [python, "-m", "celery", "-A", "cms", "beat", "-l", "info",
             "--schedule", str(RUN_DIR / "celerybeat-schedule")],
        )  # fmt: skip
        for asgi_port in ports:
            if not _wait_http(f"http://127.0.0.1:{asgi_port}/healthz", 60):
                sys.stderr.write(f"ASGI process on {asgi_port} did not come up\n")
                return 1
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        front = ""
        if Path(nginx).exists():
            conf = RUN_DIR / "nginx.conf"
            conf.write_text(
                nginx_config(
                    run_dir=RUN_DIR,
                    asgi_ports=ports,
                    port=port,
                    tls=tls,
                    tls_port=tls_port,
                )
            )
            spawn(
                "nginx",
                [nginx, "-c", str(conf), "-p", str(RUN_DIR), "-g", "daemon off;"],
            )
            if _wait_http(f"http://127.0.0.1:{port}/healthz", 15):
                front = f"http://127.0.0.1:{port}"
        print(f"PostgreSQL: {database_url}\nRedis:      {redis_url}")
        for asgi_port in ports:
            print(f"ASGI:       http://127.0.0.1:{asgi_port}/")
        if front:
            print(f"nginx:      {front}/  (OCPP: ws://127.0.0.1:{port}/ocpp/<id>)")
            print(
                f"TLS:        https://127.0.0.1:{tls_port}/  (OCPP profiles 2/3: "
                f"wss://127.0.0.1:{tls_port}/ocpp/<id>, CA {tls.client_ca_file})"
            )
        else:
            print("nginx not available: connect to the ASGI ports directly")
        print(f"Celery: {worker_count} worker(s) + 1 beat; logs in {RUN_DIR}")
        print("Press Ctrl-C to stop.")
        while all(child.poll() is None for child in children):
            time.sleep(1)
        sys.stderr.write("a process exited; stopping the rest (see the logs)\n")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for child in reversed(children):
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()


if __name__ == "__main__":
    raise SystemExit(main())
