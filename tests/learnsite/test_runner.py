"""How `make run` finds a Redis: REDIS_URL, else 6379, else a private server, else embedded."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import redis

from learnsite import runner
from learnsite.env import BASE_DIR
from tests.support.content import committed_content
from tests.support.env import require
from tests.support.servers import make_database, migrate


def test_redis_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://example.invalid:6379/3")
    found = runner.find_redis()
    assert (found.url, found.mode) == ("redis://example.invalid:6379/3", "external")


def test_private_server_when_nothing_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(runner, "DEFAULT_LOCAL_REDIS", f"redis://127.0.0.1:{runner.free_port()}/0")
    found = runner.find_redis()
    try:
        assert found.mode == "private"
        assert runner.redis_answers(found.url)
    finally:
        found.stop()
    assert not runner.redis_answers(found.url)


def test_embedded_fallback_carries_pubsub_between_connections(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setattr(runner, "DEFAULT_LOCAL_REDIS", f"redis://127.0.0.1:{runner.free_port()}/0")
    monkeypatch.setattr(runner.shutil, "which", lambda _name: None)
    found = runner.find_redis()
    try:
        assert found.mode == "embedded"
        subscriber = redis.Redis.from_url(found.url)
        publisher = redis.Redis.from_url(found.url)
        pubsub = subscriber.pubsub()
        pubsub.subscribe("chat")
        first = pubsub.get_message(timeout=2)
        assert first is not None and first["type"] == "subscribe"
        assert publisher.publish("chat", "hello") == 1
        message = pubsub.get_message(timeout=2)
        assert message is not None and message["data"] == b"hello"
        pubsub.close()
        subscriber.close()
        publisher.close()
    finally:
        found.stop()
    assert not any(t.name == "fakeredis" and t.is_alive() for t in threading.enumerate())


def test_embedded_banner_is_loud() -> None:
    assert "EMBEDDED" in runner.EMBEDDED_BANNER
    assert "REDIS_URL" in runner.EMBEDDED_BANNER


# `make run` with nothing on 6379 and no REDIS_URL, so it starts a redis-server of its own.
_LAUNCH = """
import sys
from learnsite import runner
runner.DEFAULT_LOCAL_REDIS = sys.argv[1]
raise SystemExit(runner.main())
"""


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in map(int, children):
        found |= {child, *_descendants(child)}
    return found


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_a_closed_terminal_stops_uvicorn_and_the_redis_it_started(
    tmp_path: Path, signum: int
) -> None:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    port = runner.free_port()
    database = make_database()
    migrate(database)
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "SANDBOX_REDIS_URL")}
    env |= {
        "PORT": str(port),
        "WEB_CONCURRENCY": "2",
        "DATABASE_URL": database.url,
        "CONTENT_DIR": str(committed_content(tmp_path)),
    }
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        # Its own session, as a terminal's shell gives it: the hang-up goes to the group.
        proc = subprocess.Popen(
            [sys.executable, "-c", _LAUNCH, f"redis://127.0.0.1:{runner.free_port()}/0"],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started: set[int] = set()
    try:
        give_up = time.monotonic() + 60  # a safety net for a server that never comes up
        while time.monotonic() < give_up and proc.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code:
                    break
            time.sleep(0.2)
        assert proc.poll() is None, log.read_text()
        started = _descendants(proc.pid)
        redis_servers = {pid for pid in started if b"redis-server" in _cmdline(pid)}
        assert redis_servers, log.read_text()
        assert any(b"uvicorn" in _cmdline(pid) for pid in started)
        os.killpg(proc.pid, signum)
        proc.wait(30)  # TimeoutExpired if it did not stop
        assert "Stopped." in log.read_text()
        assert not [pid for pid in started if _alive(pid)], log.read_text()
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
    finally:
        for pid in started | {proc.pid}:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if callable(database.drop):
            database.drop()


# ---- the sandbox Redis ----------------------------------------------------------------------


def test_sandbox_redis_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANDBOX_REDIS_URL", "redis://sandbox.invalid:6379/0")
    site = runner.FoundRedis("redis://127.0.0.1:6379/0", "external", "test")
    found = runner.find_sandbox_redis(site)
    assert (found.url, found.mode) == ("redis://sandbox.invalid:6379/0", "external")


def test_a_private_sandbox_server_with_a_memory_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    monkeypatch.delenv("SANDBOX_REDIS_URL", raising=False)
    site = runner.FoundRedis("redis://127.0.0.1:6379/0", "external", "test")
    found = runner.find_sandbox_redis(site)
    try:
        assert found.mode == "private" and found.url != site.url
        config = redis.Redis.from_url(found.url).config_get("maxmemory*")
        assert config["maxmemory"] == str(64 * 1024 * 1024)
        assert config["maxmemory-policy"] == "volatile-ttl"
        assert "maxmemory 64mb" in found.how
    finally:
        found.stop()
    assert not runner.redis_answers(found.url)  # stopped with the rest


def test_without_redis_server_the_sandbox_shares_the_site_redis(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SANDBOX_REDIS_URL", raising=False)
    monkeypatch.setattr(runner.shutil, "which", lambda _name: None)
    site = runner.FoundRedis("redis://127.0.0.1:6379/0", "external", "test")
    found = runner.find_sandbox_redis(site)
    assert (found.url, found.mode) == (site.url, "shared")
    assert "no redis-server installed" in found.how
    assert "SANDBOX_REDIS_URL" in runner.SHARED_SANDBOX_NOTE


def test_the_embedded_fallback_serves_the_sandbox_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SANDBOX_REDIS_URL", raising=False)
    site = runner.FoundRedis("redis://127.0.0.1:7777/0", "embedded", "test")
    found = runner.find_sandbox_redis(site)
    assert (found.url, found.mode) == (site.url, "shared")


# ---- metrics across the workers -------------------------------------------------------------


def test_a_configured_metrics_dir_is_emptied_of_an_earlier_run(tmp_path: Path) -> None:
    configured = tmp_path / "metrics"
    configured.mkdir()
    (configured / "counter_123.db").write_bytes(b"old values")
    (configured / "keep.txt").write_text("not ours")
    path, remove = runner.metrics_dir(configured)
    assert path == configured
    assert not list(configured.glob("*.db")) and (configured / "keep.txt").exists()
    remove()
    assert configured.exists()  # the operator's directory stays


def test_without_one_make_run_makes_its_own_and_removes_it() -> None:
    path, remove = runner.metrics_dir(None)
    assert path.is_dir() and not list(path.iterdir())
    (path / "counter_1.db").write_bytes(b"x")
    remove()
    assert not path.exists()
