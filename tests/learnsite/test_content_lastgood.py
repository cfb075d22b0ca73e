"""Content that goes bad after start: a worker that starts again serves the last good copy,
logs the problems and reports the content invalid on /healthz; it never exits (uvicorn
would start it again every few seconds)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.test import Client

from learnsite.content import lastgood
from learnsite.content.checks import refuse_invalid_content
from lessons import loader
from quizzes import loader as quiz_loader
from tests.support.content import committed_content
from tests.support.servers import AsgiServer, make_database, migrate


def _break(content: Path) -> Path:
    first = sorted((content / "lessons").glob("*.md"))[0]
    first.write_text("---\ntitle: Broken\n---\nno slug, no order\n", encoding="utf-8")
    return first


def _fresh_start() -> None:
    """What a new worker process does on import of learnsite.asgi (its caches are empty)."""
    loader.reset_cache()
    quiz_loader.clear_cache()
    refuse_invalid_content()


@pytest.fixture
def content(tmp_path: Path, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    live = committed_content(tmp_path / "site")
    settings.CONTENT_DIR = live
    settings.CONTENT_LAST_GOOD_DIR = tmp_path / "last-good"
    monkeypatch.setattr(lastgood, "_state", lastgood.ContentState(True, "live"))
    yield live
    loader.reset_cache()
    quiz_loader.clear_cache()


@pytest.mark.django_db
def test_a_start_on_bad_content_serves_the_last_good_copy(
    content: Path, settings: Any, caplog: pytest.LogCaptureFixture, client: Client
) -> None:
    _fresh_start()
    lessons = [lesson.slug for lesson in loader.get_course().lessons]
    assert lastgood.last_good(content) == settings.CONTENT_LAST_GOOD_DIR
    broken = _break(content)
    with caplog.at_level(logging.ERROR):
        _fresh_start()  # no SystemExit
    assert Path(settings.CONTENT_DIR) == settings.CONTENT_LAST_GOOD_DIR
    assert [lesson.slug for lesson in loader.get_course().lessons] == lessons
    assert broken.name in caplog.text and "serving the last good copy" in caplog.text
    state = lastgood.state()
    assert (state.valid, state.serving) == (False, "last-good")
    assert any(broken.name in problem for problem in state.problems)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["content"]["state"] == "invalid"
    assert client.get(f"/lessons/{lessons[0]}/").status_code == 200


def test_the_first_start_on_bad_content_still_refuses(
    content: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _break(content)
    with pytest.raises(SystemExit) as exited:
        _fresh_start()
    assert exited.value.code == 1
    assert "Refusing to start" in capsys.readouterr().err


def test_a_valid_start_replaces_the_copy(content: Path, settings: Any) -> None:
    _fresh_start()
    extra = content / "lessons" / "README.txt"
    extra.write_text("not a lesson")
    _fresh_start()
    assert (settings.CONTENT_LAST_GOOD_DIR / "lessons" / "README.txt").read_text() == (
        "not a lesson"
    )
    assert lastgood.state().valid


def _workers(master: int) -> set[int]:
    """uvicorn's worker processes (multiprocessing's spawned children; not its tracker)."""
    found = set()
    for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split():
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.add(int(pid))
        except OSError:
            pass  # it just exited
    return found


@pytest.mark.slow
@pytest.mark.redis
def test_a_worker_restarted_on_bad_content_does_not_crash_loop(
    tmp_path: Path, real_redis_url: str
) -> None:
    live = committed_content(tmp_path / "site")
    database = make_database()
    migrate(database)
    server = AsgiServer(
        database=database,
        redis_url=real_redis_url,
        workers=2,
        extra_env={"CONTENT_DIR": str(live)},  # its copy: a temp folder named after it
    )
    try:
        # uvicorn's master spawns the workers; each checked the content and kept a copy.
        first = _workers(server.proc.pid)
        assert len(first) == 2
        _break(live)
        victim = sorted(first)[0]
        os.kill(victim, signal.SIGKILL)  # as the kernel's OOM killer would
        # A safety net: the log line comes in seconds. But uvicorn's master pings each worker
        # every 0.5 s and holds both ends of the pipe, so a worker killed with a ping in
        # flight is found dead only when the ping times out (--timeout-worker-healthcheck,
        # 60 s in AsgiServer): seen once under a loaded CI run. Wait past that.
        give_up = time.monotonic() + 150
        while time.monotonic() < give_up and not (
            "serving the last good copy" in server.output()
            or "Refusing to start" in server.output()
        ):
            time.sleep(0.1)
        assert "Refusing to start" not in server.output(), server.output()[-3000:]
        assert "serving the last good copy" in server.output(), server.output()[-3000:]
        # The line is the new worker's own; it is listed among the master's children at
        # once, but a loaded machine is given the same safety net to show it.
        while time.monotonic() < give_up and not _workers(server.proc.pid) - first:
            time.sleep(0.1)
        replacement = _workers(server.proc.pid) - first
        assert len(replacement) == 1, server.output()[-3000:]
        for _ in range(10):
            assert httpx.get(server.base_url + "/", timeout=5).status_code == 200
        # The replacement is still the one that started: it did not exit and come back.
        assert _workers(server.proc.pid) - first == replacement
        # Each worker that started on the bad content said so once and kept running (on a
        # loaded machine uvicorn may also have replaced the other worker: it says it too).
        started_on_bad = _workers(server.proc.pid) - first
        assert replacement <= started_on_bad
        assert server.output().count("serving the last good copy") == len(started_on_bad), (
            server.output()[-4000:]
        )
        assert server.proc.poll() is None
    finally:
        server.stop()
        shutil.rmtree(lastgood.copy_dir(live), ignore_errors=True)
        if callable(database.drop):
            database.drop()
