"""Start and measure what the benchmark drives: our site under uvicorn, and the
Channels peer under daphne (in its own venv, set up here from pinned requirements)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PEERS = BENCH_DIR / "peers"
PEER_VENV = PEERS / ".venv"
PEER_PYTHON = PEER_VENV / "bin" / "python"
PEER_REQUIREMENTS = PEERS / "requirements.txt"
SERVER_CORE = 0
LOAD_CORE = 1


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pin(pid: int, core: int) -> None:
    """Keep the server and the load generator off each other's core (when there are two)."""
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(pid, {core})


def peer_venv_ready() -> bool:
    stamp = PEER_VENV / ".requirements.sha256"
    want = hashlib.sha256(PEER_REQUIREMENTS.read_bytes()).hexdigest()
    return PEER_PYTHON.exists() and stamp.exists() and stamp.read_text() == want


def ensure_peer_venv() -> None:
    """Create ``bench/peers/.venv`` from the pinned requirements (once)."""
    if peer_venv_ready():
        return
    print("bench: installing the Django peers into bench/peers/.venv ...", flush=True)
    if not PEER_PYTHON.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
    subprocess.run(
        [
            str(PEER_PYTHON),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(PEER_REQUIREMENTS),
        ],
        check=True,
    )
    stamp = PEER_VENV / ".requirements.sha256"
    stamp.write_text(hashlib.sha256(PEER_REQUIREMENTS.read_bytes()).hexdigest())


def process_cpu(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of one process (0, 0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / ticks, int(fields[12]) / ticks


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's workers, nginx's workers)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, ()))
    return found


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    cleanup: Callable[[], None] | None = None
    # Processes that are part of this server (the edge's relay): counted and stopped too.
    companions: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def _pids(self) -> list[int]:
        pids = process_tree(self.proc.pid)
        for companion in self.companions:
            pids += process_tree(companion.pid)
        return pids

    def rss_kb(self) -> int:
        """Resident memory of the server and its worker processes."""
        return sum(_rss_kb(pid) for pid in self._pids())

    def cpu_split(self) -> tuple[float, float]:
        """User and system CPU seconds of the server and its worker processes."""
        user = system = 0.0
        for pid in self._pids():
            u, s = process_cpu(pid)
            user, system = user + u, system + s
        return user, system

    def cpu_seconds(self) -> float:
        return sum(self.cpu_split())

    def workers(self) -> list[int]:
        """The processes that serve connections: the children if there are any."""
        tree = process_tree(self.proc.pid)
        return tree[1:] or tree

    def stop(self) -> None:
        for companion in self.companions:
            if companion.poll() is None:
                companion.terminate()
                try:
                    companion.wait(10)
                except subprocess.TimeoutExpired:
                    companion.kill()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.cleanup is not None:
            self.cleanup()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _wait_port(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} exited early:\n{server.output()}")
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", server.port), 0.5),
        ):
            return
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"{server.name} did not listen within {timeout} s:\n{server.output()}")


def start_ours(
    *,
    redis_url: str,
    extra_env: dict[str, str] | None = None,
    workers: int = 1,
    name: str = "ours (uvicorn)",
) -> Server:
    """Our site under uvicorn at DEBUG=0; one worker is pinned to the server core, more
    workers get every core (on this machine they share the load client's)."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="bench-uvicorn-", suffix=".log")[1])
    database = Path(tempfile.mkdtemp(prefix="bench-db-")) / "db.sqlite3"
    env = (
        os.environ
        | {
            "REDIS_URL": redis_url,
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DATABASE_URL": f"sqlite:///{database}",
            "PYTHONUNBUFFERED": "1",
        }
        | (extra_env or {})
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "learnsite.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--timeout-worker-healthcheck",
            "60",
            "--no-access-log",
            "--log-level",
            "warning",
            "--backlog",
            "4096",
            "--timeout-graceful-shutdown",
            "2",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    if workers == 1:
        pin(proc.pid, SERVER_CORE)
    server = Server(name, proc, port, log)
    _wait_port(server)
    if workers > 1:
        _wait_workers(server, workers)
    return server


def _wait_workers(server: Server, workers: int, timeout: float = 60.0) -> None:
    """uvicorn listens before its workers have imported the site: wait for all of them."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(server.workers()) >= workers:
            time.sleep(3.0)  # each worker imports the site after it is forked
            return
        time.sleep(0.2)
    raise RuntimeError(f"{server.name}: {workers} workers did not start:\n{server.output()}")


def start_floor(*, redis_url: str) -> Server:
    """``bench/peers/floor_sse.py``: the least a Python SSE fan-out can do (uvloop)."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="bench-floor-", suffix=".log")[1])
    proc = subprocess.Popen(
        [sys.executable, str(PEERS / "floor_sse.py"), "--port", str(port), "--redis", redis_url],
        cwd=ROOT,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    pin(proc.pid, SERVER_CORE)
    server = Server("floor (uvloop SSE)", proc, port, log)
    _wait_port(server)
    return server


NGINX = "/usr/sbin/nginx"
NCHAN_MODULE = Path("/usr/lib/nginx/modules/ngx_nchan_module.so")


def nchan_missing() -> str | None:
    """Why the nchan peer cannot run here, or None."""
    if not Path(NGINX).exists():
        return "nginx is not installed (apt-get install nginx libnginx-mod-nchan)"
    if not NCHAN_MODULE.exists():
        return "nchan is not installed (apt-get install libnginx-mod-nchan)"
    return None


NCHAN_CONF = """
load_module {module};
daemon off;
master_process on;
worker_processes {workers};
worker_cpu_affinity {affinity};
worker_rlimit_nofile 20000;
# More connections than files: nchan takes connection slots beyond its sockets (19,900
# were "not enough" at 18,655 subscribers); the sockets stay under the files limit.
user root;
pid {run}/nginx.pid;
error_log {run}/error.log warn;
events {{ worker_connections 30000; multi_accept on; }}
http {{
  access_log off;
  client_body_temp_path {run}/body;
  proxy_temp_path {run}/proxy;
  fastcgi_temp_path {run}/fastcgi;
  uwsgi_temp_path {run}/uwsgi;
  scgi_temp_path {run}/scgi;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location ~ ^/live/([^/]+)/stream$ {{
      nchan_subscriber eventsource;
      nchan_channel_id $1;
      nchan_subscriber_first_message oldest;  # -1 crashed nchan (see deploy/nginx)
    }}
    location ~ ^/pub/([^/]+)$ {{
      allow 127.0.0.1;
      deny all;
      nchan_publisher;
      nchan_channel_id $1;
      nchan_message_buffer_length 5;
      nchan_message_timeout 60s;
    }}
  }}
}}
"""


def start_edge(*, redis_url: str) -> Server:
    """Edge mode as deployed: nginx + nchan (one worker) holds the viewers, and
    ``manage.py live_edge_relay`` (on the server core too, counted with it) relays every
    ``live:<feed>`` PUBLISH to nchan's publisher."""
    server = start_nchan()
    env = os.environ | {
        "REDIS_URL": redis_url,
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": f"sqlite:///{tempfile.mkdtemp(prefix='bench-edge-')}/db.sqlite3",
        "PYTHONUNBUFFERED": "1",
    }
    relay = subprocess.Popen(
        [sys.executable, "manage.py", "live_edge_relay", "--publish-url"]
        + [f"http://127.0.0.1:{server.port}/pub/"],
        cwd=ROOT,
        env=env,
        stdout=server.log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    pin(relay.pid, SERVER_CORE)
    server.companions.append(relay)
    server.name = "edge: nginx + nchan + the relay"
    deadline = time.monotonic() + 60
    while "Relaying" not in server.output():
        if relay.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"the edge relay did not start:\n{server.output()}")
        time.sleep(0.1)
    time.sleep(0.5)  # its PSUBSCRIBE is confirmed before it says so; a margin for the log
    return server


def start_nchan(*, workers: int = 1) -> Server:
    """Debian's nginx with nchan: viewers on ``/live/<feed>/stream`` (EventSource),
    updates POSTed to ``/pub/<feed>``; one worker pinned to the server core."""
    port = free_port()
    run = Path(tempfile.mkdtemp(prefix="bench-nchan-"))
    conf = run / "nginx.conf"
    affinity = " ".join(["01"] if workers == 1 else ["01", "10"][:workers])
    conf.write_text(
        NCHAN_CONF.format(
            module=NCHAN_MODULE, workers=workers, affinity=affinity, run=run, port=port
        )
    )
    log = run / "stderr.log"
    proc = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", str(run)],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    pin(proc.pid, SERVER_CORE)
    server = Server(
        f"nginx + nchan ({workers} worker)",
        proc,
        port,
        log,
        cleanup=lambda: shutil.rmtree(run, ignore_errors=True),
    )
    _wait_port(server)
    return server


def start_eventstream(*, redis_url: str) -> Server:
    """``bench/peers/eventstream_app``: django-eventstream 5 under uvicorn (one worker,
    pinned), with EVENTSTREAM_REDIS pointing at the same Redis."""
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="bench-eventstream-", suffix=".log")[1])
    env = os.environ | {
        "REDIS_URL": redis_url,
        "DJANGO_SETTINGS_MODULE": "eventstream_app.settings",
        "PYTHONPATH": str(PEERS),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.Popen(
        [str(PEER_VENV / "bin" / "uvicorn"), "eventstream_app.asgi:application"]
        + ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        + ["--log-level", "warning", "--backlog", "4096", "--timeout-graceful-shutdown", "2"],
        cwd=PEERS,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    pin(proc.pid, SERVER_CORE)
    server = Server("django-eventstream (uvicorn)", proc, port, log)
    _wait_port(server)
    return server


def start_peer(*, redis_url: str, layer: str) -> Server:
    port = free_port()
    log = Path(tempfile.mkstemp(prefix=f"bench-daphne-{layer}-", suffix=".log")[1])
    env = os.environ | {
        "REDIS_URL": redis_url,
        "PEER_LAYER": layer,
        "DJANGO_SETTINGS_MODULE": "channels_app.settings",
        "PYTHONPATH": str(PEERS),
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("VIRTUAL_ENV", None)
    proc = subprocess.Popen(
        [
            str(PEER_VENV / "bin" / "daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "--ping-interval",
            "3600",
            "--ping-timeout",
            "3600",
            "-v",
            "0",
            "channels_app.asgi:application",
        ],
        cwd=PEERS,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    pin(proc.pid, SERVER_CORE)
    server = Server(f"Channels {layer} (daphne)", proc, port, log)
    _wait_port(server)
    return server
