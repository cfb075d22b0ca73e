"""Start and measure what the benchmark drives: our site under uvicorn, and the
Channels peer under daphne (in its own venv, set up here from pinned requirements)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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
    print("bench: installing the Channels peer into bench/peers/.venv ...", flush=True)
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


@dataclass
class Server:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    def rss_kb(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

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
    app: str = "learnsite.asgi:application",
    extra_env: dict[str, str] | None = None,
) -> Server:
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
            "1",
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
    pin(proc.pid, SERVER_CORE)
    server = Server("ours (uvicorn)", proc, port, log)
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
