"""``make run``: find a Redis as the README says, then serve the site with uvicorn.

Order: ``REDIS_URL`` if set; else a Redis answering on 127.0.0.1:6379; else a private
``redis-server`` from PATH on a free port; else the embedded fakeredis TCP server, with a
loud banner (the pages show a badge). Ctrl-C stops everything this started.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from learnsite import env

DEFAULT_LOCAL_REDIS = "redis://127.0.0.1:6379/0"


@dataclass
class FoundRedis:
    url: str
    mode: str  # external | private | embedded
    how: str
    stop: Callable[[], None] = field(default=lambda: None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def redis_answers(url: str, timeout: float = 0.5) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


# The private sandbox Redis make run starts: learner data only, bounded, nothing on disk.
# volatile-ttl evicts the keys nearest their expiry first (every console key has a TTL);
# the site's own Redis is another server, so nothing learners do can evict its state.
SANDBOX_REDIS_ARGS = ("--maxmemory", "64mb", "--maxmemory-policy", "volatile-ttl")


def start_private_redis(port: int | None = None, extra: tuple[str, ...] = ()) -> FoundRedis:
    """Start a throwaway ``redis-server`` on a free port; it keeps nothing on disk."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not on PATH")
    port = port or free_port()
    workdir = tempfile.mkdtemp(prefix="learnsite-redis-")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            "--daemonize",
            "no",
            "--loglevel",
            "warning",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not redis_answers(url):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError(f"redis-server did not start on port {port}")
        time.sleep(0.05)

    def stop() -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)

    return FoundRedis(url, "private", f"started redis-server (pid {proc.pid}) on port {port}", stop)


def start_embedded_redis() -> FoundRedis:
    from fakeredis import TcpFakeServer

    port = free_port()
    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    thread = threading.Thread(target=server.serve_forever, name="fakeredis", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return FoundRedis(
        f"redis://127.0.0.1:{port}/0",
        "embedded",
        f"embedded fakeredis TCP server on port {port}",
        stop,
    )


def find_redis(*, allow_embedded: bool = True) -> FoundRedis:
    configured = os.environ.get("REDIS_URL")
    if configured:
        return FoundRedis(configured, "external", "REDIS_URL")
    if redis_answers(DEFAULT_LOCAL_REDIS):
        return FoundRedis(DEFAULT_LOCAL_REDIS, "external", "the Redis answering on 127.0.0.1:6379")
    if shutil.which("redis-server"):
        return start_private_redis()
    if allow_embedded:
        return start_embedded_redis()
    raise RuntimeError("no Redis: set REDIS_URL, run one on 127.0.0.1:6379 or install redis-server")


def find_sandbox_redis(site: FoundRedis) -> FoundRedis:
    """The Redis for learner data: ``SANDBOX_REDIS_URL`` if set; else a private
    ``redis-server`` with a memory ceiling; else the site's Redis, shared (the embedded
    fakeredis serves both)."""
    configured = os.environ.get("SANDBOX_REDIS_URL")
    if configured:
        return FoundRedis(configured, "external", "SANDBOX_REDIS_URL")
    if site.mode != "embedded" and shutil.which("redis-server"):
        found = start_private_redis(extra=SANDBOX_REDIS_ARGS)
        found.how += " with maxmemory 64mb, volatile-ttl"
        return found
    why = "the embedded fakeredis" if site.mode == "embedded" else "no redis-server installed"
    return FoundRedis(site.url, "shared", f"shared with the site's Redis ({why})")


SHARED_SANDBOX_NOTE = (
    "Note: learner data (console keys, playground, chat) shares the site's Redis, so a "
    "learner filling it can crowd out the site. Install redis-server or set "
    "SANDBOX_REDIS_URL for a sandbox Redis of its own."
)


EMBEDDED_BANNER = """
************************************************************************
*  NO REDIS SERVER FOUND: using the EMBEDDED fakeredis stand-in.        *
*  Lessons and quizzes work; the live sandboxes run on an imitation.    *
*  For the real thing: install Redis (apt install redis-server) or set  *
*  REDIS_URL=redis://host:6379/0, then run `make run` again.            *
************************************************************************
"""


def metrics_dir(configured: Path | None) -> tuple[Path, Callable[[], None]]:
    """Where the uvicorn workers and the code-lab runner keep their metrics (prometheus
    multiprocess mode): ``PROMETHEUS_MULTIPROC_DIR`` if set, emptied of an earlier run's
    values (a dead process's counters would be added in for ever), else a new directory,
    removed at the end."""
    if configured is not None:
        configured.mkdir(parents=True, exist_ok=True)
        for stale in configured.glob("*.db"):
            stale.unlink(missing_ok=True)
        return configured, lambda: None
    made = Path(tempfile.mkdtemp(prefix="learnsite-metrics-"))
    return made, lambda: shutil.rmtree(made, ignore_errors=True)


def content_is_valid() -> bool:
    """Validate the course once here, before uvicorn forks its workers: a worker that
    refused bad content would otherwise be restarted by uvicorn, over and over."""
    result = subprocess.run(
        [sys.executable, "manage.py", "validate_content"], cwd=env.BASE_DIR, check=False
    )
    return result.returncode == 0


LAB_OFF_NOTE = (
    "The code lab's runner is not running (see its message above): the site works, and the "
    "lab pages say that code cannot run here."
)


def main() -> int:
    settings_env = env.read()
    if not content_is_valid():
        print("The site was not started: fix the content errors above.", flush=True)
        return 1
    found = find_redis()
    child_env = dict(os.environ)
    child_env["REDIS_URL"] = found.url
    child_env["LEARNSITE_REDIS_MODE"] = found.mode
    print(f"Redis: {found.url} ({found.how})", flush=True)
    if found.mode == "embedded":
        print(EMBEDDED_BANNER, flush=True)
    try:
        sandbox = find_sandbox_redis(found)
    except BaseException:
        found.stop()
        raise
    child_env["SANDBOX_REDIS_URL"] = sandbox.url
    child_env["LEARNSITE_SANDBOX_REDIS_MODE"] = sandbox.mode
    print(f"Sandbox Redis: {sandbox.url} ({sandbox.how})", flush=True)
    if sandbox.mode == "shared" and found.mode != "embedded":
        print(SHARED_SANDBOX_NOTE, flush=True)
    workers = max(1, settings_env.web_concurrency)
    metrics_path, remove_metrics = metrics_dir(settings_env.metrics_multiproc_dir)
    child_env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_path)
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "learnsite.asgi:application",
        "--host",
        os.environ.get("HOST", "127.0.0.1"),
        "--port",
        str(settings_env.port),
        "--workers",
        str(workers),
        "--timeout-graceful-shutdown",
        "3",
        "--no-server-header",
        # learnsite.requestlog writes one access line per request, with its request id.
        "--no-access-log",
    ]
    print(
        f"Serving on http://127.0.0.1:{settings_env.port} with {workers} uvicorn "
        "worker(s). Ctrl-C stops everything.",
        flush=True,
    )
    # A session of its own: a signal for the terminal's process group (Ctrl-C, the hang-up
    # of a closed terminal) reaches this process alone, which stops uvicorn one way for all.
    # (uvicorn's supervisor would take SIGHUP as "restart the workers" and carry on.)
    server = subprocess.Popen(cmd, env=child_env, start_new_session=True)
    # One code-lab runner beside the site (in production, as many as you like). Where the
    # jail cannot be made (no bubblewrap, no user namespaces) it says why and exits; the
    # site runs on and the lab page says the same.
    lab = subprocess.Popen(
        [sys.executable, "manage.py", "codelab_runner"],
        env=child_env,
        start_new_session=True,
    )
    stop_by: list[float] = []

    def stop(signum: int, _frame: object) -> None:
        # Ctrl-C, SIGTERM and SIGHUP (the terminal was closed) all stop everything: uvicorn
        # is sent SIGINT and gets 10 s to finish, then is killed; then the Redis we started.
        for child in (server, lab):
            if child.poll() is None:
                child.send_signal(signal.SIGINT)
        if not stop_by:
            stop_by.append(time.monotonic() + 10)

    # Installed explicitly: a process started in the background may inherit SIGINT ignored.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    # Left to its default, SIGHUP ended this process at once: no finally, so uvicorn and
    # the redis-server it started (which ignores SIGHUP) ran on with no one to stop them.
    signal.signal(signal.SIGHUP, stop)
    try:
        lab_said = False
        while server.poll() is None:
            if stop_by and time.monotonic() > stop_by[0]:
                server.kill()
            if lab.poll() is not None and not lab_said and not stop_by:
                lab_said = True
                print(LAB_OFF_NOTE, flush=True)
            time.sleep(0.2)
        return server.returncode
    finally:
        if lab.poll() is None:
            lab.send_signal(signal.SIGINT)
            try:
                lab.wait(5)
            except subprocess.TimeoutExpired:
                lab.kill()
        sandbox.stop()
        found.stop()
        remove_metrics()
        with contextlib.suppress(OSError):  # the terminal may be gone (SIGHUP)
            print("Stopped.", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
