"""``make run``: find a Redis as DEVELOPERS.md says, then serve the site with uvicorn.

Order: ``REDIS_URL`` if set; else a Redis answering on 127.0.0.1:6379; else a private
``redis-server`` from PATH on a free port; else the embedded fakeredis TCP server, with a
loud banner (the pages show a badge). Ctrl-C stops everything this started.
"""

from __future__ import annotations

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


def start_private_redis(port: int | None = None) -> FoundRedis:
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


EMBEDDED_BANNER = """
************************************************************************
*  NO REDIS SERVER FOUND: using the EMBEDDED fakeredis stand-in.        *
*  Lessons and quizzes work; the live sandboxes run on an imitation.    *
*  For the real thing: install Redis (apt install redis-server) or set  *
*  REDIS_URL=redis://host:6379/0, then run `make run` again.            *
************************************************************************
"""


def content_is_valid() -> bool:
    """Validate the course once here, before uvicorn forks its workers: a worker that
    refused bad content would otherwise be restarted by uvicorn, over and over."""
    result = subprocess.run(
        [sys.executable, "manage.py", "validate_content"], cwd=env.BASE_DIR, check=False
    )
    return result.returncode == 0


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
    workers = max(1, settings_env.web_concurrency)
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
    ]
    print(
        f"Serving on http://127.0.0.1:{settings_env.port} with {workers} uvicorn "
        "worker(s). Ctrl-C stops everything.",
        flush=True,
    )
    server = subprocess.Popen(cmd, env=child_env)
    stop_by: list[float] = []

    def stop(signum: int, _frame: object) -> None:
        # Ctrl-C in a terminal reaches uvicorn too; a SIGTERM or a signal sent to this
        # process alone is passed on. Either way uvicorn gets 10 s to finish, then is killed.
        if server.poll() is None:
            server.send_signal(signal.SIGINT)
        if not stop_by:
            stop_by.append(time.monotonic() + 10)

    # Installed explicitly: a process started in the background may inherit SIGINT ignored.
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while server.poll() is None:
            if stop_by and time.monotonic() > stop_by[0]:
                server.kill()
            time.sleep(0.2)
        return server.returncode
    finally:
        found.stop()
        print("Stopped.", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
