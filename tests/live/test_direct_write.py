"""The live stream's direct write into uvicorn's transport is taken only where it was
tested: under the pinned uvicorn, in a real server, and never with LIVE_DIRECT_WRITE=off.

Both paths must deliver the same frames; the debug counts (``viewer_sends``) say which one
the server's viewers were given.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import tomllib
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bench.abuse import HeldStream, debug_counts, drop_feeds, make_feeds
from live.asgi import DIRECT_WRITE_UVICORN, _direct_write_allowed, _uvicorn_release
from tests.resilience.client import eventually
from tests.support.servers import AsgiServer, make_database, migrate

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("mode", "release", "allowed"),
    [
        ("auto", (0, 54), True),
        ("auto", (0, 55), False),  # a release nobody has read: the plain ASGI send
        ("auto", (0, 53), False),
        ("auto", None, False),  # uvicorn not installed (another server)
        ("on", (9, 0), True),
        ("off", (0, 54), False),
    ],
)
def test_the_mode_and_the_uvicorn_release_decide(
    mode: str, release: tuple[int, int] | None, allowed: bool
) -> None:
    assert _direct_write_allowed(mode, release) is allowed


def test_the_pinned_uvicorn_is_inside_the_tested_releases() -> None:
    """Moving the pin in pyproject.toml past the bound fails here: read the new release's
    httptools cycle (the attributes live/asgi.py uses), then move DIRECT_WRITE_UVICORN."""
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = [d for d in dependencies if re.match(r"uvicorn(\[[^]]*\])?==", d)]
    assert len(pins) == 1, dependencies
    major, minor = (int(n) for n in pins[0].split("==")[1].split(".")[:2])
    low, high = DIRECT_WRITE_UVICORN
    assert low <= (major, minor) < high
    assert _uvicorn_release() == (major, minor), "the installed uvicorn is not the pinned one"


def _serve(redis_url: str, mode: str) -> Iterator[AsgiServer]:
    database = make_database()
    migrate(database)
    server = AsgiServer(
        database=database,
        redis_url=redis_url,
        extra_env={
            "DJANGO_SETTINGS_MODULE": "tests.resilience.live_settings",
            "LIVE_DIRECT_WRITE": mode,
        },
    )
    try:
        yield server
    finally:
        server.stop()
        if callable(database.drop):
            database.drop()


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.parametrize(("mode", "taken"), [("auto", "direct"), ("off", "asgi")])
def test_a_real_uvicorn_server_takes_the_path_the_setting_allows(
    real_redis_url: str, mode: str, taken: str
) -> None:
    client = redis.Redis.from_url(real_redis_url, socket_timeout=10)
    feed = make_feeds(client, f"direct{uuid.uuid4().hex[:8]}", 1)[0]
    server_iter = _serve(real_redis_url, mode)
    server = next(server_iter)
    marks = [f"mark-{uuid.uuid4().hex}" for _ in range(5)]

    async def scenario() -> None:
        viewer = HeldStream(server.port, f"/live/{feed}/stream")
        try:
            await eventually(
                lambda: client.pubsub_numsub(f"live:{feed}")[0][1] >= 1,
                timeout=20,
                what="the feed subscribed",
            )
            for seq, mark in enumerate(marks, start=2):
                body = json.dumps({"seq": seq, "mark": mark, "ts": time.time()})
                client.publish(f"live:{feed}", body)
            await eventually(
                lambda: all(m.encode() in viewer.received for m in marks),
                timeout=20,
                what="every update delivered",
            )
            assert debug_counts(server.port)["viewer_sends"] == {taken: 1}
        finally:
            await viewer.close()

    try:
        asyncio.run(asyncio.wait_for(scenario(), 60))
    finally:
        for _ in server_iter:
            pass
        drop_feeds(client, [feed])
        client.close()


@pytest.mark.redis
@pytest.mark.slow
@pytest.mark.parametrize("mode", ["auto", "off"])
def test_a_server_shutting_down_ends_open_streams_without_an_error(
    real_redis_url: str, mode: str
) -> None:
    """The stream ends its own writes by cancelling its task and taking that cancel back;
    the server's cancel at shutdown must still go through, with nothing logged as an
    exception, and the process must exit by itself within its graceful timeout."""
    client = redis.Redis.from_url(real_redis_url, socket_timeout=10)
    feed = make_feeds(client, f"shut{uuid.uuid4().hex[:8]}", 1)[0]
    server_iter = _serve(real_redis_url, mode)
    server = next(server_iter)

    async def scenario() -> None:
        viewers = [HeldStream(server.port, f"/live/{feed}/stream") for _ in range(3)]
        await eventually(
            lambda: all(v.bytes > 0 for v in viewers), timeout=20, what="three streams open"
        )
        # One client hangs up first: the stream's own cancel, taken back, not an error.
        await viewers.pop().close()
        await eventually(
            lambda: debug_counts(server.port)["feeds"].get(feed) == 2,
            timeout=20,
            what="the viewer that hung up left",
        )
        await asyncio.sleep(0.5)
        server.proc.terminate()
        started = time.monotonic()
        while server.proc.poll() is None and time.monotonic() - started < 15:
            await asyncio.sleep(0.05)
        for viewer in viewers:
            await viewer.close()

    try:
        asyncio.run(asyncio.wait_for(scenario(), 60))
        assert server.proc.poll() is not None, "the server did not exit within 15 s"
        log = server.output()
        assert "Exception in ASGI application" not in log, log[-3000:]
        assert "Traceback" not in log, log[-3000:]
    finally:
        for _ in server_iter:
            pass
        drop_feeds(client, [feed])
        client.close()
